import TensorRuntime
import XCTest

/// The plan frees a convolution's unpacked weights as soon as it packs them, but only when nothing
/// else reads them: weights shared by two convolutions, read by another node at run time, or
/// returned as a graph output must still be there when needed.
final class PlanWeightReleaseTests: XCTestCase {
    static let channels = 8, outChannels = 64, pixels = 16

    static let x = Tensor(shape: [1, channels, 4, 4], floats: (0..<channels * pixels).map { Float($0 % 13) - 6 })
    static let w = Tensor(shape: [outChannels, channels, 1, 1],
                          floats: (0..<outChannels * channels).map { Float($0 % 7) * 0.5 - 1.5 })

    /// A 1x1 convolution is a matrix product: y[o, p] = Σc w[o, c]·x[c, p].
    static var expectedConv: [Float] {
        let x = PlanWeightReleaseTests.x.floats, w = PlanWeightReleaseTests.w.floats
        return (0..<outChannels * pixels).map { index in
            let o = index / pixels, p = index % pixels
            return (0..<channels).reduce(Float(0)) { $0 + w[o * channels + $1] * x[$1 * pixels + p] }
        }
    }

    func conv(_ output: String) -> Node {
        Node(name: output, kind: .conv, opset: 13, inputs: ["x", "w"], outputs: [output])
    }

    func value(_ name: String, _ shape: [Int]) -> ValueInfo {
        ValueInfo(name: name, dataType: .float32, shape: shape.map { .fixed($0) })
    }

    func run(nodes: [Node], outputs: [ValueInfo], feeds: [String: Tensor] = [:]) throws -> [String: Tensor] {
        let graph = Graph(nodes: nodes, inputs: [value("x", [1, 8, 4, 4]), value("s", [1])],
                          outputs: outputs, initializers: ["w": PlanWeightReleaseTests.w])
        var all = feeds
        all["x"] = PlanWeightReleaseTests.x
        all["s"] = Tensor(shape: [1], floats: [2])
        return try Executor(plan: ExecutionPlan(graph: graph)).run(all)
    }

    func testTwoConvolutionsSharingWeightsBothUseThem() throws {
        let outputs = try run(nodes: [conv("y1"), conv("y2")],
                              outputs: [value("y1", [1, 64, 4, 4]), value("y2", [1, 64, 4, 4])])
        XCTAssertEqual(outputs["y1"]?.floats, PlanWeightReleaseTests.expectedConv)
        XCTAssertEqual(outputs["y2"]?.floats, PlanWeightReleaseTests.expectedConv)
    }

    func testWeightsAlsoReadAtRunTimeAreKept() throws {
        let scale = Node(name: "scale", kind: .mul, opset: 13, inputs: ["w", "s"], outputs: ["ws"])
        let outputs = try run(nodes: [conv("y1"), scale, conv("y2")],
                              outputs: [value("y1", [1, 64, 4, 4]), value("ws", [64, 8, 1, 1]), value("y2", [1, 64, 4, 4])])
        XCTAssertEqual(outputs["y1"]?.floats, PlanWeightReleaseTests.expectedConv)
        XCTAssertEqual(outputs["y2"]?.floats, PlanWeightReleaseTests.expectedConv)
        XCTAssertEqual(outputs["ws"]?.floats, PlanWeightReleaseTests.w.floats.map { $0 * 2 })
    }

    func testWeightsThatAreAGraphOutputAreKept() throws {
        let outputs = try run(nodes: [conv("y1")], outputs: [value("y1", [1, 64, 4, 4]), value("w", [64, 8, 1, 1])])
        XCTAssertEqual(outputs["y1"]?.floats, PlanWeightReleaseTests.expectedConv)
        XCTAssertEqual(outputs["w"]?.floats, PlanWeightReleaseTests.w.floats)
    }

    /// Weights made by folding (here a Transpose of an initializer) and shared by two convolutions.
    func testFoldedWeightsSharedByTwoConvolutionsBothUseThem() throws {
        let transposedW = PlanWeightReleaseTests.w.floats
        let stored = Tensor(shape: [8, 64, 1, 1], floats: (0..<512).map { transposedW[($0 % 64) * 8 + $0 / 64] })
        let transpose = Node(name: "t", kind: .transpose, opset: 13, inputs: ["stored"], outputs: ["w"],
                             attributes: Attributes(["perm": .ints([1, 0, 2, 3])]))
        let graph = Graph(nodes: [transpose, conv("y1"), conv("y2")], inputs: [value("x", [1, 8, 4, 4])],
                          outputs: [value("y1", [1, 64, 4, 4]), value("y2", [1, 64, 4, 4])],
                          initializers: ["stored": stored])
        let outputs = try Executor(plan: ExecutionPlan(graph: graph)).run(["x": PlanWeightReleaseTests.x])
        XCTAssertEqual(outputs["y1"]?.floats, PlanWeightReleaseTests.expectedConv)
        XCTAssertEqual(outputs["y2"]?.floats, PlanWeightReleaseTests.expectedConv)
    }
}
