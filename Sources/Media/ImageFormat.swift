import Foundation

/// Image formats recognised by their magic bytes. Only JPEG and PNG are decoded.
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    case jpeg
    case png
    case gif
    case webp
    case bmp
    case tiff
    case heif
    case avif
    case jpegXL = "jpeg-xl"
    case jpeg2000 = "jpeg-2000"

    public var isSupported: Bool { self == .jpeg || self == .png }

    public var displayName: String {
        switch self {
        case .jpeg: return "JPEG"
        case .png: return "PNG"
        case .gif: return "GIF"
        case .webp: return "WebP"
        case .bmp: return "BMP"
        case .tiff: return "TIFF"
        case .heif: return "HEIF/HEIC"
        case .avif: return "AVIF"
        case .jpegXL: return "JPEG XL"
        case .jpeg2000: return "JPEG 2000"
        }
    }

    public var mimeType: String {
        switch self {
        case .jpeg: return "image/jpeg"
        case .png: return "image/png"
        case .gif: return "image/gif"
        case .webp: return "image/webp"
        case .bmp: return "image/bmp"
        case .tiff: return "image/tiff"
        case .heif: return "image/heif"
        case .avif: return "image/avif"
        case .jpegXL: return "image/jxl"
        case .jpeg2000: return "image/jp2"
        }
    }

    /// The format whose signature starts `data`, or nil when none matches.
    public static func sniff(_ data: Data) -> ImageFormat? {
        let head = [UInt8](data.prefix(32))
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + signature.count && Array(head[offset..<(offset + signature.count)]) == signature
        }
        func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(ascii("GIF87a")) || starts(ascii("GIF89a")) { return .gif }
        if starts(ascii("RIFF")) && starts(ascii("WEBP"), at: 8) { return .webp }
        if starts(ascii("BM")) && head.count >= 14 { return .bmp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if starts([0xFF, 0x0A]) || starts([0, 0, 0, 0x0C, 0x4A, 0x58, 0x4C, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) {
            return .jpegXL
        }
        if starts([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            return .jpeg2000
        }
        if starts(ascii("ftyp"), at: 4), head.count >= 12 {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            if ["avif", "avis"].contains(brand) { return .avif }
            if ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"].contains(brand) {
                return .heif
            }
        }
        return nil
    }
}
