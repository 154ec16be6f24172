import Dispatch
import Foundation
import HTTPServer
import Store
import TensorRuntime

/// The whole service, built the same way by `seer serve` and by tests:
/// SQLite store, model catalog, worker pool, routes, HTTP server.
public final class Application: @unchecked Sendable {
    public let configuration: ServiceConfiguration
    let catalog: ModelCatalog
    let requestLog: RequestLog
    let pool: WorkerPool<Worker>
    let metrics = Metrics()
    let openAPI: Data?
    /// Where operational messages go (standard error for `seer serve`), one line per call.
    let diagnostics: @Sendable (String) -> Void
    /// Serialises model registration, activation and deletion.
    let modelMutation = NSLock()
    private var server: HTTPServer?
    private lazy var router = makeRouter()
    private let loading = DispatchGroup()

    /// Opens (or creates) the database, registers the bundled models and prepares the
    /// workers. Models compile in the background after `start`; /readyz says when they are done.
    /// `diagnostics` receives operational messages (model load failures, request-log write failures).
    public init(configuration: ServiceConfiguration,
                diagnostics: @escaping @Sendable (String) -> Void = { Application.writeToStandardError($0) }) throws {
        self.configuration = configuration
        self.diagnostics = diagnostics
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: configuration.databasePath.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fileManager.createDirectory(at: configuration.temporaryDirectory, withIntermediateDirectories: true)
        let registryDatabase = try Database(path: configuration.databasePath.path)
        try StoreSchema.migrator.migrate(registryDatabase)
        let registry = try ModelRegistry(database: registryDatabase)
        catalog = ModelCatalog(registry: registry, modelsDirectory: configuration.modelsDirectory)
        var logOptions = RequestLog.Options()
        logOptions.maxRows = configuration.requestLogMaxRows
        logOptions.maxAge = configuration.requestLogMaxAgeDays * 86_400
        logOptions.onHealthChange = Application.reportRequestLogHealth(databasePath: configuration.databasePath.path, to: diagnostics)
        requestLog = try RequestLog(path: configuration.databasePath.path, options: logOptions)
        pool = WorkerPool(workers: (0..<max(1, configuration.workers)).map { _ in Worker(threads: configuration.threadsPerWorker) },
                          capacity: configuration.queueCapacity)
        openAPI = Application.findOpenAPI(near: configuration.modelsDirectory)
        try catalog.registerBundledModels()
    }

    /// The port the server listens on (useful with port 0).
    public var port: Int { server?.port ?? configuration.port }

    /// Starts listening, then compiles the active models on a background queue.
    public func start() throws {
        var serverConfiguration = ServerConfiguration(host: configuration.host, port: configuration.port, limits: configuration.limits)
        serverConfiguration.retryAfterSeconds = 1
        let server = HTTPServer(configuration: serverConfiguration, handler: router.handler) { [weak self] record in
            self?.log(record)
        }
        server.bodyGate = router.check
        try server.start()
        self.server = server
        loading.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let failures = catalog.loadActiveModels()
            for (name, reason) in failures.sorted(by: { $0.key < $1.key }) {
                diagnostics("seer: model '\(name)' failed to load: \(reason)")
            }
            loading.leave()
        }
    }

    /// Blocks until the background model loading has finished.
    public func waitUntilLoaded() { loading.wait() }

    /// Compiles the active models now, without a server (command-line use). Returns load failures by model.
    @discardableResult
    public func loadModels() -> [String: String] {
        return catalog.loadActiveModels()
    }

    /// Answers one request in-process through the same router the server uses.
    public func handle(_ request: Request) -> Response {
        let done = DispatchSemaphore(value: 0)
        var response = Response()
        router.handler(request) { result in
            response = Response(result, requestID: request.id)
            done.signal()
        }
        done.wait()
        return response
    }

    /// Drains: stop accepting, finish in-flight requests, flush the request log, close SQLite.
    public func shutdown() {
        _ = server?.shutdown(gracePeriod: configuration.drainTimeout)
        pool.drain(timeout: .now() + configuration.drainTimeout)
        requestLog.close()
    }

    public func waitUntilStopped() { server?.waitUntilStopped() }

    // MARK: Routing

    /// Who may call a route.
    enum Access { case open, apiKey, admin }

    func makeRouter() -> Router {
        let router = Router()
        func route(_ method: String, _ path: String, _ access: Access, _ handler: @escaping Handler) {
            router.on(method, path) { [unowned self] request, completion in
                metrics.requestStarted()
                let started = DispatchTime.now()
                let finish: ResponseCompletion = { result in
                    let status = (try? result.get().status) ?? ((result.mapError { $0 }.failureError as? HTTPError)?.status ?? 500)
                    self.metrics.requestFinished(route: "\(method) \(path)", status: status, seconds: milliseconds(since: started) / 1000)
                    completion(result)
                }
                do {
                    try authorize(request, access)
                    handler(request, finish)
                } catch {
                    finish(.failure(error))
                }
            }
        }
        func sync(_ method: String, _ path: String, _ access: Access, _ body: @escaping (Request) throws -> Response) {
            route(method, path, access) { request, completion in completion(Result { try body(request) }.mapError { httpError(for: $0) as Error }) }
        }
        route("POST", "/faces", .apiKey) { self.faces($0, ageByDefault: false, $1) }
        route("POST", "/age", .apiKey) { self.faces($0, ageByDefault: true, $1) }
        route("POST", "/detect", .apiKey) { self.detect($0, deepStack: false, $1) }
        route("POST", "/segment", .apiKey) { self.segment($0, $1) }
        route("POST", "/anomaly", .apiKey) { self.anomaly($0, $1) }
        route("POST", "/anomaly/baselines", .admin) { self.buildBaseline($0, $1) }
        route("POST", "/v1/vision/face", .apiKey) { self.deepStackFaces($0, $1) }
        route("POST", "/v1/vision/detection", .apiKey) { self.detect($0, deepStack: true, $1) }

        sync("GET", "/models", .apiKey, listModels)
        sync("GET", "/models/{name}", .apiKey, getModel)
        sync("POST", "/models", .admin, registerModel)
        sync("POST", "/models/{name}/versions/{version}/activate", .admin, activateModel)
        sync("DELETE", "/models/{name}/versions/{version}", .admin, deleteModel)

        sync("GET", "/v2/health/live", .open) { _ in Response(status: 200, headers: ["Content-Type": "application/json"], body: Data("{\"live\":true}".utf8)) }
        sync("GET", "/v2/health/ready", .open, v2Ready)
        sync("GET", "/v2/models/{name}", .apiKey, v2Metadata)
        route("POST", "/v2/models/{name}/infer", .apiKey) { self.v2Infer($0, $1) }

        sync("GET", "/healthz", .open, healthz)
        sync("GET", "/readyz", .open, readyz)
        sync("GET", "/metrics", .open, metricsText)
        sync("GET", "/openapi.yaml", .open, openAPIDocument)
        sync("GET", "/requests", .admin, recentRequests)
        return router
    }

    /// API key for inference and model reads; admin key (or, without one, loopback only) for mutations and the log.
    func authorize(_ request: Request, _ access: Access) throws {
        switch access {
        case .open:
            return
        case .apiKey:
            if let key = configuration.apiKey, !Application.presents(request, key: key) {
                throw HTTPError(status: 401, code: "unauthorized", message: "missing or wrong API key: send it in x-api-key or Authorization: Bearer",
                                headers: ["WWW-Authenticate": "Bearer"])
            }
        case .admin:
            if let key = configuration.adminKey {
                guard Application.presents(request, key: key) else {
                    throw HTTPError(status: 401, code: "unauthorized", message: "this endpoint needs the admin key (SEER_ADMIN_KEY) in x-api-key or Authorization: Bearer",
                                    headers: ["WWW-Authenticate": "Bearer"])
                }
            } else {
                guard Application.isLoopback(request.clientAddress) else {
                    throw HTTPError(status: 403, code: "forbidden",
                                    message: "model changes and the request log are served to loopback clients only; set SEER_ADMIN_KEY (or --admin-key) to allow remote administration")
                }
                if let key = configuration.apiKey, !Application.presents(request, key: key) {
                    throw HTTPError(status: 401, code: "unauthorized", message: "missing or wrong API key: send it in x-api-key or Authorization: Bearer")
                }
            }
        }
    }

    static func presents(_ request: Request, key: String) -> Bool {
        var candidates = request.headers.values(for: "x-api-key")
        for value in request.headers.values(for: "Authorization") where value.lowercased().hasPrefix("bearer ") {
            candidates.append(String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        }
        return candidates.contains { constantTimeEquals($0, key) }
    }

    /// Compares without an early exit, so timing does not reveal how much of a key matched.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    static func isLoopback(_ address: String) -> Bool {
        let host: Substring
        if address.hasPrefix("[") { host = address.dropFirst().prefix { $0 != "]" } }
        else { host = address.split(separator: ":", maxSplits: 1).first ?? "" }
        return host.hasPrefix("127.") || host == "::1" || host == "localhost"
    }

    // MARK: Request log

    public static func writeToStandardError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// One line when request-log writes start failing and one when they work again.
    static func reportRequestLogHealth(databasePath: String, to diagnostics: @escaping @Sendable (String) -> Void)
        -> @Sendable (RequestLogHealthEvent) -> Void {
        return { event in
            switch event {
            case .failing(let error):
                diagnostics("seer: request log: writing to '\(databasePath)' failed: \(error); requests are still served, "
                    + "their log rows are dropped and counted in /metrics (seer_request_log_dropped_rows_total, seer_request_log_healthy 0)")
            case let .recovered(failedWrites, droppedRows):
                diagnostics("seer: request log: writing to '\(databasePath)' works again after \(failedWrites) failed writes; \(droppedRows) rows were dropped")
            }
        }
    }

    func log(_ record: HTTPRequestRecord) {
        if record.handlerDuration == nil { metrics.requestRejected(status: record.status) }
        let notes = RequestAnnotations(record.annotations)
        requestLog.append(Store.RequestRecord(
            id: record.requestID, time: record.startTime, method: record.method, path: String(record.path.prefix(512)),
            model: notes.model, modelVersion: notes.modelVersion, status: record.status, errorCode: record.errorCode,
            queueMs: notes.queueMilliseconds, inferenceMs: notes.inferenceMilliseconds, totalMs: record.totalDuration * 1000,
            bytesIn: record.bytesIn, bytesOut: record.bytesOut, clientAddress: record.clientAddress))
    }

    /// The repository's openapi.yaml: beside the models folder, or in the working directory.
    static func findOpenAPI(near modelsDirectory: URL) -> Data? {
        let candidates = [modelsDirectory.deletingLastPathComponent().appendingPathComponent("openapi.yaml"),
                          URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("openapi.yaml")]
        return candidates.lazy.compactMap { try? Data(contentsOf: $0) }.first
    }
}

extension Result {
    var failureError: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
