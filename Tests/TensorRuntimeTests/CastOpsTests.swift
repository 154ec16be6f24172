import Foundation
import TensorRuntime
import XCTest

/// Cast between every runtime type, with expected values written from C/numpy semantics.
final class CastOpsTests: XCTestCase {
    typealias H = ElementwiseHarness

    func cast(_ input: Tensor, to type: DataType, threads: Int = 1) throws -> Tensor {
        let output = try H.run(.cast, [input], attributes: ["to": .int(Int(type.rawValue))], threads: threads)
        XCTAssertEqual(output.dataType, type)
        XCTAssertEqual(output.shape, input.shape)
        return output
    }

    func testFloatToIntegersTruncatesTowardZero() throws {
        let x = Tensor(shape: [2, 4], floats: [-2.7, -0.5, 0, 0.5, 2.7, 300, -129.9, 65535.5])
        XCTAssertEqual(try cast(x, to: .int32).array(of: Int32.self), [-2, 0, 0, 0, 2, 300, -129, 65535])
        XCTAssertEqual(try cast(x, to: .int64).array(of: Int64.self), [-2, 0, 0, 0, 2, 300, -129, 65535])
        // Narrow targets keep the low bits of the 64-bit truncation, as numpy does on x86.
        XCTAssertEqual(try cast(x, to: .int8).array(of: Int8.self), [-2, 0, 0, 0, 2, 44, 127, -1])
        XCTAssertEqual(try cast(x, to: .uint8).array(of: UInt8.self), [254, 0, 0, 0, 2, 44, 127, 255])
        XCTAssertEqual(try cast(x, to: .uint16).array(of: UInt16.self), [65534, 0, 0, 0, 2, 300, 65407, 65535])
    }

    func testNonFiniteFloatsNeverTrap() throws {
        let x = Tensor(shape: [4], values: [Double.nan, .infinity, -.infinity, 1e30])
        XCTAssertEqual(try cast(x, to: .int32).array(of: Int32.self), [0, .max, .min, .max])
        XCTAssertEqual(try cast(x, to: .int64).array(of: Int64.self), [0, .max, .min, .max])
        XCTAssertEqual(try cast(x, to: .uint64).array(of: UInt64.self), [0, .max, 0, .max])
        XCTAssertEqual(try cast(Tensor(shape: [1], values: [1.5e19]), to: .uint64).array(of: UInt64.self), [15_000_000_000_000_000_000])
        XCTAssertEqual(try cast(x, to: .bool).array(of: Bool.self), [true, true, true, true])
        XCTAssertEqual(try cast(Tensor(shape: [2], floats: [.infinity, 70000]), to: .float16).array(of: Float16.self), [.infinity, .infinity])
    }

    func testIntegerToIntegerKeepsLowBits() throws {
        let x = Tensor(shape: [4], values: [Int64(300), -129, -1, Int64.max])
        XCTAssertEqual(try cast(x, to: .int8).array(of: Int8.self), [44, 127, -1, -1])
        XCTAssertEqual(try cast(x, to: .uint32).array(of: UInt32.self), [300, 4_294_967_167, 4_294_967_295, 4_294_967_295])
        XCTAssertEqual(try cast(x, to: .uint64).array(of: UInt64.self), [300, UInt64(bitPattern: -129), .max, UInt64(Int64.max)])
        let u = Tensor(shape: [2], values: [UInt64.max, 5])
        XCTAssertEqual(try cast(u, to: .int64).array(of: Int64.self), [-1, 5])
        XCTAssertEqual(try cast(u, to: .float32).floats, [Float(UInt64.max), 5])
        XCTAssertEqual(try cast(Tensor(shape: [2], values: [UInt8(255), 0]), to: .int16).array(of: Int16.self), [255, 0])
    }

    func testBoolConversions() throws {
        let x = Tensor(shape: [5], floats: [0, -0.0, 0.1, -3, .nan])
        XCTAssertEqual(try cast(x, to: .bool).array(of: Bool.self), [false, false, true, true, true])
        XCTAssertEqual(try cast(Tensor(shape: [3], values: [Int8(0), -1, 2]), to: .bool).array(of: Bool.self), [false, true, true])
        let b = Tensor(shape: [2], values: [true, false])
        XCTAssertEqual(try cast(b, to: .float32).floats, [1, 0])
        XCTAssertEqual(try cast(b, to: .int64).array(of: Int64.self), [1, 0])
        XCTAssertEqual(try cast(b, to: .float16).array(of: Float16.self), [1, 0])
        XCTAssertEqual(try cast(b, to: .bool).array(of: Bool.self), [true, false])
    }

    func testFloatWidthsRoundToNearestEven() throws {
        // 1 + 2^-11 lies halfway between two float16 values: ties go to the even one (1.0).
        let x = Tensor(shape: [4], floats: [1 + 1.0 / 2048, 1 + 3.0 / 2048, 65504, 0.1])
        XCTAssertEqual(try cast(x, to: .float16).array(of: Float16.self), [1, Float16(1 + 4.0 / 2048), 65504, Float16(0.1)])
        let d = Tensor(shape: [2], values: [0.1, 1e300])
        XCTAssertEqual(try cast(d, to: .float32).floats, [Float(0.1), .infinity])
        XCTAssertEqual(try cast(Tensor(shape: [1], floats: [0.1]), to: .float64).array(of: Double.self), [Double(Float(0.1))])
        XCTAssertEqual(try cast(Tensor(shape: [1], values: [Float16(0.1)]), to: .float64).array(of: Double.self), [Double(Float16(0.1))])
        XCTAssertEqual(try cast(Tensor(shape: [1], values: [Int64(16_777_217)]), to: .float32).floats, [16_777_216])
    }

    func testEveryTypePairRoundTripsSmallIntegers() throws {
        let small: [Double] = [0, 1, 2, 100]
        let types = DataType.allCases.filter { $0 != .bool }
        for source in types {
            let input = try cast(Tensor(shape: [4], values: small), to: source)
            for target in types {
                let output = try cast(input, to: target)
                let back = try cast(output, to: .float64).array(of: Double.self)
                XCTAssertEqual(back, small, "\(source) -> \(target)")
            }
        }
    }

    func testSameTypeCastCopiesAndLargeCastsUseThreads() throws {
        var random = ElementwiseRandom(seed: 40)
        let values = random.floats(100_000, in: -1000...1000)
        let x = Tensor(shape: [100_000], floats: values)
        XCTAssertEqual(try cast(x, to: .float32).floats, values)
        let two = try cast(x, to: .int32, threads: 2).array(of: Int32.self)
        XCTAssertEqual(two, values.map { Int32($0) })
        XCTAssertEqual(try cast(Tensor(dataType: .float32, shape: [0, 2]), to: .int8).shape, [0, 2])
    }

    func testUnsupportedTargetsAreNamedAtLoad() {
        let x = Tensor(shape: [1], floats: [1])
        for (code, name) in [(8, "STRING"), (16, "BFLOAT16"), (99, "unknown")] {
            let graph = H.graph(.cast, opset: 13, inputs: [x], attributes: ["to": .int(code)])
            XCTAssertThrowsError(try ExecutionPlan(graph: graph)) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
                guard case .unsupported? = error as? RuntimeError else { return XCTFail("expected .unsupported, got \(error)") }
            }
        }
        let stringTo = H.graph(.cast, opset: 13, inputs: [x], attributes: ["to": .string("FLOAT")])
        XCTAssertThrowsError(try ExecutionPlan(graph: stringTo)) { error in
            XCTAssertTrue("\(error)".contains("FLOAT"), "\(error)")
            guard case .unsupported? = error as? RuntimeError else { return XCTFail("expected .unsupported, got \(error)") }
        }
        XCTAssertThrowsError(try ExecutionPlan(graph: H.graph(.cast, opset: 13, inputs: [x], attributes: [:]))) { error in
            XCTAssertTrue("\(error)".contains("'to'"), "\(error)")
        }
    }
}
