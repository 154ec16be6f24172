import Foundation
import Media
import XCTest

/// Test fixtures under Tests/Fixtures/media and the shared media folder (../shared/media from the repo root).
enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let mediaFolder = repositoryRoot.appendingPathComponent("Tests/Fixtures/media")
    static let sharedFolder = repositoryRoot.appendingPathComponent("../shared/media").standardizedFileURL

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: mediaFolder.appendingPathComponent(name))
    }

    static func shared(_ name: String) throws -> Data {
        let url = sharedFolder.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("shared media \(url.path) is not available")
        }
        return try Data(contentsOf: url)
    }

    /// Pillow's decode of a file: size, per-channel means and an 8x8 grid of RGB samples.
    struct Reference: Decodable {
        let width: Int
        let height: Int
        let mean: [Double]
        let samples: [[Int]]
        let orientation: Int
        let source: String
        /// FNV-1a 64 of all interleaved RGB bytes.
        let fnv1a64: String
    }

    private struct ReferenceFile: Decodable {
        let decoder: String
        let files: [String: Reference]
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Fixtures.data("reference.json")
        let file = try JSONDecoder().decode(ReferenceFile.self, from: data)
        guard let reference = file.files[name] else { throw XCTSkip("no reference for \(name)") }
        return reference
    }
}

/// Compares a decoded image with Pillow's reference: exact size, every grid sample within
/// `tolerance` per channel, per-channel means within `meanTolerance`; with `tolerance` 0 also every
/// byte (by hash).
func assertMatches(_ image: RGBImage, _ reference: Fixtures.Reference, tolerance: Int, meanTolerance: Double,
                   _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(image.width, reference.width, "\(label) width", file: file, line: line)
    XCTAssertEqual(image.height, reference.height, "\(label) height", file: file, line: line)
    guard image.width == reference.width, image.height == reference.height else { return }
    var worst = 0
    for sample in reference.samples {
        let pixel = image.pixel(x: sample[0], y: sample[1])
        let differences = [abs(Int(pixel.r) - sample[2]), abs(Int(pixel.g) - sample[3]), abs(Int(pixel.b) - sample[4])]
        worst = max(worst, differences.max() ?? 0)
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(label): largest sample difference", file: file, line: line)
    if tolerance == 0 {
        XCTAssertEqual(fnv1a64(image.pixels), reference.fnv1a64, "\(label): all pixels", file: file, line: line)
    }
    let means = channelMeans(image)
    for channel in 0..<3 {
        XCTAssertEqual(means[channel], reference.mean[channel], accuracy: meanTolerance,
                       "\(label) mean of channel \(channel)", file: file, line: line)
    }
}

func channelMeans(_ image: RGBImage) -> [Double] {
    var sums = [0, 0, 0]
    for index in stride(from: 0, to: image.pixels.count, by: 3) {
        sums[0] += Int(image.pixels[index])
        sums[1] += Int(image.pixels[index + 1])
        sums[2] += Int(image.pixels[index + 2])
    }
    let count = Double(max(1, image.width * image.height))
    return sums.map { Double($0) / count }
}

func meanAbsoluteDifference(_ a: RGBImage, _ b: RGBImage) -> Double {
    guard a.pixels.count == b.pixels.count, !a.pixels.isEmpty else { return .infinity }
    var total = 0
    for index in a.pixels.indices {
        total += abs(Int(a.pixels[index]) - Int(b.pixels[index]))
    }
    return Double(total) / Double(a.pixels.count)
}

func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
