import Foundation
import ONNX
import Store
import TensorRuntime
import Vision

/// A registered model version, compiled and ready: its manifest and one shared
/// plan per graph. Immutable; every worker builds its own executors from it.
public final class LoadedModel: @unchecked Sendable {
    public let record: ModelRecord
    public let manifest: ModelManifest
    public let folder: URL
    public let plans: [String: ExecutionPlan]

    init(record: ModelRecord, manifest: ModelManifest, folder: URL, plans: [String: ExecutionPlan]) {
        self.record = record
        self.manifest = manifest
        self.folder = folder
        self.plans = plans
    }

    public var name: String { record.name }
    public var version: Int { record.version }
    public var task: String { record.task }

    /// The plan for a graph role; "main" or the only graph when `role` is nil.
    public func plan(_ role: String?) -> ExecutionPlan? {
        if let role { return plans[role] }
        return plans["main"] ?? (plans.count == 1 ? plans.values.first : nil)
    }
}

/// Why a model could not be loaded or registered.
public enum ModelLoadError: Error, CustomStringConvertible {
    case manifest(String)
    case graph(role: String, file: String, underlying: Error)

    public var description: String {
        switch self {
        case let .manifest(reason): return "invalid manifest: \(reason)"
        case let .graph(role, file, underlying): return "graph '\(role)' (\(file)): \(underlying)"
        }
    }
}

/// The registry's active models, compiled, by name; plus which model serves each task by default.
public final class ModelCatalog: @unchecked Sendable {
    public static let tasks: Set<String> = ["faces", "age", "detection", "segmentation", "anomaly"]

    public let modelsDirectory: URL
    let registry: ModelRegistry
    private let lock = NSLock()
    private var loaded: [String: LoadedModel] = [:]
    private var failures: [String: String] = [:]
    private var expectedDefaults: Set<String> = []
    private var loadedOnce = false

    init(registry: ModelRegistry, modelsDirectory: URL) {
        self.registry = registry
        self.modelsDirectory = modelsDirectory.standardizedFileURL
    }

    /// Registers each `models/<name>/manifest.json` folder that the registry does not
    /// hold with the same digest yet (a changed bundled model becomes a new active version).
    func registerBundledModels() throws {
        let folders = (try? FileManager.default.contentsOfDirectory(at: modelsDirectory, includingPropertiesForKeys: [.isDirectoryKey])) ?? []
        for folder in folders.sorted(by: { $0.path < $1.path }) {
            let manifestURL = folder.appendingPathComponent("manifest.json")
            guard FileManager.default.fileExists(atPath: manifestURL.path) else { continue }
            let manifestData = try Data(contentsOf: manifestURL)
            let manifest = try ModelManifest.decode(manifestData)
            let (digest, size) = try ModelCatalog.digest(folder: folder, manifest: manifest, manifestData: manifestData)
            try registry.registerIfAbsent(name: manifest.name, task: manifest.task, path: folder.lastPathComponent,
                                          sha256: digest, sizeBytes: size,
                                          manifest: String(decoding: manifestData, as: UTF8.self), activate: true)
        }
    }

    /// Compiles every active version. A model that fails is reported and skipped, not fatal.
    @discardableResult
    func loadActiveModels() -> [String: String] {
        let records = ((try? registry.list()) ?? []).filter(\.active)
        var models: [String: LoadedModel] = [:]
        var errors: [String: String] = [:]
        var defaults: Set<String> = []
        for record in records {
            do {
                let model = try load(record)
                models[record.name] = model
                if model.manifest.isDefault == true { defaults.insert(record.name) }
            } catch {
                errors[record.name] = "\(error)"
                if let manifest = try? ModelManifest.decode(Data(record.manifest.utf8)), manifest.isDefault == true {
                    defaults.insert(record.name)
                }
            }
        }
        lock.withLock {
            loaded = models
            failures = errors
            expectedDefaults = defaults
            loadedOnce = true
        }
        return errors
    }

    /// Loads and compiles one registered version.
    func load(_ record: ModelRecord) throws -> LoadedModel {
        let folder = try resolve(record.path)
        let manifest: ModelManifest
        do { manifest = try ModelManifest.decode(Data(record.manifest.utf8)) } catch {
            throw ModelLoadError.manifest("\(error)")
        }
        var plans: [String: ExecutionPlan] = [:]
        for (role, file) in manifest.graphs {
            let url = try resolve(record.path + "/" + file)
            do {
                plans[role] = try ExecutionPlan(graph: ONNXModel.load(contentsOf: url))
            } catch {
                throw ModelLoadError.graph(role: role, file: file, underlying: error)
            }
        }
        return LoadedModel(record: record, manifest: manifest, folder: folder, plans: plans)
    }

    /// A path from the registry, refused unless it stays inside the models folder.
    func resolve(_ relativePath: String) throws -> URL {
        try ModelRegistry.validatePath(relativePath)
        let url = modelsDirectory.appendingPathComponent(relativePath).standardizedFileURL.resolvingSymlinksInPath()
        let root = modelsDirectory.resolvingSymlinksInPath().path
        guard url.path == root || url.path.hasPrefix(root + "/") else {
            throw RegistryError.invalidPath(relativePath)
        }
        return url
    }

    /// The active, loaded version of `name`.
    public func model(named name: String) -> LoadedModel? { lock.withLock { loaded[name] } }

    /// The default model of a task: a loaded model whose manifest says `default`, first by name.
    public func defaultModel(task: String) -> LoadedModel? {
        lock.withLock {
            loaded.values.filter { $0.task == task && $0.manifest.isDefault == true }.min { $0.name < $1.name }
        }
    }

    public var loadedModels: [LoadedModel] { lock.withLock { Array(loaded.values) } }
    public var loadFailures: [String: String] { lock.withLock { failures } }

    /// True once the first load of the active models has finished (successfully or not).
    public var hasLoaded: Bool { lock.withLock { loadedOnce } }

    /// Ready once every default model is loaded (and there is at least one).
    public var isReady: Bool {
        lock.withLock { !expectedDefaults.isEmpty && expectedDefaults.allSatisfy { loaded[$0] != nil } }
    }

    /// Replaces the loaded version of one model (after activate/register/delete).
    func reload(name: String) throws {
        guard let record = try registry.active(name: name) else {
            lock.withLock { _ = loaded.removeValue(forKey: name) }
            return
        }
        let model = try load(record)
        lock.withLock {
            loaded[name] = model
            failures[name] = nil
        }
    }

    /// The registry digest of a model folder: SHA-256 over the manifest and each graph file's
    /// SHA-256 (in role order), so any change to any file makes a new version.
    static func digest(folder: URL, manifest: ModelManifest, manifestData: Data) throws -> (String, Int) {
        var summary = Data(manifestData)
        var size = manifestData.count
        for (role, file) in manifest.graphs.sorted(by: { $0.key < $1.key }) {
            guard !file.contains("/"), !file.hasPrefix(".") else {
                throw ModelLoadError.manifest("graph file '\(file)' must be a plain file name inside the model folder")
            }
            let url = folder.appendingPathComponent(file)
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            size += (attributes[.size] as? Int) ?? 0
            summary.append(Data("\n\(role) \(try SHA256.hexDigest(ofFile: url))".utf8))
        }
        return (SHA256.hexDigest(summary), size)
    }
}
