import Foundation
import Media

// A clip through VideoDecoder.decode from memory (FFmpeg demuxing over the in-memory AVIO
// context, decoding, RGB sampling and grey thumbnails) with the limits and sampling of
// POST /anomaly: the server's video limits and the default feature spec's sizes.

private let anomalyRouteOptions: VideoDecodingOptions = {
    var options = VideoDecodingOptions()
    options.maxBytes = 64 * 1024 * 1024
    options.maxPixels = 3840 * 2160
    options.maxDurationSeconds = 1800
    options.maxDecodedFrames = 60_000
    options.deadlineSeconds = 120
    options.threads = 1
    options.sampleFPS = 4
    options.sampleSize = (256, 192)
    options.thumbnailSize = (32, 24)
    return options
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVideo(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let clip = Data(bytes: data, count: size)
    do {
        var frames = 0
        let info = try VideoDecoder.decode(clip, options: anomalyRouteOptions) { frame in
            if let rgb = frame.rgb {
                precondition(rgb.width == 256 && rgb.height == 192 && rgb.pixels.count == 256 * 192 * 3, "sampled frame of the wrong size")
            }
            precondition(frame.thumbnail?.pixels.count == 32 * 24, "thumbnail of the wrong size")
            frames += 1
        }
        precondition(info.decodedFrames == frames && frames > 0, "decodedFrames \(info.decodedFrames) for \(frames) frames")
    } catch is VideoError {
    } catch {
        preconditionFailure("VideoDecoder threw a non-video error: \(error)")
    }
    return 0
}
