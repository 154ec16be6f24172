import Foundation
import ONNX
import TensorRuntime
import XCTest

/// `NPY.write` streams the tensor's bytes to a temporary file beside the target and renames it over.
final class NPYWriteTests: XCTestCase {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-npy-write-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testWrittenFileIsTheEncodingAndLeavesNothingElse() throws {
        let folder = try folder()
        let url = folder.appendingPathComponent("out.npy")
        let tensor = Tensor(shape: [3, 70_000], floats: (0..<210_000).map { Float($0) * 0.5 })
        try NPY.write(tensor, to: url)
        XCTAssertEqual(try Data(contentsOf: url), try NPY.encode(tensor))
        XCTAssertEqual(try NPY.read(contentsOf: url).floats, tensor.floats)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["out.npy"])
    }

    func testReplacesAnExistingFile() throws {
        let url = try folder().appendingPathComponent("out.npy")
        try Data(repeating: 7, count: 10_000).write(to: url)
        try NPY.write(Tensor(shape: [2], floats: [1, 2]), to: url)
        XCTAssertEqual(try NPY.read(contentsOf: url).floats, [1, 2])
    }

    func testAMissingFolderIsAnErrorNamingThePath() throws {
        let url = try folder().appendingPathComponent("missing/out.npy")
        XCTAssertThrowsError(try NPY.write(Tensor(shape: [1], floats: [1]), to: url)) { error in
            XCTAssertTrue("\(error)".contains("missing/out.npy"), "\(error)")
        }
    }

    func testAnEmptyTensorWritesAHeaderOnlyFile() throws {
        let url = try folder().appendingPathComponent("empty.npy")
        let tensor = Tensor(dataType: .float32, shape: [0, 3])
        try NPY.write(tensor, to: url)
        XCTAssertEqual(try NPY.read(contentsOf: url).shape, [0, 3])
    }
}
