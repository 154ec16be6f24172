import Foundation
import ONNX
import TensorRuntime

/// Scores each segment of one clip against the clip's own typical segments, needing no
/// model of normality: per feature group (appearance, motion) the Euclidean distance of each
/// segment to the group's element-wise median segment, as a robust z-score (median and
/// 1.4826·MAD of those distances, the MAD floored at 0.1 of the median distance); a segment's z
/// is its larger group z, and its score sigmoid(z − zCenter). Works while events fill less than
/// half the clip.
public struct ClipSelfReferenceScorer: Sendable {
    public var zCenter: Float = 3
    /// The spec of the (context-free) vectors it is given.
    public var spec: AnomalyFeatureSpec

    public init(spec: AnomalyFeatureSpec) { self.spec = spec }

    public func scores(_ segments: [[Float]]) -> [Float] {
        guard !segments.isEmpty else { return [] }
        var z = [Float](repeating: -.infinity, count: segments.count)
        let median = (0..<spec.dimension).map { dim in medianOf(segments.map { $0[dim] }) }
        for group in spec.groups where !group.isEmpty {
            for (index, value) in robustZ(segments, group: group, median: median).enumerated() { z[index] = max(z[index], value) }
        }
        return z.map { sigmoid($0 - zCenter) }
    }
}

/// A per-camera model of normal segment features. Each feature group (appearance, motion) gets
/// its own Gaussian: per-dimension standardisation, then Ledoit-Wolf shrinkage covariance; a
/// segment's novelty in a group is its Mahalanobis distance, calibrated to a score with
/// sigmoid((d − center) / scale), center and scale taken from held-out normal distances
/// (leave-one-clip-out, or 4 contiguous folds for a single clip) so that the model's own normal
/// segments mostly score below 0.5. A segment's score is its largest group score. (One Gaussian
/// over all dimensions would let 512 appearance dimensions drown a 7-sigma motion burst.)
public struct NoveltyBaseline: Sendable {
    public struct Group: Sendable {
        public let range: Range<Int>
        public let mean: [Float]
        /// Whitening: y = (x − mean) · whitening (g x g, row-major), ‖y‖ = Mahalanobis distance;
        /// the standardisation is folded in.
        public let whitening: [Float]
        public let shrinkage: Double
        public let center: Float
        public let scale: Float
        /// Held-out distances of the training segments.
        public let heldOutDistances: [Float]

        public func distance(_ vector: [Float]) -> Float {
            Gaussian.distance(Array(vector[range]), mean: mean, whitening: whitening)
        }

        public func score(_ vector: [Float]) -> Float { sigmoid((distance(vector) - center) / scale) }
    }

    public let groups: [Group]
    public let dimension: Int

    public struct Options: Sendable {
        /// Quantile of held-out normal distances that, plus one robust spread, scores 0.5.
        public var quantile = 0.95
        /// Per-dimension standard deviations are floored at this fraction of their median.
        public var stdFloor = 0.1
        public init() {}
    }

    /// Fits on normal segments grouped by clip (each inner array is one clip's segment vectors);
    /// `groups` partition the vector's dimensions (default: one group).
    public static func fit(clips: [[[Float]]], groups: [Range<Int>]? = nil, options: Options = Options()) throws -> NoveltyBaseline {
        let all = clips.flatMap { $0 }
        guard let dimension = all.first?.count, dimension > 0 else {
            throw VisionError.invalidParameter("a baseline needs at least one normal segment")
        }
        guard all.count >= 8 else { throw VisionError.invalidParameter("a baseline needs at least 8 normal segments, got \(all.count)") }
        guard all.allSatisfy({ $0.count == dimension }) else { throw VisionError.invalidParameter("segment vectors differ in length") }
        let ranges = groups ?? [0..<dimension]
        guard ranges.allSatisfy({ !$0.isEmpty && $0.lowerBound >= 0 && $0.upperBound <= dimension }) else {
            throw VisionError.invalidParameter("feature groups must be non-empty ranges within the \(dimension) dimensions")
        }
        return NoveltyBaseline(groups: try ranges.map { try fitGroup(clips, $0, options) }, dimension: dimension)
    }

    static func fitGroup(_ clips: [[[Float]]], _ range: Range<Int>, _ options: Options) throws -> Group {
        let sliced = clips.map { $0.map { Array($0[range]) } }
        let folds = sliced.count >= 2 ? sliced : contiguousFolds(sliced.flatMap { $0 }, count: 4)
        var heldOut: [Float] = []
        for index in folds.indices {
            let training = folds.enumerated().filter { $0.offset != index }.flatMap { $0.element }
            let model = try Gaussian(training, stdFloor: options.stdFloor)
            heldOut += folds[index].map { model.distance($0) }
        }
        let sorted = heldOut.sorted()
        let quantile = sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * options.quantile).rounded()))]
        let median = medianOf(heldOut)
        let spread = max(medianOf(heldOut.map { abs($0 - median) }) * 1.4826, median * 0.02, 1e-6)
        let model = try Gaussian(sliced.flatMap { $0 }, stdFloor: options.stdFloor)
        return Group(range: range, mean: model.mean, whitening: model.whitening, shrinkage: model.shrinkage,
                     center: quantile + spread, scale: spread, heldOutDistances: heldOut)
    }

    static func contiguousFolds(_ rows: [[Float]], count: Int) -> [[[Float]]] {
        let size = Int((Double(rows.count) / Double(count)).rounded(.up))
        return stride(from: 0, to: rows.count, by: size).map { Array(rows[$0..<min(rows.count, $0 + size)]) }
    }

    public func score(_ vector: [Float]) -> Float { groups.map { $0.score(vector) }.max() ?? 0 }

    /// The scorer as an ONNX graph: features [N, D] → scores [N, 1]. A block-diagonal Gemm centres
    /// and whitens every group at once; Mul squares; a Gemm with a D x G indicator sums each group;
    /// Sqrt gives the distances; Mul and Add calibrate; Sigmoid; ReduceMax over the groups.
    public func onnxModel() -> ONNXModelWriter {
        let d = dimension, g = groups.count
        var whitening = [Float](repeating: 0, count: d * d)
        var bias = [Float](repeating: 0, count: d)
        var indicator = [Float](repeating: 0, count: d * g)
        for (index, group) in groups.enumerated() {
            let size = group.range.count, offset = group.range.lowerBound
            for row in 0..<size {
                for column in 0..<size {
                    let weight = group.whitening[row * size + column]
                    whitening[(offset + row) * d + offset + column] = weight
                    bias[offset + column] -= group.mean[row] * weight
                }
            }
            for dim in group.range { indicator[dim * g + index] = 1 }
        }
        var writer = ONNXModelWriter(graphName: "novelty_baseline")
        writer.docString = "Per-group Ledoit-Wolf Mahalanobis novelty of segment features, calibrated to [0, 1], max over groups"
        writer.initializers = [
            .init(name: "whitening", dims: [d, d], values: whitening),
            .init(name: "whitening_bias", dims: [d], values: bias),
            .init(name: "group_indicator", dims: [d, g], values: indicator),
            .init(name: "inverse_scale", dims: [g], values: groups.map { 1 / $0.scale }),
            .init(name: "offset", dims: [g], values: groups.map { -$0.center / $0.scale }),
        ]
        writer.nodes = [
            .init("Gemm", inputs: ["features", "whitening", "whitening_bias"], outputs: ["whitened"], name: "whiten"),
            .init("Mul", inputs: ["whitened", "whitened"], outputs: ["squares"], name: "square"),
            .init("Gemm", inputs: ["squares", "group_indicator"], outputs: ["distance_squared"], name: "sum_groups"),
            .init("Sqrt", inputs: ["distance_squared"], outputs: ["distance"], name: "distance"),
            .init("Mul", inputs: ["distance", "inverse_scale"], outputs: ["scaled"], name: "scale"),
            .init("Add", inputs: ["scaled", "offset"], outputs: ["logit"], name: "offset"),
            .init("Sigmoid", inputs: ["logit"], outputs: ["group_scores"], name: "group_scores"),
            .init("ReduceMax", inputs: ["group_scores"], outputs: ["scores"], name: "score",
                  attributes: [("axes", .ints([1])), ("keepdims", .int(1))]),
        ]
        writer.inputs = [.init(name: "features", dims: [.symbolic("N"), .fixed(d)])]
        writer.outputs = [.init(name: "scores", dims: [.symbolic("N"), .fixed(1)])]
        return writer
    }
}

/// Standardised Ledoit-Wolf Gaussian (double precision while fitting).
struct Gaussian {
    let mean: [Float]
    let whitening: [Float]
    let shrinkage: Double

    init(_ rows: [[Float]], stdFloor: Double) throws {
        let n = rows.count, p = rows[0].count
        var mean = [Double](repeating: 0, count: p)
        for row in rows { for j in 0..<p { mean[j] += Double(row[j]) / Double(n) } }
        var std = [Double](repeating: 0, count: p)
        for row in rows { for j in 0..<p { let d = Double(row[j]) - mean[j]; std[j] += d * d / Double(n) } }
        std = std.map { $0.squareRoot() }
        let floor = max(Double(medianOf(std.map { Float($0) })) * stdFloor, 1e-6)
        std = std.map { max($0, floor) }
        // Standardised, centred data, n x p.
        var x = [Double](repeating: 0, count: n * p)
        for (i, row) in rows.enumerated() { for j in 0..<p { x[i * p + j] = (Double(row[j]) - mean[j]) / std[j] } }
        let (covariance, shrinkage) = ledoitWolf(x, n: n, p: p)
        let lower = try cholesky(covariance, p)
        let inverse = invertLower(lower, p)
        // y_j = Σ_i z_i (L⁻¹)_{j i} with z_i = (x_i − mean_i) / std_i, so W_{i j} = (L⁻¹)_{j i} / std_i.
        var whitening = [Float](repeating: 0, count: p * p)
        for i in 0..<p { for j in i..<p { whitening[i * p + j] = Float(inverse[j * p + i] / std[i]) } }
        self.mean = mean.map { Float($0) }
        self.whitening = whitening
        self.shrinkage = shrinkage
    }

    func distance(_ vector: [Float]) -> Float { Gaussian.distance(vector, mean: mean, whitening: whitening) }

    static func distance(_ vector: [Float], mean: [Float], whitening: [Float]) -> Float {
        let p = mean.count
        var y = [Float](repeating: 0, count: p)
        for i in 0..<p {
            let centred = vector[i] - mean[i]
            if centred == 0 { continue }
            let row = i * p
            for j in 0..<p { y[j] += centred * whitening[row + j] }
        }
        return y.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}

/// Ledoit and Wolf (2004) shrinkage of the sample covariance of centred `x` (n x p) towards
/// μ·I, with scikit-learn's estimate of the shrinkage intensity. Returns (covariance, shrinkage).
func ledoitWolf(_ x: [Double], n: Int, p: Int) -> ([Double], Double) {
    var covariance = [Double](repeating: 0, count: p * p)
    for k in 0..<n {
        let row = k * p
        for i in 0..<p {
            let a = x[row + i]
            if a == 0 { continue }
            for j in i..<p { covariance[i * p + j] += a * x[row + j] }
        }
    }
    for i in 0..<p { for j in i..<p { covariance[i * p + j] /= Double(n); covariance[j * p + i] = covariance[i * p + j] } }
    let mu = (0..<p).reduce(0.0) { $0 + covariance[$1 * p + $1] } / Double(p)
    // β̂ numerator: Σ_k ‖x_k‖⁴ / n² − ‖S‖²_F / n, over n·p; δ̂ = ‖S − μI‖²_F / p.
    var normsFourth = 0.0
    for k in 0..<n {
        var squared = 0.0
        for j in 0..<p { squared += x[k * p + j] * x[k * p + j] }
        normsFourth += squared * squared
    }
    var frobenius = 0.0, delta = 0.0
    for i in 0..<p {
        for j in 0..<p {
            let value = covariance[i * p + j]
            frobenius += value * value
            let off = value - (i == j ? mu : 0)
            delta += off * off
        }
    }
    delta /= Double(p)
    var beta = (normsFourth / Double(n) / Double(n) - frobenius / Double(n)) / Double(p)
    beta = min(max(beta, 0), delta)
    let shrinkage = delta == 0 ? 1 : beta / delta
    for i in 0..<p {
        for j in 0..<p { covariance[i * p + j] *= 1 - shrinkage }
        covariance[i * p + i] += shrinkage * mu
    }
    return (covariance, shrinkage)
}

/// Lower Cholesky factor of a symmetric positive definite p x p matrix.
func cholesky(_ a: [Double], _ p: Int) throws -> [Double] {
    var l = [Double](repeating: 0, count: p * p)
    for j in 0..<p {
        var diagonal = a[j * p + j]
        for k in 0..<j { diagonal -= l[j * p + k] * l[j * p + k] }
        guard diagonal > 0, diagonal.isFinite else {
            throw VisionError.invalidParameter("the normal segments' covariance is not positive definite (constant features?)")
        }
        let root = diagonal.squareRoot()
        l[j * p + j] = root
        for i in (j + 1)..<max(j + 1, p) {
            var sum = a[i * p + j]
            for k in 0..<j { sum -= l[i * p + k] * l[j * p + k] }
            l[i * p + j] = sum / root
        }
    }
    return l
}

/// Inverse of a lower-triangular matrix (lower-triangular).
func invertLower(_ l: [Double], _ p: Int) -> [Double] {
    var inverse = [Double](repeating: 0, count: p * p)
    for column in 0..<p {
        inverse[column * p + column] = 1 / l[column * p + column]
        for i in (column + 1)..<max(column + 1, p) {
            var sum = 0.0
            for k in column..<i { sum -= l[i * p + k] * inverse[k * p + column] }
            inverse[i * p + column] = sum / l[i * p + i]
        }
    }
    return inverse
}

/// Runs an exported scorer graph (features [N, D] → scores [N] or [N, 1]).
public final class ONNXSegmentScorer {
    private let executor: Executor
    private let inputName: String

    public init(plan: ExecutionPlan, threads: Int = 1) throws {
        executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        inputName = try FaceDetector.singleInput(plan, "anomaly scorer")
    }

    public func scores(_ segments: [[Float]]) throws -> [Float] {
        guard let dimension = segments.first?.count else { return [] }
        let input = Tensor(shape: [segments.count, dimension], floats: segments.flatMap { $0 })
        let outputs = try executor.run([inputName: input])
        guard outputs.count == 1, let output = outputs.values.first, output.count == segments.count else {
            throw VisionError.incompatibleModel("an anomaly scorer must output one score per segment ([N] or [N, 1])")
        }
        return output.floats
    }
}

func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

func medianOf(_ values: [Float]) -> Float {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Segment-level ROC AUC: the probability that a random positive scores above a random negative (ties count half).
public func rocAUC(scores: [Float], labels: [Bool]) -> Double? {
    let positives = zip(scores, labels).filter { $0.1 }.map(\.0)
    let negatives = zip(scores, labels).filter { !$0.1 }.map(\.0)
    guard !positives.isEmpty, !negatives.isEmpty else { return nil }
    var wins = 0.0
    for positive in positives {
        for negative in negatives { wins += positive > negative ? 1 : (positive == negative ? 0.5 : 0) }
    }
    return wins / Double(positives.count * negatives.count)
}
