import Media
import TensorRuntime

/// One labelled box.
public struct Detection: Sendable, Equatable {
    public var label: String
    public var classId: Int
    public var confidence: Float
    public var box: Box
}

public struct DetectionOptions: Sendable, Equatable {
    public var minConfidence: Float = 0.4
    public var iouThreshold: Float = 0.45
    public var maxResults: Int?
    /// Only these class ids, when set.
    public var classes: Set<Int>?
    /// Override the manifest's choice between every passing class per box (darknet) and the best one.
    public var bestClassOnly: Bool?

    public init() {}
}

/// The output layouts Seer decodes.
public enum DetectionDecoder: String, Sendable {
    /// darknet YOLOv3 heads: [N, anchors·(5+C), H, W] raw logits per head.
    case darknetYOLOv3 = "darknet-yolov3"
    /// Ultralytics YOLOv5: [N, boxes, 5+C] with cx, cy, w, h (input pixels), objectness, class scores.
    case yolov5
    /// Ultralytics YOLOv8/11: [N, 4+C, boxes], no objectness.
    case yolov8
}

/// How a detection model is fed and read, from its manifest.
public struct DetectionSettings: Sendable {
    public var decoder: DetectionDecoder
    public var inputWidth: Int
    public var inputHeight: Int
    public var labels: [String]
    public var filter: ResizeFilter
    public var fill: Float
    /// darknet: anchors (w, h) in input pixels, and per head the anchor indices. A head names
    /// its graph output, or (output nil) heads are taken in order of grid size, coarsest first.
    public var anchors: [(Float, Float)]
    public var heads: [(output: String?, mask: [Int])]
    public var bestClassOnly: Bool
    public var defaultIoU: Float
    public var defaultMinConfidence: Float

    /// Reads the manifest's `preprocessing`, `postprocessing`, `labels` and `thresholds`.
    public init(manifest: ModelManifest) throws {
        guard let decoderName = manifest.postprocessing?["decoder"]?.string,
              let decoder = DetectionDecoder(rawValue: decoderName) else {
            throw VisionError.incompatibleModel("manifest postprocessing.decoder must be one of darknet-yolov3, yolov5, yolov8")
        }
        self.decoder = decoder
        guard let size = manifest.preprocessing?["size"]?.ints, size.count == 2, size.allSatisfy({ $0 > 0 && $0 <= 4096 }) else {
            throw VisionError.incompatibleModel("manifest preprocessing.size must be [height, width]")
        }
        inputHeight = size[0]
        inputWidth = size[1]
        guard let labels = manifest.labels, !labels.isEmpty else {
            throw VisionError.incompatibleModel("a detection manifest needs its class labels")
        }
        self.labels = labels
        filter = ResizeFilter(rawValue: manifest.preprocessing?["filter"]?.string ?? "") ?? (decoder == .darknetYOLOv3 ? .darknetBilinear : .bilinear)
        fill = manifest.preprocessing?["fill"]?.float ?? (decoder == .darknetYOLOv3 ? 0.5 : 114.0 / 255)
        let anchorValues = manifest.postprocessing?["anchors"]?.array ?? []
        let anchors: [(Float, Float)] = anchorValues.compactMap { pair in pair.floats.flatMap { $0.count == 2 ? ($0[0], $0[1]) : nil } }
        var heads: [(output: String?, mask: [Int])] = []
        switch manifest.postprocessing?["masks"] {
        case let .array(list)?: heads = list.compactMap(\.ints).map { (nil, $0) }
        case let .object(byOutput)?: heads = byOutput.sorted { $0.key < $1.key }.compactMap { key, value in value.ints.map { (key, $0) } }
        default: break
        }
        self.anchors = anchors
        self.heads = heads
        if decoder == .darknetYOLOv3 {
            guard !anchors.isEmpty, !heads.isEmpty,
                  heads.allSatisfy({ $0.mask.allSatisfy { anchors.indices.contains($0) } }) else {
                throw VisionError.incompatibleModel("darknet-yolov3 needs postprocessing.anchors and masks (anchor indices per head)")
            }
        }
        bestClassOnly = manifest.postprocessing?["best_class_only"]?.bool ?? (decoder != .darknetYOLOv3)
        defaultIoU = manifest.thresholds?["nms"]?.float ?? 0.45
        defaultMinConfidence = manifest.thresholds?["confidence"]?.float ?? 0.4
    }
}

/// Single-stage detectors: letterbox, run, decode by layout, class-aware NMS, map boxes back.
public final class ObjectDetector {
    public let settings: DetectionSettings
    private let executor: Executor
    private let inputName: String

    public init(plan: ExecutionPlan, settings: DetectionSettings, threads: Int = 1) throws {
        self.settings = settings
        executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        inputName = try FaceDetector.singleInput(plan, "detector")
    }

    public func detect(_ image: RGBImage, options: DetectionOptions) throws -> [Detection] {
        guard (0...1).contains(options.minConfidence), (0...1).contains(options.iouThreshold) else {
            throw VisionError.invalidParameter("min_confidence and iou must be in [0, 1]")
        }
        let geometry = LetterboxGeometry(imageWidth: image.width, imageHeight: image.height,
                                         inputWidth: settings.inputWidth, inputHeight: settings.inputHeight,
                                         rounding: settings.decoder == .darknetYOLOv3 ? .darknet : .ultralytics)
        let input = Tensor(dataType: .float32, shape: [1, 3, settings.inputHeight, settings.inputWidth])
        letterbox(image, into: geometry, filter: settings.filter, fill: settings.fill, output: input.pointer(Float.self))
        let outputs = try executor.run([inputName: input])
        let bestOnly = options.bestClassOnly ?? settings.bestClassOnly
        var candidates: [Candidate]
        switch settings.decoder {
        case .darknetYOLOv3: candidates = try decodeDarknet(outputs, threshold: options.minConfidence)
        case .yolov5: candidates = try decodeUltralytics(outputs, objectness: true, threshold: options.minConfidence)
        case .yolov8: candidates = try decodeUltralytics(outputs, objectness: false, threshold: options.minConfidence)
        }
        if let classes = options.classes { candidates.removeAll { !classes.contains($0.classId) } }
        let detections = ObjectDetector.suppress(candidates, bestClassOnly: bestOnly, iou: options.iouThreshold)
            .map { candidate -> Detection in
                let exact = settings.decoder == .darknetYOLOv3
                let topLeft = geometry.toImage(x: candidate.box.xMin, y: candidate.box.yMin, exactCentre: exact)
                let bottomRight = geometry.toImage(x: candidate.box.xMax, y: candidate.box.yMax, exactCentre: exact)
                let box = Box(xMin: topLeft.x, yMin: topLeft.y, xMax: bottomRight.x, yMax: bottomRight.y)
                    .clamped(width: Float(image.width), height: Float(image.height))
                return Detection(label: settings.labels[candidate.classId], classId: candidate.classId,
                                 confidence: candidate.score, box: box)
            }
        return Array(detections.prefix(options.maxResults ?? Int.max))
    }

    /// A box (network-input pixels) with one class score; `group` ties the classes of one box together.
    struct Candidate {
        var box: Box
        var classId: Int
        var score: Float
        var group: Int
    }

    /// darknet's get_yolo_detections: sigmoid x, y, objectness and classes; exp w, h times the anchor;
    /// every class with objectness·class > threshold is a candidate.
    func decodeDarknet(_ outputs: [String: Tensor], threshold: Float) throws -> [Candidate] {
        let classes = settings.labels.count
        let ordered = outputs.values.filter { $0.rank == 4 && $0.dataType == .float32 }.sorted { $0.shape[2] < $1.shape[2] }
        var pairs: [(Tensor, [Int])] = []
        for (index, head) in settings.heads.enumerated() {
            if let name = head.output {
                guard let tensor = outputs[name] else {
                    throw VisionError.incompatibleModel("the manifest names YOLO output '\(name)', which the graph does not have")
                }
                pairs.append((tensor, head.mask))
            } else {
                guard index < ordered.count else {
                    throw VisionError.incompatibleModel("expected \(settings.heads.count) YOLO heads, the graph has \(ordered.count) 4-D outputs")
                }
                pairs.append((ordered[index], head.mask))
            }
        }
        var candidates: [Candidate] = []
        var group = 0
        for (head, mask) in pairs {
            let gridHeight = head.shape[2], gridWidth = head.shape[3]
            guard head.rank == 4, head.shape[0] == 1, head.shape[1] == mask.count * (5 + classes) else {
                throw VisionError.incompatibleModel("YOLO head \(head.shape) does not hold \(mask.count) anchors × (5 + \(classes))")
            }
            let plane = gridHeight * gridWidth
            let data = head.pointer(Float.self)
            for (slot, anchor) in mask.enumerated() {
                let base = data + slot * (5 + classes) * plane
                for row in 0..<gridHeight {
                    for column in 0..<gridWidth {
                        let cell = row * gridWidth + column
                        let objectness = Activation.sigmoid(base[4 * plane + cell])
                        guard objectness > threshold else { continue }
                        let cx = (Float(column) + Activation.sigmoid(base[cell])) / Float(gridWidth) * Float(settings.inputWidth)
                        let cy = (Float(row) + Activation.sigmoid(base[plane + cell])) / Float(gridHeight) * Float(settings.inputHeight)
                        let w = expf(base[2 * plane + cell]) * settings.anchors[anchor].0
                        let h = expf(base[3 * plane + cell]) * settings.anchors[anchor].1
                        let box = Box(xMin: cx - w / 2, yMin: cy - h / 2, xMax: cx + w / 2, yMax: cy + h / 2)
                        for classId in 0..<classes {
                            let score = objectness * Activation.sigmoid(base[(5 + classId) * plane + cell])
                            if score > threshold { candidates.append(Candidate(box: box, classId: classId, score: score, group: group)) }
                        }
                        group += 1
                    }
                }
            }
        }
        return candidates
    }

    /// Ultralytics exports: rows of cx, cy, w, h, [objectness], class scores (already activated).
    func decodeUltralytics(_ outputs: [String: Tensor], objectness: Bool, threshold: Float) throws -> [Candidate] {
        let classes = settings.labels.count
        let width = (objectness ? 5 : 4) + classes
        guard let output = outputs.values.first(where: { $0.rank == 3 && $0.shape[0] == 1 && $0.dataType == .float32 }) else {
            throw VisionError.incompatibleModel("expected a [1, …, …] float output")
        }
        // YOLOv5: [1, boxes, width]; YOLOv8: [1, width, boxes].
        let transposed = !objectness
        guard (transposed ? output.shape[1] : output.shape[2]) == width else {
            throw VisionError.incompatibleModel("output \(output.shape) does not match \(classes) classes for the \(objectness ? "yolov5" : "yolov8") layout")
        }
        let boxes = transposed ? output.shape[2] : output.shape[1]
        let data = output.pointer(Float.self)
        func value(_ box: Int, _ field: Int) -> Float { transposed ? data[field * boxes + box] : data[box * width + field] }
        var candidates: [Candidate] = []
        for index in 0..<boxes {
            let object = objectness ? value(index, 4) : 1
            guard object > threshold || !objectness else { continue }
            let first = objectness ? 5 : 4
            var anyScore = false
            var box = Box(xMin: 0, yMin: 0, xMax: 0, yMax: 0)
            for classId in 0..<classes {
                let score = object * value(index, first + classId)
                guard score > threshold else { continue }
                if !anyScore {
                    let cx = value(index, 0), cy = value(index, 1), w = value(index, 2), h = value(index, 3)
                    box = Box(xMin: cx - w / 2, yMin: cy - h / 2, xMax: cx + w / 2, yMax: cy + h / 2)
                    anyScore = true
                }
                candidates.append(Candidate(box: box, classId: classId, score: score, group: index))
            }
        }
        return candidates
    }

    /// Class-aware NMS; with `bestClassOnly` each box first keeps only its best class.
    /// Results are ordered by confidence, highest first.
    /// At most this many candidates (highest scores) enter NMS, which is quadratic, so a
    /// degenerate model or a low threshold cannot make a request take unbounded time.
    static let maxCandidates = 30_000

    static func suppress(_ candidates: [Candidate], bestClassOnly: Bool, iou: Float) -> [Candidate] {
        var pool = candidates
        if pool.count > maxCandidates {
            pool = Array(pool.sorted { $0.score > $1.score }.prefix(maxCandidates))
        }
        if bestClassOnly {
            var best: [Int: Candidate] = [:]
            for candidate in pool where candidate.score > (best[candidate.group]?.score ?? -1) { best[candidate.group] = candidate }
            pool = Array(best.values)
        }
        var byClass: [Int: [Candidate]] = [:]
        for candidate in pool { byClass[candidate.classId, default: []].append(candidate) }
        var kept: [Candidate] = []
        for (_, group) in byClass {
            let keep = nonMaximumSuppression(boxes: group.map(\.box), scores: group.map(\.score), threshold: iou)
            kept += keep.map { group[$0] }
        }
        return kept.sorted { $0.score > $1.score || ($0.score == $1.score && $0.classId < $1.classId) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
