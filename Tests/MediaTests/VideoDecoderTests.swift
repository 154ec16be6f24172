import Foundation
import Media
import XCTest

/// Decoding real clips (Tests/Fixtures/video, made by scripts/make-anomaly-clips.py from vtest.avi)
/// and refusing bad ones with the right error.
final class VideoDecoderTests: XCTestCase {
    static let videoFolder = Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/video")

    func clip(_ name: String) throws -> Data {
        try Data(contentsOf: VideoDecoderTests.videoFolder.appendingPathComponent(name))
    }

    /// Decodes with every frame sampled, returning the info and the sampled frames' times.
    func decodeAll(_ data: Data, options: VideoDecodingOptions = VideoDecodingOptions()) throws -> (VideoInfo, [VideoFrame]) {
        var frames: [VideoFrame] = []
        let info = try VideoDecoder.decode(data, options: options) { frames.append($0) }
        return (info, frames)
    }

    func testDecodesEachContainerAndCodec() throws {
        // (file, container, codec, frames): ffprobe counts 160, 160, 20 and 20 frames.
        let cases: [(String, String, String, Int)] = [
            ("test_tamper.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "h264", 160),
            ("test_tamper.avi", "avi", "mpeg4", 160),
            ("normal_c.mjpeg.avi", "avi", "mjpeg", 20),
            ("normal_c.webm", "matroska,webm", "vp8", 20),
        ]
        for (file, container, codec, frames) in cases {
            var options = VideoDecodingOptions()
            options.sampleFPS = 1000
            let (info, decoded) = try decodeAll(try clip(file), options: options)
            XCTAssertEqual(info.container, container, file)
            XCTAssertEqual(info.codec, codec, file)
            XCTAssertEqual(info.width, 160, file)
            XCTAssertEqual(info.height, 120, file)
            XCTAssertEqual(info.fps, 10, accuracy: 0.01, file)
            XCTAssertEqual(info.decodedFrames, frames, file)
            XCTAssertEqual(info.sampledFrames, frames, file)
            XCTAssertEqual(info.decodeErrors, 0, file)
            XCTAssertNil(info.stoppedEarly, file)
            XCTAssertEqual(info.durationSeconds, Double(frames) / 10, accuracy: 0.01, file)
            // Presentation order at 10 fps.
            for (index, frame) in decoded.enumerated() {
                XCTAssertEqual(frame.time, Double(index) / 10, accuracy: 1e-3, "\(file) frame \(index)")
                XCTAssertEqual(frame.rgb?.width, 160)
            }
        }
    }

    /// The same footage in two encodings decodes to nearly the same pixels; the blackout is black.
    func testPixelsAgreeAcrossEncodingsAndBlackoutIsBlack() throws {
        var options = VideoDecodingOptions()
        options.sampleFPS = 1000
        let (_, mp4) = try decodeAll(try clip("test_tamper.mp4"), options: options)
        let (_, avi) = try decodeAll(try clip("test_tamper.avi"), options: options)
        XCTAssertEqual(mp4.count, avi.count)
        for index in [0, 45, 120] {
            guard let a = mp4[index].rgb, let b = avi[index].rgb else { return XCTFail("frame \(index) missing") }
            // Both are lossy encodings of one source: mean absolute difference under 8 of 255.
            XCTAssertLessThan(meanAbsoluteDifference(a, b), 8, "frame \(index)")
            XCTAssertGreaterThan(channelMeans(a)[0], 40, "footage frame \(index) is not dark")
        }
        // Event: black from 9 s to 11 s (frames 90..109).
        for index in [92, 100, 107] {
            guard let frame = mp4[index].rgb else { return XCTFail("frame \(index) missing") }
            XCTAssertLessThan(channelMeans(frame).max() ?? 255, 20, "blackout frame \(index)")
        }
    }

    func testSamplingRateSizeAndThumbnails() throws {
        var options = VideoDecodingOptions()
        options.sampleFPS = 2
        options.sampleSize = (64, 48)
        options.thumbnailSize = (16, 12)
        let (info, frames) = try decodeAll(try clip("test_foreign.mp4"), options: options)
        let sampled = frames.filter { $0.rgb != nil }
        // 16 s at 2 frames per second: the first frame of each half second.
        XCTAssertEqual(info.sampledFrames, 32)
        XCTAssertEqual(sampled.count, 32)
        XCTAssertEqual(sampled.map(\.time), (0..<32).map { Double($0) / 2 }, accuracy: 1e-3)
        XCTAssertEqual(sampled.first?.rgb?.width, 64)
        XCTAssertEqual(sampled.first?.rgb?.height, 48)
        XCTAssertEqual(frames.count, 160)
        XCTAssertTrue(frames.allSatisfy { $0.thumbnail?.width == 16 && $0.thumbnail?.height == 12 })
    }

    func testProbeReadsTheHeaderOnly() throws {
        let info = try VideoDecoder.probe(try clip("test_fast.mp4"))
        XCTAssertEqual(info.codec, "h264")
        XCTAssertEqual(info.headerDurationSeconds ?? 0, 16, accuracy: 0.05)
        XCTAssertEqual(info.decodedFrames, 0)
    }

    // MARK: Bad input

    func assertRefused(_ data: Data, options: VideoDecodingOptions = VideoDecodingOptions(), _ label: String,
                       file: StaticString = #filePath, line: UInt = #line, _ check: (VideoError) -> Bool) {
        do {
            _ = try VideoDecoder.decode(data, options: options) { _ in }
            XCTFail("\(label) was decoded", file: file, line: line)
        } catch let error as VideoError {
            XCTAssertTrue(check(error), "\(label): unexpected \(error)", file: file, line: line)
        } catch {
            XCTFail("\(label): not a VideoError: \(error)", file: file, line: line)
        }
    }

    func testRefusesEmptyTextImageAndTruncatedIndex() throws {
        func isInvalid(_ error: VideoError) -> Bool { if case .invalidVideo = error { return true }; return false }
        assertRefused(Data(), "empty", isInvalid)
        assertRefused(Data("this is not a video, just some text\n".utf8), "text", isInvalid)
        assertRefused(try Fixtures.data("orientation_1.jpg"), "JPEG") { error in
            isInvalid(error) && error.description.contains("JPEG image")
        }
        assertRefused(try Fixtures.data("rgba.png"), "PNG", isInvalid)
        assertRefused(try Fixtures.data("random.bin"), "random bytes", isInvalid)
        assertRefused(try clip("bad_truncated_index.mp4"), "MP4 cut before its index", isInvalid)
        assertRefused(try clip("test_tamper.mp4").prefix(1000), "first 1000 bytes", isInvalid)
    }

    func testRefusesAudioOnly() throws {
        assertRefused(try clip("bad_audio_only.m4a"), "audio only") { error in
            if case .noVideoStream = error { return error.description.contains("no video stream") }
            return false
        }
    }

    func testRefusesHugeHeaderBeforeDecoding() throws {
        assertRefused(try clip("bad_huge_header.avi"), "100000x100000 header") { error in
            error == .tooLarge(width: 100_000, height: 100_000, maxPixels: VideoDecodingOptions().maxPixels)
        }
    }

    func testRefusesTwoHourClipByItsHeader() throws {
        var decoded = 0
        var options = VideoDecodingOptions()
        options.maxDurationSeconds = 600
        XCTAssertThrowsError(try VideoDecoder.decode(try clip("bad_two_hours.mp4"), options: options) { _ in decoded += 1 }) { error in
            guard case let .tooLong(seconds, limit, fromHeader) = error as? VideoError else { return XCTFail("\(error)") }
            XCTAssertEqual(seconds, 7200, accuracy: 1)
            XCTAssertEqual(limit, 600)
            XCTAssertTrue(fromHeader)
        }
        XCTAssertEqual(decoded, 0, "no frame is decoded")
    }

    func testOtherLimits() throws {
        let data = try clip("test_tamper.mp4")
        var options = VideoDecodingOptions()
        options.maxBytes = 1000
        assertRefused(data, options: options, "byte limit") { $0 == .tooManyBytes(bytes: data.count, limit: 1000) }
        options = VideoDecodingOptions()
        options.maxDecodedFrames = 50
        assertRefused(data, options: options, "frame limit") { $0 == .tooManyFrames(limit: 50) }
        options = VideoDecodingOptions()
        options.maxPixels = 160 * 119
        assertRefused(data, options: options, "pixel limit") { $0 == .tooLarge(width: 160, height: 120, maxPixels: 160 * 119) }
        options = VideoDecodingOptions()
        options.deadlineSeconds = 0
        assertRefused(data, options: options, "deadline") { $0 == .deadlineExceeded(seconds: 0) }
    }

    /// The first 40% of an MP4 whose index is in front: the frames before the cut decode.
    func testTruncatedWithIndexDecodesWhatIsThere() throws {
        let whole = try clip("test_tamper.mp4")
        let (info, _) = try decodeAll(whole.prefix(whole.count * 2 / 5))
        XCTAssertGreaterThan(info.decodedFrames, 10)
        XCTAssertLessThan(info.decodedFrames, 160)
        XCTAssertFalse(info.warnings.isEmpty, "the response must say the clip was cut short")
    }

    /// Damage in the middle (3000 bytes of the H.264 stream overwritten by a pattern): decoding
    /// goes on past it and says what was skipped.
    func testCorruptMiddleDecodesTheRestAndSaysSo() throws {
        var options = VideoDecodingOptions()
        options.sampleFPS = 1000
        let (info, frames) = try decodeAll(corruptedMiddle(try clip("test_tamper.mp4")), options: options)
        XCTAssertGreaterThan(info.decodedFrames, 140, "frames after the damage are decoded")
        XCTAssertFalse(info.warnings.isEmpty)
        XCTAssertGreaterThan(frames.last?.time ?? 0, 15)
    }
}

/// `data` with 3000 bytes from its middle overwritten by a byte pattern.
func corruptedMiddle(_ data: Data) -> Data {
    var bytes = [UInt8](data)
    let middle = bytes.count / 2
    for offset in 0..<3000 { bytes[middle + offset] = UInt8((offset * 37 + 11) & 0xFF) }
    return Data(bytes)
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "counts", file: file, line: line)
    for (x, y) in zip(a, b) where abs(x - y) > accuracy {
        XCTFail("\(x) != \(y) (±\(accuracy)) in \(a)", file: file, line: line)
        return
    }
}
