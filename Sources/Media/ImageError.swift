/// Why an image could not be decoded or encoded.
///
/// The App maps `unsupportedFormat` to 415 `unsupported_media_type`, `invalidImage` to
/// 400 `invalid_image` and `tooLarge` to 422 `image_too_large`.
public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A recognised image format that Seer does not decode (GIF, WebP, BMP, TIFF, HEIF, AVIF, ...).
    case unsupportedFormat(ImageFormat)
    /// Not an image, or a JPEG/PNG that is corrupt or truncated; the message comes from the codec.
    case invalidImage(String)
    /// The header declares more pixels than allowed; refused before any pixel memory is allocated.
    case tooLarge(width: Int, height: Int, maxPixels: Int)
    /// Encoding failed or was given inconsistent pixels.
    case encodingFailed(String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let format):
            return "unsupported image format \(format.displayName): send JPEG or PNG"
        case .invalidImage(let reason):
            return "invalid image: \(reason)"
        case .tooLarge(let width, let height, let maxPixels):
            return "image is \(width)x\(height) = \(width * height) pixels, more than the limit of \(maxPixels) pixels"
        case .encodingFailed(let reason):
            return "image encoding failed: \(reason)"
        }
    }
}
