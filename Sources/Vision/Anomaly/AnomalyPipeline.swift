import Foundation
import Media
import ONNX
import TensorRuntime

/// What an anomaly-task model's manifest says about scoring.
public struct AnomalyScorerSettings: Sendable {
    public enum Kind: String, Sendable {
        /// No graph: each segment against the clip's own typical segments.
        case selfReference = "clip-self-reference"
        /// A graph made by `NoveltyBaseline` from one camera's normal clips.
        case novelty = "novelty-baseline"
        /// A graph made by `MILTrainer` (Sultani et al.'s ranking scorer).
        case milRanking = "mil-ranking"
    }

    public var kind: Kind
    public var features: AnomalyFeatureSpec
    /// A segment at or above this score is anomalous.
    public var threshold: Float
    public var segments: Int
    public var zCenter: Float

    public init(manifest: ModelManifest) throws {
        let post = manifest.postprocessing
        guard let name = post?["scorer"]?.string, let kind = Kind(rawValue: name) else {
            throw VisionError.incompatibleModel("anomaly manifests need postprocessing.scorer: clip-self-reference, novelty-baseline or mil-ranking")
        }
        self.kind = kind
        features = try AnomalyFeatureSpec(json: post?["features"])
        threshold = manifest.thresholds?["anomaly"]?.float ?? 0.5
        segments = post?["segments"]?.int ?? 32
        zCenter = post?["z_center"]?.float ?? 3
        guard (0...1).contains(threshold), (1...1024).contains(segments) else {
            throw VisionError.incompatibleModel("thresholds.anomaly must be in [0, 1] and postprocessing.segments in 1...1024")
        }
        if kind != .selfReference, manifest.graphs["main"] == nil {
            throw VisionError.incompatibleModel("a \(kind.rawValue) model needs a 'main' graph")
        }
    }

    /// The manifest of a scorer Seer made (a baseline or a trained MIL scorer).
    public static func manifest(name: String, kind: Kind, description: String, features: AnomalyFeatureSpec,
                                graphFile: String?, details: [String: JSONValue] = [:], threshold: Float = 0.5) -> ModelManifest {
        var post: [String: JSONValue] = ["scorer": .string(kind.rawValue), "features": features.json, "segments": .number(32)]
        post.merge(details) { $1 }
        var manifest = ModelManifest(name: name, version: 1, task: "anomaly", graphs: graphFile.map { ["main": $0] } ?? [:])
        manifest.isDefault = false
        manifest.description = description
        if graphFile != nil {
            manifest.inputs = ["main": .init(name: "features", layout: nil, shape: [-1, features.dimension], color: nil)]
            manifest.outputs = .object(["main": .array([.object(["name": .string("scores"), "shape": .array([.number(-1), .number(1)]),
                                                               "meaning": .string("anomaly score of each segment, 0..1")])])])
        }
        manifest.thresholds = .object(["anomaly": .number(Double(threshold))])
        manifest.postprocessing = .object(post)
        manifest.license = "trained by Seer from the user's clips; the backbone's license applies to the features"
        return manifest
    }
}

/// One scored segment.
public struct ScoredSegment: Sendable, Equatable {
    public var index: Int
    public var start: Double
    public var end: Double
    public var score: Float
}

public struct AnomalyResult: Sendable {
    public var video: VideoInfo
    public var segments: [ScoredSegment]
    public var threshold: Float
    public var method: String
    public var backboneSeconds: Double
    public var maxScore: Float { segments.map(\.score).max() ?? 0 }
    public var anomalous: Bool { maxScore >= threshold }
}

/// A scorer made from one anomaly-task model, ready to score segment vectors.
public final class AnomalySegmentScorer {
    public let settings: AnomalyScorerSettings
    private let graph: ONNXSegmentScorer?

    public init(settings: AnomalyScorerSettings, plan: ExecutionPlan?, threads: Int = 1) throws {
        self.settings = settings
        if settings.kind == .selfReference {
            graph = nil
        } else {
            guard let plan else { throw VisionError.incompatibleModel("a \(settings.kind.rawValue) scorer needs its graph") }
            if let dims = plan.graph.inputs.first?.shape, dims.count == 2, case let .fixed(width) = dims[1], width != settings.features.dimension {
                throw VisionError.incompatibleModel("the scorer graph takes \(width) features but its manifest's spec makes \(settings.features.dimension)")
            }
            graph = try ONNXSegmentScorer(plan: plan, threads: threads)
        }
    }

    public var method: String { settings.kind.rawValue }

    public func scores(_ segments: [[Float]]) throws -> [Float] {
        if let graph { return try graph.scores(segments) }
        var scorer = ClipSelfReferenceScorer(spec: settings.features)
        scorer.zCenter = settings.zCenter
        return scorer.scores(segments)
    }

    /// Scores a clip's features in `segments` equal parts.
    public func score(_ clip: ClipFeatures, segments: Int? = nil, threshold: Float? = nil) throws -> AnomalyResult {
        let pooled = try clip.segments(segments ?? settings.segments, spec: settings.features)
        let values = try scores(pooled.map(\.vector))
        let scored = zip(pooled, values).map { ScoredSegment(index: $0.index, start: $0.start, end: $0.end, score: $1) }
        return AnomalyResult(video: clip.video, segments: scored, threshold: threshold ?? settings.threshold,
                             method: method, backboneSeconds: clip.backboneSeconds)
    }
}
