import Media
import TensorRuntime

/// An age estimate: the expected age and the 10th–90th percentile range of the predicted distribution.
public struct AgeEstimate: Sendable, Equatable {
    public var value: Float
    public var low: Float
    public var high: Float
}

public struct GenderEstimate: Sendable, Equatable {
    public var value: String
    public var confidence: Float
}

/// How to turn an aligned face chip into the age/gender models' input, from the manifest.
public struct FaceAttributeSettings: Sendable {
    /// Chip size in pixels and the five landmark positions in it.
    public var chipSize: Int
    public var template: [Float]
    /// The gender model's chip: the same framing at its own size.
    public var genderChipSize: Int
    /// input = (byte − mean[c]) / divisor[c], NCHW RGB.
    public var mean: [Float]
    public var divisor: [Float]
    /// Age of each output bin.
    public var ageBins: [Float]
    /// Gender model output index → label.
    public var genderLabels: [String]

    public init(chipSize: Int, template: [Float], genderChipSize: Int, mean: [Float], divisor: [Float], ageBins: [Float], genderLabels: [String]) {
        self.chipSize = chipSize
        self.template = template
        self.genderChipSize = genderChipSize
        self.mean = mean
        self.divisor = divisor
        self.ageBins = ageBins
        self.genderLabels = genderLabels
    }

    /// Reads `preprocessing` (size, gender_size, mean, std, alignment_template),
    /// `postprocessing.age_weights` and `labels` (gender classes) of the age manifest.
    public init(manifest: ModelManifest) throws {
        let pre = manifest.preprocessing
        let points = pre?["alignment_template"]?["points"]
        let template = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"].flatMap { points?[$0]?.floats ?? [] }
        guard let size = pre?["size"]?.ints?.first, size > 1, template.count == 10,
              let mean = pre?["mean"]?.floats, let std = pre?["std"]?.floats,
              let weights = manifest.postprocessing?["age_weights"]?.floats, !weights.isEmpty else {
            throw VisionError.incompatibleModel("the age manifest needs preprocessing.size, alignment_template.points (5 named points), mean, std and postprocessing.age_weights")
        }
        self.init(chipSize: size, template: template, genderChipSize: pre?["gender_size"]?.ints?.first ?? size,
                  mean: mean, divisor: std, ageBins: weights, genderLabels: manifest.labels ?? ["female", "male"])
    }
}

/// Age (and optionally gender) from a face's five MTCNN landmarks: align, normalise, run, read the distribution.
public final class FaceAttributeEstimator {
    private let aligner: FaceAligner
    private let genderAligner: FaceAligner
    private let settings: FaceAttributeSettings
    private let age: Executor
    private let gender: Executor?
    private let ageInput: String
    private let genderInput: String?

    public init(age: ExecutionPlan, gender: ExecutionPlan?, settings: FaceAttributeSettings, threads: Int = 1) throws {
        guard settings.mean.count == 3, settings.divisor.count == 3, settings.divisor.allSatisfy({ $0 != 0 }) else {
            throw VisionError.incompatibleModel("age preprocessing needs 3 means and 3 non-zero divisors")
        }
        aligner = try FaceAligner(template: settings.template, chipSize: settings.chipSize)
        // dlib's chip geometry scales pixel-centre coordinates by (S − 1) / (size − 1).
        let scale = Float(settings.genderChipSize - 1) / Float(settings.chipSize - 1)
        genderAligner = try FaceAligner(template: settings.template.map { $0 * scale }, chipSize: settings.genderChipSize)
        self.settings = settings
        let options = ExecutionOptions(threads: threads)
        self.age = Executor(plan: age, options: options)
        self.gender = gender.map { Executor(plan: $0, options: options) }
        ageInput = try FaceDetector.singleInput(age, "age model")
        genderInput = try gender.map { try FaceDetector.singleInput($0, "gender model") }
    }

    public var estimatesGender: Bool { gender != nil }

    /// The chips for these faces, batched as the models' input.
    func batch(_ image: RGBImage, faces: [DetectedFace], aligner: FaceAligner) -> Tensor {
        let size = aligner.chipSize
        let plane = size * size
        let tensor = Tensor(dataType: .float32, shape: [faces.count, 3, size, size])
        let base = tensor.pointer(Float.self)
        for (index, face) in faces.enumerated() {
            let chip = aligner.chip(from: image, landmarks: face.landmarks)
            let out = base + index * 3 * plane
            for pixel in 0..<plane {
                for channel in 0..<3 {
                    out[channel * plane + pixel] = (Float(chip.pixels[pixel * 3 + channel]) - settings.mean[channel]) / settings.divisor[channel]
                }
            }
        }
        return tensor
    }

    public func estimateAge(_ image: RGBImage, faces: [DetectedFace]) throws -> [AgeEstimate] {
        guard !faces.isEmpty else { return [] }
        let outputs = try age.run([ageInput: batch(image, faces: faces, aligner: aligner)])
        guard let probabilities = outputs.values.first(where: { $0.rank == 2 && $0.shape == [faces.count, settings.ageBins.count] }) else {
            throw VisionError.incompatibleModel("the age model must output [N, \(settings.ageBins.count)] probabilities")
        }
        let values = probabilities.floats
        return (0..<faces.count).map { row in
            FaceAttributeEstimator.summarize(Array(values[row * settings.ageBins.count..<(row + 1) * settings.ageBins.count]), bins: settings.ageBins)
        }
    }

    public func estimateGender(_ image: RGBImage, faces: [DetectedFace]) throws -> [GenderEstimate] {
        guard let gender, let genderInput, !faces.isEmpty else { return [] }
        let outputs = try gender.run([genderInput: batch(image, faces: faces, aligner: genderAligner)])
        let classes = settings.genderLabels.count
        guard let scores = outputs.values.first(where: { $0.rank == 2 && $0.shape == [faces.count, classes] }) else {
            throw VisionError.incompatibleModel("the gender model must output [N, \(classes)] scores")
        }
        let values = scores.floats
        return (0..<faces.count).map { row in
            let probabilities = FaceAttributeEstimator.normalized(Array(values[row * classes..<(row + 1) * classes]))
            let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
            return GenderEstimate(value: settings.genderLabels[best], confidence: probabilities[best])
        }
    }

    /// Expected age and the 10th/90th percentiles of the bin distribution.
    static func summarize(_ probabilities: [Float], bins: [Float]) -> AgeEstimate {
        let p = normalized(probabilities)
        let expected = zip(p, bins).reduce(0) { $0 + $1.0 * $1.1 }
        func percentile(_ q: Float) -> Float {
            var cumulative: Float = 0
            for (probability, age) in zip(p, bins) {
                cumulative += probability
                if cumulative >= q { return age }
            }
            return bins.last ?? 0
        }
        return AgeEstimate(value: expected, low: percentile(0.1), high: percentile(0.9))
    }

    /// Probabilities as given if they already sum to 1, else a softmax of the scores.
    static func normalized(_ scores: [Float]) -> [Float] {
        let sum = scores.reduce(0, +)
        if scores.allSatisfy({ $0 >= 0 }), abs(sum - 1) < 1e-3 { return scores }
        let peak = scores.max() ?? 0
        let exps = scores.map { expf($0 - peak) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}

#if canImport(Glibc)
import Glibc
#endif
