import App
import ArgumentParser
import CAllocator
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `seer serve`: flags override SEER_* environment variables, which override the defaults.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the models over HTTP.",
        discussion: """
        Environment: SEER_HOST, SEER_PORT, SEER_MODELS, SEER_DATABASE, SEER_WORKERS, SEER_THREADS,
        SEER_QUEUE, SEER_MAX_BODY_MB, SEER_MAX_PIXELS, SEER_API_KEY, SEER_ADMIN_KEY.
        """)

    @Option(help: "Address to listen on (env SEER_HOST).") var host: String?
    @Option(help: "Port (env SEER_PORT; 0 picks a free one).") var port: Int?
    @Option(help: "Models folder (env SEER_MODELS).") var models: String?
    @Option(help: "SQLite database file (env SEER_DATABASE).") var database: String?
    @Option(help: "Model workers (env SEER_WORKERS; default: cores).") var workers: Int?
    @Option(help: "Threads per worker (env SEER_THREADS).") var threads: Int?
    @Option(help: "Requests that may wait for a worker before 503 (env SEER_QUEUE).") var queue: Int?
    @Option(name: .customLong("max-body-mb"), help: "Largest request body in MiB (env SEER_MAX_BODY_MB).") var maxBodyMB: Int?
    @Option(name: .customLong("max-pixels"), help: "Largest image in pixels (env SEER_MAX_PIXELS).") var maxPixels: Int?
    @Option(name: .customLong("api-key"), help: "Key required on inference and model endpoints (env SEER_API_KEY).") var apiKey: String?
    @Option(name: .customLong("admin-key"), help: "Key for model changes and the request log (env SEER_ADMIN_KEY).") var adminKey: String?

    func run() throws {
        try reportingErrors(serve)
    }

    private func serve() throws {
        let environment = ProcessInfo.processInfo.environment
        func value<T: LosslessStringConvertible>(_ flag: T?, _ name: String) throws -> T? {
            if let flag { return flag }
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let parsed = T(text) else { throw ValidationError("\(name)='\(text)' is not valid") }
            return parsed
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let modelsPath = try value(models, "SEER_MODELS") ?? "models"
        let modelsURL = URL(fileURLWithPath: modelsPath, relativeTo: cwd).standardizedFileURL
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelsURL.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw CommandError("the models folder \(modelsURL.path) does not exist (set --models or SEER_MODELS)")
        }
        if !holdsAnyManifest(modelsURL) {
            FileHandle.standardError.write(Data("seer: warning: the models folder \(modelsURL.path) holds no <name>/manifest.json; /readyz stays 503 until a default model is registered\n".utf8))
        }
        let databasePath = try value(database, "SEER_DATABASE") ?? "data/seer.sqlite"
        let databaseURL = URL(fileURLWithPath: databasePath, relativeTo: cwd).standardizedFileURL
        try checkDataFolder(of: databaseURL)
        var configuration = ServiceConfiguration(modelsDirectory: modelsURL, dataDirectory: databaseURL.deletingLastPathComponent())
        configuration.databasePath = databaseURL
        configuration.host = try value(host, "SEER_HOST") ?? configuration.host
        configuration.port = try value(port, "SEER_PORT") ?? configuration.port
        configuration.workers = try value(workers, "SEER_WORKERS") ?? configuration.workers
        configuration.threadsPerWorker = try value(threads, "SEER_THREADS") ?? configuration.threadsPerWorker
        configuration.queueCapacity = try value(queue, "SEER_QUEUE") ?? configuration.queueCapacity
        if let megabytes = try value(maxBodyMB, "SEER_MAX_BODY_MB") { configuration.limits.maxBodyBytes = megabytes << 20 }
        configuration.maxImagePixels = try value(maxPixels, "SEER_MAX_PIXELS") ?? configuration.maxImagePixels
        configuration.apiKey = try value(apiKey, "SEER_API_KEY")
        configuration.adminKey = try value(adminKey, "SEER_ADMIN_KEY")
        guard (0...65535).contains(configuration.port), configuration.workers >= 1, configuration.threadsPerWorker >= 1,
              configuration.queueCapacity >= 0, configuration.limits.maxBodyBytes > 0, configuration.maxImagePixels > 0 else {
            throw CommandError("port must be 0-65535; workers, threads, max body and max pixels at least 1; queue at least 0")
        }

        // A long-running server: blocks from 128 KiB up get their own mappings, freed back to the system.
        // Without this, glibc's rising threshold kept RSS at 3-4x the live heap under load (HARDENING.md, soak).
        _ = seer_allocator_map_blocks_from(128 << 10)

        let application: Application
        do {
            application = try Application(configuration: configuration)
            try application.start()
        } catch {
            throw CommandError("cannot start: \(error)")
        }
        FileHandle.standardError.write(Data("seer: listening on \(configuration.host):\(application.port), models \(modelsURL.path), database \(databaseURL.path)\n".utf8))

        // SIGTERM / SIGINT: drain and exit.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let stop = DispatchSemaphore(value: 0)
        let sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        stop.wait()
        FileHandle.standardError.write(Data("seer: draining\n".utf8))
        application.shutdown()
        sources.forEach { $0.cancel() }
        FileHandle.standardError.write(Data("seer: stopped\n".utf8))
    }

    /// Whether `folder/<name>/manifest.json` or an uploaded `folder/<name>/<version>/manifest.json` exists.
    private func holdsAnyManifest(_ folder: URL) -> Bool {
        let fileManager = FileManager.default
        let names = (try? fileManager.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.contains { name in
            let model = folder.appendingPathComponent(name)
            if fileManager.fileExists(atPath: model.appendingPathComponent("manifest.json").path) { return true }
            let versions = (try? fileManager.contentsOfDirectory(atPath: model.path)) ?? []
            return versions.contains { fileManager.fileExists(atPath: model.appendingPathComponent($0).appendingPathComponent("manifest.json").path) }
        }
    }

    /// Fails with a clear message when the database's folder cannot be created or written
    /// (a read-only volume, a folder owned by another user), before SQLite reports it less plainly.
    private func checkDataFolder(of databaseURL: URL) throws {
        let folder = databaseURL.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? Error)
                .map { String(cString: strerror(Int32(($0 as NSError).code))) } ?? error.localizedDescription
            throw CommandError("cannot create the data folder \(folder.path) for the database (set --database or SEER_DATABASE): \(reason)")
        }
        for path in [folder.path, databaseURL.path] where FileManager.default.fileExists(atPath: path) && access(path, W_OK) != 0 {
            throw CommandError("\(path) is not writable by uid \(getuid()) (\(String(cString: strerror(errno)))): the database "
                               + "\(databaseURL.path) needs a writable folder; mount the volume read-write or give it to this user")
        }
    }
}

