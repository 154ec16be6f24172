import Foundation
import Media
import ONNX
import TensorRuntime
import Vision
import XCTest

/// The labelled clips of Tests/Fixtures/video (clips.json) and their features, computed once per test run.
enum AnomalyFixtures {
    struct Event: Decodable {
        let kind: String
        let start_s: Double
        let end_s: Double
    }

    struct Clip: Decodable {
        let split: String
        let files: [String]
        let duration_s: Double
        let events: [Event]
    }

    struct Catalog: Decodable { let clips: [String: Clip] }

    static let folder = Fixtures.url("Tests/Fixtures/video")

    static func catalog() throws -> Catalog {
        try JSONDecoder().decode(Catalog.self, from: Data(contentsOf: folder.appendingPathComponent("clips.json")))
    }

    static func extractor() throws -> VideoFeatureExtractor {
        try cache.lock.withLock {
            if let extractor = cache.extractor { return extractor }
            let extractor = try VideoFeatureExtractor(backbone: Fixtures.plan("yolo-backbone", "main"), spec: AnomalyFeatureSpec(),
                                                      threads: ProcessInfo.processInfo.activeProcessorCount)
            cache.extractor = extractor
            return extractor
        }
    }

    /// Features of one fixture file (cached).
    static func features(_ file: String) throws -> ClipFeatures {
        if let cached = cache.lock.withLock({ cache.features[file] }) { return cached }
        let data = try Data(contentsOf: folder.appendingPathComponent(file))
        let features = try extractor().extract(data)
        cache.lock.withLock { cache.features[file] = features }
        return features
    }

    /// Segment vectors of a file.
    static func segments(_ file: String, count: Int = 32) throws -> [SegmentFeature] {
        try features(file).segments(count, spec: AnomalyFeatureSpec())
    }

    /// Whether a segment overlaps an event of the clip.
    static func isEvent(_ segment: (start: Double, end: Double), _ clip: Clip, margin: Double = 0) -> Bool {
        clip.events.contains { segment.start < $0.end_s + margin && segment.end > $0.start_s - margin }
    }

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var extractor: VideoFeatureExtractor?
        var features: [String: ClipFeatures] = [:]
    }

    private static let cache = Cache()
}
