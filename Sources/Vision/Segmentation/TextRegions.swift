import Foundation

/// DBNet post-processing as PaddleOCR/RapidOCR do it: binarise, dilate 2×2, take each
/// 8-connected region's minimum-area rectangle, score it by the mean probability inside,
/// grow it by area·ratio/perimeter on every side ("unclip"), scale to the image.
struct TextRegionExtractor {
    let settings: SegmentationSettings
    let boxThreshold: Float

    typealias Point = (x: Double, y: Double)

    func regions(_ probability: [Float], width: Int, height: Int, imageWidth: Int, imageHeight: Int) -> [TextRegion] {
        var bitmap = [Bool](repeating: false, count: width * height)
        for index in probability.indices { bitmap[index] = probability[index] > settings.threshold }
        bitmap = dilate(bitmap, width: width, height: height)
        var regions: [TextRegion] = []
        for boundary in boundaries(bitmap, width: width, height: height).prefix(settings.maxCandidates) {
            guard let rectangle = MinimumAreaRectangle(points: boundary), rectangle.shortSide >= Double(settings.minSize) else { continue }
            let score = meanProbability(probability, width: width, height: height, polygon: rectangle.corners)
            guard score >= boxThreshold else { continue }
            let distance = rectangle.area * Double(settings.unclipRatio) / rectangle.perimeter
            let grown = rectangle.expanded(by: distance)
            guard grown.shortSide >= Double(settings.minSize) + 2 else { continue }
            let scaleX = Double(imageWidth) / Double(width), scaleY = Double(imageHeight) / Double(height)
            let corners = orderedClockwise(grown.corners.map { corner in
                (x: min(max((corner.x * scaleX).rounded(), 0), Double(imageWidth - 1)),
                 y: min(max((corner.y * scaleY).rounded(), 0), Double(imageHeight - 1)))
            })
            let side = { (a: Point, b: Point) in Int(hypot(a.x - b.x, a.y - b.y)) }
            guard side(corners[0], corners[1]) > 3, side(corners[0], corners[3]) > 3 else { continue }
            let xs = corners.map(\.x), ys = corners.map(\.y)
            regions.append(TextRegion(confidence: score,
                                      box: Box(xMin: Float(xs.min()!), yMin: Float(ys.min()!), xMax: Float(xs.max()!), yMax: Float(ys.max()!)),
                                      polygon: corners.map { (x: Float($0.x), y: Float($0.y)) }))
        }
        return regions
    }

    /// cv2.dilate with a 2×2 kernel of ones (anchor at its centre): a pixel is set when it
    /// or its left, upper or upper-left neighbour is.
    func dilate(_ bitmap: [Bool], width: Int, height: Int) -> [Bool] {
        var out = bitmap
        for y in 0..<height {
            for x in 0..<width where !bitmap[y * width + x] {
                let left = x > 0 && bitmap[y * width + x - 1]
                let up = y > 0 && bitmap[(y - 1) * width + x]
                let upLeft = x > 0 && y > 0 && bitmap[(y - 1) * width + x - 1]
                out[y * width + x] = left || up || upLeft
            }
        }
        return out
    }

    /// The boundary pixels (set pixels with an unset 4-neighbour) of each 8-connected region,
    /// regions in raster order of their first pixel.
    func boundaries(_ bitmap: [Bool], width: Int, height: Int) -> [[Point]] {
        var label = [Int32](repeating: -1, count: width * height)
        var result: [[Point]] = []
        var stack: [Int] = []
        for start in bitmap.indices where bitmap[start] && label[start] < 0 {
            let id = Int32(result.count)
            var boundary: [Point] = []
            label[start] = id
            stack.append(start)
            while let index = stack.popLast() {
                let x = index % width, y = index / width
                var onEdge = false
                for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                    let nx = x + dx, ny = y + dy
                    if nx < 0 || ny < 0 || nx >= width || ny >= height || !bitmap[ny * width + nx] { onEdge = true }
                }
                if onEdge { boundary.append((Double(x), Double(y))) }
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let nx = x + dx, ny = y + dy
                        guard nx >= 0, ny >= 0, nx < width, ny < height else { continue }
                        let neighbour = ny * width + nx
                        if bitmap[neighbour] && label[neighbour] < 0 {
                            label[neighbour] = id
                            stack.append(neighbour)
                        }
                    }
                }
            }
            result.append(boundary)
        }
        return result
    }

    /// box_score_fast: mean probability over the pixels whose centres lie inside the polygon.
    func meanProbability(_ probability: [Float], width: Int, height: Int, polygon: [Point]) -> Float {
        let xs = polygon.map(\.x), ys = polygon.map(\.y)
        let x0 = min(max(Int(xs.min()!.rounded(.down)), 0), width - 1), x1 = min(max(Int(xs.max()!.rounded(.up)), 0), width - 1)
        let y0 = min(max(Int(ys.min()!.rounded(.down)), 0), height - 1), y1 = min(max(Int(ys.max()!.rounded(.up)), 0), height - 1)
        var sum: Float = 0, count = 0
        for y in y0...y1 {
            for x in x0...x1 where contains(polygon, (Double(x), Double(y))) {
                sum += probability[y * width + x]
                count += 1
            }
        }
        return count > 0 ? sum / Float(count) : 0
    }

    /// Point in a convex polygon, boundary included.
    func contains(_ polygon: [Point], _ point: Point) -> Bool {
        var sign = 0.0
        for index in polygon.indices {
            let a = polygon[index], b = polygon[(index + 1) % polygon.count]
            let cross = (b.x - a.x) * (point.y - a.y) - (b.y - a.y) * (point.x - a.x)
            if abs(cross) < 1e-9 { continue }
            if sign == 0 { sign = cross } else if (sign > 0) != (cross > 0) { return false }
        }
        return true
    }

    /// Four corners ordered top-left, top-right, bottom-right, bottom-left.
    func orderedClockwise(_ corners: [Point]) -> [Point] {
        let byX = corners.sorted { $0.x < $1.x || ($0.x == $1.x && $0.y < $1.y) }
        let left = byX.prefix(2).sorted { $0.y < $1.y }, right = byX.suffix(2).sorted { $0.y < $1.y }
        return [left[0], right[0], right[1], left[1]]
    }
}

/// The smallest rectangle (any rotation) around a point set: convex hull, then one candidate per hull edge.
struct MinimumAreaRectangle {
    let center: (x: Double, y: Double)
    let width: Double
    let height: Double
    /// Unit vector along `width`.
    let axis: (x: Double, y: Double)

    init?(points: [(x: Double, y: Double)]) {
        let hull = MinimumAreaRectangle.convexHull(points)
        guard !hull.isEmpty else { return nil }
        if hull.count < 3 {
            let a = hull[0], b = hull.last!
            let length = hypot(b.x - a.x, b.y - a.y)
            center = ((a.x + b.x) / 2, (a.y + b.y) / 2)
            axis = length > 0 ? ((b.x - a.x) / length, (b.y - a.y) / length) : (1, 0)
            width = length
            height = 0
            return
        }
        var best: (area: Double, center: (x: Double, y: Double), width: Double, height: Double, axis: (x: Double, y: Double))?
        for index in hull.indices {
            let a = hull[index], b = hull[(index + 1) % hull.count]
            let length = hypot(b.x - a.x, b.y - a.y)
            guard length > 0 else { continue }
            let u = ((b.x - a.x) / length, (b.y - a.y) / length), v = (-u.1, u.0)
            var minU = Double.infinity, maxU = -Double.infinity, minV = Double.infinity, maxV = -Double.infinity
            for p in hull {
                let pu = p.x * u.0 + p.y * u.1, pv = p.x * v.0 + p.y * v.1
                minU = min(minU, pu); maxU = max(maxU, pu); minV = min(minV, pv); maxV = max(maxV, pv)
            }
            let area = (maxU - minU) * (maxV - minV)
            if best == nil || area < best!.area {
                let cu = (minU + maxU) / 2, cv = (minV + maxV) / 2
                best = (area, (cu * u.0 + cv * v.0, cu * u.1 + cv * v.1), maxU - minU, maxV - minV, u)
            }
        }
        guard let best else { return nil }
        center = best.center
        width = best.width
        height = best.height
        axis = best.axis
    }

    private init(center: (x: Double, y: Double), width: Double, height: Double, axis: (x: Double, y: Double)) {
        self.center = center
        self.width = width
        self.height = height
        self.axis = axis
    }

    var shortSide: Double { min(width, height) }
    var area: Double { width * height }
    var perimeter: Double { max(2 * (width + height), 1e-9) }

    var corners: [(x: Double, y: Double)] {
        let u = axis, v = (x: -axis.y, y: axis.x)
        return [(-1.0, -1.0), (1, -1), (1, 1), (-1, 1)].map { su, sv in
            (center.x + su * width / 2 * u.x + sv * height / 2 * v.x, center.y + su * width / 2 * u.y + sv * height / 2 * v.y)
        }
    }

    /// The rectangle grown by `distance` on every side: the bounding rectangle of the polygon
    /// offset with round joins, which for a rectangle is the rectangle itself, wider.
    func expanded(by distance: Double) -> MinimumAreaRectangle {
        MinimumAreaRectangle(center: center, width: width + 2 * distance, height: height + 2 * distance, axis: axis)
    }

    /// Andrew's monotone chain; collinear points dropped.
    static func convexHull(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        let sorted = points.sorted { $0.x < $1.x || ($0.x == $1.x && $0.y < $1.y) }
        guard sorted.count > 2 else { return sorted }
        func cross(_ o: (x: Double, y: Double), _ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
            (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
        }
        var lower: [(x: Double, y: Double)] = []
        for p in sorted {
            while lower.count >= 2 && cross(lower[lower.count - 2], lower[lower.count - 1], p) <= 0 { lower.removeLast() }
            lower.append(p)
        }
        var upper: [(x: Double, y: Double)] = []
        for p in sorted.reversed() {
            while upper.count >= 2 && cross(upper[upper.count - 2], upper[upper.count - 1], p) <= 0 { upper.removeLast() }
            upper.append(p)
        }
        return Array(lower.dropLast() + upper.dropLast())
    }
}
