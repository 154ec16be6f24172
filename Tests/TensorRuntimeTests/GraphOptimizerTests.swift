import TensorRuntime
import XCTest

/// GraphOptimizer: the optimized graph must compute what the unoptimized one does (tolerance 1e-4
/// relative to max(1, |expected|)), and rewrites must happen only where they are safe.
///
/// Activation fusion is checked against the unfused producer's output with the activation formula applied
/// in the test, so these tests need no standalone activation kernels.
final class GraphOptimizerTests: XCTestCase {
    let x = ValueInfo(name: "X", dataType: .float32, shape: nil)

    func output(_ name: String) -> ValueInfo { ValueInfo(name: name, dataType: nil, shape: nil) }

    func conv(_ name: String, input: String, output: String, weights: String, bias: String?, group: Int = 1) -> Node {
        Node(name: name, kind: .conv, opset: 13, inputs: [input, weights] + (bias.map { [$0] } ?? []), outputs: [output],
             attributes: Attributes(["pads": .ints([1, 1, 1, 1]), "group": .int(group)]))
    }

    func batchNorm(_ name: String, input: String, output: String, prefix: String, epsilon: Float = 1e-3) -> Node {
        Node(name: name, kind: .batchNormalization, opset: 15,
             inputs: [input, "\(prefix)scale", "\(prefix)B", "\(prefix)mean", "\(prefix)var"], outputs: [output],
             attributes: Attributes(["epsilon": .float(epsilon)]))
    }

    func normParameters(_ prefix: String, channels: Int, rng: inout ConvTestRandom) -> [String: Tensor] {
        ["\(prefix)scale": rng.tensor([channels]), "\(prefix)B": rng.tensor([channels]), "\(prefix)mean": rng.tensor([channels]),
         "\(prefix)var": Tensor(shape: [channels], floats: (0..<channels).map { _ in rng.float() + 1.2 })]
    }

    func compare(_ graph: Graph, feeds: [String: Tensor], expectedSteps: Int,
                 file: StaticString = #filePath, line: UInt = #line) throws {
        let plain = try ExecutionPlan(graph: graph, optimize: false)
        let optimized = try ExecutionPlan(graph: graph, optimize: true)
        XCTAssertEqual(optimized.stepCount, expectedSteps, "optimized steps", file: file, line: line)
        let expected = try Executor(plan: plain).run(feeds)
        let actual = try Executor(plan: optimized).run(feeds)
        for out in graph.outputs {
            XCTAssertEqual(actual[out.name]?.shape, expected[out.name]?.shape, file: file, line: line)
            ConvTestSupport.assertClose(actual[out.name]?.floats ?? [], expected[out.name]?.floats ?? [], out.name,
                                        file: file, line: line)
        }
    }

    func testBatchNormalizationFoldsIntoConvWithAndWithoutBias() throws {
        var rng = ConvTestRandom(seed: 51)
        for (hasBias, group, channels, outChannels) in [(true, 1, 3, 6), (false, 1, 3, 6), (true, 2, 4, 6), (false, 4, 4, 4)] {
            var initializers = normParameters("bn_", channels: outChannels, rng: &rng)
            initializers["W"] = rng.tensor([outChannels, channels / group, 3, 3])
            if hasBias { initializers["B"] = rng.tensor([outChannels]) }
            let graph = Graph(nodes: [conv("c", input: "X", output: "t", weights: "W", bias: hasBias ? "B" : nil, group: group),
                                      batchNorm("n", input: "t", output: "Y", prefix: "bn_")],
                              inputs: [x], outputs: [output("Y")], initializers: initializers)
            try compare(graph, feeds: ["X": rng.tensor([2, channels, 7, 6])], expectedSteps: 1)
            let optimized = GraphOptimizer.optimize(graph)
            XCTAssertEqual(optimized.nodes.map(\.kind), [.conv])
            XCTAssertEqual(optimized.nodes[0].outputs, ["Y"])
            XCTAssertNil(optimized.initializers["W"], "the unfolded weights are no longer read")
        }
    }

    func testSharedWeightsAreCopiedNotMutated() throws {
        var rng = ConvTestRandom(seed: 52)
        var initializers = normParameters("a_", channels: 5, rng: &rng).merging(normParameters("b_", channels: 5, rng: &rng)) { $1 }
        let weights = rng.tensor([5, 2, 3, 3])
        initializers["W"] = weights
        let original = weights.floats
        let graph = Graph(nodes: [conv("c1", input: "X", output: "t1", weights: "W", bias: nil),
                                  batchNorm("n1", input: "t1", output: "Y1", prefix: "a_"),
                                  conv("c2", input: "X", output: "t2", weights: "W", bias: nil),
                                  batchNorm("n2", input: "t2", output: "Y2", prefix: "b_")],
                          inputs: [x], outputs: [output("Y1"), output("Y2")], initializers: initializers)
        try compare(graph, feeds: ["X": rng.tensor([1, 2, 5, 5])], expectedSteps: 2)
        XCTAssertEqual(weights.floats, original)
        let optimized = GraphOptimizer.optimize(graph)
        XCTAssertNotEqual(optimized.nodes[0].inputs[1], optimized.nodes[1].inputs[1], "each fold gets its own weights")
    }

    func testNoFoldWhenTheConvOutputIsReadElsewhereOrParametersAreInputs() throws {
        var rng = ConvTestRandom(seed: 53)
        var initializers = normParameters("bn_", channels: 2, rng: &rng)
        initializers["W"] = rng.tensor([2, 1, 3, 3])
        let nodes = [conv("c", input: "X", output: "t", weights: "W", bias: nil), batchNorm("n", input: "t", output: "Y", prefix: "bn_")]
        let feeds = ["X": rng.tensor([1, 1, 4, 4])]

        let graphOutput = Graph(nodes: nodes, inputs: [x], outputs: [output("Y"), output("t")], initializers: initializers)
        XCTAssertEqual(GraphOptimizer.optimize(graphOutput).nodes.count, 2)
        try compare(graphOutput, feeds: feeds, expectedSteps: 2)

        var overridable = initializers
        overridable["bn_mean"] = nil
        let meanInput = Graph(nodes: nodes, inputs: [x, ValueInfo(name: "bn_mean", dataType: .float32, shape: nil)],
                              outputs: [output("Y")], initializers: overridable)
        XCTAssertEqual(GraphOptimizer.optimize(meanInput).nodes.count, 2)

        let weightInput = Graph(nodes: nodes, inputs: [x, ValueInfo(name: "W", dataType: .float32, shape: nil)],
                                outputs: [output("Y")], initializers: initializers)
        XCTAssertEqual(GraphOptimizer.optimize(weightInput).nodes.count, 2, "an initializer that is also an input can change")

        let twoReaders = Graph(nodes: nodes + [batchNorm("n2", input: "t", output: "Z", prefix: "bn_")], inputs: [x],
                               outputs: [output("Y"), output("Z")], initializers: initializers)
        XCTAssertEqual(GraphOptimizer.optimize(twoReaders).nodes.count, 3)
        try compare(twoReaders, feeds: feeds, expectedSteps: 3)
    }

    /// Activation nodes after Conv → BatchNormalization; each must end up fused, giving bn(conv(x)) through the formula.
    func testActivationsFuseIntoConvAfterFolding() throws {
        var rng = ConvTestRandom(seed: 54)
        let cases: [(Node, [String: Tensor], Activation)] = [
            (Node(name: "a", kind: .relu, opset: 14, inputs: ["t"], outputs: ["Y"]), [:], .relu),
            (Node(name: "a", kind: .leakyRelu, opset: 6, inputs: ["t"], outputs: ["Y"], attributes: Attributes(["alpha": .float(0.2)])),
             [:], .leakyRelu(alpha: 0.2)),
            (Node(name: "a", kind: .leakyRelu, opset: 6, inputs: ["t"], outputs: ["Y"]), [:], .leakyRelu(alpha: 0.01)),
            (Node(name: "a", kind: .clip, opset: 6, inputs: ["t"], outputs: ["Y"],
                  attributes: Attributes(["min": .float(0), "max": .float(0.5)])), [:], .clip(min: 0, max: 0.5)),
            (Node(name: "a", kind: .clip, opset: 13, inputs: ["t", "lo", "hi"], outputs: ["Y"]),
             ["lo": Tensor.scalar(Float(-0.3)), "hi": Tensor.scalar(Float(0.4))], .clip(min: -0.3, max: 0.4)),
            (Node(name: "a", kind: .clip, opset: 13, inputs: ["t", "lo"], outputs: ["Y"]),
             ["lo": Tensor.scalar(Float(0))], .clip(min: 0, max: .greatestFiniteMagnitude)),
            (Node(name: "a", kind: .sigmoid, opset: 13, inputs: ["t"], outputs: ["Y"]), [:], .sigmoid),
            (Node(name: "a", kind: .hardSigmoid, opset: 6, inputs: ["t"], outputs: ["Y"],
                  attributes: Attributes(["alpha": .float(0.3), "beta": .float(0.4)])), [:], .hardSigmoid(alpha: 0.3, beta: 0.4)),
            (Node(name: "a", kind: .hardSwish, opset: 14, inputs: ["t"], outputs: ["Y"]), [:], .hardSwish),
            (Node(name: "a", kind: .elu, opset: 6, inputs: ["t"], outputs: ["Y"], attributes: Attributes(["alpha": .float(0.7)])),
             [:], .elu(alpha: 0.7)),
        ]
        for (activationNode, extra, activation) in cases {
            var initializers = normParameters("bn_", channels: 4, rng: &rng).merging(extra) { $1 }
            initializers["W"] = rng.tensor([4, 3, 3, 3])
            initializers["B"] = rng.tensor([4])
            let convNode = conv("c", input: "X", output: "u", weights: "W", bias: "B")
            let graph = Graph(nodes: [convNode, batchNorm("n", input: "u", output: "t", prefix: "bn_"), activationNode],
                              inputs: [x], outputs: [output("Y")], initializers: initializers)
            let optimized = GraphOptimizer.optimize(graph)
            XCTAssertEqual(optimized.nodes.map(\.kind), [.conv], "\(activationNode.kind)")
            XCTAssertEqual(optimized.nodes.first?.fusedActivation, activation)
            XCTAssertEqual(optimized.nodes.first?.outputs, ["Y"])

            let feeds = ["X": rng.tensor([1, 3, 6, 5])]
            let fused = try ConvTestSupport.run(graph, feeds: feeds, optimize: true)[0]
            let withoutActivation = Graph(nodes: [convNode, batchNorm("n", input: "u", output: "t", prefix: "bn_")],
                                          inputs: [x], outputs: [output("t")], initializers: initializers)
            let plain = try ConvTestSupport.run(withoutActivation, feeds: feeds, optimize: false)[0]
            ConvTestSupport.assertClose(fused.floats, plain.floats.map { ConvTestSupport.reference(activation, $0) },
                                        "\(activationNode.kind)")
        }
    }

    func testActivationsFuseIntoGemmAndConvTranspose() throws {
        var rng = ConvTestRandom(seed: 55)
        let gemm = Node(name: "fc", kind: .gemm, opset: 13, inputs: ["X", "W", "C"], outputs: ["t"],
                        attributes: Attributes(["transB": .int(1)]))
        let deconv = Node(name: "up", kind: .convTranspose, opset: 13, inputs: ["X", "W", "C"], outputs: ["t"],
                          attributes: Attributes(["strides": .ints([2, 2])]))
        for (producer, inputShape, weightShape) in [(gemm, [3, 5], [4, 5]), (deconv, [1, 5, 3, 4], [5, 4, 2, 2])] {
            for (activationNode, activation) in [(Node(name: "a", kind: .relu, opset: 14, inputs: ["t"], outputs: ["Y"]), Activation.relu),
                                                 (Node(name: "a", kind: .sigmoid, opset: 13, inputs: ["t"], outputs: ["Y"]), .sigmoid)] {
                let initializers = ["W": rng.tensor(weightShape), "C": rng.tensor([4])]
                let graph = Graph(nodes: [producer, activationNode], inputs: [x], outputs: [output("Y")], initializers: initializers)
                let optimized = GraphOptimizer.optimize(graph)
                XCTAssertEqual(optimized.nodes.map(\.kind), [producer.kind])
                XCTAssertEqual(optimized.nodes.first?.fusedActivation, activation)
                let feeds = ["X": rng.tensor(inputShape)]
                let fused = try ConvTestSupport.run(graph, feeds: feeds)[0]
                let plain = try ConvTestSupport.run(Graph(nodes: [producer], inputs: [x], outputs: [output("t")],
                                                          initializers: initializers), feeds: feeds, optimize: false)[0]
                ConvTestSupport.assertClose(fused.floats, plain.floats.map { ConvTestSupport.reference(activation, $0) })
            }
        }
    }

    func testChainsFuseEveryPairOnce() throws {
        // X → Conv → Relu → Conv → BN → Clip → Y. Reference: the same graph written with the activations
        // already fused by hand, run unoptimized.
        var rng = ConvTestRandom(seed: 56)
        var initializers = normParameters("bn_", channels: 3, rng: &rng)
        initializers["W1"] = rng.tensor([4, 2, 3, 3]); initializers["B1"] = rng.tensor([4])
        initializers["W2"] = rng.tensor([3, 4, 3, 3])
        let relu = Node(name: "r", kind: .relu, opset: 14, inputs: ["a"], outputs: ["b"])
        let clip = Node(name: "k", kind: .clip, opset: 11, inputs: ["d", "", "hi"], outputs: ["Y"])
        initializers["hi"] = Tensor.scalar(Float(0.5))
        let graph = Graph(nodes: [conv("c1", input: "X", output: "a", weights: "W1", bias: "B1"), relu,
                                  conv("c2", input: "b", output: "c", weights: "W2", bias: nil),
                                  batchNorm("n", input: "c", output: "d", prefix: "bn_"), clip],
                          inputs: [x], outputs: [output("Y")], initializers: initializers)
        var first = conv("c1", input: "X", output: "b", weights: "W1", bias: "B1")
        first.fusedActivation = .relu
        let second = conv("c2", input: "b", output: "c", weights: "W2", bias: nil)
        let norm = batchNorm("n", input: "c", output: "d", prefix: "bn_")
        let handFused = Graph(nodes: [first, second, norm], inputs: [x], outputs: [output("d")], initializers: initializers)

        let optimized = GraphOptimizer.optimize(graph)
        XCTAssertEqual(optimized.nodes.map(\.kind), [.conv, .conv])
        XCTAssertEqual(optimized.nodes.map(\.fusedActivation), [.relu, .clip(min: -.greatestFiniteMagnitude, max: 0.5)])
        let feeds = ["X": rng.tensor([1, 2, 8, 7])]
        let actual = try ConvTestSupport.run(graph, feeds: feeds)[0]
        let expected = try ConvTestSupport.run(handFused, feeds: feeds, optimize: false)[0]
        ConvTestSupport.assertClose(actual.floats, expected.floats.map { min($0, 0.5) })
    }

    func binary(_ kind: OpKind, _ a: String, _ b: String, _ output: String) -> Node {
        Node(name: "\(kind.rawValue)_\(output)", kind: kind, opset: 14, inputs: [a, b], outputs: [output])
    }

    /// dlib-style affine layers: Conv → Mul(per-channel) → Add(per-channel) → Relu becomes one Conv with Relu fused.
    func testPerChannelMulAddFoldIntoConv() throws {
        var rng = ConvTestRandom(seed: 57)
        for (hasBias, scaleShape, offsetShape, group) in [(true, [1, 4, 1, 1], [4, 1, 1], 1), (false, [4, 1, 1], [1, 4, 1, 1], 2),
                                                          (true, [], [1], 1), (false, [1, 1, 1, 1], [4, 1, 1], 4)] {
            var initializers = ["W": rng.tensor([4, 4 / group, 3, 3]), "s": rng.tensor(scaleShape), "o": rng.tensor(offsetShape)]
            if hasBias { initializers["B"] = rng.tensor([4]) }
            let graph = Graph(nodes: [conv("c", input: "X", output: "t", weights: "W", bias: hasBias ? "B" : nil, group: group),
                                      binary(.mul, "s", "t", "u"), binary(.add, "u", "o", "v"),
                                      Node(name: "r", kind: .relu, opset: 14, inputs: ["v"], outputs: ["Y"])],
                              inputs: [x], outputs: [output("Y")], initializers: initializers)
            try compare(graph, feeds: ["X": rng.tensor([2, 4, 6, 5])], expectedSteps: 1)
            let optimized = GraphOptimizer.optimize(graph)
            XCTAssertEqual(optimized.nodes.map(\.kind), [.conv])
            XCTAssertEqual(optimized.nodes.first?.fusedActivation, .relu)
            XCTAssertNil(optimized.initializers["s"], "the folded scale is no longer read")
        }
    }

    func testConvMinusPerChannelConstantFolds() throws {
        var rng = ConvTestRandom(seed: 58)
        let initializers = ["W": rng.tensor([3, 2, 3, 3]), "B": rng.tensor([3]), "d": rng.tensor([1, 3, 1, 1])]
        let graph = Graph(nodes: [conv("c", input: "X", output: "t", weights: "W", bias: "B"), binary(.sub, "t", "d", "Y")],
                          inputs: [x], outputs: [output("Y")], initializers: initializers)
        try compare(graph, feeds: ["X": rng.tensor([1, 2, 5, 5])], expectedSteps: 1)
    }

    func testAffineFoldSkipsWhatIsNotPerChannel() throws {
        var rng = ConvTestRandom(seed: 59)
        let initializers = ["W": rng.tensor([3, 2, 3, 3]), "B": rng.tensor([3]), "d": rng.tensor([1, 3, 1, 1]),
                            "spatial": rng.tensor([1, 3, 5, 5]), "wide": rng.tensor([2, 1, 3, 1, 1])]
        let convNode = conv("c", input: "X", output: "t", weights: "W", bias: "B")
        let feeds = ["X": rng.tensor([1, 2, 5, 5]), "Z": rng.tensor([1, 3, 5, 5])]
        let z = ValueInfo(name: "Z", dataType: .float32, shape: nil)
        for second in [binary(.sub, "d", "t", "Y"), binary(.mul, "t", "spatial", "Y"), binary(.add, "t", "wide", "Y"),
                       binary(.mul, "t", "Z", "Y"), binary(.div, "t", "d", "Y")] {
            let graph = Graph(nodes: [convNode, second], inputs: [x, z], outputs: [output("Y")], initializers: initializers)
            XCTAssertEqual(GraphOptimizer.optimize(graph).nodes.count, 2, "\(second.kind) \(second.inputs)")
            try compare(graph, feeds: feeds, expectedSteps: 2)
        }
        let readTwice = Graph(nodes: [convNode, binary(.mul, "t", "d", "Y")], inputs: [x],
                              outputs: [output("Y"), output("t")], initializers: initializers)
        XCTAssertEqual(GraphOptimizer.optimize(readTwice).nodes.count, 2, "the conv output is also a graph output")
    }

    /// PP-LCNet style hard-swish written out: x · clip(x + 3, 0, 6) / 6, after a Conv with an affine Mul/Add.
    func testSpelledOutHardSwishBecomesOneFusedConv() throws {
        var rng = ConvTestRandom(seed: 60)
        let initializers = ["W": rng.tensor([4, 3, 3, 3]), "B": rng.tensor([4]), "s": Tensor.scalar(Float(1.3)),
                            "o": Tensor.scalar(Float(-0.2)), "three": Tensor.scalar(Float(3)), "zero": Tensor.scalar(Float(0)),
                            "six": Tensor.scalar(Float(6)), "sixth": Tensor.scalar(Float(1) / 6)]
        let clip = Node(name: "k", kind: .clip, opset: 13, inputs: ["a", "zero", "six"], outputs: ["c"])
        let head = [conv("conv", input: "X", output: "t", weights: "W", bias: "B"), binary(.mul, "s", "t", "u"),
                    binary(.add, "u", "o", "x"), binary(.add, "x", "three", "a"), clip]
        for tail in [[binary(.mul, "x", "c", "m"), binary(.div, "m", "six", "Y")],
                     [binary(.mul, "c", "x", "m"), binary(.mul, "sixth", "m", "Y")]] {
            let graph = Graph(nodes: head + tail, inputs: [x], outputs: [output("Y")], initializers: initializers)
            try compare(graph, feeds: ["X": rng.tensor([1, 3, 6, 5])], expectedSteps: 1)
            let optimized = GraphOptimizer.optimize(graph)
            XCTAssertEqual(optimized.nodes.map(\.kind), [.conv])
            XCTAssertEqual(optimized.nodes.first?.fusedActivation, .hardSwish)
        }
        // x read elsewhere too: the HardSwish still forms (x keeps its other reader) but cannot fuse into the Conv.
        let shared = Graph(nodes: head + [binary(.mul, "x", "c", "m"), binary(.div, "m", "six", "Y"), binary(.add, "x", "o", "Z")],
                           inputs: [x], outputs: [output("Y"), output("Z")], initializers: initializers)
        try compare(shared, feeds: ["X": rng.tensor([1, 3, 6, 5])], expectedSteps: 3)
        // Wrong constants: left alone.
        var wrong = initializers
        wrong["six"] = Tensor.scalar(Float(5))
        let notHardSwish = Graph(nodes: head + [binary(.mul, "x", "c", "m"), binary(.div, "m", "six", "Y")],
                                 inputs: [x], outputs: [output("Y")], initializers: wrong)
        XCTAssertFalse(GraphOptimizer.optimize(notHardSwish).nodes.contains { $0.kind == .hardSwish })
        try compare(notHardSwish, feeds: ["X": rng.tensor([1, 3, 6, 5])], expectedSteps: 5)
    }

    func testActivationsStayWhenFusionIsUnsafe() {
        var rng = ConvTestRandom(seed: 57)
        let initializers = ["W": rng.tensor([2, 1, 3, 3])]
        let convNode = conv("c", input: "X", output: "t", weights: "W", bias: nil)
        let relu = Node(name: "r", kind: .relu, opset: 14, inputs: ["t"], outputs: ["Y"])
        // The conv output is also a graph output.
        XCTAssertEqual(GraphOptimizer.optimize(Graph(nodes: [convNode, relu], inputs: [x], outputs: [output("Y"), output("t")],
                                                     initializers: initializers)).nodes.count, 2)
        // The conv output has a second reader.
        let sigmoid = Node(name: "s", kind: .sigmoid, opset: 13, inputs: ["t"], outputs: ["Z"])
        XCTAssertEqual(GraphOptimizer.optimize(Graph(nodes: [convNode, relu, sigmoid], inputs: [x],
                                                     outputs: [output("Y"), output("Z")], initializers: initializers)).nodes.count, 3)
        // Clip bounds that are only known at run time.
        let clip = Node(name: "k", kind: .clip, opset: 13, inputs: ["t", "lo"], outputs: ["Y"])
        XCTAssertEqual(GraphOptimizer.optimize(Graph(nodes: [convNode, clip], inputs: [x, ValueInfo(name: "lo", dataType: .float32, shape: nil)],
                                                     outputs: [output("Y")], initializers: initializers)).nodes.count, 2)
        // Not a Conv, ConvTranspose or Gemm producer.
        let pool = Node(name: "p", kind: .maxPool, opset: 12, inputs: ["X"], outputs: ["t"],
                        attributes: Attributes(["kernel_shape": .ints([2, 2])]))
        XCTAssertEqual(GraphOptimizer.optimize(Graph(nodes: [pool, relu], inputs: [x], outputs: [output("Y")])).nodes.count, 2)
    }
}
