import Media
/// Resampling of 8-bit interleaved RGB pixels into planar float tensors.

/// A rectangle of whole pixels: columns x0..<x1, rows y0..<y1.
public struct PixelRegion: Sendable, Equatable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }
    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
}

/// Area (box-filter) resampling with PyTorch's `interpolate(mode: "area")` =
/// adaptive average pooling semantics: output cell i averages input
/// floor(i·in/out) ..< ceil((i+1)·in/out). Writes 3 planes of `outHeight × outWidth`
/// floats to `output`, each value mapped through `normalize`.
/// The filter is separable, so rows are pooled first, then columns.
public func areaResample(_ image: RGBImage, region: PixelRegion, outWidth: Int, outHeight: Int,
                         into output: UnsafeMutablePointer<Float>, normalize: (Float) -> Float) {
    precondition(region.width > 0 && region.height > 0 && region.x0 >= 0 && region.y0 >= 0
                 && region.x1 <= image.width && region.y1 <= image.height)
    let columnWindows = adaptiveWindows(input: region.width, output: outWidth)
    let rowWindows = adaptiveWindows(input: region.height, output: outHeight)
    // Horizontal pass: every source row of the region, pooled to outWidth columns, interleaved RGB.
    var horizontal = [Float](repeating: 0, count: region.height * outWidth * 3)
    image.pixels.withUnsafeBufferPointer { pixels in
        horizontal.withUnsafeMutableBufferPointer { pooled in
            for row in 0..<region.height {
                let source = (region.y0 + row) * image.width * 3
                let target = row * outWidth * 3
                for (column, window) in columnWindows.enumerated() {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for x in window {
                        let index = source + (region.x0 + x) * 3
                        r += Float(pixels[index]); g += Float(pixels[index + 1]); b += Float(pixels[index + 2])
                    }
                    let scale = 1 / Float(window.count)
                    pooled[target + column * 3] = r * scale
                    pooled[target + column * 3 + 1] = g * scale
                    pooled[target + column * 3 + 2] = b * scale
                }
            }
        }
    }
    // Vertical pass into planar output.
    let plane = outWidth * outHeight
    horizontal.withUnsafeBufferPointer { pooled in
        for (row, window) in rowWindows.enumerated() {
            let scale = 1 / Float(window.count)
            for column in 0..<outWidth {
                var r: Float = 0, g: Float = 0, b: Float = 0
                for y in window {
                    let index = (y * outWidth + column) * 3
                    r += pooled[index]; g += pooled[index + 1]; b += pooled[index + 2]
                }
                let offset = row * outWidth + column
                output[offset] = normalize(r * scale)
                output[plane + offset] = normalize(g * scale)
                output[2 * plane + offset] = normalize(b * scale)
            }
        }
    }
}

/// Source index ranges of adaptive average pooling.
func adaptiveWindows(input: Int, output: Int) -> [Range<Int>] {
    (0..<output).map { index in
        let start = (index * input) / output
        let end = ((index + 1) * input + output - 1) / output
        return start..<max(end, start + 1)
    }
}

/// Bilinear sampling of one channel-interleaved RGB pixel at a real-valued position,
/// pixel centres at integer coordinates; outside the image the border pixels repeat.
@inline(__always)
func bilinearSample(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, x: Float, y: Float) -> (Float, Float, Float) {
    let xf = min(max(x, 0), Float(width - 1))
    let yf = min(max(y, 0), Float(height - 1))
    let x0 = Int(xf), y0 = Int(yf)
    let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
    let ax = xf - Float(x0), ay = yf - Float(y0)
    func at(_ px: Int, _ py: Int, _ c: Int) -> Float { Float(pixels[(py * width + px) * 3 + c]) }
    var out: (Float, Float, Float) = (0, 0, 0)
    for c in 0..<3 {
        let top = at(x0, y0, c) * (1 - ax) + at(x1, y0, c) * ax
        let bottom = at(x0, y1, c) * (1 - ax) + at(x1, y1, c) * ax
        let value = top * (1 - ay) + bottom * ay
        switch c { case 0: out.0 = value; case 1: out.1 = value; default: out.2 = value }
    }
    return out
}
