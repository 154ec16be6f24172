#!/usr/bin/env python3
"""Writes the tiny ONNX seed models of corpus/onnx (no dependencies: protobuf by hand).

Field numbers are those of onnx/onnx.proto. Each model is a few hundred bytes and uses a
different part of the loader: raw_data / float_data / int64_data initializers, attributes of
every scalar and list type, a Constant node with a tensor attribute, constant folding
(Shape/Gather/Reshape/Transpose over initializers), external data, value_info, symbolic dims.
Usage: tools/make-onnx-seeds.py corpus/onnx
"""
import os
import struct
import sys

FLOAT, INT64, INT32, BOOL = 1, 7, 6, 9


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def vint(field, value):
    return key(field, 0) + varint(value)


def ld(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return key(field, 2) + varint(len(payload)) + payload


def f32(field, value):
    return key(field, 5) + struct.pack("<f", value)


def packed_varints(field, values):
    return ld(field, b"".join(varint(v) for v in values))


def tensor(name, dtype, dims, floats=None, int64s=None, int32s=None, raw=None, external=None):
    out = b"".join(vint(1, d) for d in dims) + vint(2, dtype)
    if floats is not None:
        out += ld(4, b"".join(struct.pack("<f", v) for v in floats))
    if int32s is not None:
        out += packed_varints(5, int32s)
    if int64s is not None:
        out += packed_varints(7, int64s)
    out += ld(8, name)
    if raw is not None:
        out += ld(9, raw)
    if external is not None:
        out += b"".join(ld(13, ld(1, k) + ld(2, v)) for k, v in external) + vint(14, 1)
    return out


def attr_int(name, value):
    return ld(1, name) + vint(3, value) + vint(20, 2)


def attr_float(name, value):
    return ld(1, name) + f32(2, value) + vint(20, 1)


def attr_ints(name, values):
    return ld(1, name) + b"".join(vint(8, v) for v in values) + vint(20, 7)


def attr_floats(name, values):
    return ld(1, name) + b"".join(f32(7, v) for v in values) + vint(20, 6)


def attr_string(name, value):
    return ld(1, name) + ld(4, value) + vint(20, 3)


def attr_tensor(name, tensor_bytes):
    return ld(1, name) + ld(5, tensor_bytes) + vint(20, 4)


def node(op, inputs, outputs, name="", attributes=()):
    out = b"".join(ld(1, i) for i in inputs) + b"".join(ld(2, o) for o in outputs)
    if name:
        out += ld(3, name)
    out += ld(4, op) + b"".join(ld(5, a) for a in attributes)
    return out


def value_info(name, dtype, dims):
    dim_bytes = b"".join(ld(1, vint(1, d) if isinstance(d, int) else ld(2, d)) for d in dims)
    tensor_type = vint(1, dtype) + ld(2, dim_bytes)
    return ld(1, name) + ld(2, ld(1, tensor_type))


def model(nodes, inputs, outputs, initializers=(), value_infos=(), opset=13, name="g"):
    graph = b"".join(ld(1, n) for n in nodes) + ld(2, name)
    graph += b"".join(ld(5, t) for t in initializers)
    graph += b"".join(ld(11, v) for v in inputs) + b"".join(ld(12, v) for v in outputs)
    graph += b"".join(ld(13, v) for v in value_infos)
    return vint(1, 8) + ld(2, "seer-fuzz") + ld(3, "1") + ld(7, graph) + ld(8, ld(1, "") + vint(2, opset))


def seeds():
    x = value_info("x", FLOAT, [1, 3, 4, 4])
    yield "add-raw", model(
        [node("Add", ["x", "b"], ["y"], "add")], [x], [value_info("y", FLOAT, [1, 3, 4, 4])],
        [tensor("b", FLOAT, [1, 3, 1, 1], raw=struct.pack("<3f", 0.5, -1, 2))])
    yield "conv-relu-pool", model(
        [node("Conv", ["x", "w", "bias"], ["c"], "conv", [attr_ints("kernel_shape", [3, 3]), attr_ints("pads", [1, 1, 1, 1]),
                                                         attr_ints("strides", [1, 1]), attr_int("group", 1)]),
         node("Relu", ["c"], ["r"]),
         node("MaxPool", ["r"], ["p"], "pool", [attr_ints("kernel_shape", [2, 2]), attr_ints("strides", [2, 2])]),
         node("GlobalAveragePool", ["p"], ["y"])],
        [x], [value_info("y", FLOAT, ["N", 2, 1, 1])],
        [tensor("w", FLOAT, [2, 3, 3, 3], floats=[0.01 * i for i in range(54)]), tensor("bias", FLOAT, [2], floats=[0.1, -0.1])])
    yield "fold-shape-reshape", model(
        [node("Shape", ["c"], ["s"]), node("Gather", ["s", "i"], ["g"], attributes=[attr_int("axis", 0)]),
         node("Transpose", ["c"], ["ct"], attributes=[attr_ints("perm", [1, 0])]),
         node("Reshape", ["ct", "shape"], ["cr"]), node("MatMul", ["x2", "cr"], ["m"]),
         node("Cast", ["g"], ["gf"], attributes=[attr_int("to", FLOAT)]), node("Mul", ["m", "gf"], ["y"])],
        [value_info("x2", FLOAT, [2, 6])], [value_info("y", FLOAT, [2, 1])],
        [tensor("c", FLOAT, [3, 2], floats=[1, 2, 3, 4, 5, 6]), tensor("i", INT64, [], int64s=[1]),
         tensor("shape", INT64, [2], int64s=[6, 1])])
    yield "constant-gemm-softmax", model(
        [node("Constant", [], ["w"], attributes=[attr_tensor("value", tensor("cw", FLOAT, [4, 3], floats=[0.5] * 12))]),
         node("Gemm", ["x", "w"], ["g"], attributes=[attr_float("alpha", 1.5), attr_float("beta", 1.0), attr_int("transB", 0)]),
         node("Softmax", ["g"], ["y"], attributes=[attr_int("axis", -1)])],
        [value_info("x", FLOAT, [1, 4])], [value_info("y", FLOAT, [1, 3])])
    yield "external-data", model(
        [node("Add", ["x", "b"], ["y"])], [value_info("x", FLOAT, [4])], [value_info("y", FLOAT, [4])],
        [tensor("b", FLOAT, [4], external=[("location", "model.onnx"), ("offset", "0"), ("length", "16")])])
    yield "concat-slice-resize", model(
        [node("Concat", ["x", "x"], ["c"], attributes=[attr_int("axis", 1)]),
         node("Slice", ["c", "starts", "ends", "axes"], ["s"]),
         node("Resize", ["s", "", "scales"], ["r"], attributes=[attr_string("mode", "nearest")]),
         node("Clip", ["r", "lo", "hi"], ["y"])],
        [x], [value_info("y", FLOAT, [1, 3, 8, 8])],
        [tensor("starts", INT64, [1], int64s=[0]), tensor("ends", INT64, [1], int64s=[3]), tensor("axes", INT64, [1], int64s=[1]),
         tensor("scales", FLOAT, [4], floats=[1, 1, 2, 2]), tensor("lo", FLOAT, [], floats=[0]), tensor("hi", FLOAT, [], floats=[6])],
        value_infos=[value_info("c", FLOAT, [1, 6, 4, 4])])
    yield "batchnorm-pad-leaky", model(
        [node("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["n"], attributes=[attr_float("epsilon", 1e-5)]),
         node("Pad", ["n", "pads"], ["p"], attributes=[attr_string("mode", "constant")]),
         node("LeakyRelu", ["p"], ["l"], attributes=[attr_float("alpha", 0.1)]),
         node("ReduceMean", ["l"], ["y"], attributes=[attr_ints("axes", [2, 3]), attr_int("keepdims", 0)])],
        [x], [value_info("y", FLOAT, [1, 3])],
        [tensor("scale", FLOAT, [3], floats=[1, 2, 3]), tensor("b", FLOAT, [3], floats=[0, 0, 0]),
         tensor("mean", FLOAT, [3], floats=[0, 1, 0]), tensor("var", FLOAT, [3], floats=[1, 1, 1]),
         tensor("pads", INT64, [8], int64s=[0, 0, 1, 1, 0, 0, 1, 1])])
    yield "split-squeeze-int32", model(
        [node("Split", ["x"], ["a", "b"], attributes=[attr_int("axis", 0), attr_ints("split", [1, 1])]),
         node("Squeeze", ["a"], ["sa"], attributes=[attr_ints("axes", [0])]),
         node("Unsqueeze", ["sa"], ["u"], attributes=[attr_ints("axes", [0])]),
         node("Sum", ["u", "b", "k"], ["y"])],
        [value_info("x", FLOAT, [2, 3])], [value_info("y", FLOAT, [1, 3])],
        [tensor("k", FLOAT, [1, 3], floats=[1, 2, 3]), tensor("unused", INT32, [2], int32s=[7, 8])], opset=11)


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(folder, name + ".onnx"), "wb") as handle:
            handle.write(data)


if __name__ == "__main__":
    main()
