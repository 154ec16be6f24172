import Media

/// Where a resized image sits inside the network's input, to map boxes back.
public struct LetterboxGeometry: Sendable, Equatable {
    public var inputWidth: Int, inputHeight: Int
    public var resizedWidth: Int, resizedHeight: Int
    public var offsetX: Int, offsetY: Int
    public var imageWidth: Int, imageHeight: Int

    /// How sizes and borders are rounded.
    public enum Rounding: Sendable {
        /// darknet: sizes by integer division, border = integer half.
        case darknet
        /// Ultralytics: sizes rounded, border round(d/2 − 0.1) before the image.
        case ultralytics
    }

    /// Aspect-preserving fit, centred.
    public init(imageWidth: Int, imageHeight: Int, inputWidth: Int, inputHeight: Int, rounding: Rounding = .darknet) {
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        switch rounding {
        case .darknet:
            if Float(inputWidth) / Float(imageWidth) < Float(inputHeight) / Float(imageHeight) {
                resizedWidth = inputWidth
                resizedHeight = max(1, imageHeight * inputWidth / imageWidth)
            } else {
                resizedHeight = inputHeight
                resizedWidth = max(1, imageWidth * inputHeight / imageHeight)
            }
            offsetX = (inputWidth - resizedWidth) / 2
            offsetY = (inputHeight - resizedHeight) / 2
        case .ultralytics:
            let ratio = min(Double(inputWidth) / Double(imageWidth), Double(inputHeight) / Double(imageHeight))
            resizedWidth = min(inputWidth, max(1, Int((Double(imageWidth) * ratio).rounded())))
            resizedHeight = min(inputHeight, max(1, Int((Double(imageHeight) * ratio).rounded())))
            offsetX = Int((Double(inputWidth - resizedWidth) / 2 - 0.1).rounded())
            offsetY = Int((Double(inputHeight - resizedHeight) / 2 - 0.1).rounded())
        }
    }

    /// A point in network-input pixels → original-image pixels. `exactCentre` undoes the
    /// border as half the float difference, as darknet's correct_yolo_boxes does (its image
    /// was placed at the integer offset: the two differ by half a pixel for odd borders).
    public func toImage(x: Float, y: Float, exactCentre: Bool = false) -> (x: Float, y: Float) {
        let left = exactCentre ? Float(inputWidth - resizedWidth) / 2 : Float(offsetX)
        let top = exactCentre ? Float(inputHeight - resizedHeight) / 2 : Float(offsetY)
        return ((x - left) * Float(imageWidth) / Float(resizedWidth), (y - top) * Float(imageHeight) / Float(resizedHeight))
    }
}

/// How pixels are interpolated when the image is scaled into the network input.
public enum ResizeFilter: String, Sendable {
    /// darknet's `resize_image`: corner-aligned bilinear, columns then rows.
    case darknetBilinear = "darknet"
    /// Half-pixel-centre bilinear (OpenCV INTER_LINEAR, PyTorch align_corners=False) without antialiasing.
    case bilinear
}

/// Letterboxes `image` into a planar RGB float tensor [1, 3, H, W] with values pixel/255,
/// the border filled with `fill` (already in [0, 1]).
public func letterbox(_ image: RGBImage, into geometry: LetterboxGeometry, filter: ResizeFilter, fill: Float,
                      output: UnsafeMutablePointer<Float>) {
    let plane = geometry.inputWidth * geometry.inputHeight
    output.initialize(repeating: fill, count: plane * 3)
    let resized: [Float]
    switch filter {
    case .darknetBilinear:
        resized = darknetResize(image, width: geometry.resizedWidth, height: geometry.resizedHeight)
    case .bilinear:
        resized = halfPixelResize(image, width: geometry.resizedWidth, height: geometry.resizedHeight)
    }
    let resizedPlane = geometry.resizedWidth * geometry.resizedHeight
    for channel in 0..<3 {
        for row in 0..<geometry.resizedHeight {
            let target = output + channel * plane + (row + geometry.offsetY) * geometry.inputWidth + geometry.offsetX
            let source = channel * resizedPlane + row * geometry.resizedWidth
            for column in 0..<geometry.resizedWidth { target[column] = resized[source + column] }
        }
    }
}

/// darknet's resize_image on pixel/255 values; planar output [3][height][width].
func darknetResize(_ image: RGBImage, width: Int, height: Int) -> [Float] {
    let inWidth = image.width, inHeight = image.height
    let wScale = width > 1 ? Float(inWidth - 1) / Float(width - 1) : 0
    let hScale = height > 1 ? Float(inHeight - 1) / Float(height - 1) : 0
    var part = [Float](repeating: 0, count: 3 * inHeight * width)
    image.pixels.withUnsafeBufferPointer { pixels in
        for row in 0..<inHeight {
            for column in 0..<width {
                for channel in 0..<3 {
                    let value: Float
                    if column == width - 1 || inWidth == 1 {
                        value = Float(pixels[(row * inWidth + inWidth - 1) * 3 + channel]) / 255
                    } else {
                        let sx = Float(column) * wScale
                        let ix = Int(sx)
                        let dx = sx - Float(ix)
                        let left = Float(pixels[(row * inWidth + ix) * 3 + channel]) / 255
                        let right = Float(pixels[(row * inWidth + ix + 1) * 3 + channel]) / 255
                        value = (1 - dx) * left + dx * right
                    }
                    part[(channel * inHeight + row) * width + column] = value
                }
            }
        }
    }
    var resized = [Float](repeating: 0, count: 3 * height * width)
    for channel in 0..<3 {
        for row in 0..<height {
            let sy = Float(row) * hScale
            let iy = Int(sy)
            let dy = sy - Float(iy)
            let top = (channel * inHeight + iy) * width
            let target = (channel * height + row) * width
            for column in 0..<width { resized[target + column] = (1 - dy) * part[top + column] }
            if row == height - 1 || inHeight == 1 { continue }
            let bottom = top + width
            for column in 0..<width { resized[target + column] += dy * part[bottom + column] }
        }
    }
    return resized
}

/// Half-pixel bilinear resize of pixel/255 values; planar output [3][height][width].
func halfPixelResize(_ image: RGBImage, width: Int, height: Int) -> [Float] {
    var resized = [Float](repeating: 0, count: 3 * height * width)
    let scaleX = Float(image.width) / Float(width), scaleY = Float(image.height) / Float(height)
    let plane = width * height
    image.pixels.withUnsafeBufferPointer { pixels in
        for row in 0..<height {
            let y = (Float(row) + 0.5) * scaleY - 0.5
            for column in 0..<width {
                let x = (Float(column) + 0.5) * scaleX - 0.5
                let (r, g, b) = bilinearSample(pixels, width: image.width, height: image.height, x: x, y: y)
                let offset = row * width + column
                resized[offset] = r / 255
                resized[plane + offset] = g / 255
                resized[2 * plane + offset] = b / 255
            }
        }
    }
    return resized
}
