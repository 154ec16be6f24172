import Foundation
import Media
import XCTest

final class OrientationTests: XCTestCase {
    /// The stored 3x2 image with pixel values 1...6, row-major:
    ///   1 2 3
    ///   4 5 6
    private let stored = try! GrayImage(width: 3, height: 2, pixels: [1, 2, 3, 4, 5, 6])

    func testTransformsOfASmallImage() {
        // Upright images, derived by hand from the EXIF definitions (row 0 / column 0 positions).
        let expected: [ExifOrientation: (Int, Int, [UInt8])] = [
            .identity: (3, 2, [1, 2, 3, 4, 5, 6]),
            .flipHorizontal: (3, 2, [3, 2, 1, 6, 5, 4]),
            .rotate180: (3, 2, [6, 5, 4, 3, 2, 1]),
            .flipVertical: (3, 2, [4, 5, 6, 1, 2, 3]),
            .transpose: (2, 3, [1, 4, 2, 5, 3, 6]),
            .rotate90: (2, 3, [4, 1, 5, 2, 6, 3]),
            .transverse: (2, 3, [6, 3, 5, 2, 4, 1]),
            .rotate270: (2, 3, [3, 6, 2, 5, 1, 4]),
        ]
        for (orientation, (width, height, pixels)) in expected {
            let upright = orientation.apply(to: stored)
            XCTAssertEqual(upright.width, width, "\(orientation)")
            XCTAssertEqual(upright.height, height, "\(orientation)")
            XCTAssertEqual(upright.pixels, pixels, "\(orientation)")
        }
    }

    func testRGBTransformMatchesGrayTransformPerChannel() throws {
        let rgb = try RGBImage(width: 3, height: 2, pixels: stored.pixels.flatMap { [$0, $0 &+ 10, $0 &+ 20] })
        for orientation in ExifOrientation.allCases {
            let gray = orientation.apply(to: stored)
            let color = orientation.apply(to: rgb)
            XCTAssertEqual(color.pixels, gray.pixels.flatMap { [$0, $0 &+ 10, $0 &+ 20] }, "\(orientation)")
        }
    }

    func testFixturesAreUprightAfterDecoding() throws {
        let upright = try ImageDecoder.decode(try Fixtures.data("orientation_1.jpg")).image
        XCTAssertEqual(upright.width, 96)
        XCTAssertEqual(upright.height, 64)
        for value in 1...8 {
            let name = "orientation_\(value).jpg"
            let decoded = try ImageDecoder.decode(try Fixtures.data(name))
            XCTAssertEqual(decoded.info.orientation.rawValue, value, name)
            XCTAssertEqual(decoded.appliedOrientation.rawValue, value, name)
            XCTAssertEqual(decoded.info.uprightWidth, 96, name)
            assertMatches(decoded.image, try Fixtures.reference(name), tolerance: 1, meanTolerance: 0.01, name)
            // Every fixture shows the same upright photo (re-encoded: small differences).
            XCTAssertLessThan(meanAbsoluteDifference(decoded.image, upright), 3, name)
        }
    }

    func testOrientationCanBeIgnored() throws {
        let data = try Fixtures.data("orientation_6.jpg")
        let decoded = try ImageDecoder.decode(data, options: ImageDecodingOptions(applyOrientation: false))
        XCTAssertEqual(decoded.appliedOrientation, .identity)
        XCTAssertEqual(decoded.info.orientation, .rotate90)
        XCTAssertEqual(decoded.image.width, 64)
        XCTAssertEqual(decoded.image.height, 96)
        XCTAssertEqual(ExifOrientation.rotate90.apply(to: decoded.image), try ImageDecoder.decode(data).image)
    }

    func testBothByteOrdersAreRead() throws {
        // The fixtures alternate: odd orientations little-endian ("II"), even ones big-endian ("MM").
        for value in 1...8 {
            let data = try Fixtures.data("orientation_\(value).jpg")
            let marker = value % 2 == 0 ? Data("MM".utf8) : Data("II".utf8)
            XCTAssertNotNil(data.range(of: Data("Exif\0\0".utf8) + marker), "fixture \(value) byte order")
            XCTAssertEqual(ExifReader.orientation(inJPEG: data), value)
        }
    }

    // MARK: Malformed EXIF never crashes and yields no orientation.

    private func jpeg(app1 payload: [UInt8]) -> Data {
        let length = payload.count + 2
        return Data([0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9])
    }

    private func tiff(littleEndian: Bool, ifdOffset: UInt32, entries: [(UInt16, UInt16, UInt32, UInt32)],
                      declaredCount: UInt16? = nil) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] {
            littleEndian ? u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF))
        }
        var out: [UInt8] = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(ifdOffset)
        out += u16(declaredCount ?? UInt16(entries.count))
        for (tag, type, count, value) in entries {
            // SHORT values sit left-justified in the 4-byte value field.
            out += u16(tag) + u16(type) + u32(count) + (type == 3 ? u16(UInt16(value)) + [0, 0] : u32(value))
        }
        return out + u32(0)
    }

    private let exif: [UInt8] = Array("Exif".utf8) + [0, 0]

    func testWellFormedSyntheticExif() {
        for littleEndian in [true, false] {
            let block = tiff(littleEndian: littleEndian, ifdOffset: 8, entries: [(0x0100, 4, 1, 640), (0x0112, 3, 1, 6)])
            XCTAssertEqual(ExifReader.orientation(inJPEG: jpeg(app1: exif + block)), 6)
            let long = tiff(littleEndian: littleEndian, ifdOffset: 8, entries: [(0x0112, 4, 1, 8)])
            XCTAssertEqual(ExifReader.orientation(inJPEG: jpeg(app1: exif + long)), 8)
        }
    }

    func testMalformedExifIsIgnored() {
        let cases: [[UInt8]] = [
            exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 3, 1, 9)]),          // value out of range
            exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 3, 1, 0)]),
            exif + tiff(littleEndian: false, ifdOffset: 0xFFFF_FFF0, entries: [(0x0112, 3, 1, 6)]),  // IFD beyond the end
            exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 3, 1, 6)], declaredCount: 0xFFFF).dropLast(20),
            exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 2, 1, 6)]),          // wrong type
            exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0100, 3, 1, 6)]),          // no orientation tag
            exif + [0x49, 0x49, 0x2B, 0x00, 8, 0, 0, 0],                                          // not TIFF magic 42
            exif + [0x49, 0x49],                                                                  // too short
            Array("Exif".utf8) + [0, 1] + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 3, 1, 6)]),
        ]
        for (index, payload) in cases.enumerated() {
            XCTAssertNil(ExifReader.orientation(inJPEG: jpeg(app1: payload)), "case \(index)")
        }
        // A segment length running past the end of the data.
        var overrun = jpeg(app1: exif + tiff(littleEndian: true, ifdOffset: 8, entries: [(0x0112, 3, 1, 6)]))
        overrun[4] = 0xFF
        XCTAssertNil(ExifReader.orientation(inJPEG: overrun))
        XCTAssertNil(ExifReader.orientation(inJPEG: Data([0xFF, 0xD8, 0xFF])))
        XCTAssertNil(ExifReader.orientation(inJPEG: Data()))
    }

    func testOrientationFoundAfterOtherSegments() {
        let app0: [UInt8] = [0xFF, 0xE0, 0x00, 0x07] + Array("JFIF".utf8) + [0]
        let block = exif + tiff(littleEndian: false, ifdOffset: 8, entries: [(0x0112, 3, 1, 3)])
        var data = Data([0xFF, 0xD8]) + Data(app0)
        data += Data([0xFF, 0xE1, UInt8((block.count + 2) >> 8), UInt8((block.count + 2) & 0xFF)] + block)
        XCTAssertEqual(ExifReader.orientation(inJPEG: data), 3)
    }
}
