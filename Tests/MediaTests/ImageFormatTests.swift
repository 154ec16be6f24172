import Foundation
import Media
import XCTest

final class ImageFormatTests: XCTestCase {
    private func bytes(_ values: [UInt8], padTo count: Int = 32) -> Data {
        Data(values + [UInt8](repeating: 0, count: max(0, count - values.count)))
    }

    private func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testSniffsFixtures() throws {
        XCTAssertEqual(ImageFormat.sniff(try Fixtures.data("orientation_1.jpg")), .jpeg)
        XCTAssertEqual(ImageFormat.sniff(try Fixtures.data("palette.png")), .png)
        XCTAssertEqual(ImageFormat.sniff(try Fixtures.data("sample.gif")), .gif)
        XCTAssertEqual(ImageFormat.sniff(try Fixtures.data("sample.webp")), .webp)
        XCTAssertNil(ImageFormat.sniff(try Fixtures.data("random.bin")))
    }

    func testSniffsOtherSignatures() {
        XCTAssertEqual(ImageFormat.sniff(bytes(ascii("BM") + [0x36, 0, 0, 0])), .bmp)
        XCTAssertEqual(ImageFormat.sniff(bytes([0x49, 0x49, 0x2A, 0x00])), .tiff)
        XCTAssertEqual(ImageFormat.sniff(bytes([0x4D, 0x4D, 0x00, 0x2A])), .tiff)
        XCTAssertEqual(ImageFormat.sniff(bytes([0, 0, 0, 0x18] + ascii("ftypheic"))), .heif)
        XCTAssertEqual(ImageFormat.sniff(bytes([0, 0, 0, 0x18] + ascii("ftypmif1"))), .heif)
        XCTAssertEqual(ImageFormat.sniff(bytes([0, 0, 0, 0x1C] + ascii("ftypavif"))), .avif)
        XCTAssertEqual(ImageFormat.sniff(bytes([0xFF, 0x0A, 0xFA])), .jpegXL)
        XCTAssertEqual(ImageFormat.sniff(bytes([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A])), .jpeg2000)
        // An MP4 is an ISO-BMFF file too, but not an image.
        XCTAssertNil(ImageFormat.sniff(bytes([0, 0, 0, 0x18] + ascii("ftypisom"))))
        XCTAssertNil(ImageFormat.sniff(Data(ascii("GIF8"))), "too short for a GIF signature")
        XCTAssertNil(ImageFormat.sniff(Data([0xFF, 0xD8])), "too short for a JPEG signature")
        XCTAssertNil(ImageFormat.sniff(Data()))
    }

    func testUnsupportedFormatsGiveTheirOwnError() throws {
        for name in ["sample.gif", "sample.webp"] {
            XCTAssertThrowsError(try ImageDecoder.decode(try Fixtures.data(name)), name) { error in
                guard case .unsupportedFormat(let format)? = error as? ImageError else {
                    return XCTFail("\(name): expected unsupportedFormat, got \(error)")
                }
                XCTAssertFalse(format.isSupported)
                XCTAssertTrue(String(describing: error).contains(format.displayName))
            }
        }
        XCTAssertThrowsError(try ImageDecoder.decode(bytes([0, 0, 0, 0x18] + ascii("ftypheic")))) { error in
            XCTAssertEqual(error as? ImageError, .unsupportedFormat(.heif))
        }
    }

    func testNonImagesAreInvalid() throws {
        for data in [try Fixtures.data("random.bin"), Data(), Data("hello".utf8)] {
            XCTAssertThrowsError(try ImageDecoder.decode(data)) { error in
                guard case .invalidImage? = error as? ImageError else {
                    return XCTFail("expected invalidImage, got \(error)")
                }
            }
        }
    }
}
