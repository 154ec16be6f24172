import Foundation
import ONNX
import TensorRuntime
import XCTest

/// Loading a model from a file hands each weight's file bytes back once the weight is decoded:
/// every weight must still come out exactly as written, neighbours included, and odd paths must
/// give errors, not crashes.
final class ModelFileLoadingTests: XCTestCase {
    /// Weights of sizes that start and end mid-page, span many pages, or fit inside one page,
    /// packed next to each other in the file, plus one that nothing reads.
    static let weightSizes = [1, 5_000, 3, 70_000, 2, 1_025, 16_384, 7]

    static func values(_ index: Int, count: Int) -> [Float] {
        (0..<count).map { Float(index * 1_000_003 + $0 % 65_521) + 0.25 }
    }

    func model() -> ONNXModelWriter {
        var writer = ONNXModelWriter(graphName: "weights")
        for (index, count) in ModelFileLoadingTests.weightSizes.enumerated() {
            writer.initializers.append(.init(name: "w\(index)", dims: [count],
                                             values: ModelFileLoadingTests.values(index, count: count)))
            writer.nodes.append(.init("Identity", inputs: ["w\(index)"], outputs: ["y\(index)"], name: "copy\(index)"))
            writer.outputs.append(.init(name: "y\(index)", dims: [.fixed(count)]))
        }
        writer.initializers.append(.init(name: "unused", dims: [9_000], values: ModelFileLoadingTests.values(99, count: 9_000)))
        return writer
    }

    func temporaryFile(_ data: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-load-\(UUID().uuidString).onnx")
        try data.write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testWeightsLoadedFromAFileAreTheWrittenValues() throws {
        let url = try temporaryFile(try model().serialized())
        let graph = try ONNXModel.load(contentsOf: url)
        for (index, count) in ModelFileLoadingTests.weightSizes.enumerated() {
            XCTAssertEqual(graph.initializers["w\(index)"]?.shape, [count])
            XCTAssertEqual(graph.initializers["w\(index)"]?.floats, ModelFileLoadingTests.values(index, count: count), "w\(index)")
        }
        XCTAssertNil(graph.initializers["unused"])
    }

    func testAModelLoadedFromAFileRunsLikeOneLoadedFromMemory() throws {
        let data = try model().serialized()
        let fromFile = try Executor(plan: ExecutionPlan(graph: ONNXModel.load(contentsOf: temporaryFile(data)))).run([:])
        let fromMemory = try Executor(plan: ExecutionPlan(graph: ONNXModel.load(data: data))).run([:])
        for (index, count) in ModelFileLoadingTests.weightSizes.enumerated() {
            XCTAssertEqual(fromFile["y\(index)"]?.floats, ModelFileLoadingTests.values(index, count: count), "y\(index)")
            XCTAssertEqual(fromFile["y\(index)"]?.floats, fromMemory["y\(index)"]?.floats, "y\(index)")
        }
    }

    /// Loading from memory must leave the caller's bytes as they were.
    func testLoadingFromMemoryLeavesTheBytesUntouched() throws {
        let data = try model().serialized()
        let copy = Data(data)
        _ = try ONNXModel.load(data: data)
        XCTAssertEqual(data, copy)
    }

    func testATruncatedFileIsAnErrorAtEveryLength() throws {
        let data = try model().serialized()
        for length in stride(from: 0, to: data.count, by: data.count / 37) {
            let url = try temporaryFile(data.prefix(length))
            XCTAssertThrowsError(try ONNXModel.load(contentsOf: url), "\(length) of \(data.count) bytes")
        }
    }

    func testADirectoryIsAnUnreadableFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-load-dir-\(UUID().uuidString).onnx")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try ONNXModel.load(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("directory"), "\(error)")
        }
    }

    func testAMissingFileIsAnErrorNamingIt() {
        let url = URL(fileURLWithPath: "/nonexistent-seer-dir/model.onnx")
        XCTAssertThrowsError(try ONNXModel.load(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-seer-dir/model.onnx"), "\(error)")
        }
    }

    /// A character device reads as empty: not a model, but no crash.
    func testAnEmptyDeviceIsAnError() {
        XCTAssertThrowsError(try ONNXModel.load(contentsOf: URL(fileURLWithPath: "/dev/null")))
    }
}
