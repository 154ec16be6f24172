import Foundation
import Media

/// One fuzz input for an image codec through ImageDecoder.decode with the server's options (its
/// default pixel limit, EXIF orientation applied). Inputs without the format's signature are
/// rejected (-1, kept out of the corpus): each format has its own target.
public func fuzzImageDecoding(_ data: UnsafePointer<UInt8>?, _ size: Int, format: ImageFormat, signature: [UInt8]) -> CInt {
    guard let data, size >= signature.count,
          UnsafeBufferPointer(start: data, count: signature.count).elementsEqual(signature) else { return -1 }
    let serverOptions = ImageDecodingOptions(maxPixels: 50_000_000)
    let bytes = Data(bytes: data, count: size)
    do {
        let decoded = try ImageDecoder.decode(bytes, options: serverOptions)
        let image = decoded.image
        precondition(image.width > 0 && image.height > 0, "decoded an empty image")
        precondition(image.width * image.height <= serverOptions.maxPixels, "decoded more pixels than the limit")
        precondition(image.pixels.count == image.width * image.height * 3, "pixel buffer does not match the size")
        precondition(decoded.info.format == format, "decoded as \(decoded.info.format)")
    } catch let error as ImageError {
        switch error {
        case .invalidImage, .tooLarge: break
        default: preconditionFailure("unexpected image error for \(format) data: \(error)")
        }
    } catch {
        preconditionFailure("ImageDecoder threw a non-image error: \(error)")
    }
    return 0
}
