import CFFmpeg
import CVideoIO
import Foundation

/// Limits and sampling for decoding one uploaded clip.
public struct VideoDecodingOptions: Sendable {
    public var maxBytes = 256 << 20
    /// Refused from the header when it declares more; enforced on timestamps too.
    public var maxDurationSeconds = 1800.0
    public var maxPixels = 3840 * 2160
    public var maxDecodedFrames = 100_000
    /// Wall-clock limit for opening and decoding, in seconds.
    public var deadlineSeconds = 120.0
    /// Frames handed over in RGB: the first decoded frame of every 1/sampleFPS interval.
    public var sampleFPS = 4.0
    /// Size of the sampled RGB frames (nil: the video's own size).
    public var sampleSize: (width: Int, height: Int)?
    /// Size of the grayscale thumbnail made of EVERY decoded frame (nil: none), e.g. for motion.
    public var thumbnailSize: (width: Int, height: Int)?
    /// Decoder threads.
    public var threads = 1

    public init() {}
}

/// What the container says and what decoding found.
public struct VideoInfo: Sendable, Equatable {
    public var container: String
    public var codec: String
    public var width: Int
    public var height: Int
    /// Frame rate from the stream header (average, else the base rate); 0 when unknown.
    public var fps: Double
    /// Duration from the header, seconds; nil when the container does not say.
    public var headerDurationSeconds: Double?
    public var decodedFrames = 0
    public var sampledFrames = 0
    /// Time of the last decoded frame plus one frame interval.
    public var durationSeconds = 0.0
    /// Packets the decoder refused and frames it marked corrupt.
    public var decodeErrors = 0
    /// Set when reading stopped at damaged data before the end of the file: what was valid was decoded.
    public var stoppedEarly: String?

    /// Human-readable notes about damage that decoding worked around.
    public var warnings: [String] {
        var notes: [String] = []
        if decodeErrors > 0 { notes.append("\(decodeErrors) damaged packets or frames were skipped or concealed") }
        if let stoppedEarly { notes.append("reading stopped early: \(stoppedEarly); the frames before it were used") }
        if let header = headerDurationSeconds, decodedFrames > 0, durationSeconds < header * 0.9 - 0.5 {
            notes.append("the frames end at \(formatSeconds(durationSeconds)) s but the header says \(formatSeconds(header)) s: the file is probably truncated; the frames present were used")
        }
        return notes
    }
}

/// One decoded frame. `rgb` is set for sampled frames only; `thumbnail` for every frame when asked.
public struct VideoFrame {
    /// Index among all decoded frames.
    public var index: Int
    /// Seconds from the first frame.
    public var time: Double
    public var rgb: RGBImage?
    public var thumbnail: GrayImage?
}

/// Decodes clips from memory with FFmpeg's libraries (libavformat demuxing through a custom
/// AVIOContext, libavcodec decoding, libswscale conversion), loaded on the first decode. Containers
/// are limited to a whitelist so that no demuxer that opens other files or URLs (HLS, concat, ...)
/// is ever probed.
public enum VideoDecoder {
    /// Demuxers FFmpeg may probe: MP4/MOV, AVI, Matroska/WebM, MPEG-TS, FLV.
    public static let containers = "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm,mpegts,flv"

    /// Reads the container header only: no frame is decoded. Enforces the byte, pixel and duration limits.
    public static func probe(_ data: Data, options: VideoDecodingOptions = VideoDecodingOptions()) throws -> VideoInfo {
        try withOpenStream(data, options: options) { stream in stream.info }
    }

    /// Decodes the clip, calling `body` for every decoded frame in presentation order.
    @discardableResult
    public static func decode(_ data: Data, options: VideoDecodingOptions = VideoDecodingOptions(),
                              _ body: (VideoFrame) throws -> Void) throws -> VideoInfo {
        try withOpenStream(data, options: options) { stream in
            try stream.decodeAll(body)
            return stream.info
        }
    }

    private static func withOpenStream<T>(_ data: Data, options: VideoDecodingOptions, _ body: (OpenStream) throws -> T) throws -> T {
        guard data.count <= options.maxBytes else { throw VideoError.tooManyBytes(bytes: data.count, limit: options.maxBytes) }
        guard !data.isEmpty else { throw VideoError.invalidVideo("the upload is empty") }
        if let kind = stillImageKind(data) {
            throw VideoError.invalidVideo("this is a \(kind) image, not a video; send MP4, AVI, MKV or WebM")
        }
        let av = try ffmpeg()
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> T in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { throw VideoError.invalidVideo("the upload is empty") }
            let deadline = av.av_gettime_relative() + Int64(options.deadlineSeconds * 1e6)
            guard let input = seer_video_input_create(base, raw.count, deadline) else {
                throw VideoError.invalidVideo("out of memory opening the video")
            }
            defer { seer_video_input_destroy(input) }
            let stream = try OpenStream(av, input: input, options: options)
            defer { stream.close() }
            return try body(stream)
        }
    }

    /// FFmpeg's functions: its shared libraries are loaded by the first call (once per process), so
    /// a process that never decodes video never maps them.
    static func ffmpeg() throws -> seer_ffmpeg {
        guard let functions = seer_ffmpeg_load() else {
            throw VideoError.decodingUnavailable(String(cString: seer_ffmpeg_load_error()))
        }
        return functions.pointee
    }

    /// Formats FFmpeg would happily read as one-frame "videos".
    static func stillImageKind(_ data: Data) -> String? {
        let bytes = [UInt8](data.prefix(12))
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "JPEG" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "PNG" }
        if bytes.starts(with: Array("GIF8".utf8)) { return "GIF" }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return "WebP" }
        return nil
    }

    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        seer_error_string(code, &buffer, buffer.count)
        return String(cString: buffer)
    }
}

/// An opened container with its video decoder; frees everything in `close`.
private final class OpenStream {
    let av: seer_ffmpeg
    let input: OpaquePointer
    let options: VideoDecodingOptions
    let format: UnsafeMutablePointer<AVFormatContext>
    let streamIndex: Int32
    let stream: UnsafeMutablePointer<AVStream>
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var info: VideoInfo
    private var rgbScaler: OpaquePointer?
    private var grayScaler: OpaquePointer?

    init(_ av: seer_ffmpeg, input: OpaquePointer, options: VideoDecodingOptions) throws {
        self.av = av
        self.input = input
        self.options = options
        var opened: UnsafeMutablePointer<AVFormatContext>?
        let status = seer_video_input_open(input, VideoDecoder.containers, 5 << 20, &opened)
        try OpenStream.checkDeadline(input, options)
        guard status >= 0, let opened else {
            throw VideoError.invalidVideo("not a readable MP4, AVI, MKV, WebM, MPEG-TS or FLV file (\(VideoDecoder.message(status)))")
        }
        format = opened
        let containerName = opened.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "unknown"
        // The declared frame sizes are checked before avformat_find_stream_info decodes anything.
        for index in 0..<Int(opened.pointee.nb_streams) {
            guard let parameters = opened.pointee.streams[index]?.pointee.codecpar.pointee,
                  parameters.codec_type == AVMEDIA_TYPE_VIDEO else { continue }
            try OpenStream.checkSize(width: Int(parameters.width), height: Int(parameters.height), options)
        }
        let infoStatus = av.avformat_find_stream_info(opened, nil)
        try OpenStream.checkDeadline(input, options)
        guard infoStatus >= 0 else {
            throw VideoError.invalidVideo("the \(containerName) streams cannot be read (\(VideoDecoder.message(infoStatus)))")
        }
        var decoder: UnsafePointer<AVCodec>?
        let index = av.av_find_best_stream(opened, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        if index == seer_averror_decoder_not_found() {
            let found = av.av_find_best_stream(opened, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
            let id = found >= 0 ? (opened.pointee.streams[Int(found)]?.pointee.codecpar.pointee.codec_id ?? AV_CODEC_ID_NONE) : AV_CODEC_ID_NONE
            throw VideoError.unsupportedCodec(OpenStream.codecName(av, id))
        }
        guard index >= 0, let streamPointer = opened.pointee.streams[Int(index)] else {
            throw VideoError.noVideoStream(container: containerName)
        }
        streamIndex = index
        stream = streamPointer
        let parameters = streamPointer.pointee.codecpar.pointee
        let width = Int(parameters.width), height = Int(parameters.height)
        info = VideoInfo(container: containerName, codec: OpenStream.codecName(av, parameters.codec_id),
                         width: width, height: height, fps: OpenStream.frameRate(streamPointer.pointee),
                         headerDurationSeconds: OpenStream.headerDuration(opened.pointee, streamPointer.pointee))
        guard width > 0, height > 0 else { throw VideoError.invalidVideo("the video stream does not state its frame size") }
        try OpenStream.checkSize(width: width, height: height, options)
        if let seconds = info.headerDurationSeconds, seconds > options.maxDurationSeconds {
            throw VideoError.tooLong(seconds: seconds, limit: options.maxDurationSeconds, fromHeader: true)
        }
        if streamPointer.pointee.nb_frames > Int64(options.maxDecodedFrames) {
            throw VideoError.tooManyFrames(limit: options.maxDecodedFrames)
        }
        guard let decoder else { throw VideoError.unsupportedCodec(info.codec) }
        try openDecoder(decoder, parameters: streamPointer.pointee.codecpar)
    }

    private static func codecName(_ av: seer_ffmpeg, _ id: AVCodecID) -> String {
        av.avcodec_get_name(id).map { String(cString: $0) } ?? "unknown"
    }

    private func openDecoder(_ decoder: UnsafePointer<AVCodec>, parameters: UnsafePointer<AVCodecParameters>) throws {
        guard let context = av.avcodec_alloc_context3(decoder) else { throw VideoError.invalidVideo("out of memory opening the decoder") }
        codec = context
        guard av.avcodec_parameters_to_context(context, parameters) >= 0 else {
            throw VideoError.invalidVideo("the \(info.codec) stream parameters are invalid")
        }
        context.pointee.thread_count = Int32(max(1, options.threads))
        context.pointee.max_pixels = Int64(options.maxPixels)
        context.pointee.pkt_timebase = stream.pointee.time_base
        let status = av.avcodec_open2(context, decoder, nil)
        guard status >= 0 else {
            throw VideoError.invalidVideo("cannot open the \(info.codec) decoder: \(VideoDecoder.message(status))")
        }
    }

    static func checkSize(width: Int, height: Int, _ options: VideoDecodingOptions) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= options.maxPixels, width <= 1 << 16, height <= 1 << 16 else {
            throw VideoError.tooLarge(width: width, height: height, maxPixels: options.maxPixels)
        }
    }

    static func rational(_ value: AVRational) -> Double {
        value.den == 0 ? 0 : Double(value.num) / Double(value.den)
    }

    static func frameRate(_ stream: AVStream) -> Double {
        let average = rational(stream.avg_frame_rate)
        if average.isFinite, average > 0, average < 1000 { return average }
        let base = rational(stream.r_frame_rate)
        return base.isFinite && base > 0 && base < 1000 ? base : 0
    }

    /// The longer of the container's and the stream's declared duration.
    static func headerDuration(_ format: AVFormatContext, _ stream: AVStream) -> Double? {
        var seconds: [Double] = []
        if format.duration != seer_av_nopts_value(), format.duration > 0 { seconds.append(Double(format.duration) / 1e6) }
        if stream.duration != seer_av_nopts_value(), stream.duration > 0 {
            seconds.append(Double(stream.duration) * rational(stream.time_base))
        }
        return seconds.filter(\.isFinite).max()
    }

    func close() {
        if codec != nil { av.avcodec_free_context(&codec) }
        av.sws_freeContext(rgbScaler)
        av.sws_freeContext(grayScaler)
    }

    // MARK: Decoding

    private var firstTimestamp: Int64?
    private var lastSampleSlot = -1
    private var lastTime = 0.0

    func decodeAll(_ body: (VideoFrame) throws -> Void) throws {
        guard let codec else { return }
        guard let packet = av.av_packet_alloc() else { throw VideoError.invalidVideo("out of memory") }
        var packetPointer: UnsafeMutablePointer<AVPacket>? = packet
        defer { av.av_packet_free(&packetPointer) }
        guard let frame = av.av_frame_alloc() else { throw VideoError.invalidVideo("out of memory") }
        var framePointer: UnsafeMutablePointer<AVFrame>? = frame
        defer { av.av_frame_free(&framePointer) }

        while true {
            try OpenStream.checkDeadline(input, options)
            let status = av.av_read_frame(format, packet)
            if status == seer_averror_eof() { break }
            if status < 0 {
                if seer_video_input_expired(input) != 0 { throw VideoError.deadlineExceeded(seconds: options.deadlineSeconds) }
                info.stoppedEarly = "the container is damaged after \(formatSeconds(lastTime)) s (\(VideoDecoder.message(status)))"
                break
            }
            defer { av.av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if av.avcodec_send_packet(codec, packet) < 0 {
                info.decodeErrors += 1
                continue
            }
            try receiveFrames(codec, frame, body)
        }
        _ = av.avcodec_send_packet(codec, nil)
        try receiveFrames(codec, frame, body)
        guard info.decodedFrames > 0 else {
            throw VideoError.invalidVideo("no frame of the \(info.codec) stream could be decoded" + (info.stoppedEarly.map { ": \($0)" } ?? ""))
        }
    }

    private static func checkDeadline(_ input: OpaquePointer, _ options: VideoDecodingOptions) throws {
        if seer_video_input_expired(input) != 0 { throw VideoError.deadlineExceeded(seconds: options.deadlineSeconds) }
    }

    private func receiveFrames(_ codec: UnsafeMutablePointer<AVCodecContext>, _ frame: UnsafeMutablePointer<AVFrame>,
                               _ body: (VideoFrame) throws -> Void) throws {
        while true {
            let status = av.avcodec_receive_frame(codec, frame)
            if status == seer_averror_eagain() || status == seer_averror_eof() { return }
            if status < 0 {
                info.decodeErrors += 1
                return
            }
            defer { av.av_frame_unref(frame) }
            try deliver(frame, body)
        }
    }

    private func deliver(_ frame: UnsafeMutablePointer<AVFrame>, _ body: (VideoFrame) throws -> Void) throws {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        guard width > 0, height > 0 else { info.decodeErrors += 1; return }
        guard width * height <= options.maxPixels else {
            throw VideoError.tooLarge(width: width, height: height, maxPixels: options.maxPixels)
        }
        if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & 1 != 0 { info.decodeErrors += 1 }
        guard info.decodedFrames < options.maxDecodedFrames else { throw VideoError.tooManyFrames(limit: options.maxDecodedFrames) }
        let time = frameTime(frame.pointee)
        guard time <= options.maxDurationSeconds else {
            throw VideoError.tooLong(seconds: time, limit: options.maxDurationSeconds, fromHeader: false)
        }
        let index = info.decodedFrames
        info.decodedFrames += 1
        lastTime = time
        let interval = info.fps > 0 ? 1 / info.fps : 0
        info.durationSeconds = max(info.durationSeconds, time + interval)

        let slot = Int((time * options.sampleFPS + 1e-6).rounded(.down))
        var output = VideoFrame(index: index, time: time, rgb: nil, thumbnail: nil)
        if slot > lastSampleSlot {
            lastSampleSlot = slot
            let size = options.sampleSize ?? (width, height)
            output.rgb = try scale(frame, width: size.width, height: size.height)
            info.sampledFrames += 1
        }
        if let size = options.thumbnailSize {
            output.thumbnail = try thumbnail(frame, width: size.width, height: size.height)
        }
        try body(output)
    }

    /// Seconds from the first frame, from the best-effort timestamp (frame count / fps when absent).
    private func frameTime(_ frame: AVFrame) -> Double {
        let timestamp = frame.best_effort_timestamp
        guard timestamp != seer_av_nopts_value() else {
            return info.fps > 0 ? Double(info.decodedFrames) / info.fps : Double(info.decodedFrames)
        }
        let first = firstTimestamp ?? timestamp
        firstTimestamp = first
        let seconds = Double(timestamp &- first) * OpenStream.rational(stream.pointee.time_base)
        return seconds.isFinite ? max(0, seconds) : 0
    }

    private func scale(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int) throws -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        try convert(frame, width: width, height: height, format: AV_PIX_FMT_RGB24, flags: SWS_BILINEAR, into: &pixels, stride: width * 3)
        return RGBImage(uncheckedWidth: width, height: height, pixels: pixels)
    }

    private func thumbnail(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int) throws -> GrayImage {
        var pixels = [UInt8](repeating: 0, count: width * height)
        try convert(frame, width: width, height: height, format: AV_PIX_FMT_GRAY8, flags: SWS_AREA, into: &pixels, stride: width)
        return try GrayImage(width: width, height: height, pixels: pixels)
    }

    private func convert(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int, format: AVPixelFormat, flags: Int32,
                         into pixels: inout [UInt8], stride: Int) throws {
        guard width > 0, height > 0, width * height <= options.maxPixels else {
            throw VideoError.tooLarge(width: width, height: height, maxPixels: options.maxPixels)
        }
        let status = pixels.withUnsafeMutableBufferPointer { buffer in
            format == AV_PIX_FMT_GRAY8
                ? seer_scale_frame(&grayScaler, frame, Int32(width), Int32(height), format.rawValue, flags, buffer.baseAddress, Int32(stride))
                : seer_scale_frame(&rgbScaler, frame, Int32(width), Int32(height), format.rawValue, flags, buffer.baseAddress, Int32(stride))
        }
        guard status >= 0 else {
            throw VideoError.invalidVideo("cannot convert a \(info.codec) frame to RGB: \(VideoDecoder.message(status))")
        }
    }
}
