import Foundation

/// A protobuf writer for building test models by hand, independent of the reader under test.
struct ProtoWriter {
    var data = Data()

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            data.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        data.append(UInt8(rest))
    }

    mutating func key(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { data.append(UInt8((bits >> UInt32(shift)) & 0xFF)) }
    }

    mutating func bytes(_ field: Int, _ value: Data) {
        key(field, 2)
        varint(UInt64(value.count))
        data.append(value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Data(value.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        bytes(field, inner.data)
    }

    mutating func packedVarints(_ field: Int, _ values: [Int64]) {
        var inner = ProtoWriter()
        for value in values { inner.varint(UInt64(bitPattern: value)) }
        bytes(field, inner.data)
    }

    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var inner = ProtoWriter()
        for value in values {
            let bits = value.bitPattern
            for shift in stride(from: 0, to: 32, by: 8) { inner.data.append(UInt8((bits >> UInt32(shift)) & 0xFF)) }
        }
        bytes(field, inner.data)
    }
}

/// ONNX messages for tests, with the field numbers of onnx.proto.
enum ONNXBuilder {
    static let float: Int64 = 1, int64: Int64 = 7, bool: Int64 = 9, string: Int64 = 8, bfloat16: Int64 = 16

    /// A TensorProto with float32 values in raw_data.
    static func floatTensor(_ name: String, dims: [Int64], values: [Float]) -> (inout ProtoWriter) -> Void {
        let raw = values.withUnsafeBytes { Data($0) }
        return tensor(name, dims: dims, dataType: float, raw: raw)
    }

    static func tensor(_ name: String, dims: [Int64], dataType: Int64, raw: Data? = nil,
                       external: [(String, String)] = []) -> (inout ProtoWriter) -> Void {
        { writer in
            for dim in dims { writer.int(1, dim) }
            writer.int(2, dataType)
            writer.string(8, name)
            if let raw { writer.bytes(9, raw) }
            for (key, value) in external {
                writer.message(13) { entry in
                    entry.string(1, key)
                    entry.string(2, value)
                }
            }
            if !external.isEmpty { writer.int(14, 1) }
        }
    }

    /// A ValueInfoProto; nil dims are symbolic ("N").
    static func valueInfo(_ name: String, elemType: Int64 = float, dims: [Int64?]) -> (inout ProtoWriter) -> Void {
        { writer in
            writer.string(1, name)
            writer.message(2) { type in
                type.message(1) { tensorType in
                    tensorType.int(1, elemType)
                    tensorType.message(2) { shape in
                        for dim in dims {
                            shape.message(1) { entry in
                                if let dim { entry.int(1, dim) } else { entry.string(2, "N") }
                            }
                        }
                    }
                }
            }
        }
    }

    static func node(_ op: String, inputs: [String], outputs: [String], name: String = "", domain: String = "",
                     attributes: [(inout ProtoWriter) -> Void] = []) -> (inout ProtoWriter) -> Void {
        { writer in
            for input in inputs { writer.string(1, input) }
            for output in outputs { writer.string(2, output) }
            if !name.isEmpty { writer.string(3, name) }
            writer.string(4, op)
            for attribute in attributes { writer.message(5, attribute) }
            if !domain.isEmpty { writer.string(7, domain) }
        }
    }

    /// A ModelProto whose graph is its last field, so every strict prefix lacks a complete graph.
    static func model(nodes: [(inout ProtoWriter) -> Void], inputs: [(inout ProtoWriter) -> Void],
                      outputs: [(inout ProtoWriter) -> Void], initializers: [(inout ProtoWriter) -> Void] = [],
                      opset: Int64 = 13, extraOpsets: [(String, Int64)] = []) -> Data {
        var writer = ProtoWriter()
        writer.int(1, 8)
        writer.string(2, "seer-tests")
        writer.message(8) { entry in
            entry.string(1, "")
            entry.int(2, opset)
        }
        for (domain, version) in extraOpsets {
            writer.message(8) { entry in
                entry.string(1, domain)
                entry.int(2, version)
            }
        }
        writer.message(7) { graph in
            for node in nodes { graph.message(1, node) }
            graph.string(2, "test_graph")
            for initializer in initializers { graph.message(5, initializer) }
            for input in inputs { graph.message(11, input) }
            for output in outputs { graph.message(12, output) }
        }
        return writer.data
    }
}
