/// Cast: converts every element to the type named by the `to` attribute.
///
/// Semantics follow C and ONNX: float to integer truncates toward zero through a 64-bit
/// integer whose low bits a narrower type keeps, as numpy does on x86 (300.0 to int8 is 44);
/// NaN becomes 0 and values beyond the 64-bit range saturate at the target's limits
/// (C leaves these undefined). Integer to integer keeps the low bits, anything to bool is `!= 0`
/// (NaN is true), bool to a number is 0 or 1, float narrowing rounds to nearest even.
struct CastKernel: Kernel {
    let target: DataType

    init(_ node: Node) throws {
        switch node.attributes.values["to"] {
        case nil:
            throw KernelError.invalid("attribute 'to' is required")
        case let .int(code)?:
            guard let type = Int32(exactly: code).flatMap(DataType.init(rawValue:)) else {
                throw KernelError.unsupported("Cast to \(onnxTypeName(code)) (type code \(code)) is not supported")
            }
            target = type
        case let .string(name)?:
            throw KernelError.unsupported("Cast 'to' given as the string '\(name)' is not supported; it must be a type code")
        default:
            throw KernelError.invalid("attribute 'to' must be an int type code")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let input = inputs.first ?? nil else { throw KernelError.invalid("Cast needs an input") }
        let output = context.allocate(target, input.shape)
        castElements(from: input, into: output, context: context)
        return [output]
    }
}

/// Converts `source` element by element into `destination` (same element count, any types).
func castElements(from source: Tensor, into destination: Tensor, context: KernelContext) {
    precondition(source.count == destination.count, "cast needs equal element counts")
    source.dataType.visit(CastFromVisitor(source: source, destination: destination, context: context))
}

private struct CastFromVisitor: CastElementVisitor {
    let source: Tensor
    let destination: Tensor
    let context: KernelContext

    func visit<S: CastableElement>(_ type: S.Type) {
        destination.dataType.visit(CastIntoVisitor<S>(input: source.pointer(S.self), destination: destination, context: context))
    }
}

private struct CastIntoVisitor<S: CastableElement>: CastElementVisitor {
    let input: UnsafeMutablePointer<S>
    let destination: Tensor
    let context: KernelContext

    func visit<D: CastableElement>(_ type: D.Type) {
        let output = destination.pointer(D.self)
        let count = destination.count
        if S.self == D.self {
            UnsafeMutableRawPointer(output).copyMemory(from: input, byteCount: count * MemoryLayout<S>.stride)
            return
        }
        forEachBlock(count, context: context) { range in
            for index in range { output[index] = input[index].cast(to: D.self) }
        }
    }
}

/// ONNX names for type codes this runtime does not hold, for error messages.
private func onnxTypeName(_ code: Int) -> String {
    switch code {
    case 0: return "UNDEFINED"
    case 8: return "STRING"
    case 14: return "COMPLEX64"
    case 15: return "COMPLEX128"
    case 16: return "BFLOAT16"
    case 17: return "FLOAT8E4M3FN"
    case 18: return "FLOAT8E4M3FNUZ"
    case 19: return "FLOAT8E5M2"
    case 20: return "FLOAT8E5M2FNUZ"
    case 21: return "UINT4"
    case 22: return "INT4"
    default: return DataType(rawValue: Int32(truncatingIfNeeded: code))?.description ?? "an unknown type"
    }
}

// MARK: - Element conversions

/// An element type that every other element type converts into, with C/ONNX semantics.
/// Sources pick the wide representation that holds them exactly (Double, Int64, UInt64, Bool).
protocol CastableElement: TensorElement {
    init(castingDouble value: Double)
    init(castingInt64 value: Int64)
    init(castingUInt64 value: UInt64)
    init(castingBool value: Bool)
    func cast<D: CastableElement>(to type: D.Type) -> D
}

/// Generic code run for one element type chosen at run time (see `DataType.visit`).
protocol CastElementVisitor {
    associatedtype Result
    func visit<T: CastableElement>(_ type: T.Type) -> Result
}

extension DataType {
    /// Calls `visitor.visit` with the Swift type that holds this data type.
    func visit<V: CastElementVisitor>(_ visitor: V) -> V.Result {
        switch self {
        case .float32: return visitor.visit(Float.self)
        case .float64: return visitor.visit(Double.self)
        case .float16: return visitor.visit(Float16.self)
        case .int8: return visitor.visit(Int8.self)
        case .uint8: return visitor.visit(UInt8.self)
        case .int16: return visitor.visit(Int16.self)
        case .uint16: return visitor.visit(UInt16.self)
        case .int32: return visitor.visit(Int32.self)
        case .uint32: return visitor.visit(UInt32.self)
        case .int64: return visitor.visit(Int64.self)
        case .uint64: return visitor.visit(UInt64.self)
        case .bool: return visitor.visit(Bool.self)
        }
    }
}

extension CastableElement where Self: BinaryFloatingPoint {
    init(castingBool value: Bool) { self = value ? 1 : 0 }
    func cast<D: CastableElement>(to type: D.Type) -> D { D(castingDouble: Double(self)) }
}

extension Float: CastableElement {
    init(castingDouble value: Double) { self.init(value) }
    init(castingInt64 value: Int64) { self.init(value) }
    init(castingUInt64 value: UInt64) { self.init(value) }
}

extension Double: CastableElement {
    init(castingDouble value: Double) { self = value }
    init(castingInt64 value: Int64) { self.init(value) }
    init(castingUInt64 value: UInt64) { self.init(value) }
}

extension Float16: CastableElement {
    init(castingDouble value: Double) { self.init(value) }
    // Through Double: exact up to 2^53, and anything larger is infinite in half precision anyway.
    init(castingInt64 value: Int64) { self.init(Double(value)) }
    init(castingUInt64 value: UInt64) { self.init(Double(value)) }
}

extension CastableElement where Self: FixedWidthInteger {
    init(castingDouble value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_808.0 {
            self = !Self.isSigned && value < 18_446_744_073_709_551_616.0 ? Self(truncatingIfNeeded: UInt64(value)) : .max
        } else if value < -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Self(truncatingIfNeeded: Int64(value))
        }
    }
    init(castingInt64 value: Int64) { self.init(truncatingIfNeeded: value) }
    init(castingUInt64 value: UInt64) { self.init(truncatingIfNeeded: value) }
    init(castingBool value: Bool) { self = value ? 1 : 0 }
    func cast<D: CastableElement>(to type: D.Type) -> D {
        Self.isSigned ? D(castingInt64: Int64(truncatingIfNeeded: self)) : D(castingUInt64: UInt64(truncatingIfNeeded: self))
    }
}

extension Int8: CastableElement {}
extension UInt8: CastableElement {}
extension Int16: CastableElement {}
extension UInt16: CastableElement {}
extension Int32: CastableElement {}
extension UInt32: CastableElement {}
extension Int64: CastableElement {}
extension UInt64: CastableElement {}

extension Bool: CastableElement {
    init(castingDouble value: Double) { self = value != 0 }
    init(castingInt64 value: Int64) { self = value != 0 }
    init(castingUInt64 value: UInt64) { self = value != 0 }
    init(castingBool value: Bool) { self = value }
    func cast<D: CastableElement>(to type: D.Type) -> D { D(castingBool: self) }
}
