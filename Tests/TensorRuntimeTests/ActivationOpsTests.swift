import Foundation
import TensorRuntime
import XCTest

/// Activations, Clip and PRelu against formulas written out in double precision.
/// Tolerance 1e-5 (absolute below 1, relative above).
final class ActivationOpsTests: XCTestCase {
    typealias H = ElementwiseHarness

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    static let cases: [(OpKind, [String: AttributeValue], Int, (Double) -> Double)] = [
        (.relu, [:], 14, { max($0, 0) }),
        (.leakyRelu, [:], 16, { $0 < 0 ? 0.01 * $0 : $0 }),
        (.leakyRelu, ["alpha": .float(0.1)], 16, { $0 < 0 ? Double(Float(0.1)) * $0 : $0 }),
        (.sigmoid, [:], 13, { sigmoid($0) }),
        (.tanh, [:], 13, { Foundation.tanh($0) }),
        (.hardSigmoid, [:], 7, { min(max(0.2 * $0 + 0.5, 0), 1) }),
        (.hardSigmoid, ["alpha": .float(0.5), "beta": .float(0.6)], 7, { min(max(Double(Float(0.5)) * $0 + Double(Float(0.6)), 0), 1) }),
        (.hardSwish, [:], 14, { $0 * min(max($0 / 6 + 0.5, 0), 1) }),
        (.elu, [:], 7, { $0 < 0 ? Foundation.exp($0) - 1 : $0 }),
        (.elu, ["alpha": .float(2)], 7, { $0 < 0 ? 2 * (Foundation.exp($0) - 1) : $0 }),
        (.clip, ["min": .float(-1), "max": .float(2.5)], 7, { min(max($0, -1), 2.5) }),
        (.clip, [:], 7, { $0 }),
    ]

    func testFloat32ActivationsMatchReference() throws {
        var random = ElementwiseRandom(seed: 20)
        let values = random.floats(60, in: -8...8)
        for (kind, attributes, opset, f) in Self.cases {
            let output = try H.run(kind, opset: opset, [Tensor(shape: [3, 4, 5], floats: values)], attributes: attributes)
            XCTAssertEqual(output.shape, [3, 4, 5])
            assertElementsClose(output.floats, values.map { Float(f(Double($0))) }, "\(kind) \(attributes)")
        }
    }

    func testNaNPropagatesThroughEveryActivation() throws {
        for (kind, attributes, opset, _) in Self.cases {
            let output = try H.run(kind, opset: opset, [Tensor(shape: [2], floats: [.nan, 1])], attributes: attributes)
            XCTAssertTrue(output.floats[0].isNaN, "\(kind) should keep NaN, got \(output.floats[0])")
        }
        let clipped = try H.run(.clip, [Tensor(shape: [3], floats: [.nan, .infinity, -.infinity]),
                                        Tensor(shape: [], floats: [0]), Tensor(shape: [], floats: [6])])
        assertElementsClose(clipped.floats, [.nan, 6, 0])
        let saturated = try H.run(.sigmoid, [Tensor(shape: [2], floats: [.infinity, -.infinity])])
        XCTAssertEqual(saturated.floats, [1, 0])
    }

    func testFloat16ActivationsRunThroughFloat32() throws {
        let values: [Float] = [-3, -0.5, 0, 0.75, 4]
        let output = try H.run(.sigmoid, [Tensor(shape: [5], values: values.map { Float16($0) })])
        XCTAssertEqual(output.dataType, .float16)
        assertElementsClose(output.array(of: Float16.self).map(Float.init), values.map { Float(Self.sigmoid(Double($0))) }, tolerance: 1e-3)
    }

    func testClipWithOptionalBoundInputs() throws {
        var random = ElementwiseRandom(seed: 21)
        let values = random.floats(24, in: -5...5)
        let x = Tensor(shape: [2, 3, 4], floats: values)
        let low = Tensor(shape: [], floats: [-1]), high = Tensor(shape: [], floats: [1.5])
        assertElementsClose(try H.run(.clip, [x, low, high]).floats, values.map { min(max($0, -1), 1.5) })
        assertElementsClose(try H.run(.clip, [x, low]).floats, values.map { max($0, -1) })
        assertElementsClose(try H.run(.clip, [x, nil, high]).floats, values.map { min($0, 1.5) })
        assertElementsClose(try H.run(.clip, [x]).floats, values)
        // min > max: every value becomes max.
        assertElementsClose(try H.run(.clip, [x, Tensor(shape: [], floats: [2]), Tensor(shape: [], floats: [1])]).floats,
                    [Float](repeating: 1, count: 24))
    }

    func testClipOnIntegersFromOpset12() throws {
        let x = Tensor(shape: [5], values: [Int8(-128), -10, 0, 10, 127])
        XCTAssertEqual(try H.run(.clip, [x, Tensor(shape: [], values: [Int8(-5)]), Tensor(shape: [], values: [Int8(5)])]).array(of: Int8.self),
                       [-5, -5, 0, 5, 5])
        XCTAssertEqual(try H.run(.clip, [x, nil, Tensor(shape: [], values: [Int8(0)])]).array(of: Int8.self), [-128, -10, 0, 0, 0])
        XCTAssertEqual(try H.run(.clip, [x]).array(of: Int8.self), [-128, -10, 0, 10, 127])
        let y = Tensor(shape: [3], values: [UInt32(1), 50, 4_000_000_000])
        XCTAssertEqual(try H.run(.clip, [y, Tensor(shape: [1], values: [UInt32(2)]), Tensor(shape: [], values: [UInt32(100)])]).array(of: UInt32.self),
                       [2, 50, 100])
        let doubles = Tensor(shape: [2], values: [-3.5, 3.5])
        XCTAssertEqual(try H.run(.clip, [doubles, Tensor(shape: [], values: [-1.0]), nil]).array(of: Double.self), [-1, 3.5])
    }

    func testClipRejectsBadBounds() {
        let x = Tensor(shape: [2], floats: [1, 2])
        XCTAssertThrowsError(try H.run(.clip, [x, Tensor(shape: [2], floats: [0, 1])])) { error in
            XCTAssertTrue("\(error)".contains("scalar"), "\(error)")
        }
        XCTAssertThrowsError(try H.run(.clip, [x, Tensor(shape: [], values: [Int32(0)])])) { error in
            XCTAssertTrue("\(error)".contains("int32"), "\(error)")
        }
    }

    func testReluOnIntegers() throws {
        let x = Tensor(shape: [3], values: [Int32(-4), 0, 9])
        XCTAssertEqual(try H.run(.relu, opset: 14, [x]).array(of: Int32.self), [0, 0, 9])
    }

    func testTranscendentalActivationsRejectIntegers() {
        XCTAssertThrowsError(try H.run(.sigmoid, [Tensor(shape: [1], values: [Int32(1)])])) { error in
            XCTAssertTrue("\(error)".contains("int32"), "\(error)")
        }
    }

    func testLargeActivationOnTwoThreadsMatchesOneThread() throws {
        var random = ElementwiseRandom(seed: 22)
        let values = random.floats(70_000, in: -6...6)
        let one = try H.run(.sigmoid, [Tensor(shape: [70_000], floats: values)], threads: 1)
        let two = try H.run(.sigmoid, [Tensor(shape: [70_000], floats: values)], threads: 2)
        XCTAssertEqual(one.floats, two.floats)
        assertElementsClose(one.floats, values.map { Float(Self.sigmoid(Double($0))) })
    }

    // MARK: PRelu

    func testPReluBroadcastsSlopeUnidirectionally() throws {
        var random = ElementwiseRandom(seed: 23)
        let cases: [([Int], [Int])] = [([3, 4, 5], [5]), ([3, 4, 5], [3, 4, 5]), ([2, 3, 4, 4], [3, 1, 1]),
                                       ([2, 3, 4, 4], [1, 3, 1, 1]), ([2, 3], []), ([2, 3], [1]), ([0, 3], [3])]
        for (xShape, slopeShape) in cases {
            let x = random.floats(xShape.reduce(1, *)), slope = random.floats(slopeShape.reduce(1, *), in: 0...1)
            let expected = H.referenceBinary(xShape, x, slopeShape, slope) { $0 < 0 ? $0 * $1 : $0 }
            let xTensor = x.isEmpty ? Tensor(dataType: .float32, shape: xShape) : Tensor(shape: xShape, floats: x)
            let output = try H.run(.prelu, opset: 16, [xTensor, Tensor(shape: slopeShape, floats: slope)])
            XCTAssertEqual(output.shape, xShape)
            assertElementsClose(output.floats, expected.values, "\(xShape) \(slopeShape)")
        }
    }

    func testPReluRejectsSlopeThatDoesNotBroadcastToX() {
        // [3] against [2,3,4] aligns with the last axis (4): not unidirectionally broadcastable.
        let x = Tensor(dataType: .float32, shape: [2, 3, 4]), slope = Tensor(shape: [3], floats: [1, 2, 3])
        XCTAssertThrowsError(try H.run(.prelu, opset: 16, [x, slope])) { error in
            XCTAssertTrue("\(error)".contains("[3]") && "\(error)".contains("[2, 3, 4]"), "\(error)")
        }
        // A slope larger than X would need X to broadcast: also refused.
        XCTAssertThrowsError(try H.run(.prelu, opset: 16, [Tensor(shape: [3], floats: [1, 2, 3]), Tensor(dataType: .float32, shape: [2, 3])]))
    }

    func testPReluOnIntegersAndNaN() throws {
        let x = Tensor(shape: [3], values: [Int64(-4), 0, 5]), slope = Tensor(shape: [], values: [Int64(3)])
        XCTAssertEqual(try H.run(.prelu, opset: 16, [x, slope]).array(of: Int64.self), [-12, 0, 5])
        let nan = try H.run(.prelu, opset: 16, [Tensor(shape: [2], floats: [.nan, -2]), Tensor(shape: [1], floats: [0.5])])
        assertElementsClose(nan.floats, [.nan, -1])
    }

    // MARK: Softmax

    /// Softmax of `values` viewed as [outer, length, inner] along `length`, in double precision.
    static func referenceSoftmax(_ values: [Float], outer: Int, length: Int, inner: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for o in 0..<outer {
            for k in 0..<inner {
                let indices = (0..<length).map { (o * length + $0) * inner + k }
                let largest = indices.map { Double(values[$0]) }.max()!
                let exps = indices.map { Foundation.exp(Double(values[$0]) - largest) }
                let total = exps.reduce(0, +)
                for (index, e) in zip(indices, exps) { result[index] = Float(e / total) }
            }
        }
        return result
    }

    func testSoftmaxAxisRulesBeforeAndFromOpset13() throws {
        var random = ElementwiseRandom(seed: 24)
        let shape = [2, 3, 4, 5]
        let values = random.floats(120, in: -10...10)
        let x = Tensor(shape: shape, floats: values)
        // (opset, axis attribute, expected [outer, length, inner])
        let cases: [(Int, Int?, (Int, Int, Int))] = [
            (11, nil, (2, 60, 1)), (11, 2, (6, 20, 1)), (11, 0, (1, 120, 1)), (11, -1, (24, 5, 1)), (11, 4, (120, 1, 1)),
            (13, nil, (24, 5, 1)), (13, -1, (24, 5, 1)), (13, 1, (2, 3, 20)), (13, 0, (1, 2, 60)), (13, 2, (6, 4, 5)), (13, -3, (2, 3, 20)),
        ]
        for (opset, axis, layout) in cases {
            let attributes: [String: AttributeValue] = axis.map { ["axis": .int($0)] } ?? [:]
            let output = try H.run(.softmax, opset: opset, [x], attributes: attributes)
            XCTAssertEqual(output.shape, shape)
            let expected = Self.referenceSoftmax(values, outer: layout.0, length: layout.1, inner: layout.2)
            assertElementsClose(output.floats, expected, "opset \(opset) axis \(String(describing: axis))")
        }
    }

    func testSoftmaxIsStableForLargeInputsAndPropagatesNaN() throws {
        let large = try H.run(.softmax, [Tensor(shape: [2, 4], floats: [0, 1, 2, 3, 10000, 10001, 10002, 10003])])
        let row = Self.referenceSoftmax([0, 1, 2, 3], outer: 1, length: 4, inner: 1)
        assertElementsClose(large.floats, row + row)
        let nan = try H.run(.softmax, [Tensor(shape: [2, 2], floats: [.nan, 1, 2, 3])])
        XCTAssertTrue(nan.floats[0].isNaN && nan.floats[1].isNaN)
        assertElementsClose(Array(nan.floats[2...]), Self.referenceSoftmax([2, 3], outer: 1, length: 2, inner: 1))
        let strided = try H.run(.softmax, [Tensor(shape: [2, 2], floats: [.nan, 1, 2, 3])], attributes: ["axis": .int(0)])
        XCTAssertTrue(strided.floats[0].isNaN && strided.floats[2].isNaN)
        assertElementsClose([strided.floats[1], strided.floats[3]], Self.referenceSoftmax([1, 3], outer: 1, length: 2, inner: 1))
    }

    func testSoftmaxFloat64AndBadAxis() throws {
        let output = try H.run(.softmax, [Tensor(shape: [3], values: [1.0, 2.0, 3.0])])
        let e = [1.0, 2.0, 3.0].map { Foundation.exp($0 - 3) }
        assertElementsClose(output.array(of: Double.self), e.map { $0 / e.reduce(0, +) }, tolerance: 1e-12)
        XCTAssertThrowsError(try H.run(.softmax, [Tensor(shape: [2, 2], floats: [1, 2, 3, 4])], attributes: ["axis": .int(2)])) { error in
            XCTAssertTrue("\(error)".contains("axis 2"), "\(error)")
        }
    }

    func testSoftmaxOnTwoThreadsMatchesOneThread() throws {
        var random = ElementwiseRandom(seed: 25)
        let values = random.floats(2 * 1000 * 40)
        for axis in [1, 2] {
            let x = Tensor(shape: [2, 1000, 40], floats: values)
            let one = try H.run(.softmax, [x], attributes: ["axis": .int(axis)], threads: 1)
            let two = try H.run(.softmax, [x], attributes: ["axis": .int(axis)], threads: 2)
            XCTAssertEqual(one.floats, two.floats)
        }
    }
}
