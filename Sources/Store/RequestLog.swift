import Dispatch
import Foundation

/// One served request.
public struct RequestRecord: Sendable, Equatable, Codable {
    public var id: String
    public var time: Date
    public var method: String
    public var path: String
    public var model: String?
    public var modelVersion: Int?
    public var status: Int
    public var errorCode: String?
    public var queueMs: Double?
    public var inferenceMs: Double?
    public var totalMs: Double
    public var bytesIn: Int
    public var bytesOut: Int
    public var clientAddress: String?

    public init(id: String, time: Date = Date(), method: String, path: String, model: String? = nil,
                modelVersion: Int? = nil, status: Int, errorCode: String? = nil, queueMs: Double? = nil,
                inferenceMs: Double? = nil, totalMs: Double, bytesIn: Int, bytesOut: Int, clientAddress: String? = nil) {
        self.id = id
        self.time = time
        self.method = method
        self.path = path
        self.model = model
        self.modelVersion = modelVersion
        self.status = status
        self.errorCode = errorCode
        self.queueMs = queueMs
        self.inferenceMs = inferenceMs
        self.totalMs = totalMs
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.clientAddress = clientAddress
    }
}

/// Counters for /metrics.
public struct RequestLogStatistics: Sendable, Equatable {
    /// Rows committed to the database.
    public var writtenRows: UInt64
    /// Rows given up: their batch failed, the pending queue was full, or the log was closed.
    public var droppedRows: UInt64
    /// Batch transactions (or retention passes) that failed.
    public var failedWrites: UInt64
    /// Rows deleted by retention.
    public var prunedRows: UInt64
    /// Rows appended but not yet written.
    public var pendingRows: Int
    /// The most recent write failure's message.
    public var lastError: String?
    /// False from a failed write until the next successful one.
    public var isHealthy: Bool
}

/// The log's writes started failing (first failure of an episode) or work again (first success after one).
public enum RequestLogHealthEvent: Sendable, Equatable {
    /// `error` is the failing write's message; later failures of the same episode are only counted.
    case failing(error: String)
    /// `failedWrites` and `droppedRows` count what the episode that just ended lost.
    case recovered(failedWrites: UInt64, droppedRows: UInt64)
}

/// The request log: one row per request, written by one background writer.
///
/// `append` only enqueues (never blocks on the database). The writer is a serial queue that writes
/// the pending rows in one transaction when `batchSize` rows are waiting or `flushInterval` after the
/// first pending row, and applies retention every `retentionInterval`. Write failures (disk full,
/// read-only file, ...) never reach callers: they are counted in `statistics`, and `onHealthChange`
/// hears once when writes start failing and once when they work again.
public final class RequestLog: @unchecked Sendable {
    public struct Options: Sendable {
        public var batchSize: Int
        public var flushInterval: TimeInterval
        /// Keep at most this many rows (nil: no limit).
        public var maxRows: Int?
        /// Delete rows older than this many seconds (nil: no limit).
        public var maxAge: TimeInterval?
        /// How often the writer applies retention (0: after every batch).
        public var retentionInterval: TimeInterval
        /// Appends beyond this many unwritten rows are dropped (bounds memory if the disk stalls).
        public var maxPendingRows: Int
        /// Called on the writer queue at the start and at the end of each write-failure episode.
        public var onHealthChange: (@Sendable (RequestLogHealthEvent) -> Void)?

        public init(batchSize: Int = 256, flushInterval: TimeInterval = 0.05, maxRows: Int? = 1_000_000,
                    maxAge: TimeInterval? = 30 * 24 * 3600, retentionInterval: TimeInterval = 60,
                    maxPendingRows: Int = 100_000, onHealthChange: (@Sendable (RequestLogHealthEvent) -> Void)? = nil) {
            self.batchSize = max(1, batchSize)
            self.flushInterval = max(0, flushInterval)
            self.maxRows = maxRows
            self.maxAge = maxAge
            self.retentionInterval = max(0, retentionInterval)
            self.maxPendingRows = max(1, maxPendingRows)
            self.onHealthChange = onHealthChange
        }
    }

    public let options: Options
    private let database: Database
    private let queue = DispatchQueue(label: "seer.store.request-log")
    private let lock = NSLock()

    // Guarded by `lock`.
    private var pending: [RequestRecord] = []
    private var timerScheduled = false
    private var closed = false
    private var stats = RequestLogStatistics(writtenRows: 0, droppedRows: 0, failedWrites: 0, prunedRows: 0,
                                             pendingRows: 0, lastError: nil, isHealthy: true)

    // Touched only on `queue`.
    private var lastRetention = Date.distantPast
    /// Counters when the current failure episode began (nil while writes work).
    private var episodeStart: (failedWrites: UInt64, droppedRows: UInt64)?

    /// Uses `database` (owned from now on: only the writer queue touches it); applies migrations.
    public init(database: Database, options: Options = Options()) throws {
        self.database = database
        self.options = options
        try StoreSchema.migrator.migrate(database)
    }

    /// Opens (creating) the database file at `path` with its own connection.
    public convenience init(path: String, options: Options = Options()) throws {
        try self.init(database: Database(path: path), options: options)
    }

    deinit {
        database.close()
    }

    // MARK: Writing

    /// Enqueues one row; returns at once.
    public func append(_ record: RequestRecord) {
        lock.lock()
        guard !closed, pending.count < options.maxPendingRows else {
            stats.droppedRows += 1
            lock.unlock()
            return
        }
        pending.append(record)
        let count = pending.count
        let startTimer = !timerScheduled
        if startTimer { timerScheduled = true }
        lock.unlock()

        if count == options.batchSize {
            queue.async { self.writePending() }
        } else if startTimer {
            queue.asyncAfter(deadline: .now() + options.flushInterval) { self.writePending() }
        }
    }

    /// Blocks until every row appended before the call is committed (or counted as dropped).
    public func flush() {
        queue.sync { writePending() }
    }

    /// Flushes, then refuses further appends (they count as dropped) and closes the connection.
    public func close() {
        lock.lock()
        closed = true
        lock.unlock()
        queue.sync {
            writePending()
            database.close()
        }
    }

    /// Applies retention now (normally the writer does this every `retentionInterval`).
    public func applyRetention() {
        queue.sync { prune(now: Date()) }
    }

    // MARK: Reading

    /// The newest committed rows, newest first.
    public func recent(limit: Int = 100) throws -> [RequestRecord] {
        let limit = max(0, limit)
        return try queue.sync {
            try database.query("SELECT \(Self.columns) FROM requests ORDER BY seq DESC LIMIT ?", [limit])
                .map(Self.record(from:))
        }
    }

    /// Number of committed rows.
    public func count() throws -> Int {
        try queue.sync { try database.scalar("SELECT COUNT(*) FROM requests")?.intValue ?? 0 }
    }

    public var statistics: RequestLogStatistics {
        lock.lock()
        defer { lock.unlock() }
        var snapshot = stats
        snapshot.pendingRows = pending.count
        return snapshot
    }

    // MARK: Writer (on `queue`)

    private func writePending() {
        lock.lock()
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        timerScheduled = false
        lock.unlock()

        if !batch.isEmpty {
            write(batch)
        }
        let now = Date()
        if now.timeIntervalSince(lastRetention) >= options.retentionInterval {
            prune(now: now)
        }
    }

    private func write(_ batch: [RequestRecord]) {
        do {
            try database.inTransaction {
                let statement = try database.prepare(
                    """
                    INSERT INTO requests (id, time, method, path, model, model_version, status, error_code,
                        queue_ms, inference_ms, total_ms, bytes_in, bytes_out, client_address)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for record in batch {
                    try statement.bind(Self.parameters(of: record))
                    while try statement.step() {}
                }
            }
            record { $0.writtenRows += UInt64(batch.count) }
            writeSucceeded()
        } catch {
            writeFailed(error, droppedRows: UInt64(batch.count))
        }
    }

    private func prune(now: Date) {
        lastRetention = now
        guard options.maxRows != nil || options.maxAge != nil else { return }
        do {
            let deleted = try database.inTransaction { () -> Int in
                var deleted = 0
                if let maxAge = options.maxAge {
                    deleted += try database.run("DELETE FROM requests WHERE time < ?",
                                                [now.timeIntervalSince1970 - maxAge])
                }
                if let maxRows = options.maxRows {
                    deleted += try database.run(
                        """
                        DELETE FROM requests WHERE seq <= (
                            SELECT seq FROM requests ORDER BY seq DESC LIMIT 1 OFFSET ?)
                        """, [max(0, maxRows)])
                }
                return deleted
            }
            record { $0.prunedRows += UInt64(deleted) }
            writeSucceeded()
        } catch {
            writeFailed(error, droppedRows: 0)
        }
    }

    /// Counts a failed batch or retention pass; the first failure of an episode is announced.
    private func writeFailed(_ error: Error, droppedRows: UInt64) {
        let message = String(describing: error)
        let before = record { statistics -> (failedWrites: UInt64, droppedRows: UInt64) in
            let before = (statistics.failedWrites, statistics.droppedRows)
            statistics.failedWrites += 1
            statistics.droppedRows += droppedRows
            statistics.lastError = message
            statistics.isHealthy = false
            return before
        }
        guard episodeStart == nil else { return }
        episodeStart = before
        options.onHealthChange?(.failing(error: message))
    }

    /// Ends a failure episode, if one is running, and announces what it lost.
    private func writeSucceeded() {
        guard let start = episodeStart else { return }
        episodeStart = nil
        let now = record { statistics -> (failedWrites: UInt64, droppedRows: UInt64) in
            statistics.isHealthy = true
            return (statistics.failedWrites, statistics.droppedRows)
        }
        options.onHealthChange?(.recovered(failedWrites: now.failedWrites - start.failedWrites,
                                           droppedRows: now.droppedRows - start.droppedRows))
    }

    @discardableResult
    private func record<T>(_ update: (inout RequestLogStatistics) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return update(&stats)
    }

    // MARK: Rows

    private static let columns = """
        id, time, method, path, model, model_version, status, error_code, queue_ms, inference_ms, total_ms,
        bytes_in, bytes_out, client_address
        """

    private static func parameters(of record: RequestRecord) -> [SQLiteBindable?] {
        [record.id, record.time.timeIntervalSince1970, record.method, record.path, record.model,
         record.modelVersion, record.status, record.errorCode, record.queueMs, record.inferenceMs,
         record.totalMs, record.bytesIn, record.bytesOut, record.clientAddress]
    }

    private static func record(from row: Row) throws -> RequestRecord {
        guard let id = row[0].stringValue, let time = row[1].doubleValue, let method = row[2].stringValue,
              let path = row[3].stringValue, let status = row[6].intValue, let total = row[10].doubleValue,
              let bytesIn = row[11].intValue, let bytesOut = row[12].intValue
        else {
            throw SQLiteError(code: 11, message: "malformed row in table requests: \(row.values)", sql: nil)
        }
        return RequestRecord(id: id, time: Date(timeIntervalSince1970: time), method: method, path: path,
                             model: row[4].stringValue, modelVersion: row[5].intValue, status: status,
                             errorCode: row[7].stringValue, queueMs: row[8].doubleValue,
                             inferenceMs: row[9].doubleValue, totalMs: total, bytesIn: bytesIn,
                             bytesOut: bytesOut, clientAddress: row[13].stringValue)
    }
}
