import Foundation
import Store
import XCTest

/// Request-log writes that fail (disk full, read-only file) are counted, announced once per
/// episode, and never reach the callers that append rows.
final class RequestLogFailureTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder.remove()
    }

    private func record(_ id: String) -> RequestRecord {
        RequestRecord(id: id, method: "POST", path: "/faces", model: "mtcnn", modelVersion: 1, status: 200,
                      queueMs: 0.1, inferenceMs: 12.5, totalMs: 14, bytesIn: 40_000, bytesOut: 300,
                      clientAddress: "127.0.0.1:50000")
    }

    private func options(_ events: HealthEvents) -> RequestLog.Options {
        RequestLog.Options(batchSize: 10_000, flushInterval: 3600, maxRows: nil, maxAge: nil,
                           onHealthChange: { events.append($0) })
    }

    private func appendAndFlush(_ log: RequestLog, _ count: Int, prefix: String) {
        for index in 0..<count { log.append(record("\(prefix)-\(index)")) }
        log.flush()
    }

    /// `PRAGMA max_page_count` makes SQLite answer SQLITE_FULL exactly as a full disk does.
    func testFullDatabaseIsCountedAndAnnouncedOncePerEpisode() throws {
        let database = try Database(path: folder.path("full.db"))
        try StoreSchema.migrator.migrate(database)
        let pages = try XCTUnwrap(database.scalar("PRAGMA page_count")?.intValue)
        try database.execute("PRAGMA max_page_count = \(pages)")
        let events = HealthEvents()
        let log = try RequestLog(database: database, options: options(events))

        appendAndFlush(log, 100, prefix: "a")
        appendAndFlush(log, 100, prefix: "b")
        var statistics = log.statistics
        XCTAssertEqual(statistics.failedWrites, 2)
        XCTAssertEqual(statistics.droppedRows, 200)
        XCTAssertEqual(statistics.writtenRows, 0)
        XCTAssertFalse(statistics.isHealthy)
        XCTAssertTrue(statistics.lastError?.contains("full") ?? false, statistics.lastError ?? "no error recorded")
        XCTAssertEqual(events.all.count, 1, "two failed batches, one announcement: \(events.all)")
        guard case .failing(let message)? = events.all.first else { return XCTFail("first event: \(events.all)") }
        XCTAssertTrue(message.contains("full"), message)

        // Space comes back: the next batch is written and the episode's losses are reported.
        try database.execute("PRAGMA max_page_count = 1000000")
        appendAndFlush(log, 3, prefix: "c")
        statistics = log.statistics
        XCTAssertEqual(statistics.writtenRows, 3)
        XCTAssertTrue(statistics.isHealthy)
        XCTAssertEqual(events.all.last, .recovered(failedWrites: 2, droppedRows: 200))
        XCTAssertEqual(try log.count(), 3)

        // A second episode is announced again.
        try database.execute("PRAGMA max_page_count = \(try XCTUnwrap(database.scalar("PRAGMA page_count")?.intValue))")
        appendAndFlush(log, 100, prefix: "d")
        XCTAssertEqual(events.all.count, 3, "\(events.all)")
        guard case .failing? = events.all.last else { return XCTFail("third event: \(events.all)") }
        XCTAssertFalse(log.statistics.isHealthy)
        log.close()
    }

    func testReadOnlyDatabaseIsAnnouncedOnce() throws {
        let path = folder.path("readonly.db")
        try RequestLog(path: path).close()
        let events = HealthEvents()
        let log = try RequestLog(database: Database(path: path, options: .init(mode: .readOnly)), options: options(events))
        for batch in 0..<3 { appendAndFlush(log, 5, prefix: "ro\(batch)") }
        XCTAssertEqual(log.statistics.failedWrites, 3)
        XCTAssertEqual(log.statistics.droppedRows, 15)
        XCTAssertEqual(events.all.count, 1, "\(events.all)")
        guard case .failing(let message)? = events.all.first else { return XCTFail("\(events.all)") }
        XCTAssertTrue(message.contains("readonly"), message)
        log.close()
    }

    func testHealthyLogAnnouncesNothing() throws {
        let events = HealthEvents()
        let log = try RequestLog(path: folder.path("fine.db"), options: options(events))
        appendAndFlush(log, 20, prefix: "ok")
        XCTAssertEqual(log.statistics.writtenRows, 20)
        XCTAssertTrue(log.statistics.isHealthy)
        XCTAssertEqual(events.all, [])
        log.close()
    }
}

/// Health events heard from the writer queue.
private final class HealthEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [RequestLogHealthEvent] = []

    func append(_ event: RequestLogHealthEvent) { lock.withLock { events.append(event) } }
    var all: [RequestLogHealthEvent] { lock.withLock { events } }
}
