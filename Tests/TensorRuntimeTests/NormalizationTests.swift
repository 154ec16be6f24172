import TensorRuntime
import XCTest

/// BatchNormalization (inference) against y = scale·(x − mean)/√(var + ε) + B in Double.
/// Tolerance 1e-4 relative to max(1, |expected|).
final class NormalizationTests: XCTestCase {
    func node(opset: Int = 15, attributes: [String: AttributeValue] = [:], outputs: [String] = ["Y"]) -> Node {
        Node(name: "bn", kind: .batchNormalization, opset: opset, inputs: ["X", "scale", "B", "mean", "var"],
             outputs: outputs, attributes: Attributes(attributes))
    }

    func parameters(_ count: Int, rng: inout ConvTestRandom) -> [String: Tensor] {
        ["scale": rng.tensor([count]), "B": rng.tensor([count]), "mean": rng.tensor([count]),
         "var": Tensor(shape: [count], floats: (0..<count).map { _ in rng.float() + 1.5 })]
    }

    func reference(_ x: [Float], shape: [Int], parameters p: [String: Tensor], epsilon: Double, perElement: Bool = false) -> [Float] {
        let channels = shape[1], spatial = shape[2...].reduce(1, *)
        let (scale, bias, mean, variance) = (p["scale"]!.floats, p["B"]!.floats, p["mean"]!.floats, p["var"]!.floats)
        return x.indices.map { index in
            let i = perElement ? index % (channels * spatial) : (index / spatial) % channels
            let normalized = (Double(x[index]) - Double(mean[i])) / (Double(variance[i]) + epsilon).squareRoot()
            return Float(Double(scale[i]) * normalized + Double(bias[i]))
        }
    }

    func testInferenceOverRanksOpsetsAndEpsilons() throws {
        var rng = ConvTestRandom(seed: 41)
        for (shape, opset) in [([3, 4], 7), ([2, 5, 7], 9), ([2, 3, 6, 5], 14), ([1, 4, 3, 2, 5], 15), ([2, 3, 4, 4], 9)] {
            for epsilon: Float in [1e-5, 0.01] {
                let p = parameters(shape[1], rng: &rng)
                let x = rng.tensor(shape)
                for threads in [1, 2] {
                    let y = try ConvTestSupport.run(node(opset: opset, attributes: ["epsilon": .float(epsilon)]),
                                                    feeds: ["X": x], initializers: p, threads: threads)[0]
                    XCTAssertEqual(y.shape, shape)
                    ConvTestSupport.assertClose(y.floats, reference(x.floats, shape: shape, parameters: p, epsilon: Double(epsilon)),
                                                "\(shape) opset \(opset)")
                }
            }
        }
    }

    func testOpset7NonSpatialUsesPerElementStatistics() throws {
        var rng = ConvTestRandom(seed: 42)
        let shape = [2, 3, 2, 2]
        let p = parameters(12, rng: &rng)
        let x = rng.tensor(shape)
        let y = try ConvTestSupport.run(node(opset: 7, attributes: ["spatial": .int(0)]), feeds: ["X": x], initializers: p)[0]
        ConvTestSupport.assertClose(y.floats, reference(x.floats, shape: shape, parameters: p, epsilon: 1e-5, perElement: true))
    }

    func testTrainingModeIsUnsupportedAtLoad() {
        for candidate in [node(opset: 15, attributes: ["training_mode": .int(1)]),
                          node(opset: 9, outputs: ["Y", "running_mean", "running_var"])] {
            let graph = Graph(nodes: [candidate], inputs: [ValueInfo(name: "X", dataType: .float32, shape: nil)],
                              outputs: [ValueInfo(name: "Y", dataType: nil, shape: nil)],
                              initializers: parameters(3, rng: &rngForErrors))
            XCTAssertThrowsError(try ExecutionPlan(graph: graph)) { error in
                guard case RuntimeError.unsupported(node: "bn", op: "BatchNormalization", opset: candidate.opset, reason: _)? =
                    error as? RuntimeError else { return XCTFail("unexpected error \(error)") }
            }
        }
    }

    private var rngForErrors = ConvTestRandom(seed: 43)

    func testParameterCountMismatchIsAnError() {
        var rng = ConvTestRandom(seed: 44)
        XCTAssertThrowsError(try ConvTestSupport.run(node(), feeds: ["X": rng.tensor([1, 4, 2, 2])],
                                                     initializers: parameters(3, rng: &rng))) { error in
            XCTAssertTrue("\(error)".contains("expected 4"), "\(error)")
        }
    }
}
