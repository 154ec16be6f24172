import TensorRuntime
import XCTest

/// MaxPool, AveragePool and the global pools against per-output window loops.
/// Tolerance 1e-4 relative to max(1, |expected|); MaxPool values and Indices must match exactly.
final class PoolTests: XCTestCase {
    struct Case {
        var batch = 1
        var channels = 1
        var input: [Int] = []
        var kernel: [Int] = []
        var strides: [Int] = []
        var dilations: [Int] = []
        var padBegin: [Int] = []
        var padEnd: [Int] = []
        var autoPad = "NOTSET"
        var ceilMode = false
        var countIncludePad = false

        var rank: Int { input.count }

        var resolved: (output: [Int], padBegin: [Int], padEnd: [Int]) {
            var output: [Int] = [], begin: [Int] = [], end: [Int] = []
            for axis in 0..<rank {
                let (size, pad) = ConvTestSupport.forwardAxis(
                    input: input[axis], kernel: kernel[axis], stride: strides[axis], dilation: dilations[axis],
                    padBegin: padBegin[axis], padEnd: padEnd[axis], autoPad: autoPad, ceilMode: ceilMode)
                output.append(size)
                begin.append(pad)
                let extent = (kernel[axis] - 1) * dilations[axis] + 1
                let total = autoPad == "NOTSET" ? padBegin[axis] + padEnd[axis]
                    : autoPad == "VALID" ? 0 : max(0, (size - 1) * strides[axis] + extent - input[axis])
                end.append(total - pad)
            }
            return (output, begin, end)
        }

        static func random(_ rng: inout ConvTestRandom, rank: Int, dilated: Bool) -> Case {
            var c = Case()
            c.batch = rng.int(1...2)
            c.channels = rng.int(1...3)
            for _ in 0..<rank {
                let kernel = rng.int(1...3), dilation = dilated ? rng.int(1...2) : 1
                c.kernel.append(kernel)
                c.dilations.append(dilation)
                c.strides.append(rng.int(1...3))
                c.padBegin.append(rng.int(0...(kernel - 1)))
                c.padEnd.append(rng.int(0...(kernel - 1)))
                c.input.append((kernel - 1) * dilation + 1 + rng.int(0...6))
            }
            c.ceilMode = rng.bool()
            c.countIncludePad = rng.bool()
            return c
        }

        func attributes(max: Bool) -> Attributes {
            var values: [String: AttributeValue] = [
                "kernel_shape": .ints(kernel), "strides": .ints(strides), "ceil_mode": .int(ceilMode ? 1 : 0),
            ]
            if max { values["dilations"] = .ints(dilations) } else { values["count_include_pad"] = .int(countIncludePad ? 1 : 0) }
            if autoPad == "NOTSET" { values["pads"] = .ints(padBegin + padEnd) } else { values["auto_pad"] = .string(autoPad) }
            return Attributes(values)
        }
    }

    /// For each output element: (max value, its flat input index incl. batch and channel, average).
    static func reference(_ c: Case, x: [Float], columnMajor: Bool = false) -> [(max: Float, index: Int, average: Float)] {
        let (output, padBegin, padEnd) = c.resolved
        let plane = c.input.reduce(1, *)
        var results: [(Float, Int, Float)] = []
        for p in 0..<(c.batch * c.channels) {
            for o in ConvTestSupport.indices(output) {
                var best = -Float.infinity, bestIndex = -1, sum: Double = 0, count = 0
                for k in ConvTestSupport.indices(c.kernel) {
                    let position = (0..<c.rank).map { o[$0] * c.strides[$0] - padBegin[$0] + k[$0] * c.dilations[$0] }
                    if zip(position, c.input).contains(where: { $0 < 0 || $0 >= $1 }) { continue }
                    let within = columnMajor
                        ? ConvTestSupport.flat(position.reversed(), c.input.reversed())
                        : ConvTestSupport.flat(position, c.input)
                    let value = x[p * plane + ConvTestSupport.flat(position, c.input)]
                    if bestIndex < 0 || value > best { best = value; bestIndex = p * plane + within }
                    sum += Double(value)
                    count += 1
                }
                if c.countIncludePad {
                    // Window elements inside the padded input, excluding what ceil_mode adds beyond the pads.
                    count = (0..<c.rank).reduce(1) { product, axis in
                        let start = o[axis] * c.strides[axis] - padBegin[axis]
                        return product * (min(start + c.kernel[axis], c.input[axis] + padEnd[axis]) - start)
                    }
                }
                results.append((best, bestIndex, Float(sum / Double(max(count, 1)))))
            }
        }
        return results
    }

    func runPool(_ kind: OpKind, _ c: Case, x: Tensor, indices: Bool = false, storageOrder: Int = 0,
                 threads: Int = 1) throws -> [Tensor] {
        var attributes = c.attributes(max: kind == .maxPool)
        if storageOrder != 0 { attributes.values["storage_order"] = .int(storageOrder) }
        let node = Node(name: "pool", kind: kind, opset: 12, inputs: ["X"], outputs: indices ? ["Y", "I"] : ["Y"],
                        attributes: attributes)
        return try ConvTestSupport.run(node, feeds: ["X": x], threads: threads)
    }

    func checkMax(_ c: Case, rng: inout ConvTestRandom, threads: Int = 1,
                  file: StaticString = #filePath, line: UInt = #line) throws {
        let x = rng.tensor([c.batch, c.channels] + c.input)
        let expected = PoolTests.reference(c, x: x.floats)
        let shape = [c.batch, c.channels] + c.resolved.output
        let plain = try runPool(.maxPool, c, x: x, threads: threads)[0]
        XCTAssertEqual(plain.shape, shape, "\(c)", file: file, line: line)
        XCTAssertEqual(plain.floats, expected.map(\.max), "\(c)", file: file, line: line)
        let withIndices = try runPool(.maxPool, c, x: x, indices: true, threads: threads)
        XCTAssertEqual(withIndices[0].floats, expected.map(\.max), "\(c)", file: file, line: line)
        XCTAssertEqual(withIndices[1].dataType, .int64, file: file, line: line)
        XCTAssertEqual(withIndices[1].shape, shape, file: file, line: line)
        XCTAssertEqual(withIndices[1].array(of: Int64.self).map { Int($0) }, expected.map(\.index), "\(c)", file: file, line: line)
    }

    func checkAverage(_ c: Case, rng: inout ConvTestRandom, threads: Int = 1,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let x = rng.tensor([c.batch, c.channels] + c.input)
        let y = try runPool(.averagePool, c, x: x, threads: threads)[0]
        XCTAssertEqual(y.shape, [c.batch, c.channels] + c.resolved.output, "\(c)", file: file, line: line)
        ConvTestSupport.assertClose(y.floats, PoolTests.reference(c, x: x.floats).map(\.average), "\(c)",
                                    file: file, line: line)
    }

    func testRandomMaxPoolsWithDilationsCeilModeAndIndices() throws {
        var rng = ConvTestRandom(seed: 21)
        for rank in [2, 2, 1, 3] {
            for _ in 0..<15 { try checkMax(.random(&rng, rank: rank, dilated: true), rng: &rng) }
        }
    }

    func testRandomAveragePoolsWithCeilModeAndCountIncludePad() throws {
        var rng = ConvTestRandom(seed: 22)
        for rank in [2, 2, 1, 3] {
            for _ in 0..<15 { try checkAverage(.random(&rng, rank: rank, dilated: false), rng: &rng) }
        }
    }

    func testAutoPadModes() throws {
        var rng = ConvTestRandom(seed: 23)
        for autoPad in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
            for rank in 1...3 {
                for _ in 0..<4 {
                    var c = Case.random(&rng, rank: rank, dilated: false)
                    c.autoPad = autoPad
                    c.ceilMode = false
                    try checkMax(c, rng: &rng)
                    try checkAverage(c, rng: &rng)
                }
            }
        }
    }

    func testDarknetStrideOneMaxPoolPadsOnlyTheEnd() throws {
        // darknet `maxpool size=2 stride=1` on 13x13 keeps 13x13: pads 0,0,1,1.
        var c = Case()
        c.channels = 4; c.input = [13, 13]; c.kernel = [2, 2]; c.strides = [1, 1]; c.dilations = [1, 1]
        c.padBegin = [0, 0]; c.padEnd = [1, 1]
        XCTAssertEqual(c.resolved.output, [13, 13])
        var rng = ConvTestRandom(seed: 24)
        try checkMax(c, rng: &rng)
        try checkMax(c, rng: &rng, threads: 2)
    }

    func testCeilModeAddsAPartialWindow() throws {
        // 1-D input of 5, kernel 2, stride 2: floor gives 2 windows, ceil 3 (the last covers one element).
        let x = Tensor(shape: [1, 1, 5], floats: [1, 5, 2, 4, 3])
        var c = Case()
        c.input = [5]; c.kernel = [2]; c.strides = [2]; c.dilations = [1]; c.padBegin = [0]; c.padEnd = [0]
        XCTAssertEqual(try runPool(.maxPool, c, x: x)[0].floats, [5, 4])
        c.ceilMode = true
        XCTAssertEqual(try runPool(.maxPool, c, x: x)[0].floats, [5, 4, 3])
        XCTAssertEqual(try runPool(.averagePool, c, x: x)[0].floats, [3, 3, 3])
    }

    func testColumnMajorIndices() throws {
        var rng = ConvTestRandom(seed: 25)
        for rank in [2, 3] {
            var c = Case.random(&rng, rank: rank, dilated: true)
            c.batch = 2
            let x = rng.tensor([c.batch, c.channels] + c.input)
            let outputs = try runPool(.maxPool, c, x: x, indices: true, storageOrder: 1)
            let expected = PoolTests.reference(c, x: x.floats, columnMajor: true)
            XCTAssertEqual(outputs[1].array(of: Int64.self).map { Int($0) }, expected.map(\.index), "\(c)")
        }
    }

    func testIntegerMaxPool() throws {
        var rng = ConvTestRandom(seed: 26)
        let c = Case.random(&rng, rank: 2, dilated: true)
        let count = c.batch * c.channels * c.input.reduce(1, *)
        let unsigned = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let signed = unsigned.map { Int8(bitPattern: $0) }
        for (tensor, values) in [(Tensor(shape: [c.batch, c.channels] + c.input, values: unsigned), unsigned.map { Float($0) }),
                                 (Tensor(shape: [c.batch, c.channels] + c.input, values: signed), signed.map { Float($0) })] {
            let outputs = try runPool(.maxPool, c, x: tensor, indices: true)
            let expected = PoolTests.reference(c, x: values)
            XCTAssertEqual(outputs[0].dataType, tensor.dataType)
            XCTAssertEqual(outputs[0].floatValues(), expected.map(\.max), "\(c)")
            XCTAssertEqual(outputs[1].array(of: Int64.self).map { Int($0) }, expected.map(\.index), "\(c)")
        }
    }

    func testTwoThreadsMatchTheReference() throws {
        var rng = ConvTestRandom(seed: 27)
        for _ in 0..<5 {
            try checkMax(.random(&rng, rank: 2, dilated: true), rng: &rng, threads: 2)
            try checkAverage(.random(&rng, rank: 2, dilated: false), rng: &rng, threads: 2)
        }
    }

    func testAveragePoolRejectsIntegers() {
        var c = Case()
        c.input = [3]; c.kernel = [2]; c.strides = [1]; c.dilations = [1]; c.padBegin = [0]; c.padEnd = [0]
        let x = Tensor(shape: [1, 1, 3], values: [Int8(1), 2, 3])
        XCTAssertThrowsError(try runPool(.averagePool, c, x: x)) { error in
            XCTAssertTrue("\(error)".contains("int8"), "\(error)")
        }
    }

    func testMissingKernelShapeIsRejectedAtLoad() {
        let node = Node(name: "p", kind: .maxPool, opset: 12, inputs: ["X"], outputs: ["Y"])
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: ["X": Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])])) { error in
            XCTAssertTrue("\(error)".contains("kernel_shape"), "\(error)")
        }
    }

    func testGlobalPoolsOverAnySpatialRank() throws {
        var rng = ConvTestRandom(seed: 28)
        for spatial in [[7], [5, 6], [2, 3, 4]] {
            let shape = [2, 3] + spatial
            let x = rng.tensor(shape)
            let size = spatial.reduce(1, *)
            let values = x.floats
            let planes = (0..<6).map { Array(values[$0 * size..<($0 + 1) * size]) }
            for (kind, expected) in [(OpKind.globalAveragePool, planes.map { Float($0.reduce(0) { $0 + Double($1) } / Double(size)) }),
                                     (OpKind.globalMaxPool, planes.map { $0.max()! })] {
                let node = Node(name: "g", kind: kind, opset: 12, inputs: ["X"], outputs: ["Y"])
                for threads in [1, 2] {
                    let y = try ConvTestSupport.run(node, feeds: ["X": x], threads: threads)[0]
                    XCTAssertEqual(y.shape, [2, 3] + spatial.map { _ in 1 })
                    ConvTestSupport.assertClose(y.floats, expected, "\(kind) \(shape)")
                }
            }
        }
    }
}
