import Foundation
import TensorRuntime
import XCTest

/// Sqrt, Exp, Log, Abs, Neg, Reciprocal, Floor, Ceil against Foundation's double-precision
/// functions. Tolerance 1e-5 (absolute below 1, relative above).
final class ElementwiseUnaryTests: XCTestCase {
    typealias H = ElementwiseHarness

    static let references: [(OpKind, (Double) -> Double)] = [
        (.sqrt, { $0.squareRoot() }), (.exp, { Foundation.exp($0) }), (.log, { Foundation.log($0) }),
        (.abs, { Swift.abs($0) }), (.neg, { -$0 }), (.reciprocal, { 1 / $0 }),
        (.floor, { Foundation.floor($0) }), (.ceil, { Foundation.ceil($0) }),
    ]

    func testFloat32MatchesReference() throws {
        var random = ElementwiseRandom(seed: 10)
        let positive = random.floats(60, in: 0.01...20)
        let signed = random.floats(60, in: -20...20)
        for (kind, f) in Self.references {
            let values = [.sqrt, .log].contains(kind) ? positive : signed
            let output = try H.run(kind, [Tensor(shape: [3, 4, 5], floats: values)])
            XCTAssertEqual(output.shape, [3, 4, 5])
            assertElementsClose(output.floats, values.map { Float(f(Double($0))) }, "\(kind)")
        }
    }

    func testFloat64AndFloat16MatchReference() throws {
        let values = [0.25, 1.5, 2.75, 9.0]
        for (kind, f) in Self.references {
            let output = try H.run(kind, [Tensor(shape: [4], values: values)])
            assertElementsClose(output.array(of: Double.self), values.map(f), tolerance: 1e-12, "\(kind) float64")
            let half = try H.run(kind, [Tensor(shape: [4], values: values.map { Float16($0) })])
            XCTAssertEqual(half.dataType, .float16)
            assertElementsClose(half.array(of: Float16.self).map(Double.init), values.map { Double(Float16(f($0))) }, tolerance: 1e-3, "\(kind) float16")
        }
    }

    func testLargeInputOnTwoThreadsMatchesOneThread() throws {
        var random = ElementwiseRandom(seed: 11)
        let values = random.floats(100_000, in: -5...5)
        let one = try H.run(.exp, [Tensor(shape: [100_000], floats: values)], threads: 1)
        let two = try H.run(.exp, [Tensor(shape: [100_000], floats: values)], threads: 2)
        XCTAssertEqual(one.floats, two.floats)
        assertElementsClose(one.floats, values.map { Float(Foundation.exp(Double($0))) })
    }

    func testAbsAndNegOnIntegersWrapAtTheMinimum() throws {
        let bytes = Tensor(shape: [4], values: [Int8(-128), -5, 0, 127])
        XCTAssertEqual(try H.run(.abs, [bytes]).array(of: Int8.self), [-128, 5, 0, 127])
        XCTAssertEqual(try H.run(.neg, [bytes]).array(of: Int8.self), [-128, 5, 0, -127])
        let longs = Tensor(shape: [2], values: [Int64(-7), 9])
        XCTAssertEqual(try H.run(.abs, [longs]).array(of: Int64.self), [7, 9])
        XCTAssertEqual(try H.run(.neg, [longs]).array(of: Int64.self), [7, -9])
        let unsigned = Tensor(shape: [2], values: [UInt16(3), 65535])
        XCTAssertEqual(try H.run(.abs, [unsigned]).array(of: UInt16.self), [3, 65535])
    }

    func testUnsupportedTypesAreNamed() {
        XCTAssertThrowsError(try H.run(.neg, [Tensor(shape: [1], values: [UInt8(1)])])) { error in
            XCTAssertTrue("\(error)".contains("uint8"), "\(error)")
        }
        XCTAssertThrowsError(try H.run(.sqrt, [Tensor(shape: [1], values: [Int32(4)])])) { error in
            XCTAssertTrue("\(error)".contains("int32"), "\(error)")
        }
    }

    func testNaNAndInfinity() throws {
        let nan = Float.nan, inf = Float.infinity
        let input = Tensor(shape: [5], floats: [nan, -1, 0, inf, -inf])
        assertElementsClose(try H.run(.sqrt, [input]).floats, [nan, nan, 0, inf, nan])
        assertElementsClose(try H.run(.log, [input]).floats, [nan, nan, -inf, inf, nan])
        assertElementsClose(try H.run(.exp, [input]).floats, [nan, Float(Foundation.exp(-1.0)), 1, inf, 0])
        assertElementsClose(try H.run(.reciprocal, [input]).floats, [nan, -1, inf, 0, -0])
        assertElementsClose(try H.run(.abs, [input]).floats, [nan, 1, 0, inf, inf])
        assertElementsClose(try H.run(.floor, [input]).floats, [nan, -1, 0, inf, -inf])
        assertElementsClose(try H.run(.ceil, [input]).floats, [nan, -1, 0, inf, -inf])
        assertElementsClose(try H.run(.neg, [input]).floats, [nan, 1, 0, -inf, inf])
    }

    func testZeroSizeAndScalarInputs() throws {
        let empty = try H.run(.exp, [Tensor(dataType: .float32, shape: [2, 0])])
        XCTAssertEqual(empty.shape, [2, 0])
        let scalar = try H.run(.sqrt, [Tensor(shape: [], floats: [16])])
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.floats, [4])
    }
}
