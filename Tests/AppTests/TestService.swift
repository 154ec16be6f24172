import App
import Foundation
import XCTest

/// Where the tests find the repository's files.
enum Paths {
    /// Three levels up from this file: Tests/AppTests/TestService.swift -> repository root.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = repositoryRoot.appendingPathComponent("models")
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures")
    /// The project's shared photos (`../shared/media` from the repository root).
    static let sharedMedia = repositoryRoot.appendingPathComponent("../shared/media").standardizedFileURL

    static func media(_ name: String) -> URL { sharedMedia.appendingPathComponent(name) }
    static func fixtureMedia(_ name: String) -> URL { fixtures.appendingPathComponent("media/\(name)") }
    static func nodeTest(_ name: String) -> URL {
        URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node/\(name)/model.onnx")
    }
}

/// A fresh folder under the system's temporary folder.
/// Every file and folder below `folder`, as paths relative to it ("/name/..."): what a test
/// compares before and after to show nothing was written where it should not be.
func listing(_ folder: URL) -> Set<String> {
    let base = folder.resolvingSymlinksInPath().path
    let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)
    var paths = Set<String>()
    while let url = enumerator?.nextObject() as? URL {
        paths.insert(String(url.resolvingSymlinksInPath().path.dropFirst(base.count)))
    }
    return paths
}

final class TemporaryFolder {
    let url: URL

    init(_ prefix: String = "seer-apptests") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func write(_ data: Data, name: String) throws -> URL {
        let target = file(name)
        try data.write(to: target)
        return target
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    /// A models folder holding copies of the named bundled models (so tests may change it).
    static func modelsCopy(_ names: [String]) throws -> TemporaryFolder {
        let folder = try TemporaryFolder("seer-models")
        for name in names {
            try FileManager.default.copyItem(at: Paths.models.appendingPathComponent(name), to: folder.file(name))
        }
        return folder
    }
}

/// The service, started on 127.0.0.1 with port 0 and a temporary data folder, models loaded.
final class TestService: @unchecked Sendable {
    let application: Application
    let configuration: ServiceConfiguration
    let data: TemporaryFolder
    private let lock = NSLock()
    private var stopped = false

    init(modelsDirectory: URL = Paths.models, _ configure: (inout ServiceConfiguration) -> Void = { _ in }) throws {
        data = try TemporaryFolder("seer-data")
        var configuration = ServiceConfiguration(modelsDirectory: modelsDirectory, dataDirectory: data.url)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.workers = 2
        configuration.drainTimeout = 60
        configure(&configuration)
        self.configuration = configuration
        application = try Application(configuration: configuration)
        try application.start()
        application.waitUntilLoaded()
    }

    var port: Int { application.port }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    func url(_ path: String) -> String { baseURL + path }
    var databasePath: String { configuration.databasePath.path }

    /// Graceful shutdown (once); the data folder stays until `remove`.
    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { application.shutdown() }
    }

    func stopAndRemove() {
        stop()
        data.remove()
    }
}
