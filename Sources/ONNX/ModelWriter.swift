import Foundation

/// Writes small ONNX models (float32 graphs of ordinary nodes with initializers), e.g. the
/// anomaly scorers Seer trains. Only what such graphs need is written: IR version, opset
/// imports, nodes with int/float/string/ints/floats attributes, float initializers as
/// `raw_data`, and typed graph inputs/outputs. Field numbers are those of onnx/onnx.proto.
public struct ONNXModelWriter: Sendable {
    public enum Dimension: Sendable, Equatable {
        case fixed(Int)
        case symbolic(String)
    }

    public enum AttributeValue: Sendable, Equatable {
        case int(Int)
        case float(Float)
        case string(String)
        case ints([Int])
        case floats([Float])
    }

    public struct Node: Sendable {
        public var opType: String
        public var inputs: [String]
        public var outputs: [String]
        public var name: String
        public var attributes: [(String, AttributeValue)]

        public init(_ opType: String, inputs: [String], outputs: [String], name: String = "",
                    attributes: [(String, AttributeValue)] = []) {
            self.opType = opType
            self.inputs = inputs
            self.outputs = outputs
            self.name = name
            self.attributes = attributes
        }
    }

    /// A float32 tensor stored in the file.
    public struct Initializer: Sendable {
        public var name: String
        public var dims: [Int]
        public var values: [Float]

        public init(name: String, dims: [Int], values: [Float]) {
            self.name = name
            self.dims = dims
            self.values = values
        }
    }

    /// A float32 graph input or output.
    public struct Value: Sendable {
        public var name: String
        public var dims: [Dimension]

        public init(name: String, dims: [Dimension]) {
            self.name = name
            self.dims = dims
        }
    }

    public var graphName: String
    public var nodes: [Node] = []
    public var initializers: [Initializer] = []
    public var inputs: [Value] = []
    public var outputs: [Value] = []
    public var opset = 13
    public var irVersion = 8
    public var producerName = "seer"
    public var producerVersion = ""
    public var docString = ""

    public init(graphName: String) {
        self.graphName = graphName
    }

    /// Refuses initializers whose value count does not match their dims.
    public func serialized() throws -> Data {
        for initializer in initializers {
            let count = initializer.dims.reduce(1, *)
            guard initializer.dims.allSatisfy({ $0 >= 0 }), count == initializer.values.count else {
                throw ONNXError.invalidModel("initializer '\(initializer.name)' has dims \(initializer.dims) but \(initializer.values.count) values")
            }
        }
        var graph = ProtobufWriter()
        for node in nodes { graph.message(1, encode(node)) }
        graph.string(2, graphName)
        for initializer in initializers { graph.message(5, encode(initializer)) }
        if !docString.isEmpty { graph.string(10, docString) }
        for input in inputs { graph.message(11, encode(input)) }
        for output in outputs { graph.message(12, encode(output)) }

        var opsetImport = ProtobufWriter()
        opsetImport.string(1, "")
        opsetImport.varint(2, Int64(opset))

        var model = ProtobufWriter()
        model.varint(1, Int64(irVersion))
        model.string(2, producerName)
        if !producerVersion.isEmpty { model.string(3, producerVersion) }
        model.message(7, graph)
        model.message(8, opsetImport)
        return model.data
    }

    public func write(to url: URL) throws {
        try serialized().write(to: url, options: .atomic)
    }

    private func encode(_ node: Node) -> ProtobufWriter {
        var writer = ProtobufWriter()
        for input in node.inputs { writer.string(1, input) }
        for output in node.outputs { writer.string(2, output) }
        if !node.name.isEmpty { writer.string(3, node.name) }
        writer.string(4, node.opType)
        for (name, value) in node.attributes {
            var attribute = ProtobufWriter()
            attribute.string(1, name)
            // AttributeProto.type: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7 (field 20).
            switch value {
            case let .float(value):
                attribute.fixed32(2, value.bitPattern)
                attribute.varint(20, 1)
            case let .int(value):
                attribute.varint(3, Int64(value))
                attribute.varint(20, 2)
            case let .string(value):
                attribute.bytes(4, Data(value.utf8))
                attribute.varint(20, 3)
            case let .floats(values):
                for value in values { attribute.fixed32(7, value.bitPattern) }
                attribute.varint(20, 6)
            case let .ints(values):
                for value in values { attribute.varint(8, Int64(value)) }
                attribute.varint(20, 7)
            }
            writer.message(5, attribute)
        }
        return writer
    }

    private func encode(_ initializer: Initializer) -> ProtobufWriter {
        var writer = ProtobufWriter()
        for dim in initializer.dims { writer.varint(1, Int64(dim)) }
        writer.varint(2, 1) // FLOAT
        writer.string(8, initializer.name)
        var raw = Data(capacity: initializer.values.count * 4)
        for value in initializer.values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { raw.append(contentsOf: $0) }
        }
        writer.bytes(9, raw)
        return writer
    }

    private func encode(_ value: Value) -> ProtobufWriter {
        var shape = ProtobufWriter()
        for dim in value.dims {
            var dimension = ProtobufWriter()
            switch dim {
            case let .fixed(size): dimension.varint(1, Int64(size))
            case let .symbolic(name): dimension.string(2, name)
            }
            shape.message(1, dimension)
        }
        var tensorType = ProtobufWriter()
        tensorType.varint(1, 1) // FLOAT
        tensorType.message(2, shape)
        var type = ProtobufWriter()
        type.message(1, tensorType)
        var writer = ProtobufWriter()
        writer.string(1, value.name)
        writer.message(2, type)
        return writer
    }
}

/// Protocol-buffer wire encoding: varints, fixed32 and length-delimited fields.
struct ProtobufWriter {
    private(set) var data = Data()

    private mutating func key(_ field: Int, _ wireType: UInt64) {
        rawVarint(UInt64(field) << 3 | wireType)
    }

    private mutating func rawVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            data.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        data.append(UInt8(value))
    }

    /// int64 fields: negative values take ten bytes (two's complement), as protobuf specifies.
    mutating func varint(_ field: Int, _ value: Int64) {
        key(field, 0)
        rawVarint(UInt64(bitPattern: value))
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        key(field, 5)
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: Data) {
        key(field, 2)
        rawVarint(UInt64(value.count))
        data.append(value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Data(value.utf8)) }

    mutating func message(_ field: Int, _ value: ProtobufWriter) { bytes(field, value.data) }
}
