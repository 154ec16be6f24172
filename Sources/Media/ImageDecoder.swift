import CImageCodecs
import Foundation

/// What to do with a PNG's alpha channel (or tRNS transparency).
public enum AlphaHandling: Sendable, Equatable {
    /// Keep the stored colour values and ignore alpha, like PIL's `convert("RGB")`; this keeps
    /// pixel parity with Python reference pipelines.
    case drop
    /// Blend over a solid background: `value = (color * alpha + background * (255 - alpha)) / 255`.
    case composite(red: UInt8, green: UInt8, blue: UInt8)
}

public struct ImageDecodingOptions: Sendable, Equatable {
    /// Largest accepted `width * height`, checked from the header before pixel memory is allocated.
    public var maxPixels: Int
    /// Rotate/mirror JPEGs upright according to their EXIF orientation.
    public var applyOrientation: Bool
    public var alpha: AlphaHandling
    /// Largest accepted number of scans in a progressive JPEG (each scan re-walks the whole image).
    public var maxJPEGScans: Int

    public init(maxPixels: Int = 50_000_000, applyOrientation: Bool = true, alpha: AlphaHandling = .drop,
                maxJPEGScans: Int = 500) {
        self.maxPixels = maxPixels
        self.applyOrientation = applyOrientation
        self.alpha = alpha
        self.maxJPEGScans = maxJPEGScans
    }
}

/// Size and orientation read from the header only.
public struct ImageInfo: Sendable, Equatable {
    public let format: ImageFormat
    /// Size of the pixels as stored in the file.
    public let storedWidth: Int
    public let storedHeight: Int
    /// EXIF orientation found in the file (1 when absent; PNGs are always 1).
    public let orientation: ExifOrientation
    public let hasAlpha: Bool

    /// Size after `orientation` is applied.
    public var uprightWidth: Int { orientation.swapsDimensions ? storedHeight : storedWidth }
    public var uprightHeight: Int { orientation.swapsDimensions ? storedWidth : storedHeight }
}

/// A decoded image and how it was obtained.
public struct DecodedImage: Sendable {
    /// The pixels, upright when orientation was applied.
    public var image: RGBImage
    public let info: ImageInfo
    /// The orientation applied to the stored pixels (`.identity` when none was or when disabled).
    public let appliedOrientation: ExifOrientation
}

/// Decodes JPEG and PNG to 8-bit RGB.
///
/// Errors: `unsupportedFormat` for recognised non-JPEG/PNG formats, `invalidImage` for anything
/// else that does not decode (with libjpeg's / libpng's message; a premature end of data is an
/// error, not grey/black fill), `tooLarge` above `maxPixels`.
public enum ImageDecoder {
    public static func decode(_ data: Data, options: ImageDecodingOptions = ImageDecodingOptions()) throws -> DecodedImage {
        let format = try supportedFormat(of: data)
        switch format {
        case .jpeg: return try decodeJPEG(data, options: options)
        default: return try decodePNG(data, options: options)
        }
    }

    /// Reads only the header: format, stored size, orientation. Applies no pixel limit.
    public static func info(of data: Data) throws -> ImageInfo {
        let format = try supportedFormat(of: data)
        return try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            if format == .jpeg {
                return try withJPEGDecoder(bytes, maxScans: 1) { decoder in
                    try jpegInfo(decoder, data: data, maxPixels: jpegMaxDimension * jpegMaxDimension)
                }
            }
            return try withPNGDecoder(bytes) { decoder in try pngInfo(decoder) }
        }
    }

    // MARK: Format

    static func supportedFormat(of data: Data) throws -> ImageFormat {
        guard !data.isEmpty else { throw ImageError.invalidImage("empty data") }
        guard let format = ImageFormat.sniff(data) else {
            throw ImageError.invalidImage("data is not a JPEG or PNG image (unrecognised signature)")
        }
        guard format.isSupported else { throw ImageError.unsupportedFormat(format) }
        return format
    }

    static func checkPixelLimit(width: Int, height: Int, options: ImageDecodingOptions) throws {
        guard width > 0, height > 0 else { throw ImageError.invalidImage("image has zero width or height") }
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, area <= options.maxPixels else {
            throw ImageError.tooLarge(width: width, height: height, maxPixels: options.maxPixels)
        }
    }

    /// An array of `count` bytes filled by `fill`, which returns false (and leaves the buffer
    /// unspecified) on failure.
    static func filledBuffer(count: Int, _ fill: (UnsafeMutablePointer<UInt8>) -> Bool) -> [UInt8]? {
        var succeeded = false
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { initialized = 0; return }
            succeeded = fill(base)
            // Bytes are trivial; the contents are discarded on failure.
            initialized = count
        }
        return succeeded ? buffer : nil
    }

    // MARK: JPEG

    private static func withJPEGDecoder<T>(_ bytes: UnsafeBufferPointer<UInt8>, maxScans: Int,
                                           _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let base = bytes.baseAddress,
              let decoder = seer_jpeg_decoder_create(base, bytes.count, Int32(clamping: maxScans))
        else { throw ImageError.invalidImage("cannot create a JPEG decoder") }
        defer { seer_jpeg_decoder_destroy(decoder) }
        return try body(decoder)
    }

    private static func jpegFailure(_ decoder: OpaquePointer) -> ImageError {
        .invalidImage("JPEG: " + String(cString: seer_jpeg_error_message(decoder)))
    }

    /// libjpeg's largest width or height (`JPEG_MAX_DIMENSION`).
    static let jpegMaxDimension = 65500

    private static func jpegInfo(_ decoder: OpaquePointer, data: Data, maxPixels: Int) throws -> ImageInfo {
        var header = seer_jpeg_header()
        switch seer_jpeg_read_header(decoder, &header) {
        case 0: break
        case 2: throw ImageError.tooLarge(width: Int(header.width), height: Int(header.height), maxPixels: maxPixels)
        default: throw jpegFailure(decoder)
        }
        let orientation = ExifReader.orientation(inJPEG: data).flatMap(ExifOrientation.init(rawValue:)) ?? .identity
        return ImageInfo(format: .jpeg, storedWidth: Int(header.width), storedHeight: Int(header.height),
                         orientation: orientation, hasAlpha: false)
    }

    static func decodeJPEG(_ data: Data, options: ImageDecodingOptions) throws -> DecodedImage {
        let (info, stored) = try data.withUnsafeBytes { raw -> (ImageInfo, RGBImage) in
            try withJPEGDecoder(raw.bindMemory(to: UInt8.self), maxScans: options.maxJPEGScans) { decoder in
                let info = try jpegInfo(decoder, data: data, maxPixels: min(options.maxPixels, jpegMaxDimension * jpegMaxDimension))
                try checkPixelLimit(width: info.storedWidth, height: info.storedHeight, options: options)
                let count = info.storedWidth * info.storedHeight * 3
                guard let pixels = filledBuffer(count: count, { seer_jpeg_decode_rgb(decoder, $0, count) == 0 }) else {
                    throw jpegFailure(decoder)
                }
                return (info, RGBImage(uncheckedWidth: info.storedWidth, height: info.storedHeight, pixels: pixels))
            }
        }
        let applied = options.applyOrientation ? info.orientation : .identity
        return DecodedImage(image: applied.apply(to: stored), info: info, appliedOrientation: applied)
    }

    // MARK: PNG

    private static func withPNGDecoder<T>(_ bytes: UnsafeBufferPointer<UInt8>,
                                          _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let base = bytes.baseAddress, let decoder = seer_png_decoder_create(base, bytes.count) else {
            throw ImageError.invalidImage("cannot create a PNG decoder")
        }
        defer { seer_png_decoder_destroy(decoder) }
        return try body(decoder)
    }

    private static func pngFailure(_ decoder: OpaquePointer) -> ImageError {
        .invalidImage("PNG: " + String(cString: seer_png_error_message(decoder)))
    }

    private static func pngInfo(_ decoder: OpaquePointer) throws -> ImageInfo {
        var header = seer_png_header()
        guard seer_png_read_header(decoder, &header) == 0 else { throw pngFailure(decoder) }
        return ImageInfo(format: .png, storedWidth: Int(header.width), storedHeight: Int(header.height),
                         orientation: .identity, hasAlpha: header.has_alpha != 0)
    }

    static func decodePNG(_ data: Data, options: ImageDecodingOptions) throws -> DecodedImage {
        let (info, pixels) = try data.withUnsafeBytes { raw -> (ImageInfo, [UInt8]) in
            try withPNGDecoder(raw.bindMemory(to: UInt8.self)) { decoder in
                let info = try pngInfo(decoder)
                try checkPixelLimit(width: info.storedWidth, height: info.storedHeight, options: options)
                let count = info.storedWidth * info.storedHeight * (info.hasAlpha ? 4 : 3)
                guard let pixels = filledBuffer(count: count, { seer_png_decode(decoder, $0, count) == 0 }) else {
                    throw pngFailure(decoder)
                }
                return (info, pixels)
            }
        }
        let rgb = info.hasAlpha ? removeAlpha(from: pixels, handling: options.alpha) : pixels
        let image = RGBImage(uncheckedWidth: info.storedWidth, height: info.storedHeight, pixels: rgb)
        return DecodedImage(image: image, info: info, appliedOrientation: .identity)
    }

    /// RGBA to RGB, in place (each RGB pixel is written at or before the RGBA pixel it comes from).
    static func removeAlpha(from rgba: [UInt8], handling: AlphaHandling) -> [UInt8] {
        var pixels = rgba
        let count = pixels.count / 4
        pixels.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            switch handling {
            case .drop:
                for index in 0..<count {
                    base[index * 3] = base[index * 4]
                    base[index * 3 + 1] = base[index * 4 + 1]
                    base[index * 3 + 2] = base[index * 4 + 2]
                }
            case .composite(let red, let green, let blue):
                let background = [UInt32(red), UInt32(green), UInt32(blue)]
                for index in 0..<count {
                    let alpha = UInt32(base[index * 4 + 3])
                    for channel in 0..<3 {
                        let blended = UInt32(base[index * 4 + channel]) * alpha + background[channel] * (255 - alpha)
                        base[index * 3 + channel] = UInt8((blended + 127) / 255)
                    }
                }
            }
        }
        pixels.removeLast(pixels.count - count * 3)
        return pixels
    }
}
