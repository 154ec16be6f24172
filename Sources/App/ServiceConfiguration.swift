import Foundation
import HTTPServer

/// Everything `seer serve` can be told, in one value. Built from flags and
/// environment variables by the command line; tests build it directly.
public struct ServiceConfiguration: Sendable {
    public var host = "0.0.0.0"
    /// 0 picks a free port (tests).
    public var port = 8080
    public var modelsDirectory: URL
    public var databasePath: URL
    /// Where uploads are staged before they are checked (inside the data folder).
    public var temporaryDirectory: URL
    /// Model workers; each owns its executors.
    public var workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Intra-op threads per worker (its OpenBLAS calls included).
    public var threadsPerWorker = 1
    /// Jobs that may wait for a worker before requests get 503 overloaded.
    public var queueCapacity = 64
    /// A job still waiting after this many seconds is answered 503 instead of run.
    public var queueTimeout: TimeInterval = 30
    public var limits = HTTPLimits()
    /// Largest decoded image, in pixels (422 image_too_large beyond).
    public var maxImagePixels = 50_000_000
    public var apiKey: String?
    public var adminKey: String?
    /// Request-log retention.
    public var requestLogMaxRows = 1_000_000
    public var requestLogMaxAgeDays: Double = 30
    /// Seconds in-flight requests get to finish on SIGTERM.
    public var drainTimeout: TimeInterval = 30

    public init(modelsDirectory: URL, dataDirectory: URL) {
        self.modelsDirectory = modelsDirectory
        databasePath = dataDirectory.appendingPathComponent("seer.sqlite")
        temporaryDirectory = dataDirectory.appendingPathComponent("tmp")
    }
}
