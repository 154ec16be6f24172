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
                try reader.expect(wire, .varint, field: "ir_version")
                irVersion = try reader.readInt64()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "producer_name")
                producerName = try reader.readString()
            case 3:
                try reader.expect(wire, .lengthDelimited, field: "producer_version")
                producerVersion = try reader.readString()
            case 7:
                try reader.expect(wire, .lengthDelimited, field: "graph")
                var sub = try reader.readMessage("graph")
                graph = try GraphProto(&sub)
            case 8:
                try reader.expect(wire, .lengthDelimited, field: "opset_import")
                var sub = try reader.readMessage("opset_import")
                opsetImports.append(try ModelProto.readOpset(&sub))
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private static func readOpset(_ reader: inout ProtobufReader) throws -> (domain: String, version: Int64) {
        var domain = ""
        var version: Int64 = 0
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "domain")
                domain = try reader.readString()
            case 2:
                try reader.expect(wire, .varint, field: "version")
                version = try reader.readInt64()
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

    init(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "node")
                var sub = try reader.readMessage("node[\(nodes.count)]")
                nodes.append(try NodeProto(&sub))
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "name")
                name = try reader.readString()
            case 5:
                try reader.expect(wire, .lengthDelimited, field: "initializer")
                var sub = try reader.readMessage("initializer[\(initializers.count)]")
                initializers.append(try TensorProto(&sub))
            case 11, 12, 13:
                try reader.expect(wire, .lengthDelimited, field: "input/output/value_info")
                var sub = try reader.readMessage(field == 11 ? "input" : field == 12 ? "output" : "value_info")
                let info = try ValueInfoProto(&sub)
                if field == 11 { inputs.append(info) } else if field == 12 { outputs.append(info) } else { valueInfo.append(info) }
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

    init(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "input")
                inputs.append(try reader.readString())
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "output")
                outputs.append(try reader.readString())
            case 3:
                try reader.expect(wire, .lengthDelimited, field: "name")
                name = try reader.readString()
            case 4:
                try reader.expect(wire, .lengthDelimited, field: "op_type")
                opType = try reader.readString()
            case 5:
                try reader.expect(wire, .lengthDelimited, field: "attribute")
                var sub = try reader.readMessage("attribute[\(attributes.count)]")
                attributes.append(try AttributeProto(&sub))
            case 7:
                try reader.expect(wire, .lengthDelimited, field: "domain")
                domain = try reader.readString()
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

    init(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "name")
                name = try reader.readString()
            case 2:
                try reader.expect(wire, .fixed32, field: "f")
                f = try reader.readFloat()
            case 3:
                try reader.expect(wire, .varint, field: "i")
                i = try reader.readInt64()
            case 4:
                try reader.expect(wire, .lengthDelimited, field: "s")
                s = try reader.readLengthDelimited()
            case 5:
                try reader.expect(wire, .lengthDelimited, field: "t")
                var sub = try reader.readMessage("t")
                t = try TensorProto(&sub)
            case 7:
                try reader.appendFixed32s(wire, field: field, to: &floats)
            case 8:
                try reader.appendVarints(wire, field: field, to: &ints)
            case 9:
                try reader.expect(wire, .lengthDelimited, field: "strings")
                strings.append(try reader.readLengthDelimited())
            case 10:
                try reader.expect(wire, .lengthDelimited, field: "tensors")
                var sub = try reader.readMessage("tensors[\(tensors.count)]")
                tensors.append(try TensorProto(&sub))
            case 20:
                try reader.expect(wire, .varint, field: "type")
                typeCode = try reader.readInt32()
            case 21:
                try reader.expect(wire, .lengthDelimited, field: "ref_attr_name")
                refAttrName = try reader.readString()
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

    init(_ reader: inout ProtobufReader) throws {
        var dimBits: [UInt64] = []
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.appendVarints(wire, field: field, to: &dimBits)
            case 2:
                try reader.expect(wire, .varint, field: "data_type")
                dataTypeCode = try reader.readInt32()
            case 3:
                hasSegment = true
                try reader.skip(wire, field: field)
            case 4:
                try reader.appendFixed32s(wire, field: field, to: &floatData)
            case 5:
                try reader.appendVarints(wire, field: field, to: &int32Data)
            case 6:
                try reader.expect(wire, .lengthDelimited, field: "string_data")
                _ = try reader.readLengthDelimited()
                stringDataCount += 1
            case 7:
                try reader.appendVarints(wire, field: field, to: &int64Data)
            case 8:
                try reader.expect(wire, .lengthDelimited, field: "name")
                name = try reader.readString()
            case 9:
                try reader.expect(wire, .lengthDelimited, field: "raw_data")
                rawData = try reader.readLengthDelimited()
            case 10:
                try reader.appendFixed64s(wire, field: field, to: &doubleData)
            case 11:
                try reader.appendVarints(wire, field: field, to: &uint64Data)
            case 13:
                try reader.expect(wire, .lengthDelimited, field: "external_data")
                var sub = try reader.readMessage("external_data")
                externalData.append(try TensorProto.readEntry(&sub))
            case 14:
                try reader.expect(wire, .varint, field: "data_location")
                dataLocation = try reader.readInt32()
            default:
                try reader.skip(wire, field: field)
            }
        }
        dims = dimBits.map { Int64(bitPattern: $0) }
    }

    /// Decodes a serialized TensorProto (a `.pb` file of the ONNX test data).
    init(_ data: Data) throws {
        var reader = try ProtobufReader(data, context: "TensorProto")
        try self.init(&reader)
    }

    private static func readEntry(_ reader: inout ProtobufReader) throws -> (key: String, value: String) {
        var key = ""
        var value = ""
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "key")
                key = try reader.readString()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "value")
                value = try reader.readString()
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

    init(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .lengthDelimited, field: "name")
                name = try reader.readString()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "type")
                var sub = try reader.readMessage("type")
                hasType = true
                try readType(&sub)
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private mutating func readType(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            if field == 1 {
                try reader.expect(wire, .lengthDelimited, field: "tensor_type")
                var sub = try reader.readMessage("tensor_type")
                isTensor = true
                try readTensorType(&sub)
            } else {
                try reader.skip(wire, field: field)
            }
        }
    }

    private mutating func readTensorType(_ reader: inout ProtobufReader) throws {
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .varint, field: "elem_type")
                elemType = try reader.readInt32()
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "shape")
                var sub = try reader.readMessage("shape")
                var dims: [Dim] = []
                while let (shapeField, shapeWire) = try sub.nextField() {
                    if shapeField == 1 {
                        try sub.expect(shapeWire, .lengthDelimited, field: "dim")
                        var dimReader = try sub.readMessage("dim")
                        dims.append(try ValueInfoProto.readDim(&dimReader))
                    } else {
                        try sub.skip(shapeWire, field: shapeField)
                    }
                }
                shape = dims
            default:
                try reader.skip(wire, field: field)
            }
        }
    }

    private static func readDim(_ reader: inout ProtobufReader) throws -> Dim {
        var dim = Dim.unknown
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                try reader.expect(wire, .varint, field: "dim_value")
                dim = .value(try reader.readInt64())
            case 2:
                try reader.expect(wire, .lengthDelimited, field: "dim_param")
                dim = .param(try reader.readString())
            default:
                try reader.skip(wire, field: field)
            }
        }
        return dim
    }
}
