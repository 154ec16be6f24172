import App
import ArgumentParser
import Foundation
import HTTPServer
import ONNX
import TensorRuntime
import Vision

/// `seer anomaly FILE` (as POST /anomaly), `seer anomaly baseline`, `seer anomaly train`.
struct AnomalyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "anomaly",
        abstract: "Video anomaly scores per segment (as POST /anomaly); build a camera baseline; train a MIL scorer.",
        subcommands: [AnomalyScoreCommand.self, AnomalyBaselineCommand.self, AnomalyTrainCommand.self],
        defaultSubcommand: AnomalyScoreCommand.self)
}

struct AnomalyScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "score", abstract: "Score a clip's segments (the JSON of POST /anomaly).")
    @Argument(help: "A video clip (MP4, AVI, MKV, WebM).") var file: String
    @Option(help: "Models folder.") var models = "models"
    @Option(help: "Anomaly scorer (registry name; default: the task's default).") var model: String?
    @Option(help: "A baseline built by `seer anomaly baseline`.") var baseline: String?
    @Option(help: "Number of segments (default 32).") var segments: Int?
    @Option(help: "Score threshold for `anomalous` (default 0.5).") var threshold: Double?
    @Option(help: "Write the score timeline as a PNG chart to this path instead of printing JSON.") var png: String?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        try reportingErrors {
            let parameters: [(name: String, value: String?)] = [("model", model), ("baseline", baseline), ("segments", segments.map(String.init)),
                              ("threshold", threshold.map { String($0) })]
            let request = OfflineRequest(path: "/anomaly", file: file, parameters: parameters,
                                         accept: png == nil ? nil : "image/png")
            let response = try request.send(modelsFolder: models, threads: threads)
            if let png, response.status < 400 {
                try response.body.write(to: URL(fileURLWithPath: png))
                FileHandle.standardError.write(Data("wrote \(png)\n".utf8))
            } else {
                try printBody(of: response)
            }
        }
    }
}

/// Shared by `baseline` and `train`: the backbone, feature extraction, and writing the model folder.
struct AnomalyBuildOptions: ParsableArguments {
    @Option(help: "Models folder (the new model is written to <models>/<name>/).") var models = "models"
    @Option(help: "Name of the new model (1-64 characters a-z, 0-9, '.', '_', '-').") var name: String
    @Option(help: "Segments per clip.") var segments = 32
    @Flag(help: "Replace an existing folder of that name.") var force = false
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func destination() throws -> URL {
        guard name.range(of: "^[a-z0-9][a-z0-9._-]{0,63}$", options: .regularExpression) != nil else {
            throw CommandError("invalid model name '\(name)': use 1-64 characters a-z, 0-9, '.', '_' or '-'")
        }
        let folder = URL(fileURLWithPath: models).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: folder.path), !force {
            throw CommandError("\(folder.path) exists; pass --force to replace it")
        }
        return folder
    }

    func extractor(_ spec: AnomalyFeatureSpec) throws -> VideoFeatureExtractor {
        let folder = URL(fileURLWithPath: models).appendingPathComponent(spec.backbone)
        let manifest = try ModelManifest.decode(Data(contentsOf: folder.appendingPathComponent("manifest.json")))
        guard let file = manifest.graphs["main"] ?? manifest.graphs.values.first else {
            throw CommandError("the backbone model '\(spec.backbone)' has no graph")
        }
        let executor = try loadExecutor(modelPath: folder.appendingPathComponent(file).path, threads: max(1, threads))
        return try VideoFeatureExtractor(backbone: executor.plan, spec: spec, threads: max(1, threads))
    }

    func features(_ paths: [String], _ extractor: VideoFeatureExtractor) throws -> [ClipFeatures] {
        try paths.map { path in
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            do {
                let clip = try extractor.extract(data)
                FileHandle.standardError.write(Data("\(path): \(clip.video.decodedFrames) frames, \(String(format: "%.1f", clip.duration)) s\n".utf8))
                for warning in clip.video.warnings { FileHandle.standardError.write(Data("  warning: \(warning)\n".utf8)) }
                return clip
            } catch {
                throw CommandError("\(path): \(error)")
            }
        }
    }

    func write(_ built: AnomalyModelBuilder.Built, to folder: URL, use: String) throws {
        if force { try? FileManager.default.removeItem(at: folder) }
        try AnomalyModelBuilder.write(built, to: folder)
        for line in built.summary { print(line) }
        print("wrote \(folder.path) (manifest.json, \(AnomalyModelBuilder.graphFile)); `seer serve` registers it; use \(use)")
    }
}

/// Video files in a folder (sorted), or the paths themselves.
func videoFiles(_ paths: [String]) throws -> [String] {
    let extensions: Set<String> = ["mp4", "m4v", "mov", "avi", "mkv", "webm", "ts", "flv"]
    return try paths.flatMap { path -> [String] in
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CommandError("no such file or folder: \(path)") }
        guard isDirectory.boolValue else { return [path] }
        return try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted().map { (path as NSString).appendingPathComponent($0) }
    }
}

struct AnomalyBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Build a camera's novelty baseline from normal clips (Ledoit-Wolf Mahalanobis per feature group, calibrated on held-out normal segments).")
    @OptionGroup var options: AnomalyBuildOptions
    @Argument(help: "Normal clips of one camera (files or folders).") var clips: [String]

    func run() throws {
        try reportingErrors {
            let folder = try options.destination()
            let files = try videoFiles(clips)
            guard !files.isEmpty else { throw CommandError("no clips given") }
            let spec = AnomalyFeatureSpec()
            let features = try options.features(files, options.extractor(spec))
            let built = try AnomalyModelBuilder.baseline(name: options.name, normalClips: features, spec: spec, segments: options.segments)
            try options.write(built, to: folder, use: "/anomaly?baseline=\(options.name)")
        }
    }
}

struct AnomalyTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train Sultani et al.'s MIL ranking scorer from clips labelled only anomalous or normal; export it as ONNX.")
    @OptionGroup var options: AnomalyBuildOptions
    @Option(help: "Folder (or file) of normal clips; repeatable.") var normal: [String]
    @Option(help: "Folder (or file) of clips that contain an anomaly somewhere; repeatable.") var anomalous: [String]
    @Option(help: "Input features: 'summary' (motion and within-clip change, generalises from few clips) or 'full' (plus the 512 appearance deviations).")
    var features = "summary"
    @Option(help: "Training iterations.") var iterations = 300
    @Option(help: "Anomalous/normal bag pairs per iteration (the paper: 30).") var pairs = 30
    @Option(help: "Random seed (initialisation, dropout, batches).") var seed: UInt64 = 1
    @Option(help: "Also cut normal clips into windows of this many seconds as extra normal bags (0: whole clips only).") var window = 8.0

    func run() throws {
        try reportingErrors {
            let folder = try options.destination()
            var spec = AnomalyFeatureSpec()
            switch features {
            case "summary": spec.context = .clipSummary
            case "full": spec.context = .clipMedian
            default: throw CommandError("--features must be 'summary' or 'full'")
            }
            let normalFiles = try videoFiles(normal), anomalousFiles = try videoFiles(anomalous)
            guard !normalFiles.isEmpty, !anomalousFiles.isEmpty else { throw CommandError("need at least one normal and one anomalous clip") }
            let extractor = try options.extractor(spec)
            let normalClips = try options.features(normalFiles, extractor)
            let anomalousClips = try options.features(anomalousFiles, extractor)
            var training = MILTrainingOptions()
            training.iterations = iterations
            training.pairsPerBatch = pairs
            training.seed = seed
            let built = try AnomalyModelBuilder.mil(name: options.name, anomalousClips: anomalousClips, normalClips: normalClips, spec: spec,
                                                    segments: options.segments, windowSeconds: window > 0 ? window : nil, options: training)
            try options.write(built, to: folder, use: "/anomaly?model=\(options.name)")
        }
    }
}
