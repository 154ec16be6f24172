import Foundation
import HTTPServer
import Media
import ONNX
import Store
import TensorRuntime
import Vision

struct ModelVersionJSON: Encodable {
    let name: String
    let version: Int
    let task: String
    let active: Bool
    let loaded: Bool
    let sha256: String
    let size_bytes: Int
    let created_at: String
    let manifest: JSONValue?
    let load_error: String?
}

extension Application {
    func json(_ record: ModelRecord) -> ModelVersionJSON {
        let loaded = catalog.model(named: record.name)
        return ModelVersionJSON(name: record.name, version: record.version, task: record.task, active: record.active,
                                loaded: loaded?.version == record.version, sha256: record.sha256, size_bytes: record.sizeBytes,
                                created_at: ISO8601DateFormatter.withFractions.string(from: record.createdAt),
                                manifest: try? JSONDecoder().decode(JSONValue.self, from: Data(record.manifest.utf8)),
                                load_error: record.active ? catalog.loadFailures[record.name] : nil)
    }

    func listModels(_ request: Request) throws -> Response {
        struct Body: Encodable { let success = true; let models: [ModelVersionJSON] }
        let records = try catalog.registry.list()
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(Body(models: records.map(json))))
    }

    func getModel(_ request: Request) throws -> Response {
        let name = request.pathParameters["name"] ?? ""
        struct Body: Encodable { let success = true; let name: String; let versions: [ModelVersionJSON] }
        do {
            let versions = try catalog.registry.versions(name: name)
            return Response(status: 200, headers: ["Content-Type": "application/json"],
                            body: encodeJSON(Body(name: name, versions: versions.map(json))))
        } catch RegistryError.invalidName {
            throw HTTPError.modelNotFound("no model named '\(name.prefix(64))'")
        }
    }

    func versionParameter(_ request: Request) throws -> (String, Int) {
        let name = request.pathParameters["name"] ?? ""
        guard let text = request.pathParameters["version"], let version = Int(text), version >= 1 else {
            throw HTTPError.invalidParameter("the version must be a whole number >= 1")
        }
        guard ModelRegistry.isValidName(name) else { throw HTTPError.modelNotFound("no model named '\(name.prefix(64))'") }
        return (name, version)
    }

    func activateModel(_ request: Request) throws -> Response {
        let (name, version) = try versionParameter(request)
        let record = try modelMutation.withLock { () throws -> ModelRecord in
            guard let target = try catalog.registry.record(name: name, version: version) else {
                throw RegistryError.versionNotFound(name: name, version: version)
            }
            // Compile before switching, so a broken version never becomes the one requests use.
            _ = try catalog.load(target)
            let record = try catalog.registry.activate(name: name, version: version)
            try catalog.reload(name: name)
            return record
        }
        struct Body: Encodable { let success = true; let model: ModelVersionJSON }
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(Body(model: json(record))))
    }

    func deleteModel(_ request: Request) throws -> Response {
        let (name, version) = try versionParameter(request)
        try modelMutation.withLock {
            let record = try catalog.registry.delete(name: name, version: version)
            // Uploaded versions own their folder (<name>/v<version>); bundled folders are never deleted.
            if record.path.hasPrefix(name + "/v"), let folder = try? catalog.resolve(record.path) {
                try? FileManager.default.removeItem(at: folder)
            }
            try catalog.reload(name: name)
        }
        struct Body: Encodable { let success = true }
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(Body()))
    }

    /// POST /models: `file` (ONNX) + `manifest` (JSON). The file is written to the data
    /// folder's tmp, compiled and checked against its manifest, then moved into
    /// `models/<name>/v<version>/` and recorded; any failure leaves nothing behind.
    func registerModel(_ request: Request) throws -> Response {
        guard let form = request.form else {
            throw HTTPError(status: 415, code: "unsupported_media_type", message: "send multipart/form-data with parts 'file' (ONNX) and 'manifest' (JSON)")
        }
        guard let file = form.part("file")?.data, !file.isEmpty else {
            throw HTTPError(status: 400, code: "bad_request", message: "the 'file' part (the ONNX model) is missing or empty")
        }
        guard let manifestData = form.part("manifest")?.data ?? form.field("manifest").map({ Data($0.utf8) }) else {
            throw HTTPError(status: 400, code: "bad_request", message: "the 'manifest' part (JSON) is missing")
        }
        var manifest: ModelManifest
        do { manifest = try ModelManifest.decode(manifestData) } catch {
            throw HTTPError(status: 400, code: "bad_request", message: "the manifest is not valid JSON of the manifest format: \(error)")
        }
        guard ModelRegistry.isValidName(manifest.name) else {
            throw HTTPError.invalidParameter("invalid model name '\(manifest.name.prefix(64))': use 1-64 characters a-z, 0-9, '.', '_' or '-'")
        }
        guard ModelCatalog.tasks.contains(manifest.task) else {
            throw HTTPError.invalidParameter("unknown task '\(manifest.task.prefix(40))'; tasks: \(ModelCatalog.tasks.sorted().joined(separator: ", "))")
        }
        manifest.graphs = ["main": "model.onnx"]

        let staging = configuration.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: staging) }
        let modelURL = staging.appendingPathComponent("model.onnx")
        try file.write(to: modelURL)
        let plan: ExecutionPlan
        do { plan = try ExecutionPlan(graph: ONNXModel.load(data: file, baseDirectory: staging)) } catch {
            throw modelFileError(error)
        }
        try validate(manifest, against: plan)

        let record = try modelMutation.withLock { () throws -> ModelRecord in
            let existing = (try? catalog.registry.versions(name: manifest.name)) ?? []
            if let other = existing.first(where: { $0.task != manifest.task }) {
                throw HTTPError(status: 409, code: "conflict",
                                message: "model '\(manifest.name)' is a \(other.task) model; a new version must have the same task, not \(manifest.task)")
            }
            let version = (existing.map(\.version).max() ?? 0) + 1
            manifest.version = version
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let finalManifest = try encoder.encode(manifest)
            try finalManifest.write(to: staging.appendingPathComponent("manifest.json"))
            let relative = "\(manifest.name)/v\(version)"
            let destination = try catalog.resolve(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            let (digest, size) = try ModelCatalog.digest(folder: staging, manifest: manifest, manifestData: finalManifest)
            try FileManager.default.moveItem(at: staging, to: destination)
            do {
                let record = try catalog.registry.register(name: manifest.name, version: version, task: manifest.task, path: relative,
                                                           sha256: digest, sizeBytes: size,
                                                           manifest: String(decoding: finalManifest, as: UTF8.self),
                                                           activate: existing.isEmpty)
                if existing.isEmpty { try catalog.reload(name: manifest.name) }
                return record
            } catch {
                try? FileManager.default.removeItem(at: destination)
                throw error
            }
        }
        struct Body: Encodable { let success = true; let model: ModelVersionJSON }
        return Response(status: 201, headers: ["Content-Type": "application/json"], body: encodeJSON(Body(model: json(record))))
    }

    /// A manifest that cannot drive its task's pipeline on this graph is refused (422), naming the mismatch.
    func validate(_ manifest: ModelManifest, against plan: ExecutionPlan) throws {
        func mismatch(_ message: String) -> HTTPError {
            HTTPError(status: 422, code: "manifest_mismatch", message: "the manifest does not match the graph: \(message)")
        }
        guard plan.graph.inputs.count == 1 else {
            throw mismatch("a \(manifest.task) model needs exactly one graph input, the graph has \(plan.graph.inputs.count)")
        }
        switch manifest.task {
        case "faces", "age":
            // Their pipelines need named graphs (pnet/rnet/onet; age[/gender]); an upload is one graph.
            throw mismatch("a \(manifest.task) model needs several named graphs, but POST /models takes a single ONNX file; add it to the models folder instead")
        case "detection":
            let settings: DetectionSettings
            do { settings = try DetectionSettings(manifest: manifest) } catch { throw mismatch("\(error)") }
            if let dims = plan.graph.inputs[0].shape, dims.count == 4 {
                for (axis, expected) in [(2, settings.inputHeight), (3, settings.inputWidth)] {
                    if case let .fixed(size) = dims[axis], size != expected {
                        throw mismatch("input dimension \(axis) is \(size) but preprocessing.size says \(expected)")
                    }
                }
            }
            // Run once on a blank input: the decoder must accept the real output shapes.
            let detector = try ObjectDetector(plan: plan, settings: settings)
            let blank = RGBImage(width: settings.inputWidth, height: settings.inputHeight)
            do { _ = try detector.detect(blank, options: DetectionOptions()) } catch let error as VisionError {
                throw mismatch(error.description)
            }
        default:
            break
        }
    }
}
