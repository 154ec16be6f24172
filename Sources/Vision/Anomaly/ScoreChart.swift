import Media

/// The score timeline as a picture: one bar per segment (x: segments in time order, y: score
/// 0..1), bars at or above the threshold in red, others in blue, a dashed threshold line, the
/// axes with ticks at every 0.25 of the score and every 4th segment. No text: the JSON holds the numbers.
public enum ScoreChart {
    public static func render(_ scores: [Float], threshold: Float, width: Int = 640, height: Int = 240) -> RGBImage {
        let width = max(width, 80), height = max(height, 60)
        var canvas = Canvas(image: RGBImage(width: width, height: height))
        canvas.fill(x0: 0, y0: 0, x1: width, y1: height, color: (255, 255, 255))
        let left = 36, right = width - 12, top = 12, bottom = height - 24
        let plotHeight = bottom - top
        func y(_ score: Float) -> Int { bottom - Int((min(max(score, 0), 1) * Float(plotHeight)).rounded()) }

        // Light grid at every quarter.
        for quarter in 1...4 {
            let row = y(Float(quarter) / 4)
            canvas.fill(x0: left, y0: row, x1: right, y1: row + 1, color: (232, 232, 232))
            canvas.fill(x0: left - 6, y0: row, x1: left, y1: row + 1, color: (0, 0, 0))
        }
        if !scores.isEmpty {
            let slot = Double(right - left) / Double(scores.count)
            for (index, score) in scores.enumerated() {
                let x0 = left + Int((Double(index) * slot).rounded()) + 1
                let x1 = max(x0 + 1, left + Int((Double(index + 1) * slot).rounded()) - 1)
                let color: (UInt8, UInt8, UInt8) = score >= threshold ? (214, 39, 40) : (31, 119, 180)
                canvas.fill(x0: x0, y0: y(score), x1: x1, y1: bottom, color: color)
                if index % 4 == 0 {
                    canvas.fill(x0: x0, y0: bottom, x1: x0 + 1, y1: bottom + 6, color: (0, 0, 0))
                }
            }
        }
        // Dashed threshold line, two pixels thick.
        let thresholdRow = y(threshold)
        var x = left
        while x < right {
            canvas.fill(x0: x, y0: thresholdRow - 1, x1: min(x + 8, right), y1: thresholdRow + 1, color: (255, 127, 14))
            x += 12
        }
        // Axes.
        canvas.fill(x0: left - 1, y0: top, x1: left, y1: bottom + 1, color: (0, 0, 0))
        canvas.fill(x0: left - 1, y0: bottom, x1: right, y1: bottom + 1, color: (0, 0, 0))
        return canvas.image
    }

    struct Canvas {
        var image: RGBImage

        /// Fills [x0, x1) x [y0, y1), clipped to the image.
        mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, color: (UInt8, UInt8, UInt8)) {
            let width = image.width
            let xs = max(0, x0)..<min(width, x1), ys = max(0, y0)..<min(image.height, y1)
            guard !xs.isEmpty, !ys.isEmpty else { return }
            for row in ys {
                for column in xs {
                    let offset = (row * width + column) * 3
                    image.pixels[offset] = color.0
                    image.pixels[offset + 1] = color.1
                    image.pixels[offset + 2] = color.2
                }
            }
        }
    }
}
