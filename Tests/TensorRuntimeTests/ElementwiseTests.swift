import Foundation
import TensorRuntime
import XCTest

/// Binary and variadic elementwise ops against per-element reference loops.
/// Float tolerance: 1e-5 (absolute below 1, relative above); integer results are exact.
final class ElementwiseTests: XCTestCase {
    typealias H = ElementwiseHarness

    /// Shape pairs covering same shape, scalars, per-channel, outer products, rank mismatch and 0-size dims.
    static let shapePairs: [([Int], [Int])] = [
        ([2, 3, 4], [2, 3, 4]),
        ([2, 3, 4], []),
        ([], [2, 3, 4]),
        ([2, 3, 4, 5], [3, 1, 1]),
        ([2, 3, 4, 5], [1, 3, 1, 1]),
        ([3, 4, 5], [5]),
        ([4, 1], [1, 5]),
        ([2, 1, 4], [3, 1]),
        ([1, 3, 1], [2, 1, 4]),
        ([2, 3, 1, 5], [2, 1, 4, 1]),
        ([0, 3], [1, 3]),
        ([3, 0], []),
        ([2, 0, 4], [4]),
        ([], []),
        ([1], [1, 1, 1]),
    ]

    static let floatOperations: [(OpKind, (Float, Float) -> Float)] = [
        (.add, { $0 + $1 }),
        (.sub, { $0 - $1 }),
        (.mul, { $0 * $1 }),
        (.div, { $0 / $1 }),
        (.max, { max($0, $1) }),
        (.min, { min($0, $1) }),
        (.pow, { Float(Foundation.pow(Double($0), Double($1))) }),
    ]

    func testFloatBinaryOpsMatchReferenceOnEveryBroadcastLayout() throws {
        var random = ElementwiseRandom(seed: 1)
        for (shapeA, shapeB) in Self.shapePairs {
            let a = random.floats(shapeA.reduce(1, *), in: 0.5...3)
            let b = random.floats(shapeB.reduce(1, *), in: -2...2)
            for (kind, f) in Self.floatOperations {
                let expected = H.referenceBinary(shapeA, a, shapeB, b, f)
                let output = try H.run(kind, [tensor(shapeA, a), tensor(shapeB, b)])
                XCTAssertEqual(output.shape, expected.shape, "\(kind) \(shapeA) \(shapeB)")
                assertElementsClose(output.floats, expected.values, "\(kind) \(shapeA) \(shapeB)")
            }
        }
    }

    func testLargeBroadcastsGiveTheSameResultOnTwoThreads() throws {
        var random = ElementwiseRandom(seed: 2)
        let cases: [([Int], [Int])] = [([2, 64, 32, 32], [64, 1, 1]), ([131_072], [131_072]), ([131_072], []), ([256, 512], [256, 1])]
        for (shapeA, shapeB) in cases {
            let a = random.floats(shapeA.reduce(1, *)), b = random.floats(shapeB.reduce(1, *))
            let expected = H.referenceBinary(shapeA, a, shapeB, b) { $0 * $1 }
            for threads in [1, 2] {
                let output = try H.run(.mul, [Tensor(shape: shapeA, floats: a), Tensor(shape: shapeB, floats: b)], threads: threads)
                XCTAssertEqual(output.shape, expected.shape)
                assertElementsClose(output.floats, expected.values, "threads \(threads) \(shapeA) \(shapeB)")
            }
        }
    }

    func testIncompatibleShapesAreRejectedNamingThem() {
        XCTAssertThrowsError(try H.run(.add, [Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), Tensor(shape: [4], floats: [1, 2, 3, 4])])) { error in
            XCTAssertTrue("\(error)".contains("[2, 3]") && "\(error)".contains("[4]"), "\(error)")
        }
        XCTAssertThrowsError(try H.run(.add, [Tensor(shape: [0], floats: []), Tensor(shape: [3], floats: [1, 2, 3])]))
    }

    func testMixedInputTypesAreRejected() {
        XCTAssertThrowsError(try H.run(.add, [Tensor(shape: [1], floats: [1]), Tensor(shape: [1], values: [Int64(1)])])) { error in
            XCTAssertTrue("\(error)".contains("float32") && "\(error)".contains("int64"), "\(error)")
        }
    }

    func testIntegerArithmeticWrapsLikeC() throws {
        let a = Tensor(shape: [4], values: [UInt8(200), 10, 255, 0])
        let b = Tensor(shape: [4], values: [UInt8(100), 20, 2, 1])
        XCTAssertEqual(try H.run(.add, [a, b]).array(of: UInt8.self), [44, 30, 1, 1])
        XCTAssertEqual(try H.run(.sub, [a, b]).array(of: UInt8.self), [100, 246, 253, 255])
        XCTAssertEqual(try H.run(.mul, [a, b]).array(of: UInt8.self), [32, 200, 254, 0])
        let c = Tensor(shape: [3], values: [Int8(127), -128, -100])
        let d = Tensor(shape: [], values: [Int8(1)])
        XCTAssertEqual(try H.run(.add, [c, d]).array(of: Int8.self), [-128, -127, -99])
    }

    func testIntegerDivisionTruncatesTowardZero() throws {
        let a = Tensor(shape: [6], values: [Int32(7), -7, 7, -7, Int32.min, 0])
        let b = Tensor(shape: [6], values: [Int32(2), 2, -2, -2, -1, 5])
        XCTAssertEqual(try H.run(.div, [a, b]).array(of: Int32.self), [3, -3, -3, 3, Int32.min, 0])
        let u = Tensor(shape: [2, 2], values: [UInt64(9), 100, UInt64.max, 3])
        let v = Tensor(shape: [2], values: [UInt64(4), 7])
        XCTAssertEqual(try H.run(.div, [u, v]).array(of: UInt64.self), [2, 14, UInt64.max / 4, 0])
    }

    func testIntegerDivisionByZeroIsAnErrorNotACrash() {
        let a = Tensor(shape: [2], values: [Int64(1), 2]), b = Tensor(shape: [2], values: [Int64(1), 0])
        XCTAssertThrowsError(try H.run(.div, [a, b])) { error in
            XCTAssertTrue("\(error)".contains("division by zero"), "\(error)")
        }
    }

    func testIntegerBinaryOpsMatchReferenceForEveryIntegerType() throws {
        try checkIntegers(Int8.self)
        try checkIntegers(UInt8.self)
        try checkIntegers(Int16.self)
        try checkIntegers(UInt16.self)
        try checkIntegers(Int32.self)
        try checkIntegers(UInt32.self)
        try checkIntegers(Int64.self)
        try checkIntegers(UInt64.self)
    }

    private func checkIntegers<T: FixedWidthInteger & TensorElement>(_ type: T.Type) throws {
        var random = ElementwiseRandom(seed: 3)
        let (shapeA, shapeB) = ([3, 4, 5], [4, 1])
        let a = (0..<60).map { _ in T.random(in: T.min...T.max, using: &random) }
        let b = (0..<4).map { _ in T.random(in: 1...T.max, using: &random) }
        let references: [(OpKind, (T, T) -> T)] = [
            (.add, { $0 &+ $1 }), (.sub, { $0 &- $1 }), (.mul, { $0 &* $1 }),
            (.div, { $0.dividedReportingOverflow(by: $1).partialValue }),
            (.max, { max($0, $1) }), (.min, { min($0, $1) }),
        ]
        for (kind, f) in references {
            let expected = H.referenceBinary(shapeA, a, shapeB, b, f)
            let output = try H.run(kind, [Tensor(shape: shapeA, values: a), Tensor(shape: shapeB, values: b)])
            XCTAssertEqual(output.dataType, T.dataType)
            XCTAssertEqual(output.shape, expected.shape)
            XCTAssertEqual(output.array(of: T.self), expected.values, "\(kind) \(T.self)")
        }
    }

    func testFloat64AndFloat16Arithmetic() throws {
        let a = Tensor(shape: [3], values: [1.5, -2.25, 1e300])
        let b = Tensor(shape: [], values: [2.0])
        XCTAssertEqual(try H.run(.mul, [a, b]).array(of: Double.self), [3.0, -4.5, 2e300])
        let h = Tensor(shape: [2, 2], values: [Float16(1), 2, 3, 4])
        let k = Tensor(shape: [2], values: [Float16(0.5), 0.25])
        XCTAssertEqual(try H.run(.sub, [h, k]).array(of: Float16.self), [0.5, 1.75, 2.5, 3.75])
        XCTAssertEqual(try H.run(.max, [h, k]).array(of: Float16.self), [1, 2, 3, 4])
    }

    func testVariadicOpsBroadcastAllInputs() throws {
        var random = ElementwiseRandom(seed: 4)
        let shapes: [[Int]] = [[3], [2, 3], [], [2, 1]]
        let values = shapes.map { random.floats($0.reduce(1, *)) }
        let inputs = zip(shapes, values).map { Tensor(shape: $0, floats: $1) }
        let outputShape = [2, 3]
        func reference(_ combine: (Float, Float) -> Float) -> [Float] {
            (0..<6).map { flat in
                let index = H.index(of: flat, in: outputShape)
                let elements = zip(shapes, values).map { $1[H.offset(of: index, in: $0)] }
                return elements.dropFirst().reduce(elements[0], combine)
            }
        }
        let sum = try H.run(.sum, inputs)
        XCTAssertEqual(sum.shape, outputShape)
        assertElementsClose(sum.floats, reference(+))
        assertElementsClose(try H.run(.mean, inputs).floats, reference(+).map { $0 / 4 })
        assertElementsClose(try H.run(.max, inputs).floats, reference { max($0, $1) })
        assertElementsClose(try H.run(.min, inputs).floats, reference { min($0, $1) })
        for kind in [OpKind.sum, .mean, .max, .min] {
            let single = try H.run(kind, [inputs[1]])
            XCTAssertEqual(single.shape, [2, 3])
            XCTAssertEqual(single.floats, values[1], "\(kind) of one input is the input")
        }
    }

    func testVariadicMaxMinOnIntegers() throws {
        let a = Tensor(shape: [3], values: [Int16(1), -5, 300]), b = Tensor(shape: [3], values: [Int16(-2), 7, 299])
        let c = Tensor(shape: [], values: [Int16(0)])
        XCTAssertEqual(try H.run(.max, [a, b, c]).array(of: Int16.self), [1, 7, 300])
        XCTAssertEqual(try H.run(.min, [a, b, c]).array(of: Int16.self), [-2, -5, 0])
    }

    func testPowWithMixedTypesKeepsTheBaseType() throws {
        // Float base, integer exponent (opset 12+).
        let x = Tensor(shape: [3], floats: [1, 2, 3])
        for exponent in [Tensor(shape: [3], values: [Int64(4), 5, 6]), Tensor(shape: [3], values: [Int32(4), 5, 6]),
                         Tensor(shape: [3], values: [UInt64(4), 5, 6]), Tensor(shape: [3], values: [UInt32(4), 5, 6])] {
            let output = try H.run(.pow, opset: 15, [x, exponent])
            XCTAssertEqual(output.dataType, .float32)
            assertElementsClose(output.floats, [1, 32, 729], "exponent \(exponent.dataType)")
        }
        // Integer base, float exponent: the result is truncated into the base type.
        let integers = Tensor(shape: [3], values: [Int64(1), 2, 3])
        let powered = try H.run(.pow, opset: 15, [integers, Tensor(shape: [3], floats: [4, 5, 0.5])])
        XCTAssertEqual(powered.dataType, .int64)
        XCTAssertEqual(powered.array(of: Int64.self), [1, 32, 1])
        // Integer base, integer exponent: exact, even beyond double precision.
        let big = try H.run(.pow, opset: 15, [Tensor(shape: [2], values: [Int64(3), -2]), Tensor(shape: [2], values: [Int64(39), 3])])
        XCTAssertEqual(big.array(of: Int64.self), [4_052_555_153_018_976_267, -8])
        let int32 = try H.run(.pow, opset: 15, [Tensor(shape: [2, 2], values: [Int32(2), 3, -1, 5]), Tensor(shape: [2], values: [Int32(-1), 2])])
        XCTAssertEqual(int32.array(of: Int32.self), [0, 9, -1, 25])
    }

    func testPowOfScalarTwoMatchesPowf() throws {
        var random = ElementwiseRandom(seed: 5)
        let values = random.floats(200, in: -1e3...1e3) + [0, -0.0, 1e30, -1e30, .nan, .infinity, -.infinity]
        for exponentShape in [[], [1, 1]] {
            let output = try H.run(.pow, opset: 15, [Tensor(shape: [values.count], floats: values), Tensor(shape: exponentShape, floats: [2])])
            XCTAssertEqual(output.shape, exponentShape.isEmpty ? [values.count] : [1, values.count])
            assertElementsClose(output.floats, values.map { powf($0, 2) }, tolerance: 0)
        }
    }

    func testNaNAndInfinityPropagate() throws {
        let nan = Float.nan, inf = Float.infinity
        let a = Tensor(shape: [4], floats: [nan, 1, inf, -inf])
        let b = Tensor(shape: [4], floats: [1, nan, 1, inf])
        assertElementsClose(try H.run(.add, [a, b]).floats, [nan, nan, inf, nan])
        assertElementsClose(try H.run(.mul, [a, b]).floats, [nan, nan, inf, -inf])
        assertElementsClose(try H.run(.max, [a, b]).floats, [nan, nan, inf, inf])
        assertElementsClose(try H.run(.min, [a, b]).floats, [nan, nan, 1, -inf])
        assertElementsClose(try H.run(.max, [b, a]).floats, [nan, nan, inf, inf])
        assertElementsClose(try H.run(.min, [b, a]).floats, [nan, nan, 1, -inf])
        assertElementsClose(try H.run(.div, [Tensor(shape: [3], floats: [1, -1, 0]), Tensor(shape: [], floats: [0])]).floats, [inf, -inf, nan])
        assertElementsClose(try H.run(.pow, [a, Tensor(shape: [], floats: [2])]).floats, [nan, 1, inf, inf])
        let doubles = Tensor(shape: [2], values: [Double.nan, 2])
        XCTAssertTrue(try H.run(.max, [doubles, Tensor(shape: [], values: [3.0])]).array(of: Double.self)[0].isNaN)
    }

    func testMeanOfIntegersIsUnsupported() {
        XCTAssertThrowsError(try H.run(.mean, [Tensor(shape: [1], values: [Int32(1)])])) { error in
            XCTAssertTrue("\(error)".contains("int32"), "\(error)")
        }
    }

    func testBinaryOpWithWrongInputCountIsRejectedAtLoad() {
        let graph = H.graph(.add, opset: 14, inputs: [Tensor(shape: [1], floats: [1])], attributes: [:])
        XCTAssertThrowsError(try ExecutionPlan(graph: graph))
    }

    private func tensor(_ shape: [Int], _ values: [Float]) -> Tensor {
        values.isEmpty ? Tensor(dataType: .float32, shape: shape) : Tensor(shape: shape, floats: values)
    }
}
