import App
import Foundation
import Store
import XCTest

/// When the request log cannot be written, inference is still served, /metrics shows the failure and
/// the diagnostics get one line when the episode starts and one when writes work again.
final class RequestLogFailureTests: XCTestCase {
    func testUnwritableLogKeepsServingAndReportsOneEpisode() throws {
        let models = try TemporaryFolder.modelsCopy(["mtcnn"])
        let data = try TemporaryFolder("seer-data")
        defer { models.remove(); data.remove() }
        var configuration = ServiceConfiguration(modelsDirectory: models.url, dataDirectory: data.url)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.workers = 1
        let lines = Locked<[String]>([])
        let application = try Application(configuration: configuration, diagnostics: { line in lines.mutate { $0.append(line) } })
        try application.start()
        application.waitUntilLoaded()
        defer { application.shutdown() }
        let base = "http://127.0.0.1:\(application.port)"
        let photo = try contents(of: Paths.media("grace_hopper.jpg"))

        XCTAssertEqual(try HTTP.post(base + "/faces", body: photo, contentType: "image/jpeg").status, 200)
        try waitUntil("the first row is written") { try Self.metric(base, "seer_request_log_written_rows_total") >= 1 }
        XCTAssertEqual(try Self.metric(base, "seer_request_log_healthy"), 1)
        XCTAssertEqual(try Self.metric(base, "seer_request_log_failed_writes_total"), 0)

        // Another connection holds the write lock: the log's writer waits out its busy timeout and
        // fails, as it does on any database it cannot write.
        let blocker = try Database(path: configuration.databasePath.path)
        try blocker.execute("BEGIN IMMEDIATE")
        for _ in 0..<3 {
            let reply = try HTTP.post(base + "/faces", body: photo, contentType: "image/jpeg")
            XCTAssertEqual(reply.status, 200, "inference is served while the log cannot be written: \(reply.text)")
        }
        try waitUntil("a failed write is counted") { try Self.metric(base, "seer_request_log_failed_writes_total") >= 1 }
        XCTAssertEqual(try Self.metric(base, "seer_request_log_healthy"), 0)
        XCTAssertGreaterThanOrEqual(try Self.metric(base, "seer_request_log_dropped_rows_total"), 3)
        // Every /metrics poll above is a request whose row fails too: still one line for the episode.
        try waitUntil("a second failed write") { try Self.metric(base, "seer_request_log_failed_writes_total") >= 2 }
        let failing = lines.read { $0.filter { $0.contains("request log") && $0.contains("failed") } }
        XCTAssertEqual(failing.count, 1, "one line per episode: \(lines.read { $0 })")
        XCTAssertTrue(failing.first?.contains(configuration.databasePath.path) ?? false, "names the file: \(failing)")
        XCTAssertTrue(failing.first?.contains("locked") ?? false, "carries SQLite's reason: \(failing)")

        try blocker.execute("ROLLBACK")
        blocker.close()
        XCTAssertEqual(try HTTP.get(base + "/healthz").status, 200)
        try waitUntil("the recovery line") { lines.read { $0.contains { $0.contains("works again") } } }
        XCTAssertEqual(try Self.metric(base, "seer_request_log_healthy"), 1)
        XCTAssertEqual(lines.read { $0.filter { $0.contains("request log") }.count }, 2, "\(lines.read { $0 })")
        let logged = try HTTP.get(base + "/requests?limit=1000")
        XCTAssertEqual(logged.status, 200, logged.text)
        XCTAssertTrue(logged.json["requests"].array?.contains { $0["path"].string == "/healthz" } ?? false,
                      "rows are written again after the lock is released: \(logged.text.prefix(500))")
    }

    /// The value of an unlabelled series in /metrics.
    static func metric(_ base: String, _ name: String) throws -> Double {
        let text = try HTTP.get(base + "/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            if let value = Double(line.dropFirst(name.count + 1)) { return value }
        }
        throw MetricMissing(name: name)
    }

    struct MetricMissing: Error, CustomStringConvertible {
        let name: String
        var description: String { "/metrics has no series \(name)" }
    }

    /// Polls `condition` until it holds; fails after a generous deadline (the writer's busy timeout is 5 s).
    func waitUntil(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTFail("timed out waiting for \(what)", file: file, line: line)
    }
}
