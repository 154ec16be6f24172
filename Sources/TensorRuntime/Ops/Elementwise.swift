#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Add, Sub, Mul, Div, Pow (two inputs) and Max, Min, Sum, Mean (one or more inputs), with
/// multidirectional broadcasting over every numeric element type.
///
/// One generic implementation serves every type; `BroadcastWalk` turns the common layouts
/// into long rows where each operand advances by 1 or stays put, so same-shape, scalar and
/// per-channel operands (`[N,C,H,W]` with `[C,1,1]`) run as simple vectorisable loops.
struct ElementwiseKernel: Kernel {
    let kind: OpKind

    init(_ node: Node) throws {
        kind = node.kind
        switch node.kind {
        case .add, .sub, .mul, .div, .pow:
            guard node.inputs.count == 2 else {
                throw KernelError.invalid("\(node.kind.rawValue) takes 2 inputs, the node has \(node.inputs.count)")
            }
        case .max, .min, .sum, .mean:
            guard !node.inputs.isEmpty else { throw KernelError.invalid("\(node.kind.rawValue) needs at least one input") }
        default:
            throw KernelError.invalid("ElementwiseKernel cannot run \(node.kind.rawValue)")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        var operands: [Tensor] = []
        for (index, input) in inputs.enumerated() {
            guard let input else { throw KernelError.invalid("\(kind.rawValue) input \(index) is missing") }
            operands.append(input)
        }
        if kind == .pow { return [try power(operands[0], operands[1], context: context)] }
        let dataType = operands[0].dataType
        if let other = operands.first(where: { $0.dataType != dataType }) {
            throw KernelError.invalid("\(kind.rawValue) inputs must share one type, got \(dataType) and \(other.dataType)")
        }
        let operation: BinaryOperation
        switch kind {
        case .add, .sum, .mean: operation = .add
        case .sub: operation = .subtract
        case .mul: operation = .multiply
        case .div: operation = .divide
        case .max: operation = .maximum
        default: operation = .minimum
        }
        if kind == .mean && !dataType.isFloatingPoint {
            throw KernelError.unsupported("Mean of \(dataType) tensors is not supported (float types only)")
        }
        let shape = try Broadcast.shape(operands.map(\.shape))
        let output = context.allocate(dataType, shape)
        try dataType.visitNumeric(what: kind.rawValue,
                                  VariadicVisitor(operation: operation, operands: operands, output: output,
                                                  isMean: kind == .mean, context: context))
        return [output]
    }

    /// Pow: the output has the base's type; the exponent may have any numeric type (opset 12+).
    private func power(_ base: Tensor, _ exponent: Tensor, context: KernelContext) throws -> Tensor {
        let shape = try Broadcast.shape(base.shape, exponent.shape)
        let output = context.allocate(base.dataType, shape)
        let walk = BroadcastWalk(shape: shape,
                                 stridesA: Broadcast.strides(of: base.shape, broadcastTo: shape),
                                 stridesB: Broadcast.strides(of: exponent.shape, broadcastTo: shape))
        if base.dataType == .float32 && exponent.dataType == .float32 {
            let x = base.pointer(Float.self), y = exponent.pointer(Float.self), z = output.pointer(Float.self)
            if exponent.count == 1 && y[0] == 2 {
                // x² (variance in normalisations) is common; x * x rounds exactly as powf(x, 2) does.
                map(x, z, output.count, context) { $0 * $0 }
                return output
            }
            walk.forEachSegment(context: context) { out, offsetA, offsetB, length in
                binaryRow(z + out, x + offsetA, walk.strideA, y + offsetB, walk.strideB, length) { powf($0, $1) }
            }
            return output
        }
        guard exponent.dataType != .bool else { throw KernelError.unsupported("Pow with a bool exponent is not supported") }
        // The exponent is widened once: Int64 keeps integer powers exact, Double serves the rest.
        let integral = !base.dataType.isFloatingPoint && !exponent.dataType.isFloatingPoint
        let wide = Tensor(dataType: integral ? .int64 : .float64, shape: exponent.shape)
        castElements(from: exponent, into: wide, context: context)
        try base.dataType.visitNumeric(what: "Pow", PowerVisitor(base: base, exponent: wide, output: output, walk: walk, context: context))
        return output
    }
}

/// Sqrt, Exp, Log, Abs, Neg, Reciprocal, Floor, Ceil. Float types for all; Abs also for
/// every integer type, Neg for signed integers (both wrap at the type's minimum, as in C).
struct UnaryMathKernel: Kernel {
    let kind: OpKind

    init(_ node: Node) throws {
        switch node.kind {
        case .sqrt, .exp, .log, .abs, .neg, .reciprocal, .floor, .ceil: kind = node.kind
        default: throw KernelError.invalid("UnaryMathKernel cannot run \(node.kind.rawValue)")
        }
        guard node.inputs.count == 1 else {
            throw KernelError.invalid("\(node.kind.rawValue) takes 1 input, the node has \(node.inputs.count)")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let input = inputs.first ?? nil else { throw KernelError.invalid("\(kind.rawValue) input 0 is missing") }
        let output = context.allocate(input.dataType, input.shape)
        switch input.dataType {
        case .float32: applyFloat(Float.self, input, output, context)
        case .float64: applyFloat(Double.self, input, output, context)
        case .float16: applyFloat(Float16.self, input, output, context)
        case .bool: throw KernelError.unsupported("\(kind.rawValue) of bool tensors is not supported")
        default:
            try input.dataType.visitNumeric(what: kind.rawValue, IntegerUnaryVisitor(kind: kind, input: input, output: output, context: context))
        }
        return [output]
    }

    private func applyFloat<T: FloatElement>(_ type: T.Type, _ input: Tensor, _ output: Tensor, _ context: KernelContext) {
        let x = UnsafePointer(input.pointer(T.self)), y = output.pointer(T.self)
        switch kind {
        case .sqrt: map(x, y, input.count, context) { $0.squareRoot() }
        case .exp: map(x, y, input.count, context) { T.exponential($0) }
        case .log: map(x, y, input.count, context) { T.logarithm($0) }
        case .abs: map(x, y, input.count, context) { $0.magnitude }
        case .neg: map(x, y, input.count, context) { -$0 }
        case .reciprocal: map(x, y, input.count, context) { 1 / $0 }
        case .floor: map(x, y, input.count, context) { $0.rounded(.down) }
        default: map(x, y, input.count, context) { $0.rounded(.up) }
        }
    }
}

private struct IntegerUnaryVisitor: NumericElementVisitor {
    let kind: OpKind
    let input: Tensor
    let output: Tensor
    let context: KernelContext

    func visit<T: NumericElement>(_ type: T.Type) throws {
        let x = UnsafePointer(input.pointer(T.self)), y = output.pointer(T.self)
        switch kind {
        case .abs:
            map(x, y, input.count, context) { T.absolute($0) }
        case .neg where T.isSigned:
            map(x, y, input.count, context) { T.negated($0) }
        default:
            throw KernelError.unsupported("\(kind.rawValue) of \(T.dataType) tensors is not supported")
        }
    }
}

// MARK: - Loops

enum BinaryOperation {
    case add, subtract, multiply, divide, maximum, minimum
}

/// `output[i] = f(a[i * strideA], b[i * strideB])` for a row; strides are 0 or 1 after
/// `BroadcastWalk` merging, and each combination gets its own loop so the compiler can vectorise it.
@inline(__always)
func binaryRow<A, B, O>(_ output: UnsafeMutablePointer<O>, _ a: UnsafePointer<A>, _ strideA: Int,
                        _ b: UnsafePointer<B>, _ strideB: Int, _ count: Int, _ f: (A, B) -> O) {
    if strideA == 1 && strideB == 1 {
        for i in 0..<count { output[i] = f(a[i], b[i]) }
    } else if strideA == 1 && strideB == 0 {
        let y = b[0]
        for i in 0..<count { output[i] = f(a[i], y) }
    } else if strideA == 0 && strideB == 1 {
        let x = a[0]
        for i in 0..<count { output[i] = f(x, b[i]) }
    } else {
        for i in 0..<count { output[i] = f(a[i * strideA], b[i * strideB]) }
    }
}

/// `output[i] = f(input[i])` over `count` elements, in parallel blocks when large.
@inline(__always)
func map<A, O>(_ input: UnsafePointer<A>, _ output: UnsafeMutablePointer<O>, _ count: Int,
               _ context: KernelContext, _ f: (A) -> O) {
    forEachBlock(count, context: context) { range in
        for i in range { output[i] = f(input[i]) }
    }
}

/// `output = operation(a, b)` where `a` and `b` are read as the walk describes. `a` may be
/// `output` itself (same shape), which the variadic ops use to fold further inputs in place.
func applyBinary<T: NumericElement>(_ operation: BinaryOperation, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                    _ output: UnsafeMutablePointer<T>, _ walk: BroadcastWalk, _ context: KernelContext) {
    walk.forEachSegment(context: context) { out, offsetA, offsetB, length in
        let (x, y, z, sa, sb) = (a + offsetA, b + offsetB, output + out, walk.strideA, walk.strideB)
        switch operation {
        case .add: binaryRow(z, x, sa, y, sb, length) { T.adding($0, $1) }
        case .subtract: binaryRow(z, x, sa, y, sb, length) { T.subtracting($0, $1) }
        case .multiply: binaryRow(z, x, sa, y, sb, length) { T.multiplying($0, $1) }
        case .divide: binaryRow(z, x, sa, y, sb, length) { T.dividing($0, $1) }
        case .maximum: binaryRow(z, x, sa, y, sb, length) { T.maximum($0, $1) }
        case .minimum: binaryRow(z, x, sa, y, sb, length) { T.minimum($0, $1) }
        }
    }
}

private struct VariadicVisitor: NumericElementVisitor {
    let operation: BinaryOperation
    let operands: [Tensor]
    let output: Tensor
    let isMean: Bool
    let context: KernelContext

    func visit<T: NumericElement>(_ type: T.Type) throws {
        let z = output.pointer(T.self)
        if operation == .divide && !T.isFloatingPoint && operands[1].withUnsafeBuffer(of: T.self, { $0.contains(T.zero) }) {
            throw KernelError.invalid("integer division by zero in Div (\(T.dataType))")
        }
        if operands.count == 1 {
            z.update(from: operands[0].pointer(T.self), count: output.count)
        } else {
            let first = BroadcastWalk(shape: output.shape,
                                      stridesA: Broadcast.strides(of: operands[0].shape, broadcastTo: output.shape),
                                      stridesB: Broadcast.strides(of: operands[1].shape, broadcastTo: output.shape))
            applyBinary(operation, operands[0].pointer(T.self), operands[1].pointer(T.self), z, first, context)
            for operand in operands.dropFirst(2) {
                let walk = BroadcastWalk(shape: output.shape, stridesA: Tensor.strides(for: output.shape),
                                         stridesB: Broadcast.strides(of: operand.shape, broadcastTo: output.shape))
                applyBinary(operation, z, operand.pointer(T.self), z, walk, context)
            }
        }
        if isMean {
            let divisor = T(castingInt64: Int64(operands.count))
            map(z, z, output.count, context) { T.dividing($0, divisor) }
        }
    }
}

private struct PowerVisitor: NumericElementVisitor {
    let base: Tensor
    let exponent: Tensor // int64 or float64
    let output: Tensor
    let walk: BroadcastWalk
    let context: KernelContext

    func visit<T: NumericElement>(_ type: T.Type) {
        let x = UnsafePointer(base.pointer(T.self)), z = output.pointer(T.self)
        let walk = self.walk
        if exponent.dataType == .int64 {
            let y = UnsafePointer(exponent.pointer(Int64.self))
            walk.forEachSegment(context: context) { out, offsetA, offsetB, length in
                binaryRow(z + out, x + offsetA, walk.strideA, y + offsetB, walk.strideB, length) { T.power($0, $1) }
            }
        } else {
            let y = UnsafePointer(exponent.pointer(Double.self))
            walk.forEachSegment(context: context) { out, offsetA, offsetB, length in
                binaryRow(z + out, x + offsetA, walk.strideA, y + offsetB, walk.strideB, length) { T.power($0, $1) }
            }
        }
    }
}

// MARK: - Numeric element types

/// Arithmetic every numeric tensor element supports, with ONNX/C semantics: integers wrap on
/// overflow and divide toward zero; float maximum and minimum propagate NaN.
protocol NumericElement: CastableElement, Comparable {
    static var isFloatingPoint: Bool { get }
    static var isSigned: Bool { get }
    /// The identity of `maximum`: -infinity, or the type's minimum.
    static var lowest: Self { get }
    /// The identity of `minimum`: +infinity, or the type's maximum.
    static var highest: Self { get }
    static func adding(_ a: Self, _ b: Self) -> Self
    static func subtracting(_ a: Self, _ b: Self) -> Self
    static func multiplying(_ a: Self, _ b: Self) -> Self
    /// Integer division by zero is the caller's to reject; here it yields the dividend instead of trapping.
    static func dividing(_ a: Self, _ b: Self) -> Self
    static func maximum(_ a: Self, _ b: Self) -> Self
    static func minimum(_ a: Self, _ b: Self) -> Self
    static func absolute(_ a: Self) -> Self
    static func negated(_ a: Self) -> Self
    static func power(_ base: Self, _ exponent: Double) -> Self
    static func power(_ base: Self, _ exponent: Int64) -> Self
}

/// Float element types with the transcendental functions the kernels need.
protocol FloatElement: NumericElement, BinaryFloatingPoint {
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
}

extension NumericElement where Self: BinaryFloatingPoint {
    static var isFloatingPoint: Bool { true }
    static var isSigned: Bool { true }
    static var lowest: Self { -.infinity }
    static var highest: Self { .infinity }
    @inline(__always) static func adding(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) static func subtracting(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) static func multiplying(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) static func dividing(_ a: Self, _ b: Self) -> Self { a / b }
    @inline(__always) static func maximum(_ a: Self, _ b: Self) -> Self { a > b || a.isNaN ? a : b }
    @inline(__always) static func minimum(_ a: Self, _ b: Self) -> Self { a < b || a.isNaN ? a : b }
    @inline(__always) static func absolute(_ a: Self) -> Self { a.magnitude }
    @inline(__always) static func negated(_ a: Self) -> Self { -a }
    @inline(__always) static func power(_ base: Self, _ exponent: Double) -> Self { Self(pow(Double(base), exponent)) }
    @inline(__always) static func power(_ base: Self, _ exponent: Int64) -> Self { Self(pow(Double(base), Double(exponent))) }
}

extension NumericElement where Self: FixedWidthInteger {
    static var isFloatingPoint: Bool { false }
    static var lowest: Self { .min }
    static var highest: Self { .max }
    @inline(__always) static func adding(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) static func subtracting(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) static func multiplying(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) static func dividing(_ a: Self, _ b: Self) -> Self { a.dividedReportingOverflow(by: b).partialValue }
    @inline(__always) static func maximum(_ a: Self, _ b: Self) -> Self { a > b ? a : b }
    @inline(__always) static func minimum(_ a: Self, _ b: Self) -> Self { a < b ? a : b }
    @inline(__always) static func absolute(_ a: Self) -> Self { a < 0 ? 0 &- a : a }
    @inline(__always) static func negated(_ a: Self) -> Self { 0 &- a }
    @inline(__always) static func power(_ base: Self, _ exponent: Double) -> Self {
        Self(castingDouble: pow(Double(base), exponent))
    }
    /// Exact (wrapping) integer power; a negative exponent truncates 1 / base^-n toward zero.
    static func power(_ base: Self, _ exponent: Int64) -> Self {
        if exponent < 0 {
            if base == 1 { return 1 }
            if Self.isSigned && base == 0 &- 1 { return exponent & 1 == 0 ? 1 : base }
            return 0
        }
        var result: Self = 1
        var factor = base
        var remaining = exponent
        while remaining > 0 {
            if remaining & 1 == 1 { result = result &* factor }
            factor = factor &* factor
            remaining >>= 1
        }
        return result
    }
}

extension Float: FloatElement {
    @inline(__always) static func exponential(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func logarithm(_ x: Float) -> Float { logf(x) }
}

extension Double: FloatElement {
    @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
}

extension Float16: FloatElement {
    @inline(__always) static func exponential(_ x: Float16) -> Float16 { Float16(expf(Float(x))) }
    @inline(__always) static func logarithm(_ x: Float16) -> Float16 { Float16(logf(Float(x))) }
}

extension Int8: NumericElement {}
extension UInt8: NumericElement {}
extension Int16: NumericElement {}
extension UInt16: NumericElement {}
extension Int32: NumericElement {}
extension UInt32: NumericElement {}
extension Int64: NumericElement {}
extension UInt64: NumericElement {}

/// Generic code run for one numeric element type chosen at run time.
protocol NumericElementVisitor {
    associatedtype Result
    func visit<T: NumericElement>(_ type: T.Type) throws -> Result
}

extension DataType {
    /// Calls `visitor.visit` with the Swift type of this numeric data type; bool is refused,
    /// naming `what` (the operator) in the error.
    func visitNumeric<V: NumericElementVisitor>(what: String, _ visitor: V) throws -> V.Result {
        switch self {
        case .float32: return try visitor.visit(Float.self)
        case .float64: return try visitor.visit(Double.self)
        case .float16: return try visitor.visit(Float16.self)
        case .int8: return try visitor.visit(Int8.self)
        case .uint8: return try visitor.visit(UInt8.self)
        case .int16: return try visitor.visit(Int16.self)
        case .uint16: return try visitor.visit(UInt16.self)
        case .int32: return try visitor.visit(Int32.self)
        case .uint32: return try visitor.visit(UInt32.self)
        case .int64: return try visitor.visit(Int64.self)
        case .uint64: return try visitor.visit(UInt64.self)
        case .bool: throw KernelError.unsupported("\(what) of bool tensors is not supported")
        }
    }
}
