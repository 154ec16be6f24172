import Foundation
import TensorRuntime
import Vision

/// One model worker's private state: executors and pipelines built lazily from
/// the shared plans of the models it has served. Used only on its own queue.
public final class Worker {
    let threads: Int
    private var faceDetectors: [ObjectIdentifier: FaceDetector] = [:]
    private var attributeEstimators: [ObjectIdentifier: FaceAttributeEstimator] = [:]
    private var objectDetectors: [ObjectIdentifier: ObjectDetector] = [:]
    private var segmenters: [ObjectIdentifier: Segmenter] = [:]
    private var executors: [String: Executor] = [:]
    /// Pipelines of other kinds (one per model and kind), for routes that bring their own.
    private var others: [ObjectIdentifier: [String: Any]] = [:]
    /// Models whose pipelines are cached, kept alive so identifiers stay unique.
    private var models: [ObjectIdentifier: LoadedModel] = [:]

    init(threads: Int) { self.threads = threads }

    private func cached<T>(_ cache: inout [ObjectIdentifier: T], _ model: LoadedModel, _ make: () throws -> T) rethrows -> T {
        let key = ObjectIdentifier(model)
        if let existing = cache[key] { return existing }
        let made = try make()
        cache[key] = made
        models[key] = model
        return made
    }

    func faceDetector(_ model: LoadedModel) throws -> FaceDetector {
        try cached(&faceDetectors, model) {
            guard let pnet = model.plans["pnet"], let rnet = model.plans["rnet"], let onet = model.plans["onet"] else {
                throw VisionError.incompatibleModel("model '\(model.name)' needs graphs pnet, rnet and onet")
            }
            return try FaceDetector(pnet: pnet, rnet: rnet, onet: onet, threads: threads)
        }
    }

    func attributeEstimator(_ model: LoadedModel) throws -> FaceAttributeEstimator {
        try cached(&attributeEstimators, model) {
            guard let age = model.plans["age"] else {
                throw VisionError.incompatibleModel("model '\(model.name)' needs an 'age' graph")
            }
            return try FaceAttributeEstimator(age: age, gender: model.plans["gender"],
                                              settings: try FaceAttributeSettings(manifest: model.manifest), threads: threads)
        }
    }

    func objectDetector(_ model: LoadedModel) throws -> ObjectDetector {
        try cached(&objectDetectors, model) {
            guard let plan = model.plan(nil) else {
                throw VisionError.incompatibleModel("model '\(model.name)' needs one graph")
            }
            return try ObjectDetector(plan: plan, settings: DetectionSettings(manifest: model.manifest), threads: threads)
        }
    }

    func segmenter(_ model: LoadedModel) throws -> Segmenter {
        try cached(&segmenters, model) {
            guard let plan = model.plan(nil) else {
                throw VisionError.incompatibleModel("model '\(model.name)' needs one graph")
            }
            return try Segmenter(plan: plan, settings: SegmentationSettings(manifest: model.manifest), threads: threads)
        }
    }

    /// A worker-owned object of any kind for `model`, made once by `make` (e.g. a video pipeline).
    func pipeline<T>(_ model: LoadedModel, kind: String, make: () throws -> T) throws -> T {
        let key = ObjectIdentifier(model)
        if let existing = others[key]?[kind] as? T { return existing }
        let made = try make()
        others[key, default: [:]][kind] = made
        models[key] = model
        return made
    }

    /// A plain executor for one graph (Open Inference Protocol requests).
    func executor(_ model: LoadedModel, role: String?) throws -> Executor {
        let key = "\(ObjectIdentifier(model).hashValue)/\(role ?? "")"
        if let existing = executors[key] { return existing }
        guard let plan = model.plan(role) else {
            throw VisionError.incompatibleModel("model '\(model.name)' has no graph '\(role ?? "main")'; graphs: \(model.plans.keys.sorted().joined(separator: ", "))")
        }
        let executor = Executor(plan: plan, options: ExecutionOptions(threads: threads))
        executors[key] = executor
        models[ObjectIdentifier(model)] = model
        return executor
    }

    /// Drops pipelines of models that are no longer loaded.
    func forget(except live: [LoadedModel]) {
        let keep = Set(live.map { ObjectIdentifier($0) })
        faceDetectors = faceDetectors.filter { keep.contains($0.key) }
        attributeEstimators = attributeEstimators.filter { keep.contains($0.key) }
        objectDetectors = objectDetectors.filter { keep.contains($0.key) }
        segmenters = segmenters.filter { keep.contains($0.key) }
        others = others.filter { keep.contains($0.key) }
        executors = executors.filter { entry in keep.contains { entry.key.hasPrefix("\($0.hashValue)/") } }
        models = models.filter { keep.contains($0.key) }
    }
}
