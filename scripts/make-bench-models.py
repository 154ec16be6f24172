#!/usr/bin/env python3
"""Benchmark-only ONNX models with random weights (fixed seed), built with onnx.helper.

    python3 scripts/make-bench-models.py OUTPUT_DIR [--seed 0] [--no-check]

Needs numpy and onnx (onnxruntime too, for the check that each model runs). Writes:
  mobilenetv2_like.onnx  1x3x224x224 -> 1x1000: conv stem, 10 inverted-residual blocks
                         (1x1 expand, depthwise 3x3, 1x1 project, ReLU6 as Clip,
                         residual Add when shapes allow), 1x1 head conv, GlobalAveragePool,
                         Flatten, Gemm.
  unet_small.onnx        1x3x256x256 -> 1x1x256x256: 4-level encoder (two 3x3 conv+Relu,
                         MaxPool 2x2), bottleneck, decoder with ConvTranspose 2x2 stride 2
                         + Concat skip connections, 1x1 conv, Sigmoid.
Opset 13. The weights are random: these models measure speed only, never accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


class GraphBuilder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.initializers: list = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def constant(self, prefix: str, array: np.ndarray) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> str:
        fan_in = cin // groups * kernel * kernel
        weight = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (cout, cin // groups, kernel, kernel))
        bias = self.rng.normal(0.0, 0.01, cout)
        out = self.name("conv")
        pad = kernel // 2
        self.nodes.append(helper.make_node(
            "Conv", [x, self.constant("w", weight), self.constant("b", bias)], [out],
            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4, group=groups))
        return out

    def relu6(self, x: str) -> str:
        out = self.name("relu6")
        low, high = self.constant("clip_min", np.array(0.0)), self.constant("clip_max", np.array(6.0))
        self.nodes.append(helper.make_node("Clip", [x, low, high], [out]))
        return out

    def unary(self, op: str, x: str, **attributes) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, [x], [out], **attributes))
        return out

    def binary(self, op: str, a: str, b: str, **attributes) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, [a, b], [out], **attributes))
        return out

    def model(self, name: str, input_shape: list, output: str, output_shape: list) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="seer scripts/make-bench-models.py")
        model.ir_version = 7
        onnx.checker.check_model(model)
        return model


def mobilenetv2_like(seed: int) -> onnx.ModelProto:
    g = GraphBuilder(seed)
    x = g.relu6(g.conv("input", 3, 32, 3, stride=2))  # 112x112
    # (expansion, output channels, stride) per inverted-residual block: 10 blocks.
    blocks = [(1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1),
              (6, 64, 2), (6, 64, 1), (6, 96, 1), (6, 160, 2), (6, 320, 1)]
    channels = 32
    for expansion, out_channels, stride in blocks:
        hidden = channels * expansion
        y = x
        if expansion != 1:
            y = g.relu6(g.conv(y, channels, hidden, 1))
        y = g.relu6(g.conv(y, hidden, hidden, 3, stride=stride, groups=hidden))
        y = g.conv(y, hidden, out_channels, 1)
        if stride == 1 and channels == out_channels:
            y = g.binary("Add", x, y)
        x, channels = y, out_channels
    x = g.relu6(g.conv(x, channels, 1280, 1))  # 7x7
    x = g.unary("Flatten", g.unary("GlobalAveragePool", x), axis=1)
    weight = g.rng.normal(0.0, np.sqrt(1.0 / 1280), (1000, 1280))
    out = "logits"
    g.nodes.append(helper.make_node("Gemm", [x, g.constant("fc_w", weight), g.constant("fc_b", np.zeros(1000))],
                                    [out], transB=1))
    return g.model("mobilenetv2_like", [1, 3, 224, 224], out, [1, 1000])


def unet_small(seed: int) -> onnx.ModelProto:
    g = GraphBuilder(seed)

    def double_conv(x: str, cin: int, cout: int) -> str:
        x = g.unary("Relu", g.conv(x, cin, cout, 3))
        return g.unary("Relu", g.conv(x, cout, cout, 3))

    widths = [16, 32, 64, 128]
    skips = []
    x, channels = "input", 3
    for width in widths:  # 256 -> 128 -> 64 -> 32 -> 16
        x = double_conv(x, channels, width)
        skips.append((x, width))
        x = g.unary("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
        channels = width
    x = double_conv(x, channels, 256)
    channels = 256
    for skip, width in reversed(skips):
        weight = g.rng.normal(0.0, np.sqrt(2.0 / (channels * 4)), (channels, width, 2, 2))
        up = g.name("convtranspose")
        g.nodes.append(helper.make_node(
            "ConvTranspose", [x, g.constant("w", weight), g.constant("b", np.zeros(width))], [up],
            kernel_shape=[2, 2], strides=[2, 2]))
        x = double_conv(g.binary("Concat", skip, up, axis=1), width * 2, width)
        channels = width
    out = "mask"
    g.nodes.append(helper.make_node("Sigmoid", [g.conv(x, channels, 1, 1)], [out]))
    return g.model("unet_small", [1, 3, 256, 256], out, [1, 1, 256, 256])


def check(path: Path, shape: list) -> str:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sample = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    output = session.run(None, {"input": sample})[0]
    if not np.isfinite(output).all():
        raise SystemExit(f"{path.name}: non-finite outputs")
    return f"output {list(output.shape)} range [{output.min():.4g}, {output.max():.4g}] (onnxruntime {ort.__version__})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-check", action="store_true", help="skip running the models in onnxruntime")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, build, shape in (("mobilenetv2_like", mobilenetv2_like, [1, 3, 224, 224]),
                               ("unet_small", unet_small, [1, 3, 256, 256])):
        path = args.output_dir / f"{name}.onnx"
        model = build(args.seed)
        onnx.save(model, str(path))
        ops = sorted({node.op_type for node in model.graph.node})
        params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        line = f"{path}: {len(model.graph.node)} nodes, {params / 1e6:.2f} M parameters, ops {', '.join(ops)}"
        if not args.no_check:
            line += "; " + check(path, shape)
        print(line)


if __name__ == "__main__":
    sys.exit(main())
