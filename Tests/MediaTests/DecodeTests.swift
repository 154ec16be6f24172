import Foundation
import Media
import XCTest

/// Decoding against Pillow 13's decode (reference.json). PNG decoding is lossless: every byte must
/// match. JPEG: Pillow bundles its own libjpeg-turbo, Seer uses Debian's 2.1.5; both use the integer
/// IDCT and fancy upsampling. Measured: identical bytes on every file here. Allowed: 1 per channel
/// per sample, 0.01 on channel means (other libjpeg-turbo versions may round differently).
final class DecodeTests: XCTestCase {
    private let jpegTolerance = 1
    private let jpegMeanTolerance = 0.01

    func testSharedJPEGsMatchReference() throws {
        for name in ["grace_hopper.jpg", "dog.jpg", "kite.jpg", "person.jpg", "rocket.jpg"] {
            let decoded = try ImageDecoder.decode(try Fixtures.shared(name))
            XCTAssertEqual(decoded.info.format, .jpeg)
            assertMatches(decoded.image, try Fixtures.reference(name), tolerance: jpegTolerance,
                          meanTolerance: jpegMeanTolerance, name)
        }
    }

    func testKnownSizes() throws {
        let expected = ["grace_hopper.jpg": (512, 600), "dog.jpg": (768, 576), "astronaut.png": (512, 512),
                        "chelsea.png": (451, 300), "coffee.png": (600, 400), "page.png": (384, 191)]
        for (name, size) in expected {
            let data = try Fixtures.shared(name)
            let info = try ImageDecoder.info(of: data)
            XCTAssertEqual(info.uprightWidth, size.0, name)
            XCTAssertEqual(info.uprightHeight, size.1, name)
            let image = try ImageDecoder.decode(data).image
            XCTAssertEqual(image.width, size.0, name)
            XCTAssertEqual(image.height, size.1, name)
            XCTAssertEqual(image.pixels.count, size.0 * size.1 * 3, name)
        }
    }

    func testSharedPNGsMatchReferenceExactly() throws {
        for name in ["astronaut.png", "chelsea.png", "coffee.png", "page.png"] {
            let decoded = try ImageDecoder.decode(try Fixtures.shared(name))
            XCTAssertEqual(decoded.info.format, .png)
            assertMatches(decoded.image, try Fixtures.reference(name), tolerance: 0, meanTolerance: 1e-3, name)
        }
    }

    func testJPEGColorSpaces() throws {
        // gray.jpg: grayscale; progressive.jpg: multi-scan; cmyk.jpg: Adobe inverted CMYK; ycck.jpg: Adobe YCCK.
        for name in ["gray.jpg", "progressive.jpg", "cmyk.jpg", "ycck.jpg"] {
            let decoded = try ImageDecoder.decode(try Fixtures.data(name))
            assertMatches(decoded.image, try Fixtures.reference(name), tolerance: jpegTolerance,
                          meanTolerance: jpegMeanTolerance, name)
        }
        let gray = try ImageDecoder.decode(try Fixtures.data("gray.jpg")).image
        for index in stride(from: 0, to: gray.pixels.count, by: 3) {
            XCTAssertEqual(gray.pixels[index], gray.pixels[index + 1])
            XCTAssertEqual(gray.pixels[index], gray.pixels[index + 2])
        }
    }

    func testCMYKAndYCCKDecodeToTheSameColors() throws {
        // Both fixtures hold the same CMYK pixels, stored two ways.
        let cmyk = try ImageDecoder.decode(try Fixtures.data("cmyk.jpg")).image
        let ycck = try ImageDecoder.decode(try Fixtures.data("ycck.jpg")).image
        XCTAssertLessThan(meanAbsoluteDifference(cmyk, ycck), 5)
    }

    func testPNGVariantsMatchReferenceExactly() throws {
        for name in ["palette.png", "palette_trns.png", "gray.png", "gray1.png", "gray_alpha.png", "rgba.png",
                     "rgb16.png", "gray16.png", "interlaced.png"] {
            let decoded = try ImageDecoder.decode(try Fixtures.data(name))
            assertMatches(decoded.image, try Fixtures.reference(name), tolerance: 0, meanTolerance: 1e-3, name)
        }
        XCTAssertTrue(try ImageDecoder.info(of: try Fixtures.data("rgba.png")).hasAlpha)
        XCTAssertTrue(try ImageDecoder.info(of: try Fixtures.data("palette_trns.png")).hasAlpha)
        XCTAssertFalse(try ImageDecoder.info(of: try Fixtures.data("rgb16.png")).hasAlpha)
    }

    func testInterlacedPNGEqualsItsSourcePixels() throws {
        // interlaced.png was written from the same pixels as the non-interlaced reference of palette-free chelsea.
        let interlaced = try ImageDecoder.decode(try Fixtures.data("interlaced.png")).image
        let sixteenBit = try ImageDecoder.decode(try Fixtures.data("rgb16.png")).image
        XCTAssertEqual(interlaced, sixteenBit, "both hold the same 8-bit photo (rgb16's high bytes)")
    }

    func testAlphaCompositing() throws {
        let data = try Fixtures.data("rgba.png")
        let options = ImageDecodingOptions(alpha: .composite(red: 255, green: 255, blue: 255))
        let overWhite = try ImageDecoder.decode(data, options: options).image
        assertMatches(overWhite, try Fixtures.reference("rgba.png#over-white"), tolerance: 0, meanTolerance: 1e-3,
                      "rgba over white")
        // The alpha ramp runs left (0) to right (255): the left column is pure background.
        for y in 0..<overWhite.height {
            XCTAssertTrue(overWhite.pixel(x: 0, y: y) == (255, 255, 255))
        }
        let dropped = try ImageDecoder.decode(data).image
        XCTAssertNotEqual(dropped, overWhite)
    }

    func testPixelLimitIsCheckedFromTheHeader() throws {
        for name in ["huge_header.png", "huge_header.jpg"] {
            XCTAssertThrowsError(try ImageDecoder.decode(try Fixtures.data(name)), name) { error in
                XCTAssertEqual(error as? ImageError, .tooLarge(width: 30000, height: 30000, maxPixels: 50_000_000))
                XCTAssertTrue(String(describing: error).contains("30000x30000"), "\(error)")
            }
            let info = try ImageDecoder.info(of: try Fixtures.data(name))
            XCTAssertEqual(info.storedWidth, 30000, "the header alone reads fine")
        }
        let data = try Fixtures.shared("grace_hopper.jpg")
        let exact = 512 * 600
        XCTAssertNoThrow(try ImageDecoder.decode(data, options: ImageDecodingOptions(maxPixels: exact)))
        XCTAssertThrowsError(try ImageDecoder.decode(data, options: ImageDecodingOptions(maxPixels: exact - 1))) { error in
            XCTAssertEqual(error as? ImageError, .tooLarge(width: 512, height: 600, maxPixels: exact - 1))
        }
    }

    func testTruncatedAndCorruptDataAreInvalid() throws {
        let cases = [("truncated.jpg", "Premature end of JPEG file"), ("truncated.png", "premature end of PNG data"),
                     ("bad_crc.png", "CRC")]
        for (name, message) in cases {
            XCTAssertThrowsError(try ImageDecoder.decode(try Fixtures.data(name)), name) { error in
                guard case .invalidImage(let reason)? = error as? ImageError else {
                    return XCTFail("\(name): expected invalidImage, got \(error)")
                }
                XCTAssertTrue(reason.contains(message), "\(name): \(reason)")
            }
        }
        // A JPEG signature followed by nothing useful.
        XCTAssertThrowsError(try ImageDecoder.decode(Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00]))) { error in
            guard case .invalidImage? = error as? ImageError else { return XCTFail("\(error)") }
        }
    }

    func testEveryPrefixOfAJPEGAndPNGFailsCleanly() throws {
        // No prefix may crash, hang or succeed with grey fill; whole files decode.
        for name in ["progressive.jpg", "interlaced.png"] {
            let data = try Fixtures.data(name)
            for length in stride(from: 0, to: data.count, by: 97) {
                XCTAssertThrowsError(try ImageDecoder.decode(data.prefix(length)), "\(name) prefix \(length)")
            }
            XCTAssertNoThrow(try ImageDecoder.decode(data))
        }
    }

    func testDecodesFromADataSlice() throws {
        // Multipart bodies hand over slices whose indices do not start at 0.
        let file = try Fixtures.data("palette.png")
        let padded = Data([1, 2, 3]) + file + Data([4, 5])
        let slice = padded[3..<(3 + file.count)]
        XCTAssertEqual(try ImageDecoder.decode(slice).image, try ImageDecoder.decode(file).image)
    }

    func testConcurrentDecodesAgree() throws {
        let data = try Fixtures.data("progressive.jpg")
        let expected = try ImageDecoder.decode(data).image
        let lock = NSLock()
        var mismatches = 0
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let image = try? ImageDecoder.decode(data).image
            if image != expected { lock.lock(); mismatches += 1; lock.unlock() }
        }
        XCTAssertEqual(mismatches, 0)
    }
}
