/// An axis-aligned box in pixels, origin top-left.
public struct Box: Sendable, Equatable, Codable {
    public var xMin: Float
    public var yMin: Float
    public var xMax: Float
    public var yMax: Float

    public init(xMin: Float, yMin: Float, xMax: Float, yMax: Float) {
        self.xMin = xMin
        self.yMin = yMin
        self.xMax = xMax
        self.yMax = yMax
    }

    public var width: Float { xMax - xMin }
    public var height: Float { yMax - yMin }
    public var area: Float { max(0, width) * max(0, height) }

    /// Intersection over union (continuous coordinates: no +1 on widths).
    public func iou(_ other: Box) -> Float {
        let inter = intersectionArea(other, pixelInclusive: false)
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    /// Overlap area; `pixelInclusive` counts both end pixels (+1), as the original MTCNN code does.
    public func intersectionArea(_ other: Box, pixelInclusive: Bool) -> Float {
        let extra: Float = pixelInclusive ? 1 : 0
        let width = max(0, min(xMax, other.xMax) - max(xMin, other.xMin) + extra)
        let height = max(0, min(yMax, other.yMax) - max(yMin, other.yMin) + extra)
        return width * height
    }

    public func clamped(width: Float, height: Float) -> Box {
        Box(xMin: min(max(xMin, 0), width), yMin: min(max(yMin, 0), height),
            xMax: min(max(xMax, 0), width), yMax: min(max(yMax, 0), height))
    }

    enum CodingKeys: String, CodingKey {
        case xMin = "x_min", yMin = "y_min", xMax = "x_max", yMax = "y_max"
    }
}

/// How two boxes' overlap is measured during non-maximum suppression.
public enum OverlapMeasure: Sendable {
    /// Intersection over union, continuous coordinates (torchvision's `nms`).
    case union
    /// Intersection over union with +1 pixel widths (the MTCNN reference's numpy NMS).
    case unionPixelInclusive
    /// Intersection over the smaller box, +1 pixel widths (MTCNN's final "Min" NMS).
    case minimumPixelInclusive
}

/// Greedy non-maximum suppression. Returns the kept indices, highest score first.
/// A box is dropped when its overlap with a kept box is greater than `threshold`.
public func nonMaximumSuppression(boxes: [Box], scores: [Float], threshold: Float,
                                  measure: OverlapMeasure = .union) -> [Int] {
    precondition(boxes.count == scores.count)
    let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    var suppressed = [Bool](repeating: false, count: boxes.count)
    var keep: [Int] = []
    for (rank, index) in order.enumerated() where !suppressed[index] {
        keep.append(index)
        let kept = boxes[index]
        let keptArea = measure == .union ? kept.area : (kept.width + 1) * (kept.height + 1)
        for other in order[(rank + 1)...] where !suppressed[other] {
            let candidate = boxes[other]
            let overlap: Float
            switch measure {
            case .union:
                let inter = kept.intersectionArea(candidate, pixelInclusive: false)
                let union = keptArea + candidate.area - inter
                overlap = union > 0 ? inter / union : 0
            case .unionPixelInclusive:
                let inter = kept.intersectionArea(candidate, pixelInclusive: true)
                let otherArea = (candidate.width + 1) * (candidate.height + 1)
                overlap = inter / (keptArea + otherArea - inter)
            case .minimumPixelInclusive:
                let inter = kept.intersectionArea(candidate, pixelInclusive: true)
                let otherArea = (candidate.width + 1) * (candidate.height + 1)
                overlap = inter / min(keptArea, otherArea)
            }
            if overlap > threshold { suppressed[other] = true }
        }
    }
    return keep
}
