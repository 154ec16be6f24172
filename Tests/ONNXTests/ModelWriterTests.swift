import Foundation
import ONNX
import TensorRuntime
import XCTest

/// Seer's ONNX writer: what it writes, its own loader reads back field for field, and the runtime runs.
final class ModelWriterTests: XCTestCase {
    func gemmModel() -> ONNXModelWriter {
        var writer = ONNXModelWriter(graphName: "tiny")
        writer.producerVersion = "test"
        writer.initializers = [
            .init(name: "w", dims: [2, 3], values: [1, -2, 0.5, 3, 0, -1]),
            .init(name: "b", dims: [2], values: [0.25, -0.5]),
        ]
        writer.nodes = [
            .init("Gemm", inputs: ["x", "w", "b"], outputs: ["y"], name: "fc",
                  attributes: [("transB", .int(1)), ("alpha", .float(2)), ("beta", .float(1))]),
            .init("Relu", inputs: ["y"], outputs: ["r"], name: "relu"),
            .init("ReduceMax", inputs: ["r"], outputs: ["m"], name: "max", attributes: [("axes", .ints([-1])), ("keepdims", .int(1))]),
            .init("Sigmoid", inputs: ["m"], outputs: ["out"], name: "sigmoid"),
        ]
        writer.inputs = [.init(name: "x", dims: [.symbolic("N"), .fixed(3)])]
        writer.outputs = [.init(name: "out", dims: [.symbolic("N"), .fixed(1)])]
        return writer
    }

    func testRoundTripsThroughTheLoader() throws {
        let model = try ONNXModel.read(data: gemmModel().serialized())
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsets, ["": 13])
        XCTAssertEqual(model.producerName, "seer")
        XCTAssertEqual(model.producerVersion, "test")
        XCTAssertEqual(model.graph.nodes.map(\.kind), [.gemm, .relu, .reduceMax, .sigmoid])
        XCTAssertEqual(model.graph.nodes.map(\.name), ["fc", "relu", "max", "sigmoid"])
        XCTAssertEqual(model.graph.nodes[0].inputs, ["x", "w", "b"])
        XCTAssertEqual(try model.graph.nodes[0].attributes.int("transB"), 1)
        XCTAssertEqual(try model.graph.nodes[0].attributes.float("alpha"), 2)
        XCTAssertEqual(try model.graph.nodes[2].attributes.ints("axes"), [-1])
        XCTAssertEqual(model.graph.initializers["w"]?.shape, [2, 3])
        XCTAssertEqual(model.graph.initializers["w"]?.floats, [1, -2, 0.5, 3, 0, -1])
        XCTAssertEqual(model.graph.initializers["b"]?.floats, [0.25, -0.5])
        XCTAssertEqual(model.graph.inputs.map(\.name), ["x"])
        XCTAssertEqual(model.graph.inputs[0].dataType, .float32)
        XCTAssertEqual(model.graph.inputs[0].shape?.count, 2)
        XCTAssertEqual(model.graph.outputs.map(\.name), ["out"])
    }

    /// y = 2·x·wᵀ + b, ReLU, max over the row, sigmoid: by hand for two rows.
    func testRunsInTheRuntime() throws {
        let plan = try ExecutionPlan(graph: ONNXModel.load(data: gemmModel().serialized()))
        let outputs = try Executor(plan: plan).run(["x": Tensor(shape: [2, 3], floats: [1, 1, 1, 0, 1, -2])])
        // Row 1: 2·(1 − 2 + 0.5) + 0.25 = −0.75, 2·(3 + 0 − 1) − 0.5 = 3.5 → max 3.5.
        // Row 2: 2·(0 − 2 − 1) + 0.25 = −5.75, 2·(0 + 0 + 2) − 0.5 = 3.5 → max 3.5.
        let expected = Float(1 / (1 + exp(-3.5)))
        XCTAssertEqual(outputs["out"]?.shape, [2, 1])
        for value in outputs["out"]?.floats ?? [] { XCTAssertEqual(value, expected, accuracy: 1e-6) }
    }

    func testRefusesInitializersThatDoNotMatchTheirDims() {
        var writer = gemmModel()
        writer.initializers[0].values.removeLast()
        XCTAssertThrowsError(try writer.serialized())
    }
}
