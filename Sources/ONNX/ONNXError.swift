/// A model, tensor or array file whose contents Seer cannot use. Byte-level damage is
/// reported as `ProtobufError`; unsupported operators as `RuntimeError.unsupported`.
public enum ONNXError: Error, Equatable, CustomStringConvertible {
    /// The file decodes but breaks the ONNX format (e.g. data that does not match the shape).
    case invalidModel(String)
    /// A tensor whose element type Seer does not implement (string, bfloat16, complex, float8...).
    case unsupportedDataType(tensor: String, type: String)
    /// A tensor stored outside the model file that cannot be read safely.
    case externalData(tensor: String, reason: String)
    /// A NumPy `.npy` file that cannot be read or an array that cannot be written as one.
    case invalidNPY(String)
    /// A file that cannot be opened or read.
    case unreadableFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidModel(reason):
            return "invalid ONNX data: \(reason)"
        case let .unsupportedDataType(tensor, type):
            return "tensor '\(tensor)' has element type \(type), which Seer does not support"
        case let .externalData(tensor, reason):
            return "external data of tensor '\(tensor)': \(reason)"
        case let .invalidNPY(reason):
            return "invalid .npy data: \(reason)"
        case let .unreadableFile(path, reason):
            return "cannot read '\(path)': \(reason)"
        }
    }
}

/// ONNX `TensorProto.DataType` names, for error messages about codes Seer does not map to `DataType`.
func onnxTypeName(_ code: Int32) -> String {
    let names: [Int32: String] = [
        0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
        8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
        15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
        20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
    ]
    return names[code] ?? "unknown type code \(code)"
}
