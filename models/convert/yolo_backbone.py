#!/usr/bin/env python3
"""Cut YOLOv3-tiny's COCO backbone out of models/yolov3-tiny/yolov3-tiny.onnx as a feature extractor.

The anomaly pipeline needs one appearance vector per video frame. No video network (C3D,
I3D) and no ImageNet classifier can be obtained here, so Seer uses a deep layer of the COCO
detector it already ships: the 512-channel output of darknet layer 11 (`maxpool11`, the
stride-1 max-pool after conv 10; 13x13 at 416x416), globally average-pooled. (The deeper
1024-channel `leaky12` works too, `--layer leaky12`, at 4x the file size and 1.5x the time.)

The graph keeps every node that `--layer` depends on (Conv + LeakyRelu + MaxPool, the
weights untouched), appends GlobalAveragePool and Flatten, and outputs `features`
(N x C). Height and width become symbolic (the layers are all convolutional), so Seer
may feed any size; the manifest states the size the anomaly pipeline uses.

Needs only `onnx` and `numpy`. Usage, from the repository root:
  python3 models/convert/yolo_backbone.py [--layer maxpool11] [--out models/yolo-backbone]
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "models" / "yolov3-tiny" / "yolov3-tiny.onnx"
SOURCE_MANIFEST = ROOT / "models" / "yolov3-tiny" / "manifest.json"
OUTPUT_NAME = "features"
# Anomaly pipeline input: 256x192 keeps vtest's 4:3 and is 8x6 cells at stride 32.
INPUT_HEIGHT, INPUT_WIDTH = 192, 256


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cut(model: onnx.ModelProto, layer: str) -> onnx.ModelProto:
    graph = model.graph
    producers = {output: node for node in graph.node for output in node.output}
    if layer not in producers:
        raise SystemExit(f"no node outputs '{layer}'; outputs: {', '.join(producers)}")
    needed, stack = set(), [layer]
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    nodes = [node for node in graph.node if id(node) in needed]
    used = {name for node in nodes for name in node.input}
    initializers = [tensor for tensor in graph.initializer if tensor.name in used]
    channels = next(init.dims[0] for init in initializers
                    if init.name == producers[_conv_of(producers, layer)].input[1])
    nodes.append(helper.make_node("GlobalAveragePool", [layer], ["pooled"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["pooled"], [OUTPUT_NAME], name="flatten", axis=1))
    source_input = graph.input[0]
    new_input = helper.make_tensor_value_info(source_input.name, TensorProto.FLOAT, ["N", 3, "H", "W"])
    new_output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", channels])
    new_graph = helper.make_graph(nodes, "yolov3_tiny_backbone", [new_input], [new_output], initializers)
    result = helper.make_model(new_graph, opset_imports=list(model.opset_import), producer_name="seer yolo_backbone.py")
    result.ir_version = model.ir_version
    onnx.checker.check_model(result)
    return result


def _conv_of(producers, layer):
    """The Conv feeding an activation (or the layer itself when it is a Conv)."""
    node = producers[layer]
    while node.op_type != "Conv":
        node = producers[node.input[0]]
    return node.output[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="maxpool11")
    parser.add_argument("--out", default=str(ROOT / "models" / "yolo-backbone"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = cut(onnx.load(str(SOURCE)), args.layer)
    onnx.save(model, str(out / "yolo-backbone.onnx"))
    channels = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    source_manifest = json.loads(SOURCE_MANIFEST.read_text())
    manifest = {
        "name": "yolo-backbone",
        "version": 1,
        "task": "backbone",
        "default": True,
        "description": (f"YOLOv3-tiny's COCO backbone up to '{args.layer}' ({channels} channels), globally average-pooled: "
                        "one appearance vector per frame for the anomaly pipeline. A COCO object detector's features, "
                        "not a video network's (no C3D/I3D or ImageNet weights are obtainable here)."),
        "graphs": {"main": "yolo-backbone.onnx"},
        "inputs": {"main": {"name": model.graph.input[0].name, "layout": "NCHW", "shape": [-1, 3, -1, -1], "color": "RGB"}},
        "preprocessing": {"resize": "stretch", "size": [INPUT_HEIGHT, INPUT_WIDTH], "scale": 1 / 255,
                          "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                          "notes": "frames are scaled by FFmpeg's swscale (bilinear) straight to the input size"},
        "outputs": {"main": [{"name": OUTPUT_NAME, "shape": [-1, channels],
                              "meaning": f"mean over the spatial grid of {args.layer} (darknet layer)"}]},
        "postprocessing": {"layer": args.layer, "feature_dim": channels},
        "source": source_manifest.get("source", []) + [
            {"derived_from": "models/yolov3-tiny/yolov3-tiny.onnx", "sha256": sha256(SOURCE)}],
        "license": source_manifest.get("license"),
        "conversion": "models/convert/yolo_backbone.py",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out / 'yolo-backbone.onnx'}: {len(model.graph.node)} nodes, features {channels}")


if __name__ == "__main__":
    main()
