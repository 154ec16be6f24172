import Foundation

/// The eight EXIF orientations (tag 0x0112). The raw value is the tag value; the case names say
/// what must be done to the stored pixels to show the image upright.
public enum ExifOrientation: Int, Sendable, CaseIterable, Codable {
    case identity = 1
    case flipHorizontal = 2
    case rotate180 = 3
    case flipVertical = 4
    /// Mirror along the top-left to bottom-right diagonal.
    case transpose = 5
    /// Rotate 90 degrees clockwise.
    case rotate90 = 6
    /// Mirror along the top-right to bottom-left diagonal.
    case transverse = 7
    /// Rotate 90 degrees counter-clockwise.
    case rotate270 = 8

    /// True when the upright image has width and height swapped.
    public var swapsDimensions: Bool { rawValue >= 5 }

    /// The upright image.
    public func apply(to image: RGBImage) -> RGBImage {
        guard self != .identity else { return image }
        let (width, height) = swapsDimensions ? (image.height, image.width) : (image.width, image.height)
        let pixels = remap(image.pixels, width: image.width, height: image.height, channels: 3)
        return RGBImage(uncheckedWidth: width, height: height, pixels: pixels)
    }

    /// The upright mask or gray image.
    public func apply(to image: GrayImage) -> GrayImage {
        guard self != .identity else { return image }
        let (width, height) = swapsDimensions ? (image.height, image.width) : (image.width, image.height)
        let pixels = remap(image.pixels, width: image.width, height: image.height, channels: 1)
        // Same count of bytes as the input, which satisfied the initializer.
        return (try? GrayImage(width: width, height: height, pixels: pixels)) ?? GrayImage(width: width, height: height)
    }

    /// Output pixel (x, y) of the upright image comes from source pixel `origin + x * stepX + y * stepY`
    /// (indices in pixels of the stored image, `width` x `height`).
    private func sourceWalk(width: Int, height: Int) -> (origin: Int, stepX: Int, stepY: Int) {
        let lastRow = (height - 1) * width
        let lastColumn = width - 1
        switch self {
        case .identity: return (0, 1, width)
        case .flipHorizontal: return (lastColumn, -1, width)
        case .rotate180: return (lastRow + lastColumn, -1, -width)
        case .flipVertical: return (lastRow, 1, -width)
        case .transpose: return (0, width, 1)
        case .rotate90: return (lastRow, -width, 1)
        case .transverse: return (lastRow + lastColumn, -width, -1)
        case .rotate270: return (lastColumn, width, -1)
        }
    }

    private func remap(_ source: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8] {
        guard width > 0, height > 0 else { return source }
        let (outputWidth, outputHeight) = swapsDimensions ? (height, width) : (width, height)
        let walk = sourceWalk(width: width, height: height)
        return [UInt8](unsafeUninitializedCapacity: source.count) { output, initialized in
            source.withUnsafeBufferPointer { input in
                guard let inputBase = input.baseAddress, let outputBase = output.baseAddress else { return }
                for y in 0..<outputHeight {
                    var sourceIndex = walk.origin + y * walk.stepY
                    let row = outputBase + y * outputWidth * channels
                    if channels == 3 {
                        for x in 0..<outputWidth {
                            let from = inputBase + sourceIndex * 3
                            row[x * 3] = from[0]
                            row[x * 3 + 1] = from[1]
                            row[x * 3 + 2] = from[2]
                            sourceIndex += walk.stepX
                        }
                    } else {
                        for x in 0..<outputWidth {
                            for channel in 0..<channels {
                                row[x * channels + channel] = inputBase[sourceIndex * channels + channel]
                            }
                            sourceIndex += walk.stepX
                        }
                    }
                }
            }
            initialized = source.count
        }
    }
}

/// Reads the orientation from a JPEG's APP1 Exif segment.
public enum ExifReader {
    /// The EXIF orientation tag of `jpeg` (1...8), or nil when there is no Exif segment, no
    /// orientation tag, or the value is out of range. Never reads outside `jpeg`.
    public static func orientation(inJPEG jpeg: Data) -> Int? {
        let bytes = [UInt8](jpeg.prefix(Self.searchLimit))
        guard let segment = exifSegment(in: bytes) else { return nil }
        return orientation(inTIFF: bytes[segment])
    }

    /// Only the first bytes are searched: Exif must precede the image data, and APP segments are ≤ 64 KiB each.
    static let searchLimit = 1 << 20

    /// The TIFF block of the first APP1 segment starting "Exif\0\0".
    static func exifSegment(in bytes: [UInt8]) -> Range<Int>? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var position = 2
        while position + 4 <= bytes.count {
            guard bytes[position] == 0xFF else { return nil }
            let marker = bytes[position + 1]
            if marker == 0xFF { position += 1; continue }  // fill byte
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { position += 2; continue }  // no length
            if marker == 0xD9 || marker == 0xDA { return nil }  // end of image / start of scan
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            let start = position + 4
            let end = position + 2 + length
            guard length >= 2, end <= bytes.count else { return nil }
            let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
            if marker == 0xE1, end - start >= exifHeader.count + 8, Array(bytes[start..<(start + 6)]) == exifHeader {
                return (start + 6)..<end
            }
            position = end
        }
        return nil
    }

    /// IFD0's orientation in a TIFF block (either byte order).
    static func orientation(inTIFF tiff: ArraySlice<UInt8>) -> Int? {
        let block = Array(tiff)
        guard block.count >= 8 else { return nil }
        let littleEndian: Bool
        switch (block[0], block[1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return nil
        }
        func u16(_ offset: Int) -> Int? {
            guard offset >= 0, offset + 2 <= block.count else { return nil }
            let (a, b) = (Int(block[offset]), Int(block[offset + 1]))
            return littleEndian ? a | b << 8 : a << 8 | b
        }
        func u32(_ offset: Int) -> Int? {
            guard let low = u16(littleEndian ? offset : offset + 2), let high = u16(littleEndian ? offset + 2 : offset)
            else { return nil }
            return high << 16 | low
        }
        guard u16(2) == 42, let ifd = u32(4), let entryCount = u16(ifd) else { return nil }
        for entry in 0..<entryCount {
            let offset = ifd + 2 + entry * 12
            guard let tag = u16(offset), let type = u16(offset + 2), let count = u32(offset + 4) else { return nil }
            guard tag == 0x0112 else { continue }
            // SHORT (3) is the standard type; some writers use LONG (4). The value sits in the entry.
            let value: Int?
            switch type {
            case 3 where count >= 1: value = u16(offset + 8)
            case 4 where count >= 1: value = u32(offset + 8)
            default: value = nil
            }
            guard let value, (1...8).contains(value) else { return nil }
            return value
        }
        return nil
    }
}
