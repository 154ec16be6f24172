import Foundation
import Store
import XCTest

final class RequestLogTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder.remove()
    }

    private func record(_ id: String, time: Date = Date(), status: Int = 200) -> RequestRecord {
        RequestRecord(id: id, time: time, method: "POST", path: "/detect", model: "yolov3-tiny", modelVersion: 1,
                      status: status, errorCode: status == 200 ? nil : "invalid_image", queueMs: 0.5,
                      inferenceMs: 20.25, totalMs: 23.0, bytesIn: 1000, bytesOut: 200, clientAddress: "127.0.0.1")
    }

    func testRoundTripAndNewestFirst() throws {
        let log = try RequestLog(path: folder.path("log.db"))
        let full = record("r1")
        log.append(full)
        log.append(RequestRecord(id: "r2", method: "GET", path: "/healthz", status: 200, totalMs: 0.1,
                                 bytesIn: 0, bytesOut: 2))
        log.append(record("r3", status: 400))
        log.flush()
        let rows = try log.recent(limit: 10)
        XCTAssertEqual(rows.map(\.id), ["r3", "r2", "r1"])
        XCTAssertEqual(rows[2].method, full.method)
        XCTAssertEqual(rows[2].model, "yolov3-tiny")
        XCTAssertEqual(rows[2].modelVersion, 1)
        XCTAssertEqual(rows[2].queueMs, 0.5)
        XCTAssertEqual(rows[2].inferenceMs, 20.25)
        XCTAssertEqual(rows[2].clientAddress, "127.0.0.1")
        XCTAssertEqual(rows[2].time.timeIntervalSince1970, full.time.timeIntervalSince1970, accuracy: 1e-6)
        XCTAssertNil(rows[1].model)
        XCTAssertNil(rows[1].modelVersion)
        XCTAssertNil(rows[1].errorCode)
        XCTAssertEqual(rows[0].errorCode, "invalid_image")
        XCTAssertEqual(try log.recent(limit: 2).map(\.id), ["r3", "r2"])
        XCTAssertEqual(log.statistics.writtenRows, 3)
        log.close()
    }

    func testConcurrentAppendsAreAllWritten() throws {
        let log = try RequestLog(path: folder.path("concurrent.db"))
        let threads = 32
        let perThread = 100
        let group = DispatchGroup()
        for thread in 0..<threads {
            let worker = Thread {
                for index in 0..<perThread {
                    log.append(self.record("t\(thread)-\(index)"))
                }
                group.leave()
            }
            group.enter()
            worker.start()
        }
        group.wait()
        log.flush()
        XCTAssertEqual(try log.count(), threads * perThread)
        let ids = Set(try log.recent(limit: threads * perThread).map(\.id))
        XCTAssertEqual(ids.count, threads * perThread, "every row is distinct")
        let statistics = log.statistics
        XCTAssertEqual(statistics.writtenRows, UInt64(threads * perThread))
        XCTAssertEqual(statistics.droppedRows, 0)
        XCTAssertEqual(statistics.failedWrites, 0)
        XCTAssertEqual(statistics.pendingRows, 0)
        log.close()
    }

    func testFlushWritesWithoutWaitingForTheTimer() throws {
        let options = RequestLog.Options(batchSize: 1000, flushInterval: 3600)
        let log = try RequestLog(path: folder.path("flush.db"), options: options)
        for index in 0..<5 { log.append(record("f\(index)")) }
        XCTAssertEqual(log.statistics.pendingRows, 5, "an hour-long interval holds the rows back")
        log.flush()
        XCTAssertEqual(try log.count(), 5)
        XCTAssertEqual(log.statistics.pendingRows, 0)
    }

    func testCloseFlushesAndLaterAppendsAreDropped() throws {
        let path = folder.path("close.db")
        let log = try RequestLog(path: path, options: .init(flushInterval: 3600))
        log.append(record("before"))
        log.close()
        log.append(record("after"))
        XCTAssertEqual(log.statistics.droppedRows, 1)
        let reopened = try RequestLog(path: path)
        XCTAssertEqual(try reopened.recent().map(\.id), ["before"])
    }

    func testRetentionByRowCount() throws {
        let options = RequestLog.Options(batchSize: 10, maxRows: 25, maxAge: nil, retentionInterval: 0)
        let log = try RequestLog(path: folder.path("rows.db"), options: options)
        for index in 0..<100 { log.append(record("n\(index)")) }
        log.flush()
        XCTAssertEqual(try log.count(), 25)
        XCTAssertEqual(try log.recent(limit: 1).first?.id, "n99", "the newest rows are kept")
        XCTAssertEqual(try log.recent(limit: 100).last?.id, "n75")
        XCTAssertEqual(log.statistics.prunedRows, 75)
    }

    func testRetentionByAge() throws {
        let options = RequestLog.Options(maxRows: nil, maxAge: 3600, retentionInterval: 3600)
        let log = try RequestLog(path: folder.path("age.db"), options: options)
        let now = Date()
        log.append(record("recent", time: now.addingTimeInterval(-60)))
        log.flush()  // the first write also runs the first retention pass
        log.append(record("old", time: now.addingTimeInterval(-7200)))
        log.flush()
        XCTAssertEqual(try log.count(), 2, "the next pass is an hour away")
        log.applyRetention()
        XCTAssertEqual(try log.recent().map(\.id), ["recent"])
        XCTAssertEqual(log.statistics.prunedRows, 1)
    }

    func testReadOnlyDatabaseCountsFailuresWithoutCrashing() throws {
        let path = folder.path("readonly.db")
        // Create the schema, then reopen the file read-only.
        try RequestLog(path: path).close()
        let readOnly = try Database(path: path, options: .init(mode: .readOnly))
        let log = try RequestLog(database: readOnly, options: .init(batchSize: 4))
        for index in 0..<10 { log.append(record("ro\(index)")) }
        log.flush()
        let statistics = log.statistics
        XCTAssertGreaterThanOrEqual(statistics.failedWrites, 1)
        XCTAssertEqual(statistics.droppedRows, 10)
        XCTAssertEqual(statistics.writtenRows, 0)
        XCTAssertTrue(statistics.lastError?.contains("readonly") ?? false, statistics.lastError ?? "no error recorded")
        XCTAssertEqual(try log.count(), 0, "reading still works")
        log.close()
    }

    func testPendingLimitDropsInsteadOfGrowing() throws {
        let options = RequestLog.Options(batchSize: 1000, flushInterval: 3600, maxPendingRows: 3)
        let log = try RequestLog(path: folder.path("pending.db"), options: options)
        for index in 0..<5 { log.append(record("p\(index)")) }
        XCTAssertEqual(log.statistics.droppedRows, 2)
        log.flush()
        XCTAssertEqual(try log.count(), 3)
    }
}
