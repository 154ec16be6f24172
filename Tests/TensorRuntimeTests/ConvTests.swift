import TensorRuntime
import XCTest

/// Conv against a plain nested-loop reference (Double accumulation) on random shapes with fixed seeds.
/// Tolerance: 1e-4 relative to max(1, |expected|) (ConvTestSupport.tolerance).
final class ConvTests: XCTestCase {
    struct Case {
        var batch = 1
        var group = 1
        var groupChannels = 1
        var groupOutChannels = 1
        var input: [Int] = []
        var kernel: [Int] = []
        var strides: [Int] = []
        var dilations: [Int] = []
        var padBegin: [Int] = []
        var padEnd: [Int] = []
        var autoPad = "NOTSET"
        var hasBias = true
        var writeKernelShape = true

        var rank: Int { input.count }
        var channels: Int { group * groupChannels }
        var outChannels: Int { group * groupOutChannels }

        /// Output sizes and leading pads as the ONNX Conv definition gives them.
        var resolved: (output: [Int], padBegin: [Int]) {
            let axes = (0..<rank).map { axis in
                ConvTestSupport.forwardAxis(input: input[axis], kernel: kernel[axis], stride: strides[axis],
                                            dilation: dilations[axis], padBegin: padBegin[axis], padEnd: padEnd[axis],
                                            autoPad: autoPad)
            }
            return (axes.map(\.output), axes.map(\.padBegin))
        }

        static func random(_ rng: inout ConvTestRandom, rank: Int, group: Int? = nil) -> Case {
            var c = Case()
            c.batch = rng.int(1...2)
            c.group = group ?? [1, 1, 2, 3][rng.int(0...3)]
            c.groupChannels = rng.int(1...4)
            c.groupOutChannels = rng.int(1...4)
            for _ in 0..<rank {
                let kernel = rng.int(1...3), dilation = rng.int(1...2)
                c.kernel.append(kernel)
                c.dilations.append(dilation)
                c.strides.append(rng.int(1...3))
                c.padBegin.append(rng.int(0...2))
                c.padEnd.append(rng.int(0...2))
                c.input.append((kernel - 1) * dilation + 1 + rng.int(0...7))
            }
            c.hasBias = rng.bool()
            c.writeKernelShape = rng.bool()
            return c
        }
    }

    static func reference(_ c: Case, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
        let (output, padBegin) = c.resolved
        let xShape = [c.batch, c.channels] + c.input
        let wShape = [c.outChannels, c.groupChannels] + c.kernel
        let kernelIndices = ConvTestSupport.indices(c.kernel)
        var y: [Float] = []
        for n in 0..<c.batch {
            for oc in 0..<c.outChannels {
                let g = oc / c.groupOutChannels
                for o in ConvTestSupport.indices(output) {
                    var sum = Double(bias?[oc] ?? 0)
                    for ic in 0..<c.groupChannels {
                        for k in kernelIndices {
                            var position: [Int] = []
                            for axis in 0..<c.rank {
                                position.append(o[axis] * c.strides[axis] - padBegin[axis] + k[axis] * c.dilations[axis])
                            }
                            if zip(position, c.input).contains(where: { $0 < 0 || $0 >= $1 }) { continue }
                            let xv = x[ConvTestSupport.flat([n, g * c.groupChannels + ic] + position, xShape)]
                            let wv = w[ConvTestSupport.flat([oc, ic] + k, wShape)]
                            sum += Double(xv) * Double(wv)
                        }
                    }
                    y.append(Float(sum))
                }
            }
        }
        return y
    }

    func node(_ c: Case, activation: Activation? = nil) -> Node {
        var attributes: [String: AttributeValue] = [
            "group": .int(c.group), "strides": .ints(c.strides), "dilations": .ints(c.dilations),
        ]
        if c.autoPad == "NOTSET" {
            attributes["pads"] = .ints(c.padBegin + c.padEnd)
        } else {
            attributes["auto_pad"] = .string(c.autoPad)
        }
        if c.writeKernelShape { attributes["kernel_shape"] = .ints(c.kernel) }
        return Node(name: "conv", kind: .conv, opset: 11, inputs: ["X", "W"] + (c.hasBias ? ["B"] : []),
                    outputs: ["Y"], attributes: Attributes(attributes), fusedActivation: activation)
    }

    func check(_ c: Case, rng: inout ConvTestRandom, threads: Int = 1, activation: Activation? = nil,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let x = rng.tensor([c.batch, c.channels] + c.input)
        let w = rng.tensor([c.outChannels, c.groupChannels] + c.kernel)
        let b = rng.tensor([c.outChannels])
        var initializers = ["W": w]
        if c.hasBias { initializers["B"] = b }
        let y = try ConvTestSupport.run(node(c, activation: activation), feeds: ["X": x], initializers: initializers,
                                        threads: threads)[0]
        var expected = ConvTests.reference(c, x: x.floats, w: w.floats, bias: c.hasBias ? b.floats : nil)
        if let activation { expected = expected.map { ConvTestSupport.reference(activation, $0) } }
        XCTAssertEqual(y.shape, [c.batch, c.outChannels] + c.resolved.output, "\(c)", file: file, line: line)
        ConvTestSupport.assertClose(y.floats, expected, "\(c)", file: file, line: line)
    }

    func testRandom2DConvolutionsWithGroupsDilationsStridesAndAsymmetricPads() throws {
        var rng = ConvTestRandom(seed: 1)
        for _ in 0..<60 { try check(.random(&rng, rank: 2), rng: &rng) }
    }

    func testRandom1DAnd3DConvolutions() throws {
        var rng = ConvTestRandom(seed: 2)
        for _ in 0..<25 { try check(.random(&rng, rank: 1), rng: &rng) }
        for _ in 0..<15 { try check(.random(&rng, rank: 3), rng: &rng) }
    }

    func testAutoPadModes() throws {
        var rng = ConvTestRandom(seed: 3)
        for autoPad in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
            for rank in 1...3 {
                for _ in 0..<6 {
                    var c = Case.random(&rng, rank: rank)
                    c.autoPad = autoPad
                    try check(c, rng: &rng)
                }
            }
        }
    }

    func testSameUpperAndLowerPadDifferentSides() throws {
        // 1x1x4x4 input, 2x2 kernel, stride 1: SAME needs one pad row/column, at the end (UPPER) or start (LOWER).
        var c = Case()
        c.input = [4, 4]; c.kernel = [2, 2]; c.strides = [1, 1]; c.dilations = [1, 1]
        c.padBegin = [0, 0]; c.padEnd = [0, 0]; c.hasBias = false
        var rng = ConvTestRandom(seed: 4)
        c.autoPad = "SAME_UPPER"
        XCTAssertEqual(c.resolved.padBegin, [0, 0])
        try check(c, rng: &rng)
        c.autoPad = "SAME_LOWER"
        XCTAssertEqual(c.resolved.padBegin, [1, 1])
        try check(c, rng: &rng)
    }

    func testDepthwiseConvolutions() throws {
        var rng = ConvTestRandom(seed: 5)
        for rank in 1...3 {
            for _ in 0..<10 {
                var c = Case.random(&rng, rank: rank)
                c.group = rng.int(1...6)
                c.groupChannels = 1
                c.groupOutChannels = 1
                try check(c, rng: &rng)
            }
        }
        // MobileNet-style 3x3 depthwise, stride 1 and 2, pads 1, and a channel multiplier of 2.
        for (stride, multiplier) in [(1, 1), (2, 1), (1, 2)] {
            var c = Case()
            c.group = 8; c.groupChannels = 1; c.groupOutChannels = multiplier
            c.input = [17, 20]; c.kernel = [3, 3]; c.strides = [stride, stride]; c.dilations = [1, 1]
            c.padBegin = [1, 1]; c.padEnd = [1, 1]
            try check(c, rng: &rng)
        }
        // 3x3 taps with dilations, odd strides and asymmetric pads exercise the interior/edge split.
        for (stride, dilation, pads) in [(2, 2, [2, 1, 0, 2]), (3, 1, [0, 2, 1, 0]), (1, 3, [3, 0, 0, 3]), (2, 1, [0, 0, 1, 1])] {
            var c = Case()
            c.group = 5; c.groupChannels = 1; c.groupOutChannels = 1
            c.input = [15, 19]; c.kernel = [3, 3]; c.strides = [stride + 1, stride]; c.dilations = [dilation, dilation]
            c.padBegin = Array(pads[0..<2]); c.padEnd = Array(pads[2...])
            try check(c, rng: &rng)
        }
    }

    func testDepthwiseWideRowsStridesAndLargeKernels() throws {
        // Rows wider than the vectorised kernel's 32-column blocks (plus a remainder), stride-2 rows long
        // enough for its vector de-interleave, 5x5 and 7x1 taps, dilation 2, ReLU and Clip in its store.
        var rng = ConvTestRandom(seed: 11)
        let shapes: [(input: [Int], kernel: [Int], stride: [Int], dilation: [Int], pads: [Int])] = [
            ([9, 75], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            ([12, 70], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([11, 41], [5, 5], [1, 2], [2, 1], [4, 2, 3, 2]),
            ([16, 37], [7, 1], [3, 3], [1, 1], [3, 0, 3, 0]),
            ([6, 50], [1, 4], [1, 1], [1, 2], [0, 0, 0, 5]),
        ]
        for (index, shape) in shapes.enumerated() {
            var c = Case()
            c.batch = 2; c.group = 3; c.groupChannels = 1; c.groupOutChannels = 1
            c.input = shape.input; c.kernel = shape.kernel; c.strides = shape.stride; c.dilations = shape.dilation
            c.padBegin = Array(shape.pads[0..<2]); c.padEnd = Array(shape.pads[2...])
            let activation: [Activation?] = [nil, .relu, .clip(min: -0.3, max: 0.4), .leakyRelu(alpha: 0.2), nil]
            try check(c, rng: &rng, activation: activation[index])
            try check(c, rng: &rng, threads: 2, activation: activation[index])
        }
    }

    func testDepthwiseEightChannelBlocks() throws {
        // Eight channels at a time (seer_depthwise_channels), with leftover channels on the plane kernel:
        // planes narrower than a vector (whose last partial vector spills into the next row), 1-D rows,
        // strides up to 3, dilation, asymmetric pads, 5x5 taps, planes tall enough to be cut into strips
        // (16 channels of 40x120), activations in and after the store, 1-3 threads.
        var rng = ConvTestRandom(seed: 12)
        let shapes: [(channels: Int, input: [Int], kernel: [Int], stride: [Int], dilation: [Int], pads: [Int])] = [
            (8, [7, 7], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            (19, [14, 14], [3, 3], [2, 2], [1, 1], [0, 0, 1, 1]),
            (16, [5, 3], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            (24, [13, 22], [5, 5], [3, 2], [1, 2], [2, 0, 1, 3]),
            (9, [1, 29], [1, 3], [1, 1], [1, 1], [0, 1, 0, 1]),
            (16, [40, 120], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            (8, [12, 9], [3, 3], [2, 3], [2, 1], [1, 0, 0, 2]),
        ]
        let activations: [Activation?] = [nil, .relu, .clip(min: -0.3, max: 0.4), .leakyRelu(alpha: 0.2)]
        for (index, shape) in shapes.enumerated() {
            var c = Case()
            c.batch = 1 + index % 2; c.group = shape.channels; c.groupChannels = 1; c.groupOutChannels = 1
            c.input = shape.input; c.kernel = shape.kernel; c.strides = shape.stride; c.dilations = shape.dilation
            c.padBegin = Array(shape.pads[0..<2]); c.padEnd = Array(shape.pads[2...])
            c.hasBias = index != 2
            for threads in 1...3 {
                try check(c, rng: &rng, threads: threads, activation: activations[(index + threads) % activations.count])
            }
        }
    }

    func testDepthwiseClipPassesNaNThrough() throws {
        let node = Node(name: "dw", kind: .conv, opset: 11, inputs: ["X", "W"], outputs: ["Y"],
                        attributes: Attributes(["group": .int(1), "pads": .ints([1, 1, 1, 1])]),
                        fusedActivation: .clip(min: 0, max: 6))
        var values = [Float](repeating: 1, count: 40)
        values[13] = .nan
        let x = Tensor(shape: [1, 1, 4, 10], floats: values)
        let w = Tensor(shape: [1, 1, 3, 3], floats: Array(repeating: 1, count: 9))
        let y = try ConvTestSupport.run(node, feeds: ["X": x], initializers: ["W": w])[0].floats
        // Outputs whose 3x3 window holds input (1, 3) are NaN; the corner (0, 0) sees four ones; the rest clip to 6.
        for row in 0..<4 {
            for column in 0..<10 {
                let value = y[row * 10 + column]
                if abs(row - 1) <= 1 && abs(column - 3) <= 1 {
                    XCTAssertTrue(value.isNaN, "(\(row), \(column)) = \(value)")
                } else {
                    XCTAssertFalse(value.isNaN, "(\(row), \(column))")
                }
            }
        }
        XCTAssertEqual(y[0], 4)
        XCTAssertEqual(y[15], 6)
    }

    func testPointwiseConvolutionsUseTheDirectGEMMPath() throws {
        var rng = ConvTestRandom(seed: 6)
        for group in [1, 2] {
            var c = Case()
            c.batch = 2; c.group = group; c.groupChannels = 5; c.groupOutChannels = 7
            c.input = [9, 11]; c.kernel = [1, 1]; c.strides = [1, 1]; c.dilations = [1, 1]
            c.padBegin = [0, 0]; c.padEnd = [0, 0]
            try check(c, rng: &rng)
        }
    }

    func testLargeInputSpansSeveralIm2colTiles() throws {
        // 16 input channels x 3x3 taps x 128 columns = 18432 floats per output row: 20 rows need 3 tiles of 2^17 floats.
        var rng = ConvTestRandom(seed: 7)
        var c = Case()
        c.groupChannels = 16; c.groupOutChannels = 3
        c.input = [20, 128]; c.kernel = [3, 3]; c.strides = [1, 1]; c.dilations = [1, 1]
        c.padBegin = [1, 1]; c.padEnd = [1, 1]
        try check(c, rng: &rng)
        try check(c, rng: &rng, threads: 2)
    }

    func testFusedActivationsAreAppliedToTheOutput() throws {
        var rng = ConvTestRandom(seed: 8)
        let activations: [Activation] = [.relu, .leakyRelu(alpha: 0.1), .clip(min: -0.5, max: 0.5), .sigmoid,
                                          .hardSigmoid(alpha: 0.2, beta: 0.5), .hardSwish, .elu(alpha: 1), .tanh]
        for activation in activations {
            try check(.random(&rng, rank: 2), rng: &rng, activation: activation)
            var depthwise = Case.random(&rng, rank: 2)
            depthwise.groupChannels = 1; depthwise.groupOutChannels = 1
            try check(depthwise, rng: &rng, activation: activation)
        }
    }

    func testLayersPackedInSixRowPanelsAtLoad() throws {
        // On AVX2/FMA CPUs the plan packs W once into 6-row panels (BLAS.prefersPacked) where 16-channel
        // panels do not apply, and the packed kernel runs with bias and ReLU fused: 20 rows over a shallow
        // depth of 45, a pointwise layer with 65 rows, and 64 rows over a depth of 3105 (nine depth blocks).
        // 20 and 65 rows leave partial 6-row panels, 7x9 and 3x5 outputs partial 16-column panels.
        var rng = ConvTestRandom(seed: 10)
        for (group, groupChannels, groupOutChannels, kernel, output) in [(1, 5, 20, 3, 7), (2, 5, 65, 1, 7), (1, 345, 64, 3, 3)] {
            let stride = output == 3 ? 2 : 1
            var c = Case()
            c.group = group; c.groupChannels = groupChannels; c.groupOutChannels = groupOutChannels
            c.input = [output * stride, (output + 2) * stride]; c.kernel = [kernel, kernel]; c.strides = [stride, stride]
            c.dilations = [1, 1]; c.padBegin = [kernel / 2, kernel / 2]; c.padEnd = [kernel / 2, kernel / 2]
            for activation: Activation? in [nil, .relu, .sigmoid] {
                try check(c, rng: &rng, activation: activation)
            }
            try check(c, rng: &rng, threads: 2, activation: .relu)
        }
    }

    func testStrideOneRowsRunAsDirectConvolutions() throws {
        // Small weights, a column stride of 1 and outputs at least 16 wide: the packed weights multiply
        // rows read straight from a padded copy of the input (BLAS.prefersDirect). Widths 37 and 20 leave
        // partial 16-column tiles, 13 and 7 output channels partial 6-row panels; row stride 2 and
        // dilation 2 change the padded copy's geometry.
        var rng = ConvTestRandom(seed: 12)
        let shapes: [(group: Int, channels: Int, outChannels: Int, input: [Int], stride: [Int], dilation: [Int])] = [
            (1, 6, 13, [9, 37], [1, 1], [1, 1]), (2, 5, 7, [11, 20], [2, 1], [1, 2]), (1, 3, 20, [4, 16], [1, 1], [1, 1]),
        ]
        for shape in shapes {
            var c = Case()
            c.batch = 2; c.group = shape.group; c.groupChannels = shape.channels; c.groupOutChannels = shape.outChannels
            c.input = shape.input; c.kernel = [3, 3]; c.strides = shape.stride; c.dilations = shape.dilation
            c.padBegin = [1, 2]; c.padEnd = [2, 1]
            for activation: Activation? in [nil, .relu, .leakyRelu(alpha: 0.1), .clip(min: -0.5, max: 0.5), .sigmoid] {
                try check(c, rng: &rng, activation: activation)
            }
            try check(c, rng: &rng, threads: 2, activation: .relu)
        }
        // Too large a padded copy for the direct kernel (16 channels at 82x82), too few rows for packing
        // to pay: the BLAS path runs with the W that the plan kept beside the packed weights.
        var large = Case()
        large.groupChannels = 16; large.groupOutChannels = 8
        large.input = [80, 80]; large.kernel = [3, 3]; large.strides = [1, 1]; large.dilations = [1, 1]
        large.padBegin = [1, 1]; large.padEnd = [1, 1]
        try check(large, rng: &rng, activation: .leakyRelu(alpha: 0.1))
        // Three input channels (9 row streams): the direct kernel runs although the padded copy (3x202x172
        // floats) exceeds L2.
        var firstLayer = large
        firstLayer.groupChannels = 3; firstLayer.input = [200, 170]
        try check(firstLayer, rng: &rng, activation: .relu)
        try check(firstLayer, rng: &rng, threads: 2)
    }

    func testChannelPanelConvolutions() throws {
        // 16, 24, 32 or at least 64 output channels per group over a depth of 64 or more, or strided
        // (BLAS.prefersChannelPanels): seer_channel_conv broadcasts each output pixel's input against 16
        // channels of weights (32 in its wide tiles), in depth blocks whose sums C (or, for wide tiles, a
        // strip's stage) gathers (bias first, activation last). 24 and 70 rows leave a partial 16-channel panel; 3x3, 7x9, 1x5 and 1-D outputs leave partial groups of 6 pixels; strides 2 and 3,
        // dilation 2, asymmetric pads and a 1x1 kernel with stride 2 change the padded copy's geometry.
        var rng = ConvTestRandom(seed: 13)
        let shapes: [(group: Int, channels: Int, outChannels: Int, input: [Int], kernel: [Int], stride: [Int],
                      dilation: [Int])] = [
            (1, 8, 16, [9, 11], [3, 3], [1, 1], [1, 1]), (2, 8, 32, [14, 19], [3, 3], [2, 3], [1, 2]),
            (1, 12, 70, [5, 5], [3, 3], [1, 1], [1, 1]), (1, 64, 64, [13, 9], [1, 1], [2, 2], [1, 1]),
            (1, 4, 16, [3, 33], [3, 7], [2, 2], [1, 1]), (1, 13, 24, [40], [5], [3], [2]),
            (1, 3, 16, [37, 29], [3, 3], [2, 2], [1, 1]),
            // Deeper than one 2304-step depth block: 2 blocks of 1350 (24 rows), 3 of 1560 (64 rows).
            (1, 300, 24, [7, 8], [3, 3], [1, 1], [1, 1]), (1, 520, 64, [5, 6], [3, 3], [1, 1], [1, 1]),
            // Wide tiles (pairs of panels, 3 pixels, depth 16 or more): 3x3 windows whose taps share inputs
            // across rows 26 and 17 wide (tiles that straddle two rows do not), strips of 48 pixels and a
            // partial one, 130 rows as four pairs and a 2-channel panel left to the 6-pixel tile; a strided
            // first layer (depth 27) and a strided 1x1 window (depth 24), as pairs too.
            (1, 8, 32, [20, 26], [3, 3], [1, 1], [1, 1]), (1, 16, 130, [12, 17], [3, 3], [1, 1], [1, 1]),
            (1, 3, 32, [37, 29], [3, 3], [2, 2], [1, 1]), (1, 24, 48, [13, 9], [1, 1], [2, 2], [1, 1]),
        ]
        for shape in shapes {
            var c = Case()
            c.batch = 2; c.group = shape.group; c.groupChannels = shape.channels; c.groupOutChannels = shape.outChannels
            c.input = shape.input; c.kernel = shape.kernel; c.strides = shape.stride; c.dilations = shape.dilation
            c.padBegin = shape.kernel.map { $0 / 2 }; c.padEnd = shape.kernel.map { ($0 - 1) / 2 + 1 }
            for activation: Activation? in [nil, .relu, .leakyRelu(alpha: 0.1), .clip(min: -0.5, max: 0.5), .sigmoid] {
                try check(c, rng: &rng, activation: activation)
            }
            // Two threads split pairs of 16-channel panels, each cut into strips of 48 pixels when there are
            // fewer than 4 pairs.
            try check(c, rng: &rng, threads: 2, activation: .relu)
        }
    }

    func testTwoThreadsMatchTheReference() throws {
        var rng = ConvTestRandom(seed: 9)
        for _ in 0..<10 { try check(.random(&rng, rank: 2), rng: &rng, threads: 2) }
        var depthwise = Case.random(&rng, rank: 2)
        depthwise.group = 6; depthwise.groupChannels = 1; depthwise.groupOutChannels = 1
        try check(depthwise, rng: &rng, threads: 2)
    }

    func testMismatchedChannelsFailNamingTheNode() throws {
        let node = Node(name: "bad", kind: .conv, opset: 11, inputs: ["X", "W"], outputs: ["Y"])
        let x = Tensor(shape: [1, 3, 5, 5], floats: Array(repeating: 1, count: 75))
        let w = Tensor(shape: [2, 2, 3, 3], floats: Array(repeating: 1, count: 36))
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: ["X": x], initializers: ["W": w])) { error in
            guard case let RuntimeError.executionFailed(name, op, reason)? = error as? RuntimeError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(name, "bad")
            XCTAssertEqual(op, "Conv")
            XCTAssertTrue(reason.contains("channels"), reason)
        }
    }

    func testUnknownAutoPadIsRejectedAtLoad() {
        let node = Node(name: "bad", kind: .conv, opset: 11, inputs: ["X", "W"], outputs: ["Y"],
                        attributes: Attributes(["auto_pad": .string("SAME")]))
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "X", dataType: .float32, shape: nil),
                                                  ValueInfo(name: "W", dataType: .float32, shape: nil)],
                          outputs: [ValueInfo(name: "Y", dataType: nil, shape: nil)])
        XCTAssertThrowsError(try ExecutionPlan(graph: graph)) { error in
            guard case let RuntimeError.invalidNode(name, _, reason)? = error as? RuntimeError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(name, "bad")
            XCTAssertTrue(reason.contains("auto_pad"), reason)
        }
    }

    func testKernelLargerThanPaddedInputIsAnError() {
        let node = Node(name: "big", kind: .conv, opset: 11, inputs: ["X", "W"], outputs: ["Y"])
        let x = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        let w = Tensor(shape: [1, 1, 3, 3], floats: Array(repeating: 1, count: 9))
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: ["X": x], initializers: ["W": w]))
    }
}
