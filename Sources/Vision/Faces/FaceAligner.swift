import Media

/// A 2-D similarity transform q = [a −b; b a]·p + t (rotation, uniform scale, shift).
public struct SimilarityTransform: Sendable, Equatable {
    public var a: Double, b: Double, tx: Double, ty: Double

    /// The least-squares similarity taking `source` points onto `target` points
    /// (Umeyama's solution; in 2-D it has this closed form and never reflects).
    public static func fit(from source: [(x: Float, y: Float)], to target: [(x: Float, y: Float)]) -> SimilarityTransform {
        precondition(source.count == target.count && source.count >= 2)
        let n = Double(source.count)
        let sx = source.reduce(0) { $0 + Double($1.x) } / n, sy = source.reduce(0) { $0 + Double($1.y) } / n
        let tx = target.reduce(0) { $0 + Double($1.x) } / n, ty = target.reduce(0) { $0 + Double($1.y) } / n
        var dot = 0.0, cross = 0.0, norm = 0.0
        for (p, q) in zip(source, target) {
            let px = Double(p.x) - sx, py = Double(p.y) - sy, qx = Double(q.x) - tx, qy = Double(q.y) - ty
            dot += px * qx + py * qy
            cross += px * qy - py * qx
            norm += px * px + py * py
        }
        let a = norm > 0 ? dot / norm : 1, b = norm > 0 ? cross / norm : 0
        return SimilarityTransform(a: a, b: b, tx: tx - (a * sx - b * sy), ty: ty - (b * sx + a * sy))
    }

    public func apply(x: Double, y: Double) -> (x: Double, y: Double) {
        (a * x - b * y + tx, b * x + a * y + ty)
    }

    /// Pixels of the source per pixel of the target.
    public var scale: Double { (a * a + b * b).squareRoot() }
}

/// Warps a face onto a fixed 5-point template the way dlib's `get_face_chip` framed
/// the age model's training faces: chip→image similarity fitted to the landmarks,
/// a 2×2 box pyramid while the chip would undersample the image by more than 2×,
/// then bilinear sampling (0 outside the image) truncated to bytes.
/// models/convert/common.py `align_face` is the reference this follows.
public struct FaceAligner: Sendable {
    /// Where the five landmarks (left eye, right eye, nose, mouth left, mouth right) land in the chip.
    public let template: [(x: Float, y: Float)]
    public let chipSize: Int

    public init(template: [Float], chipSize: Int) throws {
        guard template.count == 10, chipSize > 0 else {
            throw VisionError.incompatibleModel("an alignment template needs 10 numbers (5 points) and a chip size")
        }
        self.template = (0..<5).map { (template[2 * $0], template[2 * $0 + 1]) }
        self.chipSize = chipSize
    }

    /// The aligned chip as 8-bit RGB.
    public func chip(from image: RGBImage, landmarks: [(x: Float, y: Float)]) -> RGBImage {
        var map = SimilarityTransform.fit(from: template, to: landmarks)
        // Pyramid depth, decided on the whole image as the reference does.
        var levels = 0
        var scale = map.scale, levelWidth = image.width, levelHeight = image.height
        while scale > 2, min(levelWidth, levelHeight) >= 4 {
            levels += 1
            scale /= 2
            levelWidth /= 2
            levelHeight /= 2
        }
        // Only the part of the image the chip reads is filtered: its footprint plus a margin,
        // aligned to the pyramid's 2^levels grid so pixel pairs match the whole-image pyramid.
        let step = 1 << levels
        let corners = [(0.0, 0.0), (Double(chipSize - 1), 0.0), (0.0, Double(chipSize - 1)), (Double(chipSize - 1), Double(chipSize - 1))]
            .map { map.apply(x: $0.0, y: $0.1) }
        let margin = Double(2 * step + 2)
        func aligned(_ value: Double, _ limit: Int, roundUp: Bool) -> Int {
            let clamped = min(max(value, 0), Double(limit))
            let units = roundUp ? (clamped / Double(step)).rounded(.up) : (clamped / Double(step)).rounded(.down)
            return min(Int(units) * step, limit / step * step)
        }
        let x0 = aligned(corners.map(\.x).min()! - margin, image.width, roundUp: false)
        let y0 = aligned(corners.map(\.y).min()! - margin, image.height, roundUp: false)
        let x1 = max(x0, aligned(corners.map(\.x).max()! + margin, image.width, roundUp: true))
        let y1 = max(y0, aligned(corners.map(\.y).max()! + margin, image.height, roundUp: true))
        var level = FloatImage(image, x0: x0, y0: y0, x1: x1, y1: y1)
        // The crop ends where the whole-image level would (odd last rows dropped only at the image's edge).
        var fullWidth = image.width, fullHeight = image.height
        map.tx -= Double(x0)
        map.ty -= Double(y0)
        for _ in 0..<levels {
            level = level.halved()
            fullWidth /= 2
            fullHeight /= 2
            map = SimilarityTransform(a: map.a / 2, b: map.b / 2, tx: (map.tx - 0.5) / 2, ty: (map.ty - 0.5) / 2)
        }
        // Pixels of the crop beyond the whole-image level's last row/column do not exist there.
        let validWidth = min(level.width, fullWidth - x0 / step)
        let validHeight = min(level.height, fullHeight - y0 / step)
        var chip = RGBImage(width: chipSize, height: chipSize)
        for v in 0..<chipSize {
            for u in 0..<chipSize {
                let p = map.apply(x: Double(u), y: Double(v))
                let left = Int(p.x.rounded(.down)), top = Int(p.y.rounded(.down))
                // Outside the image (at this level) the reference writes 0.
                guard left + x0 / step >= 0, top + y0 / step >= 0, left >= 0, top >= 0,
                      left + 1 <= validWidth - 1, top + 1 <= validHeight - 1 else { continue }
                let fx = p.x - Double(left), fy = p.y - Double(top)
                for channel in 0..<3 {
                    let value = (1 - fy) * ((1 - fx) * level[left, top, channel] + fx * level[left + 1, top, channel])
                        + fy * ((1 - fx) * level[left, top + 1, channel] + fx * level[left + 1, top + 1, channel])
                    chip.pixels[(v * chipSize + u) * 3 + channel] = UInt8(min(max(value.rounded(.down), 0), 255))
                }
            }
        }
        return chip
    }
}

/// A float RGB crop of an image, for the alignment pyramid.
struct FloatImage {
    var width: Int
    var height: Int
    var values: [Double]

    init(_ image: RGBImage, x0: Int, y0: Int, x1: Int, y1: Int) {
        width = x1 - x0
        height = y1 - y0
        values = [Double](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for channel in 0..<3 {
                    values[(y * width + x) * 3 + channel] = Double(image.pixels[((y + y0) * image.width + x + x0) * 3 + channel])
                }
            }
        }
    }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        values = [Double](repeating: 0, count: width * height * 3)
    }

    subscript(x: Int, y: Int, channel: Int) -> Double { values[(y * width + x) * 3 + channel] }

    /// 2×2 means; an odd last row or column is dropped.
    func halved() -> FloatImage {
        var half = FloatImage(width: width / 2, height: height / 2)
        for y in 0..<half.height {
            for x in 0..<half.width {
                for channel in 0..<3 {
                    half.values[(y * half.width + x) * 3 + channel] =
                        (self[2 * x, 2 * y, channel] + self[2 * x + 1, 2 * y, channel]
                            + self[2 * x, 2 * y + 1, channel] + self[2 * x + 1, 2 * y + 1, channel]) / 4
                }
            }
        }
        return half
    }
}
