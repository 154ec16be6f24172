import TensorRuntime
import XCTest

/// A graph output is handed out in storage of its own size: a small output made after a large value
/// was freed must not carry that value's pooled buffer off, or every run allocates it again.
final class ExecutorOutputTests: XCTestCase {
    static let width = 100_000

    /// x → Relu → r (400 kB, freed after ReduceMax) → ReduceMax → m → Neg → out (4 bytes, made once r is back in the pool).
    func executor() throws -> Executor {
        func value(_ name: String, _ shape: [Int]) -> ValueInfo {
            ValueInfo(name: name, dataType: .float32, shape: shape.map { .fixed($0) })
        }
        let nodes = [
            Node(name: "relu", kind: .relu, opset: 13, inputs: ["x"], outputs: ["r"]),
            Node(name: "max", kind: .reduceMax, opset: 13, inputs: ["r"], outputs: ["m"],
                 attributes: Attributes(["keepdims": .int(1)])),
            Node(name: "neg", kind: .neg, opset: 13, inputs: ["m"], outputs: ["out"]),
        ]
        let graph = Graph(nodes: nodes, inputs: [value("x", [1, ExecutorOutputTests.width])], outputs: [value("out", [1, 1])])
        return Executor(plan: try ExecutionPlan(graph: graph))
    }

    func testASmallOutputLeavesInItsOwnStorageAndThePoolStaysTheSame() throws {
        let executor = try executor()
        let x = Tensor(shape: [1, ExecutorOutputTests.width], floats: (0..<ExecutorOutputTests.width).map { Float($0 % 1_000) - 500 })
        var pooled: [Int] = []
        for _ in 0..<3 {
            let out = try XCTUnwrap(executor.run(["x": x])["out"])
            XCTAssertEqual(out.floats, [-499])
            XCTAssertEqual(out.storage.byteCount, 4)
            pooled.append(executor.pooledBytes)
        }
        XCTAssertGreaterThanOrEqual(pooled[0], ExecutorOutputTests.width * 4, "the 400 kB buffer went back to the pool")
        XCTAssertEqual(Set(pooled).count, 1, "pooled bytes per run: \(pooled)")
    }
}
