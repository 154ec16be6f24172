import Media
import TensorRuntime

/// A text region found by DBNet: a rotated rectangle as four corners, clockwise from top-left.
public struct TextRegion: Sendable, Equatable {
    public var confidence: Float
    public var box: Box
    public var polygon: [(x: Float, y: Float)]

    public static func == (lhs: TextRegion, rhs: TextRegion) -> Bool {
        lhs.confidence == rhs.confidence && lhs.box == rhs.box
            && lhs.polygon.elementsEqual(rhs.polygon) { $0.x == $1.x && $0.y == $1.y }
    }
}

public struct SegmentationResult: Sendable {
    public var label: String
    /// 0 = background, 255 = the class, at the original image size.
    public var mask: GrayImage
    public var pixelFraction: Float
    /// Text-region models only.
    public var regions: [TextRegion]
}

/// How a segmentation model is fed and read, from its manifest.
public struct SegmentationSettings: Sendable {
    public enum Decoder: String, Sendable {
        /// One probability map, thresholded (MediaPipe selfie).
        case binaryMask = "binary-mask"
        /// DBNet: probability map → regions (PP-OCR det).
        case db
    }

    public enum InputSize: Sendable, Equatable {
        case fixed(height: Int, width: Int)
        /// Scale so the shorter side is at least `limit` (never down), then round each side to `multiple`.
        case shorterSideAtLeast(limit: Int, multiple: Int)
    }

    public var decoder: Decoder
    public var label: String
    public var size: InputSize
    public var channelsLast: Bool
    public var bgr: Bool
    /// value = (pixel · scale − mean[c]) / std[c]
    public var scale: Float
    public var mean: [Float]
    public var std: [Float]
    public var threshold: Float
    public var boxThreshold: Float
    public var unclipRatio: Float
    public var maxCandidates: Int
    public var minSize: Float

    public init(manifest: ModelManifest) throws {
        guard let name = manifest.postprocessing?["decoder"]?.string, let decoder = Decoder(rawValue: name) else {
            throw VisionError.incompatibleModel("segmentation manifests need postprocessing.decoder 'binary-mask' or 'db'")
        }
        self.decoder = decoder
        label = manifest.postprocessing?["label"]?.string ?? manifest.labels?.first ?? manifest.name
        let pre = manifest.preprocessing
        if let fixed = pre?["size"]?.ints, fixed.count == 2, fixed.allSatisfy({ (1...4096).contains($0) }) {
            size = .fixed(height: fixed[0], width: fixed[1])
        } else if let rule = pre?["size_rule"], let limit = rule["limit_side_len"]?.int, let multiple = rule["multiple"]?.int,
                  rule["limit_type"]?.string == "min", (1...4096).contains(limit), multiple > 0 {
            size = .shorterSideAtLeast(limit: limit, multiple: multiple)
        } else {
            throw VisionError.incompatibleModel("segmentation manifests need preprocessing.size [h, w] or a size_rule with limit_type 'min'")
        }
        let input = manifest.inputs?.values.first
        channelsLast = input?.layout == "NHWC"
        bgr = input?.color == "BGR"
        scale = pre?["scale"]?.float ?? 1 / 255
        mean = pre?["mean"]?.floats ?? [0, 0, 0]
        std = pre?["std"]?.floats ?? [1, 1, 1]
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 }) else {
            throw VisionError.incompatibleModel("preprocessing.mean and std need 3 values, std non-zero")
        }
        let post = manifest.postprocessing
        threshold = post?["binarize_threshold"]?.float ?? manifest.thresholds?["mask"]?.float ?? 0.5
        boxThreshold = post?["box_threshold"]?.float ?? 0.5
        unclipRatio = post?["unclip_ratio"]?.float ?? 1.6
        maxCandidates = post?["max_candidates"]?.int ?? 1000
        minSize = post?["min_size"]?.float ?? 3
    }

    /// The network input size for an image.
    func inputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        switch size {
        case let .fixed(h, w):
            return (w, h)
        case let .shorterSideAtLeast(limit, multiple):
            let ratio = min(width, height) < limit ? Double(limit) / Double(min(width, height)) : 1
            func side(_ value: Int) -> Int {
                let scaled = Double(Int(Double(value) * ratio)) / Double(multiple)
                return max(multiple, Int(scaled.rounded(.toNearestOrEven)) * multiple)
            }
            return (side(width), side(height))
        }
    }
}

/// Segmentation pipelines: resize, normalise, run, then a binary mask (and DBNet regions).
public final class Segmenter {
    public let settings: SegmentationSettings
    private let executor: Executor
    private let inputName: String

    public init(plan: ExecutionPlan, settings: SegmentationSettings, threads: Int = 1) throws {
        self.settings = settings
        executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        inputName = try FaceDetector.singleInput(plan, "segmentation model")
    }

    public func segment(_ image: RGBImage, minConfidence: Float? = nil, maxResults: Int? = nil) throws -> SegmentationResult {
        let size = settings.inputSize(width: image.width, height: image.height)
        let planes = halfPixelResize(image, width: size.width, height: size.height)
        let input = try makeInput(planes, width: size.width, height: size.height)
        let outputs = try executor.run([inputName: input])
        guard let output = outputs.values.first(where: { $0.dataType == .float32 && $0.count == size.width * size.height }) else {
            throw VisionError.incompatibleModel("expected one probability map of \(size.width)x\(size.height)")
        }
        let probability = output.floats
        let full = resizeMap(probability, width: size.width, height: size.height, toWidth: image.width, toHeight: image.height)
        var mask = GrayImage(width: image.width, height: image.height)
        var inside = 0
        for index in full.indices where full[index] > settings.threshold {
            mask.pixels[index] = 255
            inside += 1
        }
        var regions: [TextRegion] = []
        if settings.decoder == .db {
            regions = TextRegionExtractor(settings: settings, boxThreshold: minConfidence ?? settings.boxThreshold)
                .regions(probability, width: size.width, height: size.height, imageWidth: image.width, imageHeight: image.height)
            if let maxResults { regions = Array(regions.sorted { $0.confidence > $1.confidence }.prefix(maxResults)) }
        }
        return SegmentationResult(label: settings.label, mask: mask,
                                  pixelFraction: Float(inside) / Float(max(1, image.width * image.height)), regions: regions)
    }

    /// Planar RGB pixel/255 → the model's layout, channel order and normalisation.
    func makeInput(_ planes: [Float], width: Int, height: Int) throws -> Tensor {
        let plane = width * height
        let shape = settings.channelsLast ? [1, height, width, 3] : [1, 3, height, width]
        let tensor = Tensor(dataType: .float32, shape: shape)
        let out = tensor.pointer(Float.self)
        // `planes` holds pixel/255; the manifest's formula uses pixel·scale.
        let toPixelScale = settings.scale * 255
        for channel in 0..<3 {
            let source = settings.bgr ? 2 - channel : channel
            let mean = settings.mean[channel], std = settings.std[channel]
            for index in 0..<plane {
                let value = (planes[source * plane + index] * toPixelScale - mean) / std
                if settings.channelsLast { out[index * 3 + channel] = value } else { out[channel * plane + index] = value }
            }
        }
        return tensor
    }
}

/// Half-pixel bilinear resize of one float map, edges clamped (cv2 INTER_LINEAR without antialiasing).
func resizeMap(_ map: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
    if width == toWidth && height == toHeight { return map }
    var out = [Float](repeating: 0, count: toWidth * toHeight)
    let scaleX = Float(width) / Float(toWidth), scaleY = Float(height) / Float(toHeight)
    var x0s = [Int](repeating: 0, count: toWidth), x1s = x0s, ax = [Float](repeating: 0, count: toWidth)
    for column in 0..<toWidth {
        let x = min(max((Float(column) + 0.5) * scaleX - 0.5, 0), Float(width - 1))
        x0s[column] = Int(x)
        x1s[column] = min(x0s[column] + 1, width - 1)
        ax[column] = x - Float(x0s[column])
    }
    for row in 0..<toHeight {
        let y = min(max((Float(row) + 0.5) * scaleY - 0.5, 0), Float(height - 1))
        let y0 = Int(y), y1 = min(y0 + 1, height - 1)
        let ay = y - Float(y0)
        let top = y0 * width, bottom = y1 * width
        for column in 0..<toWidth {
            let upper = map[top + x0s[column]] * (1 - ax[column]) + map[top + x1s[column]] * ax[column]
            let lower = map[bottom + x0s[column]] * (1 - ax[column]) + map[bottom + x1s[column]] * ax[column]
            out[row * toWidth + column] = upper * (1 - ay) + lower * ay
        }
    }
    return out
}
