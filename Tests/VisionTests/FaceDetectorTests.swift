import Foundation
import Media
import TensorRuntime
import Vision
import XCTest

/// MTCNN against facenet-pytorch 2.6.0's own MTCNN on the same pixels
/// (Tests/Fixtures/reference/mtcnn/faces.json, made by scripts/make-face-references.py).
/// Tolerances: same face count, box IoU ≥ 0.95, landmarks within 2 % of the box width, score within 0.01.
final class FaceDetectorTests: XCTestCase {
    static let landmarkNames = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]

    func makeDetector(threads: Int = 1) throws -> FaceDetector {
        try FaceDetector(pnet: Fixtures.plan("mtcnn", "pnet"), rnet: Fixtures.plan("mtcnn", "rnet"),
                         onet: Fixtures.plan("mtcnn", "onet"), threads: threads)
    }

    func testMatchesFacenetPytorchOnEveryReferenceImage() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/mtcnn/faces.json")
        let images = try XCTUnwrap(reference["images"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(images.count, 6)
        let detector = try makeDetector()
        for entry in images {
            let path = try XCTUnwrap(entry["image"] as? String)
            let expected = try XCTUnwrap(entry["faces"] as? [[String: Any]])
            let image = try Fixtures.image(path)
            XCTAssertEqual(image.width, entry["width"] as? Int, path)
            XCTAssertEqual(image.height, entry["height"] as? Int, path)
            let faces = try detector.detect(image)
            XCTAssertEqual(faces.count, expected.count, "\(path): face count")
            for reference in expected {
                let box = Box(try XCTUnwrap(reference["box"] as? [Double]))
                guard let match = faces.max(by: { $0.box.iou(box) < $1.box.iou(box) }) else { continue }
                XCTAssertGreaterThanOrEqual(match.box.iou(box), 0.95, "\(path): box \(match.box) vs \(box)")
                XCTAssertEqual(Double(match.confidence), try XCTUnwrap(reference["probability"] as? Double), accuracy: 0.01, path)
                let points = try XCTUnwrap(reference["landmarks"] as? [String: [Double]])
                for (index, name) in Self.landmarkNames.enumerated() {
                    let point = try XCTUnwrap(points[name])
                    let error = hypot(Double(match.landmarks[index].x) - point[0], Double(match.landmarks[index].y) - point[1])
                    XCTAssertLessThanOrEqual(error, 0.02 * Double(box.width), "\(path): \(name)")
                }
            }
        }
    }

    func testParallelPyramidGivesTheSameFaces() throws {
        let image = try Fixtures.image("Tests/Fixtures/media/faces_group_1280x720.png")
        let serial = try makeDetector(threads: 1).detect(image)
        let parallel = try makeDetector(threads: 2).detect(image)
        XCTAssertFalse(serial.isEmpty)
        XCTAssertEqual(serial, parallel)
    }

    func testOptionsFilterAndLimit() throws {
        let image = try Fixtures.image("Tests/Fixtures/media/faces_group_1280x720.png")
        let detector = try makeDetector()
        let all = try detector.detect(image)
        XCTAssertGreaterThan(all.count, 2)
        var options = FaceDetectionOptions()
        options.maxResults = 2
        let limited = try detector.detect(image, options: options)
        XCTAssertEqual(limited, Array(all.prefix(2)), "max_results keeps the largest faces")
        options = FaceDetectionOptions()
        options.minFaceSize = 200
        let large = try detector.detect(image, options: options)
        XCTAssertLessThan(large.count, all.count, "a larger minimum face size skips the small faces")
    }

    func testTinyAndStripImagesFindNothingWithoutFailing() throws {
        let detector = try makeDetector()
        for (width, height) in [(1, 1), (11, 11), (12, 12), (1, 500), (500, 1), (40, 13)] {
            let image = RGBImage(width: width, height: height)
            XCTAssertEqual(try detector.detect(image), [], "\(width)x\(height)")
        }
    }

    func testRejectsOutOfRangeParameters() throws {
        let detector = try makeDetector()
        let image = RGBImage(width: 64, height: 64)
        var options = FaceDetectionOptions()
        options.thresholds = [0.6, 1.5, 0.7]
        XCTAssertThrowsError(try detector.detect(image, options: options))
        options = FaceDetectionOptions()
        options.minFaceSize = 5
        XCTAssertThrowsError(try detector.detect(image, options: options))
    }
}
