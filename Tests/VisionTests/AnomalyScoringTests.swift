import Foundation
import Media
import ONNX
import TensorRuntime
import Vision
import XCTest

/// Novelty scoring of the labelled clips (Tests/Fixtures/video): a baseline built from other
/// normal stretches of the same camera and encoding, and the no-baseline clip self-reference.
final class AnomalyScoringTests: XCTestCase {
    static let testClips = ["test_tamper", "test_foreign", "test_fast"]

    func baseline(_ encoding: String) throws -> NoveltyBaseline {
        let normal = try ["normal_a", "normal_b"].map { try AnomalyFixtures.segments("\($0).\(encoding)").map(\.vector) }
        return try NoveltyBaseline.fit(clips: normal, groups: AnomalyFeatureSpec().groups)
    }

    /// The event's segments score highest: the top segment overlaps the event, the event's best
    /// score reaches the threshold, and every segment clear of the event (by 0.5 s) scores lower.
    /// Returns the share of clear-of-event segments at or above the threshold (false alarms).
    @discardableResult
    func assertEventRanksFirst(_ scores: [Float], _ segments: [SegmentFeature], _ clip: AnomalyFixtures.Clip, _ label: String,
                               threshold: Float = 0.5, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let inEvent = segments.map { AnomalyFixtures.isEvent(($0.start, $0.end), clip) }
        let clear = segments.map { !AnomalyFixtures.isEvent(($0.start, $0.end), clip, margin: 0.5) }
        let eventBest = zip(scores, inEvent).filter { $0.1 }.map(\.0).max() ?? -1
        let clearBest = zip(scores, clear).filter { $0.1 }.map(\.0).max() ?? -1
        let top = scores.indices.max { scores[$0] < scores[$1] } ?? 0
        XCTAssertTrue(inEvent[top], "\(label): the top segment \(top) (\(scores[top])) is not in the event", file: file, line: line)
        XCTAssertGreaterThanOrEqual(eventBest, threshold, "\(label): the event's best score", file: file, line: line)
        XCTAssertLessThan(clearBest, eventBest, "\(label): a segment clear of the event scores as high as the event", file: file, line: line)
        let clearScores = zip(scores, clear).filter { $0.1 }.map(\.0)
        return Double(clearScores.filter { $0 >= threshold }.count) / Double(max(1, clearScores.count))
    }

    func testBaselineRanksEventsFirstOnEachTestClipInMP4AndAVI() throws {
        let catalog = try AnomalyFixtures.catalog()
        for encoding in ["mp4", "avi"] {
            let model = try baseline(encoding)
            // Its own normal segments (held out clip by clip) mostly score below 0.5.
            for group in model.groups {
                let own = group.heldOutDistances.map { 1 / (1 + exp(-($0 - group.center) / group.scale)) }
                XCTAssertLessThan(Double(own.filter { $0 >= 0.5 }.count) / Double(own.count), 0.05, "\(encoding) held-out normals above 0.5")
            }
            for name in AnomalyScoringTests.testClips {
                let clip = try XCTUnwrap(catalog.clips[name])
                let segments = try AnomalyFixtures.segments("\(name).\(encoding)")
                let scores = segments.map { model.score($0.vector) }
                let falseAlarms = assertEventRanksFirst(scores, segments, clip, "\(name).\(encoding) with the \(encoding) baseline")
                print("baseline \(name).\(encoding): event max \(String(format: "%.3f", scores.max() ?? 0)), "
                      + "segments clear of the event at or above 0.5: \(String(format: "%.0f", falseAlarms * 100))%")
            }
        }
    }

    func testSelfReferenceRanksEventsFirstWithoutABaseline() throws {
        let catalog = try AnomalyFixtures.catalog()
        let scorer = ClipSelfReferenceScorer(spec: AnomalyFeatureSpec())
        for name in AnomalyScoringTests.testClips {
            let clip = try XCTUnwrap(catalog.clips[name])
            for encoding in ["mp4", "avi"] {
                let segments = try AnomalyFixtures.segments("\(name).\(encoding)")
                let falseAlarms = assertEventRanksFirst(scorer.scores(segments.map(\.vector)), segments, clip, "\(name).\(encoding) self-reference")
                print("self-reference \(name).\(encoding): segments clear of the event at or above 0.5: \(String(format: "%.0f", falseAlarms * 100))%")
            }
        }
        // A normal clip has no outlier the size of an event.
        let normal = scorer.scores(try AnomalyFixtures.segments("normal_b.mp4").map(\.vector))
        XCTAssertLessThan(Double(normal.filter { $0 >= 0.5 }.count) / Double(normal.count), 0.1)
    }

    /// The exported graph, read back by Seer's own ONNX loader and run by its runtime, gives the model's scores.
    func testBaselineONNXExportRoundTrips() throws {
        let model = try baseline("mp4")
        let data = try model.onnxModel().serialized()
        let plan = try ExecutionPlan(graph: ONNXModel.load(data: data))
        let scorer = try ONNXSegmentScorer(plan: plan)
        let vectors = try (AnomalyScoringTests.testClips.map { "\($0).mp4" } + ["normal_a.mp4"]).flatMap {
            try AnomalyFixtures.segments($0).map(\.vector)
        }
        let fromGraph = try scorer.scores(vectors)
        XCTAssertEqual(fromGraph.count, vectors.count)
        for (graph, direct) in zip(fromGraph, vectors.map(model.score)) {
            XCTAssertEqual(graph, direct, accuracy: 1e-3)
        }
    }

    struct Reference: Decodable {
        struct LedoitWolf: Decodable { let shrinkage: Double; let probe_distances: [Double] }
        struct Backbone: Decodable { let shape: [Int]; let features: [[Float]] }
        let ledoit_wolf: LedoitWolf
        let backbone_pattern: Backbone
    }

    func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url("Tests/Fixtures/reference/anomaly/reference.json")))
    }

    /// Shrinkage and Mahalanobis distances against scikit-learn's StandardScaler + LedoitWolf.
    func testLedoitWolfMatchesScikitLearn() throws {
        let expected = try reference().ledoit_wolf
        func value(_ i: Int, _ j: Int) -> Float {
            let wave: Double = sin(0.37 * Double(i) + 1.3 * Double(j))
            let ripple: Double = 0.25 * cos(0.11 * Double(i * j))
            return Float(wave + ripple + 0.05 * Double(j))
        }
        func probe(_ k: Int, _ j: Int, _ rows: [[Float]]) -> Float {
            let offset: Double = 0.3 * sin(Double(k + j))
            return Float(Double(rows[5 * k][j]) + offset)
        }
        let rows: [[Float]] = (0..<40).map { i in (0..<12).map { j in value(i, j) } }
        let probes: [[Float]] = (0..<4).map { k in (0..<12).map { j in probe(k, j, rows) } }
        let model = try NoveltyBaseline.fit(clips: [rows])
        XCTAssertEqual(model.groups[0].shrinkage, expected.shrinkage, accuracy: 1e-5)
        for (probe, distance) in zip(probes, expected.probe_distances) {
            XCTAssertEqual(Double(model.groups[0].distance(probe)), distance, accuracy: distance * 1e-4)
        }
    }

    /// The backbone graph in Seer's runtime against onnxruntime on a fixed pattern input.
    func testBackboneMatchesOnnxRuntime() throws {
        let expected = try reference().backbone_pattern
        let extractor = try AnomalyFixtures.extractor()
        let images = try (0..<2).map { n in
            var pixels = [UInt8](repeating: 0, count: 256 * 192 * 3)
            for h in 0..<192 { for w in 0..<256 { for c in 0..<3 {
                pixels[(h * 256 + w) * 3 + c] = UInt8(15 * ((7 * c + 3 * h + w + 5 * n) % 17))
            } } }
            return try RGBImage(width: 256, height: 192, pixels: pixels)
        }
        let features = try extractor.embed(images)
        XCTAssertEqual(expected.shape, [2, 512])
        var worst: Float = 0
        for (row, reference) in zip(features, expected.features) {
            for (value, target) in zip(row, reference) { worst = max(worst, abs(value - target) / max(1, abs(target))) }
        }
        // Float32 summation order differs from onnxruntime's: 1e-3 relative (absolute below 1).
        XCTAssertLessThan(worst, 1e-3)
    }
}
