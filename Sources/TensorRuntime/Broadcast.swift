/// Shape broadcasting as ONNX defines it (numpy rules).
public enum Broadcast {
    /// The multidirectional broadcast of two shapes: shapes are right-aligned and each
    /// pair of dimensions must be equal or contain a 1.
    public static func shape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let x = dimension(a, axis, rank: rank)
            let y = dimension(b, axis, rank: rank)
            if x == y || y == 1 {
                result[axis] = x
            } else if x == 1 {
                result[axis] = y
            } else {
                throw KernelError.invalid("shapes \(a) and \(b) cannot be broadcast together (dimension \(axis) of the result: \(x) vs \(y))")
            }
        }
        return result
    }

    /// The multidirectional broadcast of any number of shapes.
    public static func shape(_ shapes: [[Int]]) throws -> [Int] {
        try shapes.reduce([]) { try shape($0, $1) }
    }

    /// Whether `source` broadcasts to exactly `target` (unidirectional broadcasting).
    public static func isUnidirectional(_ source: [Int], to target: [Int]) -> Bool {
        guard source.count <= target.count else { return false }
        let offset = target.count - source.count
        for (axis, size) in source.enumerated() where size != 1 && size != target[axis + offset] { return false }
        return true
    }

    /// Element strides for reading a contiguous tensor of `shape` as if it had shape `target`:
    /// 0 along broadcast (size-1 or missing leading) dimensions. `shape` must broadcast to `target`.
    public static func strides(of shape: [Int], broadcastTo target: [Int]) -> [Int] {
        let own = Tensor.strides(for: shape)
        let offset = target.count - shape.count
        return (0..<target.count).map { axis in
            axis < offset || shape[axis - offset] == 1 ? 0 : own[axis - offset]
        }
    }

    private static func dimension(_ shape: [Int], _ axis: Int, rank: Int) -> Int {
        let index = axis - (rank - shape.count)
        return index < 0 ? 1 : shape[index]
    }
}

/// A walk over a contiguous output of some shape, one innermost row at a time, that also
/// tracks where two broadcast operands are read.
///
/// Size-1 dimensions are dropped and neighbouring dimensions that both operands traverse
/// contiguously (or both repeat) are merged, so `[N,C,H,W] op [1,C,1,1]` becomes rows of
/// `H*W` elements with a fixed second operand, and same-shape operands become one row.
/// Inside a row operand A advances by `strideA` (0 or 1) and B by `strideB`.
public struct BroadcastWalk: Sendable {
    /// Elements of the output.
    public let count: Int
    /// Elements per row (the merged innermost dimension).
    public let rowLength: Int
    /// Rows in the output; row `r` starts at output offset `r * rowLength`.
    public let rowCount: Int
    /// Element step within a row for operand A and operand B (0 when the row repeats one value).
    public let strideA: Int
    public let strideB: Int
    private let outerSizes: [Int]
    private let outerStridesA: [Int]
    private let outerStridesB: [Int]

    /// A walk over `shape`, reading A with `stridesA` and B with `stridesB` (element strides per
    /// axis of `shape`, 0 along broadcast axes).
    public init(shape: [Int], stridesA: [Int], stridesB: [Int]) {
        precondition(stridesA.count == shape.count && stridesB.count == shape.count, "one stride per axis")
        count = shape.reduce(1, *)
        var sizes: [Int] = []
        var a: [Int] = []
        var b: [Int] = []
        for axis in shape.indices where shape[axis] != 1 {
            if let last = sizes.indices.last,
               a[last] == stridesA[axis] * shape[axis], b[last] == stridesB[axis] * shape[axis] {
                sizes[last] *= shape[axis]
                a[last] = stridesA[axis]
                b[last] = stridesB[axis]
            } else {
                sizes.append(shape[axis])
                a.append(stridesA[axis])
                b.append(stridesB[axis])
            }
        }
        rowLength = sizes.last ?? 1
        rowCount = rowLength == 0 ? 0 : count / rowLength
        strideA = a.last ?? 0
        strideB = b.last ?? 0
        outerSizes = Array(sizes.dropLast())
        outerStridesA = Array(a.dropLast())
        outerStridesB = Array(b.dropLast())
    }

    /// A walk over the broadcast of contiguous operands shaped `shapeA` and `shapeB`.
    public init(shapeA: [Int], shapeB: [Int]) throws {
        let shape = try Broadcast.shape(shapeA, shapeB)
        self.init(shape: shape,
                  stridesA: Broadcast.strides(of: shapeA, broadcastTo: shape),
                  stridesB: Broadcast.strides(of: shapeB, broadcastTo: shape))
    }

    /// Calls `body(row, offsetA, offsetB)` for each row in `rows`, in order. Offsets are
    /// element offsets of the row's first element in A and B; no division happens per row.
    public func forEachRow(_ rows: Range<Int>, _ body: (_ row: Int, _ offsetA: Int, _ offsetB: Int) -> Void) {
        guard !rows.isEmpty else { return }
        let depth = outerSizes.count
        var index = [Int](repeating: 0, count: depth)
        var offsetA = 0
        var offsetB = 0
        var remainder = rows.lowerBound
        for axis in stride(from: depth - 1, through: 0, by: -1) {
            index[axis] = remainder % outerSizes[axis]
            remainder /= outerSizes[axis]
            offsetA += index[axis] * outerStridesA[axis]
            offsetB += index[axis] * outerStridesB[axis]
        }
        for row in rows {
            body(row, offsetA, offsetB)
            var axis = depth - 1
            while axis >= 0 {
                index[axis] += 1
                offsetA += outerStridesA[axis]
                offsetB += outerStridesB[axis]
                if index[axis] < outerSizes[axis] { break }
                offsetA -= outerStridesA[axis] * outerSizes[axis]
                offsetB -= outerStridesB[axis] * outerSizes[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Visits the whole output as segments `body(outputOffset, offsetA, offsetB, length)`: whole
    /// rows, spread over the context's threads when the output is large (a single long row is
    /// cut into pieces). `body` must write only to its own segment of the output.
    public func forEachSegment(context: KernelContext, minimumElementsPerTask: Int = 1 << 15,
                               _ body: (_ outputOffset: Int, _ offsetA: Int, _ offsetB: Int, _ length: Int) -> Void) {
        let tasks = Swift.min(context.options.threads, count / Swift.max(minimumElementsPerTask, 1))
        let length = rowLength
        if tasks <= 1 {
            forEachRow(0..<rowCount) { row, offsetA, offsetB in body(row * length, offsetA, offsetB, length) }
        } else if rowCount == 1 {
            let (strideA, strideB) = (self.strideA, self.strideB)
            forEachBlock(length, context: context, minimumElementsPerTask: minimumElementsPerTask) { range in
                body(range.lowerBound, range.lowerBound * strideA, range.lowerBound * strideB, range.count)
            }
        } else {
            let rowsPerTask = (rowCount + tasks - 1) / tasks
            context.parallelFor(tasks) { task in
                let start = task * rowsPerTask
                forEachRow(start..<Swift.min(start + rowsPerTask, rowCount)) { row, offsetA, offsetB in
                    body(row * length, offsetA, offsetB, length)
                }
            }
        }
    }
}

/// Splits `count` elements into blocks for `KernelContext.parallelFor` and calls
/// `body(range)` per block (one block when the work is small or threads is 1).
func forEachBlock(_ count: Int, context: KernelContext, minimumElementsPerTask: Int = 1 << 15,
                  _ body: (Range<Int>) -> Void) {
    let tasks = Swift.min(context.options.threads, count / Swift.max(minimumElementsPerTask, 1))
    if tasks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let perTask = (count + tasks - 1) / tasks
    context.parallelFor(tasks) { task in
        let start = task * perTask
        let end = Swift.min(start + perTask, count)
        if start < end { body(start..<end) }
    }
}
