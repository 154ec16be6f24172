import TensorRuntime
import XCTest

/// ConvTranspose against a plain scatter reference: every input value times every kernel tap is added
/// at output position i·stride − pad + k·dilation. Tolerance 1e-4 relative to max(1, |expected|).
final class ConvTransposeTests: XCTestCase {
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
        var outputPadding: [Int] = []
        var outputShape: [Int]?
        var autoPad = "NOTSET"
        var hasBias = true

        var rank: Int { input.count }
        var channels: Int { group * groupChannels }
        var outChannels: Int { group * groupOutChannels }

        /// Output sizes and leading pads from the ONNX ConvTranspose definition.
        var resolved: (output: [Int], padBegin: [Int]) {
            var output: [Int] = [], begin: [Int] = []
            for axis in 0..<rank {
                let full = strides[axis] * (input[axis] - 1) + outputPadding[axis] + (kernel[axis] - 1) * dilations[axis] + 1
                let requested = outputShape?[axis] ?? (autoPad.hasPrefix("SAME") ? input[axis] * strides[axis] : nil)
                if let requested {
                    let total = max(0, full - requested)
                    output.append(requested)
                    begin.append(autoPad == "SAME_UPPER" ? total / 2 : total - total / 2)
                } else {
                    output.append(full - padBegin[axis] - padEnd[axis])
                    begin.append(padBegin[axis])
                }
            }
            return (output, begin)
        }

        static func random(_ rng: inout ConvTestRandom, rank: Int) -> Case {
            var c = Case()
            c.batch = rng.int(1...2)
            c.group = [1, 1, 2, 3][rng.int(0...3)]
            c.groupChannels = rng.int(1...3)
            c.groupOutChannels = rng.int(1...3)
            for _ in 0..<rank {
                let stride = rng.int(1...3), dilation = rng.int(1...2)
                c.kernel.append(rng.int(1...3))
                c.strides.append(stride)
                c.dilations.append(dilation)
                c.outputPadding.append(rng.int(0...(min(stride, dilation) - 1)))
                c.padBegin.append(rng.int(0...1))
                c.padEnd.append(rng.int(0...1))
                c.input.append(rng.int(3...6))
            }
            c.hasBias = rng.bool()
            return c
        }
    }

    static func reference(_ c: Case, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
        let (output, padBegin) = c.resolved
        let yShape = [c.batch, c.outChannels] + output
        let wShape = [c.channels, c.groupOutChannels] + c.kernel
        let xShape = [c.batch, c.channels] + c.input
        var y = [Double](repeating: 0, count: yShape.reduce(1, *))
        for n in 0..<c.batch {
            for ic in 0..<c.channels {
                let g = ic / c.groupChannels
                for i in ConvTestSupport.indices(c.input) {
                    let xv = Double(x[ConvTestSupport.flat([n, ic] + i, xShape)])
                    for m in 0..<c.groupOutChannels {
                        for k in ConvTestSupport.indices(c.kernel) {
                            let position = (0..<c.rank).map { i[$0] * c.strides[$0] - padBegin[$0] + k[$0] * c.dilations[$0] }
                            if zip(position, output).contains(where: { $0 < 0 || $0 >= $1 }) { continue }
                            let wv = Double(w[ConvTestSupport.flat([ic, m] + k, wShape)])
                            y[ConvTestSupport.flat([n, g * c.groupOutChannels + m] + position, yShape)] += xv * wv
                        }
                    }
                }
            }
        }
        if let bias {
            let plane = output.reduce(1, *)
            for index in y.indices { y[index] += Double(bias[(index / plane) % c.outChannels]) }
        }
        return y.map { Float($0) }
    }

    func check(_ c: Case, rng: inout ConvTestRandom, threads: Int = 1, activation: Activation? = nil,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var attributes: [String: AttributeValue] = [
            "group": .int(c.group), "strides": .ints(c.strides), "dilations": .ints(c.dilations),
            "output_padding": .ints(c.outputPadding), "kernel_shape": .ints(c.kernel),
        ]
        if c.autoPad != "NOTSET" { attributes["auto_pad"] = .string(c.autoPad) }
        if let outputShape = c.outputShape {
            attributes["output_shape"] = .ints(outputShape)
        } else if c.autoPad == "NOTSET" {
            attributes["pads"] = .ints(c.padBegin + c.padEnd)
        }
        let node = Node(name: "deconv", kind: .convTranspose, opset: 11, inputs: ["X", "W"] + (c.hasBias ? ["B"] : []),
                        outputs: ["Y"], attributes: Attributes(attributes), fusedActivation: activation)
        let x = rng.tensor([c.batch, c.channels] + c.input)
        let w = rng.tensor([c.channels, c.groupOutChannels] + c.kernel)
        let b = rng.tensor([c.outChannels])
        var initializers = ["W": w]
        if c.hasBias { initializers["B"] = b }
        let y = try ConvTestSupport.run(node, feeds: ["X": x], initializers: initializers, threads: threads)[0]
        var expected = ConvTransposeTests.reference(c, x: x.floats, w: w.floats, bias: c.hasBias ? b.floats : nil)
        if let activation { expected = expected.map { ConvTestSupport.reference(activation, $0) } }
        XCTAssertEqual(y.shape, [c.batch, c.outChannels] + c.resolved.output, "\(c)", file: file, line: line)
        ConvTestSupport.assertClose(y.floats, expected, "\(c)", file: file, line: line)
    }

    func testRandom2DTransposedConvolutions() throws {
        var rng = ConvTestRandom(seed: 11)
        for _ in 0..<40 { try check(.random(&rng, rank: 2), rng: &rng) }
    }

    func testRandom1DAnd3DTransposedConvolutions() throws {
        var rng = ConvTestRandom(seed: 12)
        for _ in 0..<20 { try check(.random(&rng, rank: 1), rng: &rng) }
        for _ in 0..<10 { try check(.random(&rng, rank: 3), rng: &rng) }
    }

    func testRandomTransposedConvolutionsOnSeveralThreads() throws {
        // Windows no taller than the stride split input rows between threads; others split each product.
        var rng = ConvTestRandom(seed: 15)
        for threads in [2, 3] {
            for _ in 0..<25 { try check(.random(&rng, rank: 2), rng: &rng, threads: threads) }
            for _ in 0..<8 { try check(.random(&rng, rank: 3), rng: &rng, threads: threads) }
        }
        var gaps = Case()     // one output channel from many, windows narrower than the stride
        gaps.groupChannels = 16; gaps.groupOutChannels = 1
        gaps.input = [37, 20]; gaps.kernel = [2, 2]; gaps.strides = [3, 2]; gaps.dilations = [1, 1]
        gaps.padBegin = [1, 0]; gaps.padEnd = [0, 1]; gaps.outputPadding = [0, 0]
        try check(gaps, rng: &rng, threads: 2)
        try check(gaps, rng: &rng, threads: 3, activation: .relu)
    }

    func testExplicitOutputShapeAndAutoPad() throws {
        var rng = ConvTestRandom(seed: 13)
        for autoPad in ["NOTSET", "SAME_UPPER", "SAME_LOWER"] {
            for _ in 0..<8 {
                var c = Case.random(&rng, rank: 2)
                c.autoPad = autoPad
                if rng.bool() || autoPad == "NOTSET" {
                    // Sizes from the unpadded output minus 2 to one beyond it (a position only the bias reaches).
                    var unpadded = c
                    unpadded.padBegin = [0, 0]; unpadded.padEnd = [0, 0]; unpadded.autoPad = "NOTSET"
                    c.outputShape = unpadded.resolved.output.map { max(1, $0 + rng.int(-2...1)) }
                }
                try check(c, rng: &rng)
            }
        }
    }

    func testUpsamplingByTwoWithFusedActivationAndTwoThreads() throws {
        var rng = ConvTestRandom(seed: 14)
        var c = Case()
        c.groupChannels = 6; c.groupOutChannels = 4
        c.input = [9, 13]; c.kernel = [2, 2]; c.strides = [2, 2]; c.dilations = [1, 1]
        c.padBegin = [0, 0]; c.padEnd = [0, 0]; c.outputPadding = [0, 0]
        try check(c, rng: &rng, threads: 2, activation: .relu)
        try check(c, rng: &rng, activation: .sigmoid)
    }

    func testNonPositiveOutputShapeIsAnError() {
        let node = Node(name: "up", kind: .convTranspose, opset: 11, inputs: ["X", "W"], outputs: ["Y"],
                        attributes: Attributes(["output_shape": .ints([0, 4])]))
        let x = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        let w = Tensor(shape: [1, 1, 3, 3], floats: Array(repeating: 1, count: 9))
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: ["X": x], initializers: ["W": w]))
    }
}
