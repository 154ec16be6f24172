import Foundation

// The subset of onnx.proto (IR version 3-10) that Seer reads, decoded field by field.
// Field numbers are the ones in onnx/onnx.proto; unknown fields are skipped.

struct ModelProto {
    var irVersion: Int64 = 0
    var opsetImports: [(domain: String, version: Int64)] = []
    var producerName = ""
    var producerVersion = ""
    var graph: GraphProto?

    init(_ data: Data) throws {
        var reader = try ProtobufReader(data, context: "ModelProto")
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                irVersion = try reader.int64(wire, field: "ir_version")
            case 2:
                producerName = try reader.string(wire, field: "producer_name")
            case 3:
                producerVersion = try reader.string(wire, field: "producer_version")
            case 7:
                graph = try GraphProto(reader.message(wire, field: "graph"))
            case 8:
                opsetImports.append(try ModelProto.readOpset(reader.message(wire, field: "opset_import")))
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private static func readOpset(_ message: ProtobufReader) throws -> (domain: String, version: Int64) {
        var reader = message
        var domain = ""
        var version: Int64 = 0
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                domain = try reader.string(wire, field: "domain")
            case 2:
                version = try reader.int64(wire, field: "version")
            default:
                try reader.skip(wire, field: field)
            }
        }
        return (domain, version)
    }
}

struct GraphProto {
    var name = ""
    var nodes: [NodeProto] = []
    var initializers: [TensorProto] = []
    var hasSparseInitializers = false
    var inputs: [ValueInfoProto] = []
    var outputs: [ValueInfoProto] = []
    var valueInfo: [ValueInfoProto] = []

    init(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                nodes.append(try NodeProto(reader.message(wire, field: "node", name: "node[\(nodes.count)]")))
            case 2:
                name = try reader.string(wire, field: "name")
            case 5:
                initializers.append(try TensorProto(
                    reader.message(wire, field: "initializer", name: "initializer[\(initializers.count)]")))
            case 11:
                inputs.append(try ValueInfoProto(reader.message(wire, field: "input")))
            case 12:
                outputs.append(try ValueInfoProto(reader.message(wire, field: "output")))
            case 13:
                valueInfo.append(try ValueInfoProto(reader.message(wire, field: "value_info")))
            case 15:
                hasSparseInitializers = true
                try reader.skip(wire, field: field)
            default:
                try reader.skip(wire, field: field)
            }
        }
    }
}

struct NodeProto {
    var inputs: [String] = []
    var outputs: [String] = []
    var name = ""
    var opType = ""
    var domain = ""
    var attributes: [AttributeProto] = []

    init(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                inputs.append(try reader.string(wire, field: "input"))
            case 2:
                outputs.append(try reader.string(wire, field: "output"))
            case 3:
                name = try reader.string(wire, field: "name")
            case 4:
                opType = try reader.string(wire, field: "op_type")
            case 5:
                attributes.append(try AttributeProto(
                    reader.message(wire, field: "attribute", name: "attribute[\(attributes.count)]")))
            case 7:
                domain = try reader.string(wire, field: "domain")
            default:
                try reader.skip(wire, field: field)
            }
        }
    }
}

struct AttributeProto {
    /// AttributeProto.AttributeType codes.
    enum Kind: Int32 {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5
        case floats = 6, ints = 7, strings = 8, tensors = 9, graphs = 10
        case sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
    }

    var name = ""
    var typeCode: Int32 = 0
    var refAttrName: String?
    var f: Float?
    var i: Int64?
    var s: Data?
    var t: TensorProto?
    var floats: [UInt32] = []
    var ints: [UInt64] = []
    var strings: [Data] = []
    var tensors: [TensorProto] = []
    /// Fields Seer does not interpret (graphs, sparse tensors, type protos), by name.
    var unsupportedFields: [String] = []

    init(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                name = try reader.string(wire, field: "name")
            case 2:
                f = try reader.float(wire, field: "f")
            case 3:
                i = try reader.int64(wire, field: "i")
            case 4:
                s = try reader.bytes(wire, field: "s")
            case 5:
                t = try TensorProto(reader.message(wire, field: "t"))
            case 7:
                try reader.appendFixed32s(wire, field: field, to: &floats)
            case 8:
                try reader.appendVarints(wire, field: field, to: &ints)
            case 9:
                strings.append(try reader.bytes(wire, field: "strings"))
            case 10:
                tensors.append(try TensorProto(
                    reader.message(wire, field: "tensors", name: "tensors[\(tensors.count)]")))
            case 20:
                typeCode = try reader.int32(wire, field: "type")
            case 21:
                refAttrName = try reader.string(wire, field: "ref_attr_name")
            case 6, 11, 14, 15, 22, 23:
                let names = [6: "g (graph)", 11: "graphs", 14: "tp (type proto)", 15: "type_protos",
                             22: "sparse_tensor", 23: "sparse_tensors"]
                unsupportedFields.append(names[field] ?? String(field))
                try reader.skip(wire, field: field)
            default:
                try reader.skip(wire, field: field)
            }
        }
    }
}

struct TensorProto {
    /// TensorProto.DataLocation.EXTERNAL
    static let externalLocation: Int32 = 1

    var dims: [Int64] = []
    var dataTypeCode: Int32 = 0
    var name = ""
    var floatData: [UInt32] = []
    /// Raw varints: int32 values, or the bits of int8/uint8/int16/uint16/bool/float16 elements.
    var int32Data: [UInt64] = []
    var int64Data: [UInt64] = []
    var doubleData: [UInt64] = []
    var uint64Data: [UInt64] = []
    var stringDataCount = 0
    var rawData: Data?
    var externalData: [(key: String, value: String)] = []
    var dataLocation: Int32 = 0
    var hasSegment = false

    init(_ message: ProtobufReader) throws {
        var reader = message
        var dimBits: [UInt64] = []
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.appendVarints(wire, field: field, to: &dimBits)
            case 2:
                dataTypeCode = try reader.int32(wire, field: "data_type")
            case 3:
                hasSegment = true
                try reader.skip(wire, field: field)
            case 4:
                try reader.appendFixed32s(wire, field: field, to: &floatData)
            case 5:
                try reader.appendVarints(wire, field: field, to: &int32Data)
            case 6:
                _ = try reader.bytes(wire, field: "string_data")
                stringDataCount += 1
            case 7:
                try reader.appendVarints(wire, field: field, to: &int64Data)
            case 8:
                name = try reader.string(wire, field: "name")
            case 9:
                rawData = try reader.bytes(wire, field: "raw_data")
            case 10:
                try reader.appendFixed64s(wire, field: field, to: &doubleData)
            case 11:
                try reader.appendVarints(wire, field: field, to: &uint64Data)
            case 13:
                externalData.append(try TensorProto.readEntry(reader.message(wire, field: "external_data")))
            case 14:
                dataLocation = try reader.int32(wire, field: "data_location")
            default:
                try reader.skip(wire, field: field)
            }
        }
        dims = dimBits.map { Int64(bitPattern: $0) }
    }

    /// Decodes a serialized TensorProto (a `.pb` file of the ONNX test data).
    init(_ data: Data) throws {
        try self.init(ProtobufReader(data, context: "TensorProto"))
    }

    private static func readEntry(_ message: ProtobufReader) throws -> (key: String, value: String) {
        var reader = message
        var key = ""
        var value = ""
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                key = try reader.string(wire, field: "key")
            case 2:
                value = try reader.string(wire, field: "value")
            default:
                try reader.skip(wire, field: field)
            }
        }
        return (key, value)
    }
}

struct ValueInfoProto {
    enum Dim {
        case value(Int64)
        case param(String)
        case unknown
    }

    var name = ""
    /// Whether `type` is present and a tensor type; sequence/map/optional types leave it false.
    var hasType = false
    var isTensor = false
    var elemType: Int32 = 0
    var shape: [Dim]?

    init(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                name = try reader.string(wire, field: "name")
            case 2:
                hasType = true
                try readType(reader.message(wire, field: "type"))
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private mutating func readType(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            if field == 1 {
                isTensor = true
                try readTensorType(reader.message(wire, field: "tensor_type"))
            } else {
                try reader.skip(wire, field: field)
            }
        }
    }

    private mutating func readTensorType(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                elemType = try reader.int32(wire, field: "elem_type")
            case 2:
                shape = try ValueInfoProto.readShape(reader.message(wire, field: "shape"))
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private static func readShape(_ message: ProtobufReader) throws -> [Dim] {
        var reader = message
        var dims: [Dim] = []
        while let (field, wire) = try reader.nextField() {
            if field == 1 {
                dims.append(try readDim(reader.message(wire, field: "dim")))
            } else {
                try reader.skip(wire, field: field)
            }
        }
        return dims
    }

    private static func readDim(_ message: ProtobufReader) throws -> Dim {
        var reader = message
        var dim = Dim.unknown
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                dim = .value(try reader.int64(wire, field: "dim_value"))
            case 2:
                dim = .param(try reader.string(wire, field: "dim_param"))
            default:
                try reader.skip(wire, field: field)
            }
        }
        return dim
    }
}
