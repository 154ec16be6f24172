import Foundation
import TensorRuntime
import XCTest

/// A fixed-seed generator so every random shape and value is reproducible.
struct ConvTestRandom {
    private var source: SeededRandom
    init(seed: UInt64) { source = SeededRandom(seed: seed) }
    mutating func next() -> UInt64 { source.next() }

    /// Uniform in [lower, upper].
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func bool() -> Bool { next() & 1 == 1 }

    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }

    mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in float() } }

    mutating func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, floats: floats(shape.reduce(1, *))) }
}

/// Building and running one-node graphs, and comparing floats, for the Conv/Pool/MatMul/Normalization tests.
enum ConvTestSupport {
    /// Tolerance of every comparison: |actual − expected| ≤ 1e-4 · max(1, |expected|).
    static let tolerance: Float = 1e-4

    /// Runs `node` as the only node of a graph. `feeds` become graph inputs, `initializers` constants.
    static func run(_ node: Node, feeds: [String: Tensor], initializers: [String: Tensor] = [:],
                    threads: Int = 1, optimize: Bool = true) throws -> [Tensor] {
        let graph = Graph(nodes: [node],
                          inputs: feeds.keys.sorted().map { ValueInfo(name: $0, dataType: feeds[$0]!.dataType, shape: nil) },
                          outputs: node.outputs.filter { !$0.isEmpty }.map { ValueInfo(name: $0, dataType: nil, shape: nil) },
                          initializers: initializers)
        return try run(graph, feeds: feeds, threads: threads, optimize: optimize)
    }

    /// Runs a graph and returns its outputs in declaration order.
    static func run(_ graph: Graph, feeds: [String: Tensor], threads: Int = 1, optimize: Bool = true) throws -> [Tensor] {
        let plan = try ExecutionPlan(graph: graph, optimize: optimize)
        let executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        let results = try executor.run(feeds)
        return graph.outputs.map { results[$0.name]! }
    }

    static func assertClose(_ actual: [Float], _ expected: [Float], _ message: @autoclosure () -> String = "",
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "element count; \(message())", file: file, line: line)
        guard actual.count == expected.count else { return }
        var worst = 0, worstError: Float = 0
        for i in actual.indices {
            let error = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
            if !(error <= worstError) { worst = i; worstError = error }
        }
        XCTAssert(worstError <= tolerance,
                  "element \(worst): \(actual.isEmpty ? 0 : actual[worst]) vs expected \(expected.isEmpty ? 0 : expected[worst]); \(message())",
                  file: file, line: line)
    }

    /// The ONNX output size and leading pad of one axis of a forward window (Conv, pools).
    static func forwardAxis(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int,
                            autoPad: String, ceilMode: Bool = false) -> (output: Int, padBegin: Int) {
        let extent = (kernel - 1) * dilation + 1
        switch autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            let output = (input + stride - 1) / stride
            let total = max(0, (output - 1) * stride + extent - input)
            return (output, autoPad == "SAME_UPPER" ? total / 2 : total - total / 2)
        case "VALID":
            return ((input - extent) / stride + 1, 0)
        default:
            let span = Double(input + padBegin + padEnd - extent) / Double(stride)
            var output = Int(ceilMode ? span.rounded(.up) : span.rounded(.down)) + 1
            if ceilMode && (output - 1) * stride >= input + padBegin { output -= 1 }
            return (output, padBegin)
        }
    }

    /// Row-major flat index of `index` in `shape`.
    static func flat(_ index: [Int], _ shape: [Int]) -> Int {
        zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
    }

    /// Every multi-index of `shape`, row-major.
    static func indices(_ shape: [Int]) -> [[Int]] {
        var result: [[Int]] = [[]]
        for size in shape { result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } } }
        return result
    }

    /// The activation formulas written out plainly, as the reference for fused epilogues.
    static func reference(_ activation: Activation, _ x: Float) -> Float {
        switch activation {
        case .relu: return x > 0 ? x : 0
        case let .leakyRelu(alpha): return x >= 0 ? x : alpha * x
        case let .clip(low, high): return min(max(x, low), high)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case let .hardSigmoid(alpha, beta): return max(0, min(1, alpha * x + beta))
        case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
        case let .elu(alpha): return x >= 0 ? x : alpha * (Foundation.exp(x) - 1)
        }
    }
}
