import Media
import Dispatch
import TensorRuntime

/// MTCNN settings; defaults are facenet-pytorch's.
public struct FaceDetectionOptions: Sendable, Equatable {
    public var minFaceSize: Float = 20
    /// Score thresholds for P-Net, R-Net and O-Net.
    public var thresholds: [Float] = [0.6, 0.7, 0.7]
    public var scaleFactor: Float = 0.709
    /// Faces below this final O-Net score are dropped (after the cascade).
    public var minConfidence: Float = 0
    public var maxResults: Int?

    public init() {}
}

/// A face found by MTCNN, in original-image pixels.
public struct DetectedFace: Sendable, Equatable {
    public var confidence: Float
    public var box: Box
    /// left eye, right eye, nose, mouth left, mouth right (facenet-pytorch's order).
    public var landmarks: [(x: Float, y: Float)]

    public init(confidence: Float, box: Box, landmarks: [(x: Float, y: Float)]) {
        self.confidence = confidence
        self.box = box
        self.landmarks = landmarks
    }

    public static func == (lhs: DetectedFace, rhs: DetectedFace) -> Bool {
        lhs.confidence == rhs.confidence && lhs.box == rhs.box
            && lhs.landmarks.elementsEqual(rhs.landmarks) { $0.x == $1.x && $0.y == $1.y }
    }
}

public enum VisionError: Error, Equatable, CustomStringConvertible {
    /// A model whose graph does not have the inputs/outputs the pipeline needs.
    case incompatibleModel(String)
    /// A request parameter outside its range.
    case invalidParameter(String)

    public var description: String {
        switch self {
        case let .incompatibleModel(reason): return "incompatible model: \(reason)"
        case let .invalidParameter(reason): return reason
        }
    }
}

/// The MTCNN cascade (Zhang et al. 2016) exactly as facenet-pytorch runs it:
/// P-Net over an image pyramid, NMS per scale and across scales, R-Net and
/// O-Net refinement on area-resampled crops, box regression, squaring, and the
/// final "min" NMS. One detector belongs to one worker (its executors are not shareable).
public final class FaceDetector {
    private let pnets: [Executor]
    private let rnet: Executor
    private let onet: Executor
    private let pnetInput: String
    private let rnetInput: String
    private let onetInput: String

    /// `threads > 1` runs the pyramid's P-Net passes in parallel, one executor per thread.
    public init(pnet: ExecutionPlan, rnet: ExecutionPlan, onet: ExecutionPlan, threads: Int = 1) throws {
        let single = ExecutionOptions(threads: 1)
        pnets = (0..<max(1, threads)).map { _ in Executor(plan: pnet, options: single) }
        self.rnet = Executor(plan: rnet, options: ExecutionOptions(threads: threads))
        self.onet = Executor(plan: onet, options: ExecutionOptions(threads: threads))
        pnetInput = try FaceDetector.singleInput(pnet, "P-Net")
        rnetInput = try FaceDetector.singleInput(rnet, "R-Net")
        onetInput = try FaceDetector.singleInput(onet, "O-Net")
    }

    static func singleInput(_ plan: ExecutionPlan, _ role: String) throws -> String {
        guard plan.graph.inputs.count == 1, let input = plan.graph.inputs.first else {
            throw VisionError.incompatibleModel("\(role) must have exactly one input")
        }
        return input.name
    }

    public func detect(_ image: RGBImage, options: FaceDetectionOptions = FaceDetectionOptions()) throws -> [DetectedFace] {
        try FaceDetector.validate(options)
        var candidates = try proposeWithPNet(image, options)
        if candidates.isEmpty { return [] }
        candidates = try refineWithRNet(image, candidates, threshold: options.thresholds[1])
        if candidates.isEmpty { return [] }
        var faces = try finishWithONet(image, candidates, threshold: options.thresholds[2])
        // facenet-pytorch's detect() orders faces by box area, largest first.
        faces.sort { $0.box.area > $1.box.area }
        faces.removeAll { $0.confidence < options.minConfidence }
        if let limit = options.maxResults { faces = Array(faces.prefix(limit)) }
        return faces
    }

    static func validate(_ options: FaceDetectionOptions) throws {
        guard options.thresholds.count == 3, options.thresholds.allSatisfy({ (0...1).contains($0) }) else {
            throw VisionError.invalidParameter("thresholds must be three numbers in [0, 1]")
        }
        guard options.minFaceSize >= 12, options.minFaceSize.isFinite else {
            throw VisionError.invalidParameter("min_face_size must be at least 12 pixels")
        }
        guard options.scaleFactor > 0.1, options.scaleFactor < 0.95 else {
            throw VisionError.invalidParameter("scale factor must be in (0.1, 0.95)")
        }
        guard (0...1).contains(options.minConfidence) else {
            throw VisionError.invalidParameter("min_confidence must be in [0, 1]")
        }
        if let limit = options.maxResults, limit < 0 {
            throw VisionError.invalidParameter("max_results must be >= 0")
        }
    }

    // MARK: Stage 1

    /// A candidate box with its score and pending box regression.
    struct Candidate {
        var box: Box
        var score: Float
        var regression: (Float, Float, Float, Float)
    }

    static func pyramidScales(width: Int, height: Int, minFaceSize: Float, factor: Float) -> [Float] {
        let m = 12 / minFaceSize
        var minLength = Float(min(width, height)) * m
        var scale = m
        var scales: [Float] = []
        while minLength >= 12 {
            scales.append(scale)
            scale *= factor
            minLength *= factor
        }
        return scales
    }

    private func proposeWithPNet(_ image: RGBImage, _ options: FaceDetectionOptions) throws -> [Candidate] {
        let scales = FaceDetector.pyramidScales(width: image.width, height: image.height,
                                                minFaceSize: options.minFaceSize, factor: options.scaleFactor)
        var perScale = [Result<[Candidate], Error>](repeating: .success([]), count: scales.count)
        let threshold = options.thresholds[0]
        let run = { (scaleIndex: Int, executor: Executor) -> Result<[Candidate], Error> in
            Result { try self.pnetPass(image, scale: scales[scaleIndex], threshold: threshold, executor: executor) }
        }
        if pnets.count == 1 {
            for index in scales.indices { perScale[index] = run(index, pnets[0]) }
        } else {
            // Largest scales first across workers; each worker owns one executor.
            let lanes = pnets.count
            perScale.withUnsafeMutableBufferPointer { results in
                let output = results
                DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                    for index in stride(from: lane, to: scales.count, by: lanes) {
                        output[index] = run(index, pnets[lane])
                    }
                }
            }
        }
        var all: [Candidate] = []
        for result in perScale { all += try result.get() }
        // NMS across scales, then apply P-Net's box regression and make boxes square.
        let keep = nonMaximumSuppression(boxes: all.map(\.box), scores: all.map(\.score), threshold: 0.7)
        return keep.map { index in
            var candidate = all[index]
            let width = candidate.box.xMax - candidate.box.xMin
            let height = candidate.box.yMax - candidate.box.yMin
            let (dx1, dy1, dx2, dy2) = candidate.regression
            candidate.box = Box(xMin: candidate.box.xMin + dx1 * width, yMin: candidate.box.yMin + dy1 * height,
                                xMax: candidate.box.xMax + dx2 * width, yMax: candidate.box.yMax + dy2 * height)
            candidate.box = FaceDetector.square(candidate.box)
            return candidate
        }
    }

    private func pnetPass(_ image: RGBImage, scale: Float, threshold: Float, executor: Executor) throws -> [Candidate] {
        let height = Int(Float(image.height) * scale + 1)
        let width = Int(Float(image.width) * scale + 1)
        let input = Tensor(dataType: .float32, shape: [1, 3, height, width])
        areaResample(image, region: PixelRegion(x0: 0, y0: 0, x1: image.width, y1: image.height),
                     outWidth: width, outHeight: height, into: input.pointer(Float.self), normalize: FaceDetector.normalize)
        let outputs = try executor.run([pnetInput: input])
        let (regression, probability) = try FaceDetector.pnetOutputs(outputs)
        let mapHeight = probability.shape[2], mapWidth = probability.shape[3]
        let plane = mapHeight * mapWidth
        let faceProbability = probability.pointer(Float.self) + plane // channel 1 = face
        let offsets = regression.pointer(Float.self)
        var candidates: [Candidate] = []
        for y in 0..<mapHeight {
            for x in 0..<mapWidth {
                let cell = y * mapWidth + x
                let score = faceProbability[cell]
                guard score >= threshold else { continue }
                // generateBoundingBox: stride 2, cell size 12, floor((stride·p + 1) / scale).
                let box = Box(xMin: ((2 * Float(x) + 1) / scale).rounded(.down),
                              yMin: ((2 * Float(y) + 1) / scale).rounded(.down),
                              xMax: ((2 * Float(x) + 12) / scale).rounded(.down),
                              yMax: ((2 * Float(y) + 12) / scale).rounded(.down))
                candidates.append(Candidate(box: box, score: score,
                                            regression: (offsets[cell], offsets[plane + cell], offsets[2 * plane + cell], offsets[3 * plane + cell])))
            }
        }
        let keep = nonMaximumSuppression(boxes: candidates.map(\.box), scores: candidates.map(\.score), threshold: 0.5)
        return keep.sorted().map { candidates[$0] }
    }

    static func pnetOutputs(_ outputs: [String: Tensor]) throws -> (regression: Tensor, probability: Tensor) {
        let maps = outputs.values.filter { $0.rank == 4 && $0.shape[0] == 1 && $0.dataType == .float32 }
        guard let regression = maps.first(where: { $0.shape[1] == 4 }),
              let probability = maps.first(where: { $0.shape[1] == 2 }),
              regression.shape[2...] == probability.shape[2...] else {
            throw VisionError.incompatibleModel("P-Net must output a 1x4xHxW regression map and a 1x2xHxW probability map")
        }
        return (regression, probability)
    }

    // MARK: Stages 2 and 3

    private func refineWithRNet(_ image: RGBImage, _ candidates: [Candidate], threshold: Float) throws -> [Candidate] {
        let (crops, used) = FaceDetector.cropBatch(image, boxes: candidates.map(\.box), size: 24)
        guard !used.isEmpty else { return [] }
        let outputs = try rnet.run([rnetInput: crops])
        let columns = try FaceDetector.rowOutputs(outputs, count: used.count, widths: [4, 2], role: "R-Net")
        let regression = columns[4]!, probability = columns[2]!
        var passed: [Candidate] = []
        for (row, index) in used.enumerated() {
            let score = probability[row * 2 + 1]
            guard score > threshold else { continue }
            passed.append(Candidate(box: candidates[index].box, score: score,
                                    regression: (regression[row * 4], regression[row * 4 + 1], regression[row * 4 + 2], regression[row * 4 + 3])))
        }
        let keep = nonMaximumSuppression(boxes: passed.map(\.box), scores: passed.map(\.score), threshold: 0.7)
        return keep.map { index in
            var candidate = passed[index]
            candidate.box = FaceDetector.square(FaceDetector.applyRegression(candidate.box, candidate.regression))
            return candidate
        }
    }

    private func finishWithONet(_ image: RGBImage, _ candidates: [Candidate], threshold: Float) throws -> [DetectedFace] {
        let (crops, used) = FaceDetector.cropBatch(image, boxes: candidates.map(\.box), size: 48)
        guard !used.isEmpty else { return [] }
        let outputs = try onet.run([onetInput: crops])
        let columns = try FaceDetector.rowOutputs(outputs, count: used.count, widths: [4, 10, 2], role: "O-Net")
        let regression = columns[4]!, points = columns[10]!, probability = columns[2]!
        var faces: [DetectedFace] = []
        for (row, index) in used.enumerated() {
            let score = probability[row * 2 + 1]
            guard score > threshold else { continue }
            let box = candidates[index].box
            let width = box.xMax - box.xMin + 1, height = box.yMax - box.yMin + 1
            let landmarks = (0..<5).map { point in
                (x: width * points[row * 10 + point] + box.xMin - 1,
                 y: height * points[row * 10 + 5 + point] + box.yMin - 1)
            }
            let regressed = FaceDetector.applyRegression(box, (regression[row * 4], regression[row * 4 + 1], regression[row * 4 + 2], regression[row * 4 + 3]))
            faces.append(DetectedFace(confidence: score, box: regressed, landmarks: landmarks))
        }
        let keep = nonMaximumSuppression(boxes: faces.map(\.box), scores: faces.map(\.confidence),
                                         threshold: 0.7, measure: .minimumPixelInclusive)
        return keep.map { faces[$0] }
    }

    /// R-Net/O-Net outputs are [N, k] matrices told apart by their width k.
    static func rowOutputs(_ outputs: [String: Tensor], count: Int, widths: [Int], role: String) throws -> [Int: [Float]] {
        var columns: [Int: [Float]] = [:]
        for tensor in outputs.values where tensor.rank == 2 && tensor.shape[0] == count && tensor.dataType == .float32 {
            columns[tensor.shape[1]] = tensor.floats
        }
        guard widths.allSatisfy({ columns[$0] != nil }) else {
            throw VisionError.incompatibleModel("\(role) must output [N, k] matrices with k in \(widths)")
        }
        return columns
    }

    /// bbreg: offsets are fractions of the box size with +1 pixel widths.
    static func applyRegression(_ box: Box, _ offsets: (Float, Float, Float, Float)) -> Box {
        let width = box.xMax - box.xMin + 1, height = box.yMax - box.yMin + 1
        return Box(xMin: box.xMin + offsets.0 * width, yMin: box.yMin + offsets.1 * height,
                   xMax: box.xMax + offsets.2 * width, yMax: box.yMax + offsets.3 * height)
    }

    /// rerec: the square around the box's centre with the longer side.
    static func square(_ box: Box) -> Box {
        let width = box.xMax - box.xMin, height = box.yMax - box.yMin
        let side = max(width, height)
        let xMin = box.xMin + width * 0.5 - side * 0.5
        let yMin = box.yMin + height * 0.5 - side * 0.5
        return Box(xMin: xMin, yMin: yMin, xMax: xMin + side, yMax: yMin + side)
    }

    /// Crops every box (truncated to whole pixels and clipped to the image as the
    /// reference's `pad` does), area-resampled to size×size, normalised, in one batch.
    /// Returns the batch and, per batch row, the index of its box.
    static func cropBatch(_ image: RGBImage, boxes: [Box], size: Int) -> (Tensor, [Int]) {
        var regions: [(PixelRegion, Int)] = []
        for (index, box) in boxes.enumerated() {
            // pad(): x, y clipped below at 1, ex, ey above at w, h; the crop is [y-1, ey) × [x-1, ex).
            let x = max(Int(box.xMin.rounded(.towardZero)), 1)
            let y = max(Int(box.yMin.rounded(.towardZero)), 1)
            let ex = min(Int(box.xMax.rounded(.towardZero)), image.width)
            let ey = min(Int(box.yMax.rounded(.towardZero)), image.height)
            guard ey > y - 1, ex > x - 1 else { continue }
            regions.append((PixelRegion(x0: x - 1, y0: y - 1, x1: ex, y1: ey), index))
        }
        let batch = Tensor(dataType: .float32, shape: [regions.count, 3, size, size])
        let base = batch.pointer(Float.self)
        for (row, (region, _)) in regions.enumerated() {
            areaResample(image, region: region, outWidth: size, outHeight: size,
                         into: base + row * 3 * size * size, normalize: normalize)
        }
        return (batch, regions.map(\.1))
    }

    @inline(__always) static func normalize(_ value: Float) -> Float { (value - 127.5) * 0.0078125 }
}
