import CKernels

/// A pointwise activation on float32 values. Both the standalone activation
/// kernels and the fused Conv/Gemm epilogues call `apply`, so each formula lives here once.
public enum Activation: Sendable, Equatable {
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case tanh
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case elu(alpha: Float)

    /// Applies the activation in place to `count` floats.
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            for i in 0..<count { values[i] = Swift.max(values[i], 0) }
        case let .leakyRelu(alpha):
            for i in 0..<count { let x = values[i]; values[i] = x < 0 ? x * alpha : x }
        case let .clip(low, high):
            for i in 0..<count { let x = values[i]; values[i] = x.isNaN ? x : Swift.min(Swift.max(x, low), high) }
        case .sigmoid:
            if Activation.hasVectorKernels {
                Activation.inChunks(values, count: count) { seer_sigmoid($0, $1) }
            } else {
                for i in 0..<count { values[i] = Activation.sigmoid(values[i]) }
            }
        case .tanh:
            if Activation.hasVectorKernels {
                Activation.inChunks(values, count: count) { seer_tanh($0, $1) }
            } else {
                for i in 0..<count { values[i] = Activation.tanh(values[i]) }
            }
        case let .hardSigmoid(alpha, beta):
            for i in 0..<count { values[i] = Swift.min(Swift.max(alpha * values[i] + beta, 0), 1) }
        case .hardSwish:
            for i in 0..<count { let x = values[i]; values[i] = x * Swift.min(Swift.max(x / 6 + 0.5, 0), 1) }
        case let .elu(alpha):
            if Activation.hasVectorKernels {
                Activation.inChunks(values, count: count) { seer_elu($0, $1, alpha) }
            } else {
                for i in 0..<count { let x = values[i]; values[i] = x < 0 ? alpha * (expf(x) - 1) : x }
            }
        }
    }

    /// Whether this CPU runs the CKernels vector kernels (seer_sigmoid, seer_tanh, seer_elu): AVX2 with FMA.
    /// Both they and the scalar formulas below are within 3e-7 relative of exact (about 2.5 ulp), so within 6e-7 of each other.
    static let hasVectorKernels = seer_vector_math_supported() != 0

    /// Runs `kernel` over `count` values in pieces its Int32 count can hold.
    @inline(__always)
    private static func inChunks(_ values: UnsafeMutablePointer<Float>, count: Int,
                                 _ kernel: (UnsafeMutablePointer<Float>, Int32) -> Void) {
        let largestChunk = Int(Int32.max) & ~7
        var start = 0
        while start < count {
            let length = Swift.min(count - start, largestChunk)
            kernel(values + start, Int32(length))
            start += length
        }
    }

    /// Stable for any x: e = exp(−|x|) never overflows, and beyond |x| = 87 it is taken as 0 rather than
    /// computed (glibc's expf takes a slow path, setting errno, for results below the smallest normal
    /// float; selfie's mask logits hit it for most pixels). sigmoid(−87) is 1.6e-38, so nothing visible changes.
    @inline(__always) public static func sigmoid(_ x: Float) -> Float {
        let magnitude = Swift.abs(x)
        let e = magnitude > 87 ? 0 : expf(-magnitude)
        let positive = 1 / (1 + e)
        return x >= 0 ? positive : e * positive
    }

    @inline(__always) public static func tanh(_ x: Float) -> Float { tanhf(x) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
