import Foundation
import Media
import XCTest

/// Inputs found by the fuzz targets in Fuzz/ (see Fuzz/README.md), kept as regressions.
final class MediaFuzzRegressionTests: XCTestCase {
    private func regression(_ name: String) throws -> Data {
        try Data(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/fuzz-regressions/\(name)"))
    }

    /// fuzz-png, oom-9ce1b653: 1151 bytes whose zTXt chunk declares 2,052,348,020 bytes. libpng
    /// only warns that the chunk is too large and allocates its declared length before reading
    /// it (2 GB); the decoder now refuses a chunk longer than the data left, before libpng runs.
    func testChunkLongerThanTheDataIsRefusedBeforeAllocation() throws {
        let data = try regression("png-ztxt-declares-2gb.png")
        let expected = ImageError.invalidImage(
            "PNG: premature end of PNG data: the chunk at byte 33 declares 2052348020 bytes, only 1106 remain")
        XCTAssertThrowsError(try ImageDecoder.decode(data)) { error in
            XCTAssertEqual(error as? ImageError, expected)
        }
        XCTAssertThrowsError(try ImageDecoder.info(of: data)) { error in
            XCTAssertEqual(error as? ImageError, expected)
        }
    }

    /// The same check after the image data: a complete PNG whose IEND is replaced by a tEXt
    /// chunk declaring 1 GB decodes its header, then fails at that chunk, not inside libpng.
    func testAncillaryChunkAfterTheImageDataIsChecked() throws {
        var data = try Fixtures.data("gray.png")
        let iend = data.count - 12
        XCTAssertEqual(data[iend + 4..<iend + 8], Data("IEND".utf8))
        data.replaceSubrange(iend..<data.count, with: [0x40, 0, 0, 0] + Array("tEXt".utf8) + Array("key\0value".utf8))
        XCTAssertNoThrow(try ImageDecoder.info(of: data))
        XCTAssertThrowsError(try ImageDecoder.decode(data)) { error in
            XCTAssertEqual(error as? ImageError, .invalidImage(
                "PNG: premature end of PNG data: the chunk at byte \(iend) declares 1073741824 bytes, only 5 remain"))
        }
    }
}
