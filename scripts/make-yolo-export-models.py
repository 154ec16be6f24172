#!/usr/bin/env python3
"""Small random-weight ONNX models with the output layouts of users' own YOLO exports.

Seer accepts uploaded detectors exported by Ultralytics. These fixtures have the same
graph structure and output layout as those exports, at toy size (input 1x3x160x160,
3 classes, weights from a fixed seed), so the decoders can be tested without real weights:

  yolov5-random  Ultralytics YOLOv5 export (opset 12): output0 (1, N, 5 + C) =
                 cx, cy, w, h (pixels of the 160x160 input), objectness, class scores,
                 all already sigmoided/decoded inside the graph (anchors, grid, strides 8, 16).
  yolov8-random  Ultralytics YOLOv8/11 export (opset 17): output0 (1, 4 + C, N) =
                 cx, cy, w, h (input pixels) then class scores; no objectness; boxes from the
                 DFL head (softmax over 16 bins, Conv with weights 0..15) and dist2bbox.

The random weights are followed by one calibration step: the objectness/class biases are
set from a forward pass on the reference image so that a few cells score high and real
detections exist. Reference detections come from an independent numpy decode + NMS with
Ultralytics' semantics (conf = obj * cls for v5, best class only, class-aware greedy
NMS with IoU > iou_threshold suppressing).

Writes Tests/Fixtures/models/{yolov5-random,yolov8-random}/ (ONNX + manifest) and
Tests/Fixtures/reference/{yolov5-random,yolov8-random}/ (input .npy, output .npy,
detections JSON). Run in the venv of models/convert/requirements-detect.txt.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("SEER_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
if not MEDIA.exists():
    MEDIA = Path("/work/shared/media")
MODELS = ROOT / "Tests" / "Fixtures" / "models"
REFERENCE = ROOT / "Tests" / "Fixtures" / "reference"

SIZE = 160
LABELS = ["thing_a", "thing_b", "thing_c"]
CLASSES = len(LABELS)
STRIDES = [8, 16]
V5_ANCHORS = [[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]]]
REG_MAX = 16
CONFIDENCE = 0.25
IOU = 0.45
FILL = 114
IMAGE = "astronaut.png"   # square: no letterbox padding, whose uniform cells tie
SEED = {"yolov5": 5, "yolov8": 8}   # first seed tried; the next ones until robust
MARGIN = 2e-4   # no decision of the reference decode may be closer than this to flipping


class FragileReference(Exception):
    """The reference detections would change under float32 noise of another runtime."""


class Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, kind: str, inputs: list[str], base: str | None = None, outputs: int = 1,
           output_names: list[str] | None = None, **attrs):
        names = output_names or [self.name(base or kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, silu: bool,
             weight_scale: float = 1.0) -> str:
        fan_in = cin * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in) * weight_scale, (cout, cin, k, k)).astype(np.float32)
        b = self.rng.normal(0, 0.1, cout).astype(np.float32)
        y = self.op("Conv", [x, self.const("w", w), self.const("b", b)], "conv",
                    kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)
        if silu:  # SiLU as exported: x * sigmoid(x)
            y = self.op("Mul", [y, self.op("Sigmoid", [y])], "silu")
        return y

    def backbone(self, x: str) -> list[tuple[str, int, int]]:
        """(value, channels, stride) for strides 8 and 16. A fixed random per-cell term is
        added to each level: with this tiny receptive field, uniform image areas would
        otherwise give exactly tied neighbouring boxes and an order-dependent NMS."""
        y = self.conv(x, 3, 16, 3, 2, True)
        y = self.conv(y, 16, 32, 3, 2, True)
        p3 = self.conv(y, 32, 32, 3, 2, True)
        p4 = self.conv(p3, 32, 64, 3, 2, True)
        levels = []
        for value, channels, stride in ((p3, 32, 8), (p4, 64, 16)):
            grid = SIZE // stride
            position = self.rng.normal(0, 0.5, (1, channels, grid, grid)).astype(np.float32)
            levels.append((self.op("Add", [value, self.const("position", position)]), channels, stride))
        return levels

    def model(self, outputs: list[str], out_shape: list[int], opset: int, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
            [helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, out_shape)],
            initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="seer scripts/make-yolo-export-models.py")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model

    def find_initializer(self, name: str) -> onnx.TensorProto:
        return next(t for t in self.initializers if t.name == name)


def build_yolov5(rng: np.random.Generator) -> tuple[onnx.ModelProto, dict]:
    b = Builder(rng)
    no = 5 + CLASSES
    heads, rows = [], []
    for (feature, channels, stride), anchors in zip(b.backbone("images"), V5_ANCHORS):
        grid = SIZE // stride
        raw = b.conv(feature, channels, 3 * no, 1, 1, False, weight_scale=0.5)
        heads.append(raw)
        shaped = b.op("Reshape", [raw, b.const("shape", np.array([1, 3, no, grid, grid], np.int64))])
        y = b.op("Sigmoid", [b.op("Transpose", [shaped], perm=[0, 1, 3, 4, 2])])
        xy, wh, rest = b.op("Split", [y], "split", outputs=3, axis=4, split=[2, 2, no - 4])
        yy, xx = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        offsets = (np.stack([xx, yy], -1)[None, None] - 0.5).astype(np.float32)   # (1,1,g,g,2)
        anchor_grid = np.array(anchors, np.float32).reshape(1, 3, 1, 1, 2)
        two = b.const("two", np.array(2.0, np.float32))
        xy = b.op("Mul", [b.op("Add", [b.op("Mul", [xy, two]), b.const("grid", offsets)]),
                          b.const("stride", np.array(float(stride), np.float32))])
        wh = b.op("Mul", [b.op("Pow", [b.op("Mul", [wh, two]), two]), b.const("anchor_grid", anchor_grid)])
        level = b.op("Concat", [xy, wh, rest], axis=4)
        rows.append(b.op("Reshape", [level, b.const("shape", np.array([1, -1, no], np.int64))]))
    b.op("Concat", rows, output_names=["output0"], axis=1)
    count = sum(3 * (SIZE // s) ** 2 for s in STRIDES)
    return b.model(["output0"], [1, count, no], 12, "yolov5-random"), {"builder": b, "heads": heads}


def build_yolov8(rng: np.random.Generator) -> tuple[onnx.ModelProto, dict]:
    b = Builder(rng)
    levels, heads, anchor_points, stride_list = [], [], [], []
    for feature, channels, stride in b.backbone("images"):
        grid = SIZE // stride
        box = b.conv(feature, channels, 4 * REG_MAX, 1, 1, False, weight_scale=0.3)
        # favour short distances (about 2-3 bins) so boxes have plausible sizes
        conv = b.nodes[-1]
        bias = b.find_initializer(conv.input[2])
        short = (np.tile(-0.45 * np.arange(REG_MAX), 4) + numpy_helper.to_array(bias)).astype(np.float32)
        bias.CopyFrom(numpy_helper.from_array(short, bias.name))
        cls = b.conv(feature, channels, CLASSES, 1, 1, False, weight_scale=1.0)
        heads.append(cls)
        level = b.op("Concat", [box, cls], axis=1)
        levels.append(b.op("Reshape", [level, b.const("shape", np.array([1, 4 * REG_MAX + CLASSES, -1], np.int64))]))
        yy, xx = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        anchor_points.append(np.stack([xx.ravel(), yy.ravel()]) + 0.5)
        stride_list.append(np.full(grid * grid, stride))
    anchors = np.concatenate(anchor_points, 1)[None].astype(np.float32)              # (1, 2, A)
    strides = np.concatenate(stride_list)[None, None].astype(np.float32)              # (1, 1, A)
    count = anchors.shape[2]
    joined = b.op("Concat", levels, axis=2)
    box, cls = b.op("Split", [joined, b.const("split", np.array([4 * REG_MAX, CLASSES], np.int64))],
                    "split", outputs=2, axis=1)
    # DFL: (1, 64, A) -> (1, 4, 16, A) -> (1, 16, 4, A) -> softmax over bins -> Conv(0..15)
    dfl = b.op("Reshape", [box, b.const("shape", np.array([1, 4, REG_MAX, count], np.int64))])
    dfl = b.op("Softmax", [b.op("Transpose", [dfl], perm=[0, 2, 1, 3])], axis=1)
    bins = np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1)
    dfl = b.op("Conv", [dfl, b.const("dfl_weight", bins)], kernel_shape=[1, 1])
    distance = b.op("Reshape", [dfl, b.const("shape", np.array([1, 4, count], np.int64))])
    lt, rb = b.op("Split", [distance, b.const("split", np.array([2, 2], np.int64))], "split",
                  outputs=2, axis=1)
    anchor_value = b.const("anchors", anchors)
    x1y1 = b.op("Sub", [anchor_value, lt])
    x2y2 = b.op("Add", [anchor_value, rb])
    centre = b.op("Div", [b.op("Add", [x1y1, x2y2]), b.const("two", np.array(2.0, np.float32))])
    size = b.op("Sub", [x2y2, x1y1])
    boxes = b.op("Mul", [b.op("Concat", [centre, size], axis=1), b.const("strides", strides)])
    b.op("Concat", [boxes, b.op("Sigmoid", [cls])], output_names=["output0"], axis=1)
    return b.model(["output0"], [1, 4 + CLASSES, count], 17, "yolov8-random"), {"builder": b, "heads": heads}


def calibrate(model: onnx.ModelProto, info: dict, kind: str, image: np.ndarray) -> onnx.ModelProto:
    """Rescale the objectness/class rows of the head convolutions so that, on the reference
    image, each logit channel becomes target + gain * z (z = its standardised value): a few
    cells score high, most score low, and real detections exist."""
    no = 5 + CLASSES
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for head in info["heads"]:
        probe.graph.output.append(helper.make_tensor_value_info(head, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(info["heads"], {"images": image})
    if kind == "yolov5":
        plan = {a * no + 4: (-5.0, 2.5) for a in range(3)}                       # objectness
        plan.update({a * no + 5 + k: (-3.0, 2.5) for a in range(3) for k in range(CLASSES)})
    else:
        plan = {k: (-8.0, 3.0) for k in range(CLASSES)}
    initializers = {t.name: t for t in model.graph.initializer}
    for head, raw in zip(info["heads"], values):
        conv = next(n for n in model.graph.node if n.output[0] == head)
        weight = numpy_helper.to_array(initializers[conv.input[1]]).copy()
        bias = numpy_helper.to_array(initializers[conv.input[2]]).copy()
        logits = raw[0].reshape(raw.shape[1], -1)
        for channel, (target, gain) in plan.items():
            mean, std = logits[channel].mean(), logits[channel].std()
            # new = target + gain * (old - mean) / std, with old = w.x + b
            factor = gain / std
            weight[channel] *= factor
            bias[channel] = target + factor * (bias[channel] - mean)
        initializers[conv.input[1]].CopyFrom(numpy_helper.from_array(weight.astype(np.float32), conv.input[1]))
        initializers[conv.input[2]].CopyFrom(numpy_helper.from_array(bias.astype(np.float32), conv.input[2]))
    onnx.checker.check_model(model, full_check=True)
    return model


def bilinear_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel bilinear resize (cv2.resize INTER_LINEAR semantics), H x W x C."""
    in_h, in_w = image.shape[:2]

    def axis(out_size: int, in_size: int):
        source = np.clip((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0, in_size - 1)
        low = np.floor(source).astype(np.int64)
        return low, np.minimum(low + 1, in_size - 1), source - low

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    data = image.astype(np.float64)
    fx = fx[None, :, None]
    top = data[y0][:, x0] * (1 - fx) + data[y0][:, x1] * fx
    bottom = data[y1][:, x0] * (1 - fx) + data[y1][:, x1] * fx
    return top * (1 - fy[:, None, None]) + bottom * fy[:, None, None]


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, dict]:
    """Ultralytics letterbox: scale r = min(S/h, S/w), new size round(w*r) x round(h*r),
    centred with pads top = round(dh - 0.1), left = round(dw - 0.1), fill 114."""
    h, w = rgb.shape[:2]
    r = min(SIZE / h, SIZE / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (SIZE - new_w) / 2, (SIZE - new_h) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    canvas = np.full((SIZE, SIZE, 3), FILL, np.uint8)
    resized = np.clip(np.rint(bilinear_resize(rgb, new_h, new_w)), 0, 255).astype(np.uint8)
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas, {"scale": r, "new_size": [new_h, new_w], "pad_top": top, "pad_left": left}


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left = np.maximum(a[0], b[:, 0])
    top = np.maximum(a[1], b[:, 1])
    right = np.minimum(a[2], b[:, 2])
    bottom = np.minimum(a[3], b[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])
    return inter / (area(a) + area(b) - inter)


def decode(output: np.ndarray, kind: str) -> list[dict]:
    """Ultralytics non_max_suppression (multi_label False) in numpy, input-pixel boxes."""
    rows = output[0] if kind == "yolov5" else output[0].T          # (N, 5+C) or (N, 4+C)
    rows = rows.astype(np.float64)
    if kind == "yolov5":
        if (np.abs(rows[:, 4] - CONFIDENCE) < MARGIN).any():
            raise FragileReference("an objectness close to the threshold")
        rows = rows[rows[:, 4] > CONFIDENCE]
        scores = rows[:, 5:] * rows[:, 4:5]
    else:
        scores = rows[:, 4:]
    if (np.abs(scores.max(1) - CONFIDENCE) < MARGIN).any():
        raise FragileReference("a score close to the confidence threshold")
    ranked = np.sort(scores, axis=1)
    if ((ranked[:, -1] - ranked[:, -2] < MARGIN) & (ranked[:, -1] > CONFIDENCE)).any():
        raise FragileReference("two classes nearly tied for the best score")
    classes = scores.argmax(1)
    confidence = scores.max(1)
    keep = confidence > CONFIDENCE
    rows, classes, confidence = rows[keep], classes[keep], confidence[keep]
    boxes = np.stack([rows[:, 0] - rows[:, 2] / 2, rows[:, 1] - rows[:, 3] / 2,
                      rows[:, 0] + rows[:, 2] / 2, rows[:, 1] + rows[:, 3] / 2], 1)
    for k in range(CLASSES):     # a reference whose NMS depends on float ties is fragile
        index = np.nonzero(classes == k)[0]
        for i in index:
            close = index[(np.abs(confidence[index] - confidence[i]) < MARGIN) & (index != i)]
            if close.size and (iou_xyxy(boxes[i], boxes[close]) > IOU - 0.05).any():
                raise FragileReference("nearly tied overlapping candidates")
    found = []
    for k in range(CLASSES):
        index = np.nonzero(classes == k)[0]
        index = index[np.argsort(-confidence[index], kind="stable")]
        while index.size:
            best, index = index[0], index[1:]
            if index.size and (np.abs(iou_xyxy(boxes[best], boxes[index]) - IOU) < MARGIN).any():
                raise FragileReference("an IoU close to the NMS threshold")
            found.append({"label": LABELS[k], "class_id": k,
                          "confidence": round(float(confidence[best]), 6),
                          "box_input": [round(float(v), 3) for v in boxes[best]]})
            if index.size:
                index = index[iou_xyxy(boxes[best], boxes[index]) <= IOU]
    found.sort(key=lambda d: -d["confidence"])
    return found


def to_original(box: list[float], geometry: dict, width: int, height: int) -> list[float]:
    r = geometry["scale"]
    x1 = (box[0] - geometry["pad_left"]) / r
    y1 = (box[1] - geometry["pad_top"]) / r
    x2 = (box[2] - geometry["pad_left"]) / r
    y2 = (box[3] - geometry["pad_top"]) / r
    clip = lambda v, hi: round(float(min(max(v, 0.0), hi)), 3)
    return [clip(x1, width), clip(y1, height), clip(x2, width), clip(y2, height)]


def manifest(kind: str, model: onnx.ModelProto) -> dict:
    out_shape = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    layout = ("(1, N, 5 + C): cx, cy, w, h in pixels of the network input, objectness, C class "
              "scores; all already sigmoided" if kind == "yolov5" else
              "(1, 4 + C, N): cx, cy, w, h in pixels of the network input, then C class scores "
              "(sigmoided); no objectness")
    return {
        "name": f"{kind}-random",
        "version": 1,
        "task": "detection",
        "default": False,
        "description": f"Test fixture: tiny random-weight network with the output layout of an "
                       f"Ultralytics {kind.upper()} ONNX export (not a trained model).",
        "graphs": {"main": f"{kind}-random.onnx"},
        "inputs": {"main": {"name": "images", "layout": "NCHW", "shape": [1, 3, SIZE, SIZE],
                            "color": "RGB"}},
        "preprocessing": {"resize": "letterbox", "size": [SIZE, SIZE], "fill": FILL / 255.0,
                          "scale": 1.0 / 255.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                          "notes": "Ultralytics letterbox: r = min(S/h, S/w), resized to "
                                   "round(w*r) x round(h*r) (bilinear), centred, fill 114"},
        "outputs": {"main": [{"name": "output0", "shape": out_shape, "meaning": layout}]},
        "labels": LABELS,
        "thresholds": {"confidence": CONFIDENCE, "nms": IOU},
        "postprocessing": {
            "decoder": kind,
            "layout": layout,
            "score": "objectness * class score, best class only" if kind == "yolov5"
                     else "best class score",
            "nms": "per class, greedy, a box is suppressed when IoU > nms with a kept box"},
        "source": [],
        "license": "Apache-2.0 OR MIT (generated test fixture, random weights)",
        "conversion": "scripts/make-yolo-export-models.py",
    }


def main() -> None:
    with Image.open(MEDIA / IMAGE) as image:
        rgb = np.asarray(image.convert("RGB"))
    boxed, geometry = letterbox(rgb)
    tensor_u8 = boxed.transpose(2, 0, 1)[None].copy()
    tensor = tensor_u8.astype(np.float32) / 255.0

    for kind, build in (("yolov5", build_yolov5), ("yolov8", build_yolov8)):
        for seed in range(SEED[kind], SEED[kind] + 50):
            model, info = build(np.random.default_rng(seed))
            model = calibrate(model, info, kind, tensor)
            session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            (output,) = session.run(None, {"images": tensor})
            try:
                detections = decode(output, kind)
                break
            except FragileReference as reason:
                print(f"{kind}: seed {seed} rejected: {reason}")
        else:
            raise RuntimeError(f"{kind}: no robust seed found")
        folder = MODELS / f"{kind}-random"
        folder.mkdir(parents=True, exist_ok=True)
        model_path = folder / f"{kind}-random.onnx"
        onnx.save(model, model_path)
        description = manifest(kind, model)
        description["conversion_notes"] = f"numpy.random.default_rng({seed}), calibrated on {IMAGE}"
        (folder / "manifest.json").write_text(json.dumps(description, indent=2) + "\n")
        for d in detections:
            d["box"] = to_original(d["box_input"], geometry, rgb.shape[1], rgb.shape[0])
        ref = REFERENCE / f"{kind}-random"
        ref.mkdir(parents=True, exist_ok=True)
        np.save(ref / "input-images-astronaut-160.u8.npy", tensor_u8)
        np.save(ref / "output-output0.npy", output)
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
        (ref / "runtime-reference.json").write_text(json.dumps({
            "graph": str(model_path.relative_to(ROOT)),
            "graph_sha256": digest,
            "inputs": {"images": "input-images-astronaut-160.u8.npy"},
            "input_transform": {"images": "float32(u8) / 255"},
            "outputs": {"output0": "output-output0.npy"},
            "producer": "onnxruntime CPUExecutionProvider",
            "tolerance": {"atol": 1e-3, "rtol": 1e-3},
        }, indent=2) + "\n")
        (ref / "detections.json").write_text(json.dumps({
            "description": f"Independent numpy decode + NMS ({kind} layout, Ultralytics "
                           "semantics) of the onnxruntime output for the image below.",
            "graph": str(model_path.relative_to(ROOT)),
            "graph_sha256": digest,
            "image": {"source": f"../shared/media/{IMAGE}", "width": int(rgb.shape[1]),
                      "height": int(rgb.shape[0])},
            "letterbox": {**geometry, "size": SIZE, "fill": FILL,
                          "input": "input-images-astronaut-160.u8.npy",
                          "resize": "half-pixel bilinear (cv2 INTER_LINEAR), rounded to uint8"},
            "thresholds": {"confidence": CONFIDENCE, "nms": IOU},
            "box_format": "box_input: [x_min, y_min, x_max, y_max] in pixels of the 160x160 "
                          "input; box: the same mapped to the original image "
                          "((v - pad) / scale), clipped to the image",
            "detections": detections,
        }, indent=2) + "\n")
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"{kind}: {model_path.relative_to(ROOT)} {model_path.stat().st_size} bytes sha256 {digest}")
        print(f"   output {list(output.shape)}, ops {ops}")
        print(f"   {len(detections)} detections: "
              f"{[(d['label'], d['confidence'], d['box_input']) for d in detections]}")


if __name__ == "__main__":
    main()
