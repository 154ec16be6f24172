import Foundation
import Media
import ONNX
import TensorRuntime
import Vision
import XCTest

/// Detection against the original implementations: Debian's darknet on the same cfg + weights
/// (Tests/Fixtures/reference/yolov3-tiny/darknet-detections.json), and for the Ultralytics
/// layouts an independent numpy decode of small random-weight exports.
/// Tolerances: same labels, IoU ≥ 0.9, confidence within 0.03 for every darknet detection ≥ 0.3.
final class ObjectDetectorTests: XCTestCase {
    func detector(_ folder: URL) throws -> ObjectDetector {
        let manifest = try ModelManifest.decode(Data(contentsOf: folder.appendingPathComponent("manifest.json")))
        let plan = try ExecutionPlan(graph: ONNXModel.load(contentsOf: folder.appendingPathComponent(manifest.graphs["main"]!)))
        return try ObjectDetector(plan: plan, settings: DetectionSettings(manifest: manifest))
    }

    func testYOLOv3TinyMatchesDarknet() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/yolov3-tiny/darknet-detections.json")
        let images = try XCTUnwrap(reference["images"] as? [String: [String: Any]])
        XCTAssertGreaterThanOrEqual(images.count, 5)
        let yolo = try detector(Fixtures.url("models/yolov3-tiny"))
        var options = DetectionOptions()
        options.minConfidence = 0.3
        options.iouThreshold = 0.45
        var matched = 0
        for (name, entry) in images.sorted(by: { $0.key < $1.key }) {
            let image = try Fixtures.image(try XCTUnwrap(entry["source"] as? String))
            let ours = try yolo.detect(image, options: options)
            let expected = try XCTUnwrap(entry["detections"] as? [[String: Any]])
            for detection in expected {
                let label = try XCTUnwrap(detection["label"] as? String)
                let confidence = try XCTUnwrap(detection["confidence"] as? Double)
                let box = Box(try XCTUnwrap(detection["box"] as? [Double])).clamped(width: Float(image.width), height: Float(image.height))
                let best = ours.filter { $0.label == label }.max { $0.box.iou(box) < $1.box.iou(box) }
                guard let best else {
                    XCTFail("\(name): darknet's \(label) \(confidence) is missing")
                    continue
                }
                XCTAssertGreaterThanOrEqual(best.box.iou(box), 0.9, "\(name): \(label) box \(best.box) vs \(box)")
                XCTAssertEqual(Double(best.confidence), confidence, accuracy: 0.03, "\(name): \(label)")
                matched += 1
            }
            // Nothing clearly above the threshold that darknet did not report.
            let labels = Set(expected.compactMap { $0["label"] as? String })
            for extra in ours where extra.confidence > 0.33 {
                XCTAssertTrue(labels.contains(extra.label), "\(name): extra \(extra.label) \(extra.confidence)")
            }
        }
        XCTAssertGreaterThanOrEqual(matched, 10)
    }

    func testUltralyticsLayoutsMatchAnIndependentDecode() throws {
        for layout in ["yolov5-random", "yolov8-random"] {
            let reference = try Fixtures.json("Tests/Fixtures/reference/\(layout)/detections.json")
            let thresholds = try XCTUnwrap(reference["thresholds"] as? [String: Double])
            let source = try XCTUnwrap((reference["image"] as? [String: Any])?["source"] as? String)
            let model = try detector(Fixtures.url("Tests/Fixtures/models/\(layout)"))
            var options = DetectionOptions()
            options.minConfidence = Float(try XCTUnwrap(thresholds["confidence"]))
            options.iouThreshold = Float(try XCTUnwrap(thresholds["nms"]))
            let ours = try model.detect(try Fixtures.image(source), options: options)
            let expected = try XCTUnwrap(reference["detections"] as? [[String: Any]])
            XCTAssertFalse(expected.isEmpty, layout)
            // The reference rounded its input to bytes; scores near the threshold may differ.
            var matched = 0
            for detection in expected {
                let confidence = try XCTUnwrap(detection["confidence"] as? Double)
                let box = Box(try XCTUnwrap(detection["box"] as? [Double]))
                let classId = try XCTUnwrap(detection["class_id"] as? Int)
                if let best = ours.filter({ $0.classId == classId }).max(by: { $0.box.iou(box) < $1.box.iou(box) }), best.box.iou(box) >= 0.9 {
                    XCTAssertEqual(Double(best.confidence), confidence, accuracy: 0.02, layout)
                    matched += 1
                } else if confidence > Double(options.minConfidence) + 0.02 {
                    XCTFail("\(layout): reference detection \(classId) \(confidence) \(box) is missing")
                }
            }
            XCTAssertGreaterThan(matched, 0, layout)
        }
    }

    func testClassFilterAndLimit() throws {
        let yolo = try detector(Fixtures.url("models/yolov3-tiny"))
        let image = try Fixtures.image("../shared/media/dog.jpg")
        var options = DetectionOptions()
        let all = try yolo.detect(image, options: options)
        XCTAssertTrue(all.contains { $0.label == "dog" })
        options.classes = [16]
        let dogs = try yolo.detect(image, options: options)
        XCTAssertFalse(dogs.isEmpty)
        XCTAssertTrue(dogs.allSatisfy { $0.label == "dog" })
        options = DetectionOptions()
        options.maxResults = 1
        XCTAssertEqual(try yolo.detect(image, options: options), Array(all.prefix(1)))
    }

    func testNonMaximumSuppressionBoundsManyCandidates() {
        // 10 000 overlapping candidates collapse to one per cluster.
        var boxes: [Box] = [], scores: [Float] = []
        for index in 0..<10_000 {
            let cluster = Float(index % 10) * 100
            boxes.append(Box(xMin: cluster, yMin: 0, xMax: cluster + 50 + Float(index % 7) * 0.1, yMax: 50))
            scores.append(Float(index) / 10_000)
        }
        let keep = nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.5)
        XCTAssertEqual(keep.count, 10)
        XCTAssertEqual(keep.first, 9_999)
    }
}
