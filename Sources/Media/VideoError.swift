/// Why a video could not be decoded, or which limit it broke.
///
/// The App maps `invalidVideo` and `noVideoStream` to 400 `invalid_video`, `unsupportedCodec`
/// to 415, `tooManyBytes` to 413, the other limits to 422 and `decodingUnavailable` (the server's
/// fault, not the upload's) to 503, each with this description.
public enum VideoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Not a video container Seer reads, or a container/stream so damaged nothing could be decoded.
    case invalidVideo(String)
    /// A readable container without a video stream (e.g. audio only).
    case noVideoStream(container: String)
    /// A video stream whose codec this FFmpeg build cannot decode.
    case unsupportedCodec(String)
    case tooManyBytes(bytes: Int, limit: Int)
    /// The header (or, for a lying header, the decoded timestamps) exceed the duration limit.
    case tooLong(seconds: Double, limit: Double, fromHeader: Bool)
    case tooLarge(width: Int, height: Int, maxPixels: Int)
    case tooManyFrames(limit: Int)
    case deadlineExceeded(seconds: Double)
    /// FFmpeg's shared libraries could not be loaded (the reason names the library): the server is
    /// installed without them, or with another major version than it was built against.
    case decodingUnavailable(String)

    public var description: String {
        switch self {
        case let .invalidVideo(reason):
            return "invalid video: \(reason)"
        case let .noVideoStream(container):
            return "the \(container) file has no video stream (audio or data only)"
        case let .unsupportedCodec(codec):
            return "the video codec '\(codec)' cannot be decoded by this server's FFmpeg"
        case let .tooManyBytes(bytes, limit):
            return "the video is \(bytes) bytes, more than the limit of \(limit) bytes"
        case let .tooLong(seconds, limit, fromHeader):
            let source = fromHeader ? "its header says it lasts" : "its frames reach"
            return "the video is too long: \(source) \(formatSeconds(seconds)) s, more than the limit of \(formatSeconds(limit)) s"
        case let .tooLarge(width, height, maxPixels):
            return "the video's frames are \(width)x\(height) = \(width * height) pixels, more than the limit of \(maxPixels) pixels"
        case let .tooManyFrames(limit):
            return "the video has more than the limit of \(limit) frames"
        case let .deadlineExceeded(seconds):
            return "decoding the video took longer than the limit of \(formatSeconds(seconds)) s"
        case let .decodingUnavailable(reason):
            return "video decoding is unavailable on this server: \(reason)"
        }
    }
}

func formatSeconds(_ value: Double) -> String {
    value.isFinite ? String(Double((value * 100).rounded() / 100)) : "unknown"
}
