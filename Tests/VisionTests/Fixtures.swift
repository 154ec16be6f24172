import Foundation
import Media
import ONNX
import TensorRuntime
import Vision
import XCTest

/// Paths and loaders shared by the Vision tests.
enum Fixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A path as the reference JSON files write it: relative to the repository root.
    static func url(_ relativePath: String) -> URL {
        URL(fileURLWithPath: relativePath, relativeTo: repository).standardizedFileURL
    }

    static func image(_ relativePath: String) throws -> RGBImage {
        try ImageDecoder.decode(Data(contentsOf: url(relativePath))).image
    }

    static func json(_ relativePath: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url(relativePath)))
        return try XCTUnwrap(object as? [String: Any])
    }

    static func manifest(_ model: String) throws -> ModelManifest {
        try ModelManifest.decode(Data(contentsOf: url("models/\(model)/manifest.json")))
    }

    static func plan(_ model: String, _ role: String) throws -> ExecutionPlan {
        let manifest = try manifest(model)
        let file = try XCTUnwrap(manifest.graphs[role], "\(model) has no graph \(role)")
        return try ExecutionPlan(graph: ONNXModel.load(contentsOf: url("models/\(model)/\(file)")))
    }
}

extension Box {
    init(_ values: [Double]) {
        self.init(xMin: Float(values[0]), yMin: Float(values[1]), xMax: Float(values[2]), yMax: Float(values[3]))
    }
}
