import Foundation
import Media
import XCTest

final class PNGEncoderTests: XCTestCase {
    private func ihdr(_ png: Data) -> (width: Int, height: Int, bitDepth: UInt8, colorType: UInt8) {
        let bytes = [UInt8](png.prefix(33))
        func u32(_ offset: Int) -> Int { bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (u32(16), u32(20), bytes[24], bytes[25])
    }

    func testGrayMaskRoundTrip() throws {
        var pixels = [UInt8](repeating: 0, count: 37 * 21)
        for y in 0..<21 {
            for x in 0..<37 where (x - 18) * (x - 18) + (y - 10) * (y - 10) < 64 { pixels[y * 37 + x] = 255 }
        }
        pixels[0] = 17  // not only 0/255
        let mask = try GrayImage(width: 37, height: 21, pixels: pixels)
        let png = try PNGEncoder.encode(mask)
        XCTAssertEqual(ImageFormat.sniff(png), .png)
        let header = ihdr(png)
        XCTAssertEqual(header.width, 37)
        XCTAssertEqual(header.height, 21)
        XCTAssertEqual(header.bitDepth, 8)
        XCTAssertEqual(header.colorType, 0, "grayscale")
        let decoded = try ImageDecoder.decode(png).image
        XCTAssertEqual(decoded.width, 37)
        XCTAssertEqual(decoded.pixels, pixels.flatMap { [$0, $0, $0] })
    }

    func testRGBRoundTripOfAPhoto() throws {
        let photo = try ImageDecoder.decode(try Fixtures.data("progressive.jpg")).image
        for level in [0, 1, 6, 9] {
            let png = try PNGEncoder.encode(photo, compressionLevel: level)
            XCTAssertEqual(ihdr(png).colorType, 2, "truecolor")
            XCTAssertEqual(try ImageDecoder.decode(png).image, photo, "level \(level)")
        }
        let stored = try PNGEncoder.encode(photo, compressionLevel: 0)
        let compressed = try PNGEncoder.encode(photo, compressionLevel: 9)
        XCTAssertLessThan(compressed.count, stored.count)
    }

    func testInvalidInputsThrow() throws {
        XCTAssertThrowsError(try PNGEncoder.encode(GrayImage(width: 0, height: 5)))
        XCTAssertThrowsError(try GrayImage(width: 4, height: 4, pixels: [1, 2, 3]))
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 11)))
        XCTAssertThrowsError(try RGBImage(width: Int.max, height: 2, pixels: []))
    }
}
