import CImageCodecs
import Foundation

/// Encodes 8-bit images as PNG (no interlacing, no colour-space chunks).
public enum PNGEncoder {
    /// A single-channel PNG (e.g. a mask: 0 = background, 255 = class).
    /// `compressionLevel` is zlib's 0 (none) ... 9 (smallest).
    public static func encode(_ image: GrayImage, compressionLevel: Int = 6) throws -> Data {
        try encode(image.pixels, width: image.width, height: image.height, channels: 1, compressionLevel: compressionLevel)
    }

    public static func encode(_ image: RGBImage, compressionLevel: Int = 6) throws -> Data {
        try encode(image.pixels, width: image.width, height: image.height, channels: 3, compressionLevel: compressionLevel)
    }

    static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int, compressionLevel: Int) throws -> Data {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw ImageError.encodingFailed("cannot encode a \(width)x\(height) PNG")
        }
        guard byteCount(width: width, height: height, channels: channels) == pixels.count else {
            throw ImageError.encodingFailed("\(pixels.count) bytes do not make a \(width)x\(height)x\(channels) image")
        }
        var output: UnsafeMutablePointer<UInt8>?
        var outputSize = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBufferPointer { buffer in
            seer_png_encode(buffer.baseAddress, UInt32(width), UInt32(height), Int32(channels),
                            Int32(clamping: compressionLevel), &output, &outputSize, &message, message.count)
        }
        guard status == 0, let output else {
            throw ImageError.encodingFailed(String(cString: message))
        }
        return Data(bytesNoCopy: output, count: outputSize, deallocator: .custom { pointer, _ in seer_codec_free(pointer) })
    }
}
