import Dispatch
import Foundation
import HTTPServer
import Media
import ONNX
import Store
import TensorRuntime
import Vision

/// `POST /anomaly` (score a clip's segments) and `POST /anomaly/baselines` (build a camera's baseline).
extension Application {
    /// Video limits: bytes as the HTTP body limit; frames, duration and time generous for clips, bounded for servers.
    var videoLimits: VideoDecodingOptions {
        var limits = VideoDecodingOptions()
        limits.maxBytes = configuration.limits.maxBodyBytes
        limits.maxPixels = min(configuration.maxImagePixels, 3840 * 2160)
        limits.maxDurationSeconds = 1800
        limits.maxDecodedFrames = 60_000
        limits.deadlineSeconds = 120
        limits.threads = max(1, configuration.threadsPerWorker)
        return limits
    }

    /// The scorer a request names (`baseline=` or `model=`), else the anomaly task's default.
    func anomalyScorer(_ parameters: Parameters) throws -> (LoadedModel, AnomalyScorerSettings) {
        let baseline = parameters.string("baseline"), model = parameters.string("model")
        if baseline != nil, model != nil {
            throw HTTPError.invalidParameter("send either baseline= or model=, not both")
        }
        let loaded = try resolveModel(baseline ?? model, task: "anomaly")
        let settings = try AnomalyScorerSettings(manifest: loaded.manifest)
        if baseline != nil, settings.kind != .novelty {
            throw HTTPError.invalidParameter("model '\(loaded.name)' is a \(settings.kind.rawValue) scorer, not a baseline; use model=\(loaded.name)")
        }
        return (loaded, settings)
    }

    func backboneModel(_ spec: AnomalyFeatureSpec) throws -> LoadedModel {
        guard let backbone = catalog.model(named: spec.backbone) else {
            if !catalog.isReady { throw HTTPError.notReady("models are still loading") }
            throw HTTPError(status: 503, code: "not_ready", message: "the anomaly backbone model '\(spec.backbone)' is not loaded")
        }
        return backbone
    }

    func videoFeatureExtractor(_ worker: Worker, backbone: LoadedModel, spec: AnomalyFeatureSpec) throws -> VideoFeatureExtractor {
        // One extractor per backbone and feature spec (sampling and sizes are part of the spec).
        let kind = "anomaly-features " + String(decoding: encodeJSON(spec.json), as: UTF8.self)
        return try worker.pipeline(backbone, kind: kind) {
            guard let plan = backbone.plan(nil) else {
                throw VisionError.incompatibleModel("backbone '\(backbone.name)' needs one graph")
            }
            return try VideoFeatureExtractor(backbone: plan, spec: spec, threads: worker.threads)
        }
    }

    func anomaly(_ request: Request, _ completion: @escaping ResponseCompletion) {
        do {
            let parameters = Parameters(request: request)
            let (model, scorerSettings) = try anomalyScorer(parameters)
            var settings = scorerSettings
            if let fps = try parameters.number("fps", in: 0.1...30) {
                // The self-reference compares a clip with itself, so its sampling may change; trained
                // scorers only see features sampled the way they were trained.
                guard settings.kind == .selfReference || Double(fps) == settings.features.sampleFPS else {
                    throw HTTPError.invalidParameter("scorer '\(model.name)' was built on frames sampled at \(settings.features.sampleFPS) per second; fps= applies to the default self-reference scorer only")
                }
                settings.features.sampleFPS = Double(fps)
            }
            let segments = try parameters.count("segments", max: 1024) ?? settings.segments
            guard segments >= 1 else { throw HTTPError.invalidParameter("segments must be a whole number from 1 to 1024") }
            let threshold = try parameters.fraction("threshold") ?? settings.threshold
            let accept = (request.headers["Accept"] ?? "").lowercased()
            let wantsPNG = accept.contains("image/png") || ["1", "true", "yes"].contains(parameters.string("plot")?.lowercased() ?? "")
            let backbone = try backboneModel(settings.features)
            let data = try parameters.upload(field: "video")
            let limits = videoLimits
            submit(request, model: model, completion) { worker, timing in
                let extractor = try self.videoFeatureExtractor(worker, backbone: backbone, spec: settings.features)
                let scorer = try worker.pipeline(model, kind: "anomaly-scorer") {
                    try AnomalySegmentScorer(settings: settings, plan: model.plan("main"), threads: worker.threads)
                }
                var extraction = 0.0
                let clip = try measure(&extraction) { try extractor.extract(data, limits: limits) }
                timing.decodeMilliseconds = extraction - clip.backboneSeconds * 1000
                timing.inferenceMilliseconds = clip.backboneSeconds * 1000
                let result = try measure(&timing.inferenceMilliseconds) {
                    try scorer.score(clip, segments: segments, threshold: threshold)
                }
                if wantsPNG {
                    let chart = ScoreChart.render(result.segments.map(\.score), threshold: threshold)
                    return Response(status: 200, headers: ["Content-Type": "image/png"], body: try PNGEncoder.encode(chart))
                }
                let body = AnomalyEnvelope(request_id: request.id, model: ModelReference(name: model.name, version: model.version),
                                           backbone: ModelReference(name: backbone.name, version: backbone.version),
                                           result: result, timing: timing.timing())
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(body))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    /// POST /anomaly/baselines: multipart with field `name` and one or more `video` parts (normal
    /// footage of one camera). Builds the baseline, stores it as `models/<name>/v<version>/` and
    /// registers it (activated when it is the name's first version); 201 with the model.
    func buildBaseline(_ request: Request, _ completion: @escaping ResponseCompletion) {
        do {
            guard let form = request.form else {
                throw HTTPError(status: 415, code: "unsupported_media_type", message: "send multipart/form-data with a 'name' field and one or more 'video' parts")
            }
            guard let name = form.field("name")?.trimmingCharacters(in: .whitespaces), ModelRegistry.isValidName(name) else {
                throw HTTPError.invalidParameter("the 'name' field must be 1-64 characters a-z, 0-9, '.', '_' or '-'")
            }
            let videos = form.parts.filter { $0.name == "video" && !$0.data.isEmpty }.map(\.data)
            guard !videos.isEmpty else { throw HTTPError(status: 400, code: "bad_request", message: "send the normal clips as 'video' parts") }
            if let existing = catalog.model(named: name), existing.task != "anomaly" {
                throw HTTPError(status: 409, code: "conflict", message: "'\(name)' is a \(existing.task) model")
            }
            let defaultModel = try resolveModel(nil, task: "anomaly")
            var spec = try AnomalyScorerSettings(manifest: defaultModel.manifest).features
            spec.context = .none
            let backbone = try backboneModel(spec)
            let limits = videoLimits
            submit(request, model: backbone, completion) { worker, timing in
                let extractor = try self.videoFeatureExtractor(worker, backbone: backbone, spec: spec)
                let clips = try measure(&timing.inferenceMilliseconds) { try videos.map { try extractor.extract($0, limits: limits) } }
                let built = try AnomalyModelBuilder.baseline(name: name, normalClips: clips, spec: spec)
                let record = try self.registerBuilt(built)
                struct Body: Encodable { let success = true; let model: ModelVersionJSON; let summary: [String] }
                return Response(status: 201, headers: ["Content-Type": "application/json"],
                                body: encodeJSON(Body(model: self.json(record), summary: built.summary)))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    /// Stores a built scorer as the next version of its name (like POST /models) and registers it.
    func registerBuilt(_ built: AnomalyModelBuilder.Built) throws -> ModelRecord {
        try modelMutation.withLock { () throws -> ModelRecord in
            var built = built
            let existing = (try? catalog.registry.versions(name: built.manifest.name)) ?? []
            built.manifest.version = (existing.map(\.version).max() ?? 0) + 1
            let manifest = built.manifest
            let staging = configuration.temporaryDirectory.appendingPathComponent("baseline-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: staging) }
            try AnomalyModelBuilder.write(built, to: staging)
            let manifestData = try Data(contentsOf: staging.appendingPathComponent("manifest.json"))
            let relative = "\(manifest.name)/v\(manifest.version)"
            let destination = try catalog.resolve(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            let (digest, size) = try ModelCatalog.digest(folder: staging, manifest: manifest, manifestData: manifestData)
            try FileManager.default.moveItem(at: staging, to: destination)
            do {
                let record = try catalog.registry.register(name: manifest.name, version: manifest.version, task: manifest.task, path: relative,
                                                           sha256: digest, sizeBytes: size,
                                                           manifest: String(decoding: manifestData, as: UTF8.self), activate: existing.isEmpty)
                if existing.isEmpty { try catalog.reload(name: manifest.name) }
                return record
            } catch {
                try? FileManager.default.removeItem(at: destination)
                throw error
            }
        }
    }
}

/// The /anomaly response: the contract's fields, then Seer's extras.
struct AnomalyEnvelope: Encodable {
    struct Video: Encodable {
        let frames: Int, fps: Double, duration_s: Double, width: Int, height: Int
        let sampled_frames: Int, codec: String, container: String
    }
    struct Segment: Encodable {
        let index: Int, start_s: Double, end_s: Double, score: Double
    }

    let success = true
    let request_id: String
    let model: ModelReference
    let backbone: ModelReference
    let video: Video
    let segments: [Segment]
    let max_score: Double
    let threshold: Double
    let anomalous: Bool
    let method: String
    let warnings: [String]
    let timing: Timing

    init(request_id: String, model: ModelReference, backbone: ModelReference, result: AnomalyResult, timing: Timing) {
        self.request_id = request_id
        self.model = model
        self.backbone = backbone
        let info = result.video
        video = Video(frames: info.decodedFrames, fps: (info.fps * 1000).rounded() / 1000, duration_s: (info.durationSeconds * 1000).rounded() / 1000,
                      width: info.width, height: info.height, sampled_frames: info.sampledFrames, codec: info.codec, container: info.container)
        segments = result.segments.map {
            Segment(index: $0.index, start_s: ($0.start * 1000).rounded() / 1000, end_s: ($0.end * 1000).rounded() / 1000, score: round($0.score, 4))
        }
        max_score = round(result.maxScore, 4)
        threshold = round(result.threshold, 4)
        anomalous = result.anomalous
        method = result.method
        warnings = info.warnings
        self.timing = timing
    }
}
