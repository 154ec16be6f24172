import Dispatch
import Foundation
import Media
import TensorRuntime

/// How segment features are made; scorers record it in their manifest so that a scorer
/// only ever sees features made the way it was trained.
public struct AnomalyFeatureSpec: Sendable, Equatable {
    /// Registry name of the backbone model (task "backbone").
    public var backbone = "yolo-backbone"
    /// Backbone input (frames are scaled to exactly this size).
    public var inputWidth = 256
    public var inputHeight = 192
    /// Sampled frames per second that go through the backbone.
    public var sampleFPS = 4.0
    /// Grayscale thumbnail of every decoded frame, for motion energy.
    public var thumbnailWidth = 32
    public var thumbnailHeight = 24
    /// Motion energy cells per side: grid x grid cells after the frame mean and the segment max
    /// (0: no cells; where motion happens varies too much between normal stretches of a street).
    public var motionGrid = 0
    /// Energy added before the logarithm (in units of 255 gray levels).
    public var motionFloor: Float = 0.01
    /// Multiplier of the motion block in the segment vector.
    public var motionWeight: Float = 1
    /// Appearance channels (the backbone's output width).
    public var appearanceDim = 512
    /// Whether segment vectors are made relative to their own clip (see `Context`).
    public var context = Context.none

    public enum Context: String, Sendable {
        /// The pooled vector as it is (what a per-camera baseline models).
        case none
        /// The pooled vector minus the clip's element-wise median segment, then the robust z-score
        /// of each group's distance to that median (2 more dimensions): what changed within the
        /// clip, which carries over to unseen footage better than absolute appearance.
        case clipMedian = "clip-median"
        /// Only the footage-independent part of `clipMedian`: the motion block minus its clip median,
        /// and the two z-scores (motionDim + 2 dimensions). What a scorer trained on a handful of
        /// clips can learn without memorising their appearance.
        case clipSummary = "clip-summary"
    }

    public init() {}

    public var motionDim: Int { motionGrid * motionGrid + 2 }
    var motionCellsGrid: Int { max(1, motionGrid) }
    public var dimension: Int {
        switch context {
        case .none: return appearanceDim + motionDim
        case .clipMedian: return appearanceDim + motionDim + 2
        case .clipSummary: return motionDim + 2
        }
    }
    /// The vector's feature groups: appearance, then motion (then the two context z-scores).
    public var groups: [Range<Int>] {
        let motionEnd = appearanceDim + motionDim
        switch context {
        case .none: return [0..<appearanceDim, appearanceDim..<motionEnd]
        case .clipMedian: return [0..<appearanceDim, appearanceDim..<motionEnd, motionEnd..<dimension]
        case .clipSummary: return [0..<motionDim, motionDim..<dimension]
        }
    }

    /// `features` of a scorer manifest's postprocessing (missing keys keep the defaults).
    public init(json: JSONValue?) throws {
        guard let json else { return }
        if let value = json["backbone"]?.string { backbone = value }
        if let size = json["input_size"]?.ints {
            guard size.count == 2, size.allSatisfy({ (32...2048).contains($0) }) else {
                throw VisionError.incompatibleModel("features.input_size must be [height, width] between 32 and 2048")
            }
            (inputHeight, inputWidth) = (size[0], size[1])
        }
        if let value = json["sample_fps"]?.double {
            guard value > 0, value <= 60 else { throw VisionError.incompatibleModel("features.sample_fps must be in (0, 60]") }
            sampleFPS = value
        }
        if let size = json["thumbnail_size"]?.ints {
            guard size.count == 2, size.allSatisfy({ (4...256).contains($0) }) else {
                throw VisionError.incompatibleModel("features.thumbnail_size must be [height, width] between 4 and 256")
            }
            (thumbnailHeight, thumbnailWidth) = (size[0], size[1])
        }
        if let value = json["motion_grid"]?.int {
            guard (0...8).contains(value), value <= min(thumbnailWidth, thumbnailHeight) else {
                throw VisionError.incompatibleModel("features.motion_grid must be 0...8 and fit the thumbnail")
            }
            motionGrid = value
        }
        if let value = json["motion_weight"]?.float { motionWeight = value }
        if let value = json["motion_floor"]?.float {
            guard value > 0, value <= 1 else { throw VisionError.incompatibleModel("features.motion_floor must be in (0, 1]") }
            motionFloor = value
        }
        if let value = json["appearance_dim"]?.int {
            guard (1...65536).contains(value) else { throw VisionError.incompatibleModel("features.appearance_dim out of range") }
            appearanceDim = value
        }
        if let value = json["context"]?.string {
            guard let parsed = Context(rawValue: value) else {
                throw VisionError.incompatibleModel("features.context must be 'none', 'clip-median' or 'clip-summary', got '\(value.prefix(40))'")
            }
            context = parsed
        }
        if let value = json["dim"]?.int, value != dimension {
            throw VisionError.incompatibleModel("features.dim is \(value) but the spec makes \(dimension)-dimensional features")
        }
    }

    public var json: JSONValue {
        .object([
            "backbone": .string(backbone),
            "input_size": .array([.number(Double(inputHeight)), .number(Double(inputWidth))]),
            "sample_fps": .number(sampleFPS),
            "thumbnail_size": .array([.number(Double(thumbnailHeight)), .number(Double(thumbnailWidth))]),
            "motion_grid": .number(Double(motionGrid)),
            "motion_weight": .number(Double(motionWeight)),
            "motion_floor": .number(Double(motionFloor)),
            "appearance_dim": .number(Double(appearanceDim)),
            "dim": .number(Double(dimension)),
            "context": .string(context.rawValue),
            "layout": .string("appearance: segment mean of the backbone's pooled activations, L2-normalised (appearance_dim); "
                + "then motion_weight x ln(motion_floor + e) for e in [mean, max over the segment's frames of the mean absolute gray "
                + "difference between consecutive decoded frames, and its mean in each of motion_grid x motion_grid cells], "
                + "differences in units of 255 gray levels"),
        ])
    }
}

/// Per-frame measurements of one clip, before segmenting.
public struct ClipFeatures: Sendable {
    public var video: VideoInfo
    /// Sampled frames: time and backbone vector.
    public var appearance: [(time: Double, vector: [Float])]
    /// Every decoded frame after the first: time and [mean, cell 0, cell 1, ...] absolute difference to the frame before.
    public var motion: [(time: Double, cells: [Float])]
    /// Wall time spent in the backbone.
    public var backboneSeconds = 0.0
    /// Clip length in seconds (last frame + one frame interval).
    public var duration: Double { video.durationSeconds }
}

/// One temporal segment's feature vector.
public struct SegmentFeature: Sendable {
    public var index: Int
    public var start: Double
    public var end: Double
    public var vector: [Float]
}

/// Decodes a clip and measures every frame: backbone appearance on sampled frames, motion energy on all.
public final class VideoFeatureExtractor {
    public let spec: AnomalyFeatureSpec
    private let executor: Executor
    private let inputName: String
    private let batchSize = 4

    public init(backbone plan: ExecutionPlan, spec: AnomalyFeatureSpec, threads: Int = 1) throws {
        self.spec = spec
        executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        inputName = try FaceDetector.singleInput(plan, "backbone model")
    }

    /// Decoding options for this spec on top of the caller's limits.
    public func decodingOptions(_ limits: VideoDecodingOptions) -> VideoDecodingOptions {
        var options = limits
        options.sampleFPS = spec.sampleFPS
        options.sampleSize = (spec.inputWidth, spec.inputHeight)
        options.thumbnailSize = (spec.thumbnailWidth, spec.thumbnailHeight)
        return options
    }

    /// Decodes and measures `data` within `limits` (sampling and sizes come from the spec).
    public func extract(_ data: Data, limits: VideoDecodingOptions = VideoDecodingOptions()) throws -> ClipFeatures {
        var appearance: [(time: Double, vector: [Float])] = []
        var motion: [(time: Double, cells: [Float])] = []
        var pending: [(time: Double, image: RGBImage)] = []
        var previous: GrayImage?
        var backboneTime = 0.0
        func flush() throws {
            guard !pending.isEmpty else { return }
            let start = DispatchTime.now()
            let vectors = try embed(pending.map(\.image))
            backboneTime += Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            for (frame, vector) in zip(pending, vectors) { appearance.append((frame.time, vector)) }
            pending.removeAll(keepingCapacity: true)
        }
        let info = try VideoDecoder.decode(data, options: decodingOptions(limits)) { frame in
            if let thumbnail = frame.thumbnail {
                if let previous { motion.append((frame.time, motionCells(previous, thumbnail, grid: spec.motionCellsGrid))) }
                previous = thumbnail
            }
            if let rgb = frame.rgb {
                pending.append((frame.time, rgb))
                if pending.count == batchSize { try flush() }
            }
        }
        try flush()
        return ClipFeatures(video: info, appearance: appearance, motion: motion, backboneSeconds: backboneTime)
    }

    /// Backbone vectors of frames already at the input size.
    public func embed(_ images: [RGBImage]) throws -> [[Float]] {
        let width = spec.inputWidth, height = spec.inputHeight, plane = width * height
        let input = Tensor(dataType: .float32, shape: [images.count, 3, height, width])
        let out = input.pointer(Float.self)
        for (n, image) in images.enumerated() {
            guard image.width == width, image.height == height else {
                throw VisionError.invalidParameter("backbone frames must be \(width)x\(height), got \(image.width)x\(image.height)")
            }
            image.pixels.withUnsafeBufferPointer { pixels in
                let base = n * 3 * plane
                for index in 0..<plane {
                    out[base + index] = Float(pixels[index * 3]) / 255
                    out[base + plane + index] = Float(pixels[index * 3 + 1]) / 255
                    out[base + 2 * plane + index] = Float(pixels[index * 3 + 2]) / 255
                }
            }
        }
        let outputs = try executor.run([inputName: input])
        guard let output = outputs.values.first, output.shape.count == 2, output.shape[0] == images.count,
              output.shape[1] == spec.appearanceDim else {
            throw VisionError.incompatibleModel("the backbone must output [N, \(spec.appearanceDim)], got \(outputs.values.first?.shape ?? [])")
        }
        let values = output.floats
        return (0..<images.count).map { Array(values[$0 * spec.appearanceDim..<($0 + 1) * spec.appearanceDim]) }
    }
}

/// Mean absolute difference of two thumbnails (in 1/255 units) overall and in grid x grid cells.
func motionCells(_ a: GrayImage, _ b: GrayImage, grid: Int) -> [Float] {
    var sums = [Float](repeating: 0, count: grid * grid)
    var counts = [Float](repeating: 0, count: grid * grid)
    var total: Float = 0
    let width = a.width, height = a.height
    guard b.width == width, b.height == height, width > 0, height > 0 else { return [Float](repeating: 0, count: grid * grid + 1) }
    for y in 0..<height {
        let cellRow = y * grid / height
        for x in 0..<width {
            let difference = abs(Float(a.pixels[y * width + x]) - Float(b.pixels[y * width + x])) / 255
            let cell = cellRow * grid + x * grid / width
            sums[cell] += difference
            counts[cell] += 1
            total += difference
        }
    }
    return [total / Float(width * height)] + zip(sums, counts).map { $0 / max(1, $1) }
}

extension ClipFeatures {
    /// Splits [0, duration) into `count` equal segments and pools each: the mean backbone vector of
    /// its sampled frames (the nearest sampled frame when it holds none), L2-normalised as in
    /// Sultani et al.; then the motion block (mean and max frame energy, mean cell energies), each
    /// as ln(floor + energy): motion energy is heavy-tailed, its logarithm close to Gaussian.
    public func segments(_ count: Int, spec: AnomalyFeatureSpec, range: ClosedRange<Double>? = nil) throws -> [SegmentFeature] {
        guard count >= 1 else { throw VisionError.invalidParameter("segments must be at least 1") }
        guard !appearance.isEmpty else { throw VisionError.invalidParameter("the clip has no sampled frames") }
        let start = range?.lowerBound ?? 0, end = range?.upperBound ?? max(duration, 1e-3)
        let length = (end - start) / Double(count)
        let segments = (0..<count).map { index in
            let from = start + Double(index) * length, to = index == count - 1 ? end : from + length
            var vector = pooledAppearance(from, to)
            let motion = pooledMotion(from, to, grid: spec.motionCellsGrid).prefix(spec.motionDim)
            vector.append(contentsOf: motion.map { log(spec.motionFloor + $0) * spec.motionWeight })
            return SegmentFeature(index: index, start: from, end: to, vector: vector)
        }
        guard spec.context != .none else { return segments }
        let raw = segments.map(\.vector)
        let width = spec.appearanceDim + spec.motionDim
        let median = (0..<width).map { dim in medianOf(raw.map { $0[dim] }) }
        let groups = [0..<spec.appearanceDim, spec.appearanceDim..<width]
        let z = groups.map { robustZ(raw, group: $0, median: median) }
        return segments.enumerated().map { index, segment in
            var relative = segment
            let deviation = zip(segment.vector, median).map { $0 - $1 }
            relative.vector = (spec.context == .clipMedian ? deviation : Array(deviation[spec.appearanceDim...])) + z.map { $0[index] }
            return relative
        }
    }

    private func pooledAppearance(_ from: Double, _ to: Double) -> [Float] {
        var members = appearance.filter { $0.time >= from && $0.time < to }.map(\.vector)
        if members.isEmpty, let nearest = appearance.min(by: { abs($0.time - (from + to) / 2) < abs($1.time - (from + to) / 2) }) {
            members = [nearest.vector]
        }
        var mean = [Float](repeating: 0, count: members.first?.count ?? 0)
        for vector in members { for index in mean.indices { mean[index] += vector[index] } }
        return l2Normalised(mean)
    }

    private func pooledMotion(_ from: Double, _ to: Double, grid: Int) -> [Float] {
        let width = grid * grid + 1
        var members = motion.filter { $0.time >= from && $0.time < to }.map(\.cells)
        if members.isEmpty, let nearest = motion.min(by: { abs($0.time - (from + to) / 2) < abs($1.time - (from + to) / 2) }) {
            members = [nearest.cells]
        }
        guard !members.isEmpty else { return [Float](repeating: 0, count: width + 1) }
        var mean = [Float](repeating: 0, count: width)
        for cells in members { for index in 0..<width { mean[index] += cells[index] / Float(members.count) } }
        let peak = members.map { $0[0] }.max() ?? 0
        return [mean[0], peak] + mean[1...]
    }
}

/// Robust z-scores of each row's distance to `median` over the dimensions of `group`:
/// (d − median d) / max(1.4826 · MAD, 0.1 · median d).
func robustZ(_ rows: [[Float]], group: Range<Int>, median: [Float]) -> [Float] {
    let distances = rows.map { row in
        group.reduce(Float(0)) { sum, dim in
            let difference = row[dim] - median[dim]
            return sum + difference * difference
        }.squareRoot()
    }
    let center = medianOf(distances)
    let spread = max(medianOf(distances.map { abs($0 - center) }) * 1.4826, center * 0.1, 1e-6)
    return distances.map { ($0 - center) / spread }
}

func l2Normalised(_ vector: [Float]) -> [Float] {
    let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? vector.map { $0 / norm } : vector
}
