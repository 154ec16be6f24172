/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, row-major, interleaved R, G, B.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// Wraps `pixels`; throws when their count is not `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard byteCount(width: width, height: height, channels: 3) == pixels.count else {
            throw ImageError.invalidImage("RGB image \(width)x\(height) needs width * height * 3 bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
    }

    init(uncheckedWidth width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y` (both must be in range).
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let offset = (y * width + x) * 3
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2])
    }
}

/// An 8-bit single-channel image (e.g. a segmentation mask): `width * height` bytes, row-major.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard byteCount(width: width, height: height, channels: 1) == pixels.count else {
            throw ImageError.invalidImage("gray image \(width)x\(height) needs width * height bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height)
    }

    public func pixel(x: Int, y: Int) -> UInt8 {
        pixels[y * width + x]
    }
}

/// `width * height * channels`, or nil when negative or overflowing.
func byteCount(width: Int, height: Int, channels: Int) -> Int? {
    guard width >= 0, height >= 0, channels >= 0 else { return nil }
    let (area, areaOverflow) = width.multipliedReportingOverflow(by: height)
    let (bytes, bytesOverflow) = area.multipliedReportingOverflow(by: channels)
    return areaOverflow || bytesOverflow ? nil : bytes
}
