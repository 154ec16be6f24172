#!/usr/bin/env python3
"""Convert MediaPipe's selfie segmentation (TFLite) to ONNX, with a small own converter.

Source: mediapipe==0.10.21 (PyPI wheel), mediapipe/modules/selfie_segmentation/
selfie_segmentation.tflite (the general 256x256 model; newer mediapipe wheels dropped it).

The model is small and uses few TFLite ops, so instead of tf2onnx (which needs TensorFlow
and leaves MediaPipe's custom op unconverted) this script reads the flatbuffer with the
`tflite` package and emits ONNX (opset 14) directly:

  DEQUANTIZE (float16 weights)      -> folded: the weights are stored as float32 (exact)
  CONV_2D / DEPTHWISE_CONV_2D        -> Conv (group = channels for depthwise), explicit pads
                                        computed like TFLite SAME/VALID, fused activation
  HARD_SWISH / RELU / LOGISTIC       -> HardSwish / Relu / Sigmoid
  AVERAGE_POOL_2D over the full map  -> GlobalAveragePool (otherwise AveragePool)
  ADD / MUL                          -> Add / Mul (NHWC broadcasting maps to NCHW)
  RESIZE_BILINEAR                    -> Resize linear (half_pixel / align_corners / asymmetric
                                        from the op's options), sizes as a constant
  CUSTOM Convolution2DTransposeBias  -> ConvTranspose with bias; TFLite weights
                                        [O, kh, kw, I] -> ONNX [I, O, kh, kw]

The graph runs in NCHW inside: the NHWC input is transposed once at the start and the
output once at the end, so the ONNX model keeps the TFLite interface:
input_1 [1, 256, 256, 3] RGB in [0, 1]  ->  activation_10 [1, 256, 256, 1] (sigmoid).

Usage (from the repo root, in the venv of models/convert/requirements-selfie.txt):
  python models/convert/selfie.py [--out models/person]
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_pinned import PinnedArtifact, PinnedFile, read_member, sha256_file  # noqa: E402

MEDIAPIPE = PinnedArtifact(
    package="mediapipe", version="0.10.21",
    filename="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")
SELFIE = PinnedFile(MEDIAPIPE, "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c")
OPSET = 14

BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
TFLITE_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
                 tflite.TensorType.INT32: np.int32}
NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


class TFLiteGraph:
    """Tensors, buffers and operators of subgraph 0, with numpy views of constant data."""

    def __init__(self, data: bytes):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError("expected one subgraph")
        self.graph = self.model.Subgraphs(0)
        self.opcodes = []
        for i in range(self.model.OperatorCodesLength()):
            code = self.model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = BUILTIN_NAMES.get(builtin, f"builtin{builtin}")
            self.opcodes.append(f"CUSTOM:{code.CustomCode().decode()}" if name == "CUSTOM" else name)

    def tensor(self, index: int):
        return self.graph.Tensors(index)

    def name(self, index: int) -> str:
        return self.tensor(index).Name().decode()

    def shape(self, index: int) -> list[int]:
        return self.tensor(index).ShapeAsNumpy().tolist()

    def constant(self, index: int) -> np.ndarray | None:
        tensor = self.tensor(index)
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            return None
        dtype = TFLITE_DTYPES.get(tensor.Type())
        if dtype is None:
            raise ValueError(f"tensor {self.name(index)}: type {tensor.Type()} not handled")
        return np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(index))

    def operators(self):
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            inputs = [op.Inputs(j) for j in range(op.InputsLength())]
            outputs = [op.Outputs(j) for j in range(op.OutputsLength())]
            yield i, self.opcodes[op.OpcodeIndex()], op, inputs, outputs


def same_pads(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite/TensorFlow SAME padding: (before, after), the odd pixel goes after."""
    out = (in_size + stride - 1) // stride
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, source: TFLiteGraph):
        self.src = source
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.values: dict[int, str] = {}         # TFLite tensor index -> ONNX value (NCHW)
        self.folded: dict[int, np.ndarray] = {}  # TFLite tensor index -> constant (float32)
        self.shapes: dict[int, list[int]] = {}   # NHWC shapes of activations
        self.counter = Counter()

    def fresh(self, base: str) -> str:
        self.counter[base] += 1
        return f"{base}_{self.counter[base]}"

    def initializer(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, output: str | None = None, **attrs) -> str:
        output = output or self.fresh(base)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def const(self, index: int) -> np.ndarray:
        if index in self.folded:
            return self.folded[index]
        value = self.src.constant(index)
        if value is None:
            raise ValueError(f"tensor {self.src.name(index)} is not a constant")
        return value.astype(np.float32) if value.dtype == np.float16 else value

    def activation(self, value: str, fused: int, base: str) -> str:
        if fused == tflite.ActivationFunctionType.NONE:
            return value
        if fused == tflite.ActivationFunctionType.RELU:
            return self.node("Relu", [value], base + "_relu")
        if fused == tflite.ActivationFunctionType.RELU6:
            return self.node("Clip", [value, self.initializer("zero", np.array(0, np.float32)),
                                      self.initializer("six", np.array(6, np.float32))], base + "_relu6")
        raise ValueError(f"fused activation {fused} not handled")

    def operand(self, index: int) -> str:
        """An ONNX value for a binary op operand: an activation, or a constant laid out NCHW."""
        if index in self.values:
            return self.values[index]
        value = self.const(index)
        if value.ndim == 4:
            value = value.transpose(NHWC_TO_NCHW)
        elif value.ndim == 1 and value.size > 1:
            value = value.reshape(-1, 1, 1)
        return self.initializer("const", value.astype(np.float32))

    def set_output(self, index: int, value: str, shape: list[int]) -> None:
        self.values[index] = value
        self.shapes[index] = shape

    def convert(self, input_name: str, output_name: str) -> onnx.ModelProto:
        g = self.src.graph
        if g.InputsLength() != 1 or g.OutputsLength() != 1:
            raise ValueError("expected one input and one output")
        in_index, out_index = g.Inputs(0), g.Outputs(0)
        in_shape = self.src.shape(in_index)
        self.set_output(in_index, self.node("Transpose", [input_name], "input_nchw", perm=NHWC_TO_NCHW),
                        in_shape)
        for i, kind, op, inputs, outputs in self.src.operators():
            handler = getattr(self, "op_" + kind.replace(":", "_"), None)
            if handler is None:
                raise ValueError(f"operator {i}: {kind} is not handled")
            handler(op, inputs, outputs)
        out_shape = self.shapes[out_index]
        self.node("Transpose", [self.values[out_index]], "output", output_name, perm=NCHW_TO_NHWC)
        graph = helper.make_graph(
            self.nodes, "selfie_segmentation",
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)],
            initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="seer models/convert/selfie.py")
        model.ir_version = 8
        return model

    # --- operators -------------------------------------------------------------------
    def op_DEQUANTIZE(self, op, inputs, outputs):
        self.folded[outputs[0]] = self.src.constant(inputs[0]).astype(np.float32)

    def conv(self, op, inputs, outputs, depthwise: bool):
        options = (tflite.DepthwiseConv2DOptions() if depthwise else tflite.Conv2DOptions())
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        x = self.values[inputs[0]]
        _, height, width, channels = self.shapes[inputs[0]]
        weights = self.const(inputs[1])
        bias = self.const(inputs[2]) if len(inputs) > 2 and inputs[2] >= 0 else None
        if depthwise:  # [1, kh, kw, C * multiplier] -> [C * multiplier, 1, kh, kw]
            if options.DepthMultiplier() != 1:
                raise ValueError("depth multiplier != 1 not handled")
            kernel = weights.transpose(3, 0, 1, 2)
            group = channels
        else:          # [O, kh, kw, I] -> [O, I, kh, kw]
            kernel = weights.transpose(0, 3, 1, 2)
            group = 1
        kh, kw = kernel.shape[2:]
        sh, sw = options.StrideH(), options.StrideW()
        dh, dw = options.DilationHFactor(), options.DilationWFactor()
        if options.Padding() == tflite.Padding.SAME:
            top, bottom = same_pads(height, kh, sh, dh)
            left, right = same_pads(width, kw, sw, dw)
        else:
            top = bottom = left = right = 0
        out_h = (height + top + bottom - ((kh - 1) * dh + 1)) // sh + 1
        out_w = (width + left + right - ((kw - 1) * dw + 1)) // sw + 1
        names = [x, self.initializer("weight", kernel.astype(np.float32))]
        if bias is not None:
            names.append(self.initializer("bias", bias.astype(np.float32)))
        base = "dwconv" if depthwise else "conv"
        y = self.node("Conv", names, base, kernel_shape=[kh, kw], strides=[sh, sw],
                      dilations=[dh, dw], pads=[top, left, bottom, right], group=group)
        y = self.activation(y, options.FusedActivationFunction(), base)
        self.set_output(outputs[0], y, [1, out_h, out_w, kernel.shape[0]])

    def op_CONV_2D(self, op, inputs, outputs):
        self.conv(op, inputs, outputs, depthwise=False)

    def op_DEPTHWISE_CONV_2D(self, op, inputs, outputs):
        self.conv(op, inputs, outputs, depthwise=True)

    def unary(self, onnx_op: str, inputs, outputs, base: str):
        self.set_output(outputs[0], self.node(onnx_op, [self.values[inputs[0]]], base),
                        self.shapes[inputs[0]])

    def op_HARD_SWISH(self, op, inputs, outputs):
        self.unary("HardSwish", inputs, outputs, "hardswish")

    def op_RELU(self, op, inputs, outputs):
        self.unary("Relu", inputs, outputs, "relu")

    def op_LOGISTIC(self, op, inputs, outputs):
        self.unary("Sigmoid", inputs, outputs, "sigmoid")

    def op_AVERAGE_POOL_2D(self, op, inputs, outputs):
        options = tflite.Pool2DOptions()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        _, height, width, channels = self.shapes[inputs[0]]
        kh, kw = options.FilterHeight(), options.FilterWidth()
        x = self.values[inputs[0]]
        if (kh, kw) == (height, width) and options.Padding() == tflite.Padding.VALID:
            y = self.node("GlobalAveragePool", [x], "gap")
            shape = [1, 1, 1, channels]
        else:
            raise ValueError("only global average pooling is used by this model")
        y = self.activation(y, options.FusedActivationFunction(), "gap")
        self.set_output(outputs[0], y, shape)

    def binary(self, onnx_op: str, options_class, op, inputs, outputs, base: str):
        options = options_class()
        table = op.BuiltinOptions()
        fused = tflite.ActivationFunctionType.NONE
        if table is not None:
            options.Init(table.Bytes, table.Pos)
            fused = options.FusedActivationFunction()
        a, b = (self.operand(i) for i in inputs)
        shapes = [self.shapes.get(i, self.src.shape(i)) for i in inputs]
        shape = list(np.broadcast_shapes(*[tuple(s) for s in shapes]))
        y = self.activation(self.node(onnx_op, [a, b], base), fused, base)
        self.set_output(outputs[0], y, shape)

    def op_ADD(self, op, inputs, outputs):
        self.binary("Add", tflite.AddOptions, op, inputs, outputs, "add")

    def op_MUL(self, op, inputs, outputs):
        self.binary("Mul", tflite.MulOptions, op, inputs, outputs, "mul")

    def op_RESIZE_BILINEAR(self, op, inputs, outputs):
        options = tflite.ResizeBilinearOptions()
        table = op.BuiltinOptions()
        options.Init(table.Bytes, table.Pos)
        if options.AlignCorners():
            mode = "align_corners"
        elif options.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        out_h, out_w = (int(v) for v in self.src.constant(inputs[1]))
        _, _, _, channels = self.shapes[inputs[0]]
        sizes = self.initializer("sizes", np.array([1, channels, out_h, out_w], dtype=np.int64))
        y = self.node("Resize", [self.values[inputs[0]], "", "", sizes], "resize", mode="linear",
                      coordinate_transformation_mode=mode)
        self.set_output(outputs[0], y, [1, out_h, out_w, channels])

    def op_CUSTOM_Convolution2DTransposeBias(self, op, inputs, outputs):
        # Custom options: TfLiteTransposeConvParams {padding, stride_width, stride_height}, int32s.
        padding, stride_w, stride_h = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes()[:12])
        weights = self.const(inputs[1])                  # [O, kh, kw, I]
        bias = self.const(inputs[2])
        out_channels, kh, kw, in_channels = weights.shape
        _, height, width, channels = self.shapes[inputs[0]]
        if channels != in_channels:
            raise ValueError("transposed convolution: channel mismatch")
        out_h, out_w = self.src.shape(outputs[0])[1:3]
        # TFLite SAME (1) output = in * stride; VALID (2) = (in - 1) * stride + k.
        total_h = max((height - 1) * stride_h + kh - out_h, 0)
        total_w = max((width - 1) * stride_w + kw - out_w, 0)
        if padding not in (1, 2):
            raise ValueError(f"transposed convolution: padding {padding} not handled")
        kernel = weights.transpose(3, 0, 1, 2)           # [I, O, kh, kw]
        y = self.node("ConvTranspose",
                      [self.values[inputs[0]], self.initializer("tconv_weight", kernel.astype(np.float32)),
                       self.initializer("tconv_bias", bias.astype(np.float32).reshape(out_channels))],
                      "convtranspose", kernel_shape=[kh, kw], strides=[stride_h, stride_w],
                      pads=[total_h // 2, total_w // 2, total_h - total_h // 2, total_w - total_w // 2])
        self.set_output(outputs[0], y, [1, out_h, out_w, out_channels])


def manifest(model: onnx.ModelProto, tflite_ops: Counter) -> dict:
    return {
        "name": "person",
        "version": 1,
        "task": "segmentation",
        "default": True,
        "description": "Person (selfie) segmentation: MediaPipe Selfie Segmentation, general "
                       "256x256 model, converted from TFLite to ONNX. Best for one or a few "
                       "people close to the camera.",
        "graphs": {"main": "selfie.onnx"},
        "inputs": {"main": {"name": model.graph.input[0].name, "layout": "NHWC",
                            "shape": [1, 256, 256, 3], "color": "RGB"}},
        "preprocessing": {"resize": "stretch", "size": [256, 256], "scale": 1.0 / 255.0,
                          "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                          "notes": "MediaPipe's graph (ImageToTensorCalculator: keep_aspect_ratio "
                                   "false, float range [0, 1], bilinear) stretches the whole "
                                   "image to 256x256."},
        "outputs": {"main": [{"name": model.graph.output[0].name, "shape": [1, 256, 256, 1],
                              "meaning": "probability that the pixel shows a person (sigmoid "
                                         "inside the graph)"}]},
        "labels": ["person"],
        "thresholds": {"mask": 0.5},
        "postprocessing": {"decoder": "binary-mask", "label": "person",
                           "steps": "resize the 256x256 probability map to the original image "
                                    "size (bilinear), pixel = 255 where probability > 0.5 "
                                    "else 0; pixel_fraction = share of 255 pixels"},
        "source": [SELFIE.source_entry()],
        "license": "Apache-2.0 (MediaPipe)",
        "conversion": "models/convert/selfie.py",
        "conversion_notes": "Own TFLite->ONNX converter (no TensorFlow): float16 weights "
                            "dequantised to float32 exactly; MediaPipe's custom op "
                            "Convolution2DTransposeBias rewritten as ConvTranspose with bias; "
                            f"TFLite ops {dict(sorted(tflite_ops.items()))}; ONNX opset {OPSET}.",
    }


def convert(data: bytes) -> tuple[onnx.ModelProto, Counter]:
    source = TFLiteGraph(data)
    tflite_ops = Counter(kind for _, kind, *_ in source.operators())
    g = source.graph
    model = Converter(source).convert(source.name(g.Inputs(0)), source.name(g.Outputs(0)))
    onnx.checker.check_model(model, full_check=True)
    return model, tflite_ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/person"))
    args = parser.parse_args()

    model, tflite_ops = convert(read_member(SELFIE))
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "selfie.onnx"
    onnx.save(model, target)
    (args.out / "manifest.json").write_text(json.dumps(manifest(model, tflite_ops), indent=2) + "\n")
    print(f"wrote {target} sha256 {sha256_file(target)}")
    print(f"  tflite ops {dict(tflite_ops)}")
    print(f"  onnx ops {dict(Counter(n.op_type for n in model.graph.node))}")


if __name__ == "__main__":
    main()
