import Foundation
import ONNX

/// Makes registry models (manifest + ONNX graph) from clips: a camera's novelty baseline, or a
/// trained MIL ranking scorer. Used by `seer anomaly baseline|train` and `POST /anomaly/baselines`.
public enum AnomalyModelBuilder {
    public struct Built {
        public var manifest: ModelManifest
        public var graph: Data
        /// One line per fact worth printing (sizes, calibration, losses).
        public var summary: [String]
    }

    public static let graphFile = "scorer.onnx"

    /// A novelty baseline from normal clips of one camera.
    public static func baseline(name: String, normalClips: [ClipFeatures], spec: AnomalyFeatureSpec, segments: Int = 32,
                                options: NoveltyBaseline.Options = NoveltyBaseline.Options()) throws -> Built {
        guard spec.context == .none else { throw VisionError.invalidParameter("baselines model context-free features") }
        guard !normalClips.isEmpty else { throw VisionError.invalidParameter("a baseline needs at least one normal clip") }
        let vectors = try normalClips.map { try $0.segments(segments, spec: spec).map(\.vector) }
        let model = try NoveltyBaseline.fit(clips: vectors, groups: spec.groups, options: options)
        let seconds = normalClips.reduce(0) { $0 + $1.duration }
        let calibration = model.groups.map { group -> JSONValue in
            .object(["dims": .array([.number(Double(group.range.lowerBound)), .number(Double(group.range.upperBound))]),
                     "shrinkage": .number(group.shrinkage), "center": .number(Double(group.center)), "scale": .number(Double(group.scale))])
        }
        var manifest = AnomalyScorerSettings.manifest(
            name: name, kind: .novelty,
            description: "Novelty baseline of one camera from \(normalClips.count) normal clip(s), \(Int(seconds.rounded())) s: per-group (appearance, motion) "
                + "Ledoit-Wolf Mahalanobis distance, calibrated on held-out normal segments, max over groups.",
            features: spec, graphFile: graphFile,
            details: ["calibration": .array(calibration), "normal_clips": .number(Double(normalClips.count)),
                      "normal_seconds": .number((seconds * 10).rounded() / 10)])
        manifest.conversion = "seer anomaly baseline (Sources/Vision/Anomaly/AnomalyModelBuilder.swift)"
        let summary = ["\(normalClips.count) clips, \(vectors.flatMap { $0 }.count) segments, \(String(format: "%.1f", seconds)) s"]
            + model.groups.map { "group \($0.range): shrinkage \(String(format: "%.3f", $0.shrinkage)), score 0.5 at distance \(String(format: "%.2f", $0.center))" }
        return Built(manifest: manifest, graph: try model.onnxModel().serialized(), summary: summary)
    }

    /// Normal bags for MIL training: each normal clip whole, plus its windows of `windowSeconds`
    /// every `windowSeconds / 8` (any part of a normal clip is a normal bag).
    public static func normalBags(_ clips: [ClipFeatures], spec: AnomalyFeatureSpec, segments: Int, windowSeconds: Double?) throws -> [[[Float]]] {
        try clips.flatMap { clip -> [[[Float]]] in
            var ranges: [ClosedRange<Double>?] = [nil]
            if let window = windowSeconds, window > 0, clip.duration > window {
                ranges += stride(from: 0.0, through: clip.duration - window, by: window / 8).map { $0...($0 + window) }
            }
            return try ranges.map { try clip.segments(segments, spec: spec, range: $0).map(\.vector) }
        }
    }

    /// A MIL ranking scorer trained from clips labelled only as anomalous or normal.
    public static func mil(name: String, anomalousClips: [ClipFeatures], normalClips: [ClipFeatures], spec: AnomalyFeatureSpec,
                           segments: Int = 32, windowSeconds: Double? = 8, options: MILTrainingOptions = MILTrainingOptions()) throws -> Built {
        let anomalous = try anomalousClips.map { try $0.segments(segments, spec: spec).map(\.vector) }
        let normal = try normalBags(normalClips, spec: spec, segments: segments, windowSeconds: windowSeconds)
        let result = try MILTrainer.train(anomalous: anomalous, normal: normal, options: options)
        let firstLoss = result.losses.prefix(10).reduce(0, +) / Float(min(10, result.losses.count))
        let lastLoss = result.losses.suffix(10).reduce(0, +) / Float(min(10, result.losses.count))
        var manifest = AnomalyScorerSettings.manifest(
            name: name, kind: .milRanking,
            description: "MIL ranking segment scorer (Sultani, Chen, Shah, CVPR 2018: FC \(options.hidden1)-\(options.hidden2)-1, dropout \(options.dropout), "
                + "Adagrad lr \(options.learningRate), ranking hinge + \(options.smoothness) smoothness + \(options.sparsity) sparsity) trained by Seer "
                + "on \(anomalousClips.count) anomalous and \(normalClips.count) normal clip(s).",
            features: spec, graphFile: graphFile,
            details: ["training": .object([
                "anomalous_clips": .number(Double(anomalousClips.count)), "normal_clips": .number(Double(normalClips.count)),
                "normal_bags": .number(Double(normal.count)), "iterations": .number(Double(options.iterations)),
                "pairs_per_batch": .number(Double(options.pairsPerBatch)), "seed": .number(Double(options.seed)),
                "learning_rate": .number(Double(options.learningRate)), "lambda_smoothness": .number(Double(options.smoothness)),
                "lambda_sparsity": .number(Double(options.sparsity)), "weight_decay": .number(Double(options.weightDecay)),
                "dropout": .number(Double(options.dropout)),
                "objective_first_10": .number(Double(firstLoss)), "objective_last_10": .number(Double(lastLoss)),
            ])])
        manifest.conversion = "seer anomaly train (Sources/Vision/Anomaly/MILTrainer.swift)"
        let summary = ["\(anomalous.count) anomalous bags, \(normal.count) normal bags of \(segments) segments, \(spec.dimension) features",
                       "objective \(String(format: "%.4f", firstLoss)) (first 10 iterations) -> \(String(format: "%.4f", lastLoss)) (last 10)"]
        return Built(manifest: manifest, graph: try result.scorer.onnxModel().serialized(), summary: summary)
    }

    /// Writes `manifest.json` and the graph into `folder` (created).
    public static func write(_ built: Built, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try built.graph.write(to: folder.appendingPathComponent(graphFile))
        try encoder.encode(built.manifest).write(to: folder.appendingPathComponent("manifest.json"))
    }
}
