import Foundation
import TensorRuntime
import XCTest

/// Shared by the Elementwise, Activation, Reduce and Cast tests: runs one node through the
/// public ExecutionPlan + Executor, and writes reference computations plainly.
enum ElementwiseHarness {
    /// Builds a one-node graph. Inputs are fed at run time (never folded as constants); a nil
    /// input becomes an omitted optional input ("").
    static func graph(_ kind: OpKind, opset: Int, inputs: [Tensor?], attributes: [String: AttributeValue]) -> Graph {
        let names = inputs.enumerated().map { $1 == nil ? "" : "in\($0)" }
        let node = Node(name: "node", kind: kind, opset: opset, inputs: names, outputs: ["out"],
                        attributes: Attributes(attributes))
        let infos = zip(names, inputs).compactMap { name, tensor in
            tensor.map { ValueInfo(name: name, dataType: $0.dataType, shape: $0.shape.map { .fixed($0) }) }
        }
        return Graph(nodes: [node], inputs: infos, outputs: [ValueInfo(name: "out", dataType: nil, shape: nil)])
    }

    static func run(_ kind: OpKind, opset: Int = 13, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:],
                    threads: Int = 1) throws -> Tensor {
        let graph = graph(kind, opset: opset, inputs: inputs, attributes: attributes)
        let executor = Executor(plan: try ExecutionPlan(graph: graph), options: ExecutionOptions(threads: threads))
        var feeds: [String: Tensor] = [:]
        for (index, tensor) in inputs.enumerated() { if let tensor { feeds["in\(index)"] = tensor } }
        guard let output = try executor.run(feeds)["out"] else { throw RuntimeError.invalidGraph("no output") }
        return output
    }

    /// Row-major multi-index of a flat offset.
    static func index(of offset: Int, in shape: [Int]) -> [Int] {
        var remainder = offset
        var result = [Int](repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            result[axis] = remainder % shape[axis]
            remainder /= shape[axis]
        }
        return result
    }

    /// Flat offset in `shape` of the right-aligned broadcast position `index` (size-1 axes read 0).
    static func offset(of index: [Int], in shape: [Int]) -> Int {
        var offset = 0
        let shift = index.count - shape.count
        for axis in shape.indices {
            offset = offset * shape[axis] + (shape[axis] == 1 ? 0 : index[axis + shift])
        }
        return offset
    }

    /// numpy broadcasting written out per element.
    static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        return zip(pa, pb).map { $0 == 1 ? $1 : $0 }
    }

    static func referenceBinary<A, B, O>(_ shapeA: [Int], _ a: [A], _ shapeB: [Int], _ b: [B],
                                         _ f: (A, B) -> O) -> (shape: [Int], values: [O]) {
        let shape = broadcastShape(shapeA, shapeB)
        let count = shape.reduce(1, *)
        let values = (0..<count).map { flat -> O in
            let index = index(of: flat, in: shape)
            return f(a[offset(of: index, in: shapeA)], b[offset(of: index, in: shapeB)])
        }
        return (shape, values)
    }
}

/// Deterministic test data from a fixed seed.
struct ElementwiseRandom: RandomNumberGenerator {
    private var source: SeededRandom
    init(seed: UInt64) { source = SeededRandom(seed: seed) }
    mutating func next() -> UInt64 { source.next() }

    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -3...3) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
}

/// Values agree when both are NaN, equal (infinities included), or within
/// `tolerance * max(1, |expected|)` (absolute near zero, relative for large values).
func assertElementsClose<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T], tolerance: T = 1e-5, _ message: String = "",
                                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "element count \(message)", file: file, line: line)
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let close = (a.isNaN && e.isNaN) || a == e || abs(a - e) <= tolerance * max(1, abs(e))
        if !close {
            XCTFail("element \(index): got \(a), expected \(e) \(message)", file: file, line: line)
            return
        }
    }
}

final class ElementwiseHarnessTests: XCTestCase {
    func testReferenceBroadcastingMatchesHandWrittenExample() {
        // [2,1] + [3] -> [[a0+b0, a0+b1, a0+b2], [a1+b0, a1+b1, a1+b2]]
        let result = ElementwiseHarness.referenceBinary([2, 1], [10, 20], [3], [1, 2, 3]) { $0 + $1 }
        XCTAssertEqual(result.shape, [2, 3])
        XCTAssertEqual(result.values, [11, 12, 13, 21, 22, 23])
    }
}
