import Foundation
import ONNX
import TensorRuntime
import XCTest

/// `.npy` reading and writing. Fixtures in Tests/Fixtures/npy were written by numpy (make_fixtures.py there).
final class NPYTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/npy")

    func fixture(_ name: String) throws -> Tensor {
        try NPY.read(contentsOf: NPYTests.fixtures.appendingPathComponent(name))
    }

    func testReadsNumpyWrittenArrays() throws {
        let f32 = try fixture("f32_2x3.npy")
        XCTAssertEqual(f32.dataType, .float32)
        XCTAssertEqual(f32.shape, [2, 3])
        XCTAssertEqual(f32.floats, [-0.5, -0.25, 0, 0.25, 0.5, 0.75])

        let f64 = try fixture("f64_3.npy")
        XCTAssertEqual(f64.shape, [3])
        XCTAssertEqual(f64.array(of: Double.self), [1.5, -2.25, 1e300])

        let i64 = try fixture("i64_2x2.npy")
        XCTAssertEqual(i64.shape, [2, 2])
        XCTAssertEqual(i64.array(of: Int64.self), [-1, 1 << 40, 3, -(1 << 62)])

        let i32 = try fixture("i32_4.npy")
        XCTAssertEqual(i32.array(of: Int32.self), [-7, 0, 7, Int32.max])

        let u8 = try fixture("u8_2x2x2.npy")
        XCTAssertEqual(u8.shape, [2, 2, 2])
        XCTAssertEqual(u8.array(of: UInt8.self), [0, 30, 60, 90, 120, 150, 180, 210])

        let flags = try fixture("bool_5.npy")
        XCTAssertEqual(flags.dataType, .bool)
        XCTAssertEqual(flags.array(of: Bool.self), [true, false, true, true, false])

        let scalar = try fixture("f32_scalar.npy")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.floats, [3.5])

        let empty = try fixture("f32_empty.npy")
        XCTAssertEqual(empty.shape, [0, 3])
        XCTAssertEqual(empty.count, 0)

        let version2 = try fixture("f32_v2.npy")
        XCTAssertEqual(version2.floats, [0, 1, 2, 3])
    }

    func testRefusesFortranOrderAndBigEndianByName() {
        XCTAssertThrowsError(try fixture("f32_fortran.npy")) { error in
            XCTAssertTrue("\(error)".contains("Fortran order"), "\(error)")
        }
        XCTAssertThrowsError(try fixture("f32_bigendian.npy")) { error in
            XCTAssertTrue("\(error)".contains("big-endian"), "\(error)")
        }
    }

    func testRoundTripsEveryElementType() throws {
        let tensors: [Tensor] = [
            Tensor(shape: [2, 3], floats: [1, -2, .infinity, -.infinity, 0.5, .greatestFiniteMagnitude]),
            Tensor(shape: [2], values: [Double.pi, -1e-300]),
            Tensor(shape: [1, 1, 3], values: [Int64.min, 0, Int64.max]),
            Tensor(shape: [3], values: [Int32.min, 5, Int32.max]),
            Tensor(shape: [2, 2], values: [UInt8(0), 1, 128, 255]),
            Tensor(shape: [3], values: [true, false, true]),
            Tensor(shape: [2], values: [Int8(-128), 127]),
            Tensor(shape: [2], values: [Float16(1.5), Float16(-0.25)]),
            Tensor(shape: [], values: [Float(42)]),
            Tensor(shape: [0, 4], values: [Float]()),
        ]
        for tensor in tensors {
            let decoded = try NPY.decode(try NPY.encode(tensor))
            XCTAssertEqual(decoded.dataType, tensor.dataType)
            XCTAssertEqual(decoded.shape, tensor.shape)
            XCTAssertEqual(Data(bytes: decoded.storage.pointer, count: decoded.byteCount),
                           Data(bytes: tensor.storage.pointer, count: tensor.byteCount), "\(tensor)")
        }
    }

    func testWrittenFileMatchesNumpyLayout() throws {
        // numpy pads the preamble plus header to a multiple of 64 bytes and ends it with a newline.
        let encoded = try NPY.encode(Tensor(shape: [2, 3], floats: [0, 1, 2, 3, 4, 5]))
        let written = try Data(contentsOf: NPYTests.fixtures.appendingPathComponent("f32_2x3.npy"))
        XCTAssertEqual(encoded.prefix(10 + 118), written.prefix(10 + 118), "header differs from numpy's")
        XCTAssertEqual(encoded.count, written.count)
        XCTAssertEqual((encoded.count - 24) % 64, 0)
    }

    func testWritesAndReadsFiles() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-npy-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let tensor = Tensor(shape: [4], values: [Int64(3), -1, 7, 0])
        try NPY.write(tensor, to: url)
        XCTAssertEqual(try NPY.read(contentsOf: url).array(of: Int64.self), [3, -1, 7, 0])
    }

    func testRejectsDamagedFiles() throws {
        let good = try NPY.encode(Tensor(shape: [2, 2], floats: [1, 2, 3, 4]))
        XCTAssertThrowsError(try NPY.decode(Data())) { XCTAssertTrue("\($0)".contains("magic"), "\($0)") }
        XCTAssertThrowsError(try NPY.decode(Data("not an npy file".utf8)))
        // Every truncation fails cleanly, whether inside the preamble, the header or the data.
        for length in 0..<good.count {
            XCTAssertThrowsError(try NPY.decode(good.prefix(length)), "prefix of \(length) bytes")
        }
        // A header length that runs past the end of the file.
        var longHeader = good
        longHeader[8] = 0xFF
        longHeader[9] = 0xFF
        XCTAssertThrowsError(try NPY.decode(longHeader)) { XCTAssertTrue("\($0)".contains("header claims"), "\($0)") }
        // A shape whose element count overflows.
        let huge = header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }")
        XCTAssertThrowsError(try NPY.decode(huge)) { XCTAssertTrue("\($0)".contains("too many"), "\($0)") }
        // A shape that claims more data than the file has: refused before any allocation.
        let big = header("{'descr': '<f4', 'fortran_order': False, 'shape': (536870912,), }")
        XCTAssertThrowsError(try NPY.decode(big)) { XCTAssertTrue("\($0)".contains("the file holds 0"), "\($0)") }
        XCTAssertThrowsError(try NPY.decode(header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }")))
        XCTAssertThrowsError(try NPY.decode(header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")))
        XCTAssertThrowsError(try NPY.decode(header("{'descr': '<f4', 'shape': (1,), }")))
    }

    private func header(_ dict: String) -> Data {
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let text = dict + "\n"
        data.append(contentsOf: [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
        data.append(contentsOf: Array(text.utf8))
        return data
    }
}
