import TensorRuntime
import XCTest

/// Runs one node through `ExecutionPlan` + `Executor`, as a model would.
enum MovementHarness {
    /// Inputs are fed as graph inputs ("x0", "x1", ...); a nil input is an omitted optional one.
    /// Outputs are named "y0", "y1", ...; an index in `omittedOutputs` is left unnamed.
    static func run(_ kind: OpKind, opset: Int, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:],
                    outputs: Int = 1, omittedOutputs: Set<Int> = [], threads: Int = 1) throws -> [Tensor] {
        let inputNames = inputs.enumerated().map { $0.element == nil ? "" : "x\($0.offset)" }
        let outputNames = (0..<outputs).map { omittedOutputs.contains($0) ? "" : "y\($0)" }
        let node = Node(name: "node", kind: kind, opset: opset, inputs: inputNames, outputs: outputNames,
                        attributes: Attributes(attributes))
        let graph = Graph(nodes: [node],
                          inputs: inputNames.filter { !$0.isEmpty }.map { ValueInfo(name: $0, dataType: nil, shape: nil) },
                          outputs: outputNames.filter { !$0.isEmpty }.map { ValueInfo(name: $0, dataType: nil, shape: nil) })
        var feeds: [String: Tensor] = [:]
        for (name, tensor) in zip(inputNames, inputs) where !name.isEmpty { feeds[name] = tensor }
        let executor = Executor(plan: try ExecutionPlan(graph: graph), options: ExecutionOptions(threads: threads))
        let results = try executor.run(feeds)
        return try outputNames.map { name in
            if name.isEmpty { return Tensor(dataType: .float32, shape: [0]) }
            guard let tensor = results[name] else { throw RuntimeError.invalidGraph("no output \(name)") }
            return tensor
        }
    }

    static func run1(_ kind: OpKind, opset: Int, _ inputs: [Tensor?], attributes: [String: AttributeValue] = [:],
                     threads: Int = 1) throws -> Tensor {
        try run(kind, opset: opset, inputs, attributes: attributes, threads: threads)[0]
    }

    static func int64s(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], values: values.map { Int64($0) }) }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = SeededRandom(seed: seed)
        return Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &generator) })
    }

    static func randomInt64(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = SeededRandom(seed: seed)
        return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &generator) })
    }

    /// Row-major multi-index of flat position `flat` in `shape`.
    static func index(_ flat: Int, in shape: [Int]) -> [Int] {
        var rest = flat
        var result = [Int](repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }

    static func flat(_ index: [Int], in shape: [Int]) -> Int {
        zip(index, Tensor.strides(for: shape)).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Expects `body` to throw a runtime or kernel error whose text contains `fragment`.
    static func assertThrows(_ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning '\(fragment)'", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(fragment), "error '\(error)' does not mention '\(fragment)'", file: file, line: line)
        }
    }
}

final class MovementHarnessTests: XCTestCase {
    func testMultiIndexRoundTrips() {
        let shape = [2, 3, 4]
        for flat in 0..<24 { XCTAssertEqual(MovementHarness.flat(MovementHarness.index(flat, in: shape), in: shape), flat) }
        XCTAssertEqual(MovementHarness.index(23, in: shape), [1, 2, 3])
    }
}
