import CSQLite
import Foundation

/// An SQLite failure: SQLite's (extended) result code and message, and the SQL that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public init(code: Int32, message: String, sql: String?) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// The primary result code (e.g. `SQLITE_READONLY` for `SQLITE_READONLY_DBMOVED`).
    public var primaryCode: Int32 { code & 0xFF }

    public var description: String {
        let codeName = String(cString: sqlite3_errstr(code))
        if let sql { return "SQLite error \(code) (\(codeName)): \(message) [SQL: \(sql)]" }
        return "SQLite error \(code) (\(codeName)): \(message)"
    }
}

/// One SQLite connection.
///
/// A `Database` is not safe to use from several threads at once: owners serialise access
/// (`ModelRegistry` with a lock, `RequestLog` with its writer queue).
///
/// Connections use SQLite's `unix-excl` VFS: the WAL index lives in this process's heap instead of
/// a memory-mapped `-shm` file, so a `-shm` that cannot be backed (disk full, read-only, truncated by
/// someone else) can never raise SIGBUS. The price: while this process has the file open for
/// writing, other processes cannot open it ("database is locked"); connections of this process
/// share it as usual.
public final class Database {
    /// The VFS every connection opens the file with (see above).
    public static let vfsName = "unix-excl"

    public enum Mode: Sendable {
        /// Read and write; the file and its parent folder are created when missing.
        case readWrite
        /// Read only; the file must exist.
        case readOnly
    }

    public struct Options: Sendable {
        public var mode: Mode
        /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
        public var busyTimeoutMilliseconds: Int32
        /// Switch the file to write-ahead logging (ignored for read-only connections).
        public var walJournal: Bool

        public init(mode: Mode = .readWrite, busyTimeoutMilliseconds: Int32 = 5000, walJournal: Bool = true) {
            self.mode = mode
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.walJournal = walJournal
        }
    }

    public let path: String
    private var handle: OpaquePointer?

    /// Opens (creating when writable) the database file at `path`.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        if options.mode == .readWrite {
            try Database.createParentFolder(of: path)
        }
        var flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= options.mode == .readWrite ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY
        var connection: OpaquePointer?
        let status = sqlite3_open_v2(path, &connection, flags, Database.vfsName)
        guard status == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(connection)
            throw SQLiteError(code: status, message: "cannot open database '\(path)': \(message)", sql: nil)
        }
        handle = connection
        sqlite3_extended_result_codes(connection, 1)
        sqlite3_busy_timeout(connection, options.busyTimeoutMilliseconds)
        do {
            try execute("PRAGMA foreign_keys = ON")
            if options.walJournal && options.mode == .readWrite {
                try execute("PRAGMA journal_mode = WAL")
                try execute("PRAGMA synchronous = NORMAL")
            }
        } catch let error as SQLiteError where error.primaryCode == SQLITE_BUSY {
            close()
            throw SQLiteError(code: error.code,
                              message: "database '\(path)' is in use by another process (a running Seer holds its database exclusively): \(error.message)",
                              sql: error.sql)
        }
    }

    deinit {
        close()
    }

    /// Closes the connection; later calls throw. Closing twice is harmless.
    public func close() {
        guard let handle else { return }
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    // MARK: Statements

    /// Compiles one SQL statement.
    public func prepare(_ sql: String) throws -> Statement {
        let connection = try openHandle(sql: sql)
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v2(connection, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw error(status: status, sql: sql)
        }
        return Statement(handle: statement, database: self, sql: sql)
    }

    /// Runs one or more SQL statements without parameters, discarding any rows.
    public func execute(_ sql: String) throws {
        let connection = try openHandle(sql: sql)
        let status = sqlite3_exec(connection, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw error(status: status, sql: sql) }
    }

    /// Runs one statement with parameters and returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ parameters: [SQLiteBindable?] = []) throws -> Int {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        while try statement.step() {}
        return changes
    }

    /// Runs one query and returns all its rows.
    public func query(_ sql: String, _ parameters: [SQLiteBindable?] = []) throws -> [Row] {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        var rows: [Row] = []
        while try statement.step() {
            rows.append(statement.row())
        }
        return rows
    }

    /// The first column of the first row, or nil when the query returns no rows.
    public func scalar(_ sql: String, _ parameters: [SQLiteBindable?] = []) throws -> SQLiteValue? {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        guard try statement.step() else { return nil }
        return statement.value(at: 0)
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    public var changes: Int {
        guard let handle else { return 0 }
        return Int(sqlite3_changes(handle))
    }

    public var lastInsertRowID: Int64 {
        guard let handle else { return 0 }
        return sqlite3_last_insert_rowid(handle)
    }

    /// True outside any explicit transaction.
    public var isAutocommit: Bool {
        guard let handle else { return true }
        return sqlite3_get_autocommit(handle) != 0
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    ///
    /// The outermost call takes the write lock up front (`BEGIN IMMEDIATE`), so a transaction that
    /// reads then writes cannot fail half-way on a lock upgrade; nested calls use savepoints.
    @discardableResult
    public func inTransaction<T>(_ body: () throws -> T) throws -> T {
        let nested = !isAutocommit
        try execute(nested ? "SAVEPOINT seer_nested" : "BEGIN IMMEDIATE")
        let result: T
        do {
            result = try body()
        } catch {
            if nested {
                try? execute("ROLLBACK TO seer_nested")
                try? execute("RELEASE seer_nested")
            } else if !isAutocommit {
                try? execute("ROLLBACK")
            }
            throw error
        }
        do {
            try execute(nested ? "RELEASE seer_nested" : "COMMIT")
        } catch {
            if !nested && !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
        return result
    }

    // MARK: Pragmas

    /// `PRAGMA user_version`: the schema version applied by `Migrator`.
    public func userVersion() throws -> Int {
        try scalar("PRAGMA user_version")?.intValue ?? 0
    }

    public func setUserVersion(_ version: Int) throws {
        try execute("PRAGMA user_version = \(version)")
    }

    /// `PRAGMA journal_mode` as SQLite reports it (e.g. "wal", "delete", "memory").
    public func journalMode() throws -> String {
        try scalar("PRAGMA journal_mode")?.stringValue ?? ""
    }

    // MARK: Internals

    func openHandle(sql: String?) throws -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "database '\(path)' is closed", sql: sql)
        }
        return handle
    }

    func error(status: Int32, sql: String?) -> SQLiteError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
        return SQLiteError(code: status, message: message, sql: sql)
    }

    private static func createParentFolder(of path: String) throws {
        guard path != ":memory:", !path.isEmpty else { return }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw SQLiteError(code: SQLITE_CANTOPEN,
                              message: "cannot create folder '\(folder.path)' for database '\(path)': \(error.localizedDescription)",
                              sql: nil)
        }
    }
}

/// A compiled statement. Parameters are 1-based in SQLite; `bind(_:)` binds a list from index 1.
public final class Statement {
    private let handle: OpaquePointer
    private let database: Database
    public let sql: String

    init(handle: OpaquePointer, database: Database, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Resets the statement and binds `values` to parameters 1...n.
    public func bind(_ values: [SQLiteBindable?]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw SQLiteError(code: SQLITE_RANGE,
                              message: "statement takes \(expected) parameters, \(values.count) given", sql: sql)
        }
        for (offset, value) in values.enumerated() {
            try bind(value?.sqliteValue ?? .null, at: Int32(offset + 1))
        }
    }

    /// Binds one value to the 1-based parameter `index`.
    public func bind(_ value: SQLiteValue, at index: Int32) throws {
        let status: Int32
        switch value {
        case .null:
            status = sqlite3_bind_null(handle, index)
        case .integer(let number):
            status = sqlite3_bind_int64(handle, index, number)
        case .real(let number):
            status = sqlite3_bind_double(handle, index, number)
        case .text(let text):
            status = sqlite3_bind_text(handle, index, text, Int32(text.utf8.count), sqliteTransient)
        case .blob(let bytes):
            status = bytes.withUnsafeBytes { buffer in
                // A zero-length blob still needs a non-null pointer to be a blob rather than NULL.
                sqlite3_bind_blob(handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                  Int32(buffer.count), sqliteTransient)
            }
        }
        guard status == SQLITE_OK else { throw database.error(status: status, sql: sql) }
    }

    /// Advances to the next row: true when a row is available, false when done.
    public func step() throws -> Bool {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(status: status, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Makes the statement runnable again with the same bindings.
    public func reset() {
        sqlite3_reset(handle)
    }

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func columnName(at index: Int) -> String {
        sqlite3_column_name(handle, Int32(index)).map { String(cString: $0) } ?? ""
    }

    /// The value of column `index` (0-based) of the current row.
    public func value(at index: Int) -> SQLiteValue {
        let column = Int32(index)
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(handle, column) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count > 0, let bytes = sqlite3_column_blob(handle, column) else { return .blob(Data()) }
            return .blob(Data(bytes: bytes, count: count))
        default:
            return .null
        }
    }

    public func int(at index: Int) -> Int? { value(at: index).intValue }
    public func double(at index: Int) -> Double? { value(at: index).doubleValue }
    public func string(at index: Int) -> String? { value(at: index).stringValue }
    public func data(at index: Int) -> Data? { value(at: index).dataValue }

    /// All columns of the current row.
    public func row() -> Row {
        let count = columnCount
        var names: [String] = []
        var values: [SQLiteValue] = []
        names.reserveCapacity(count)
        values.reserveCapacity(count)
        for index in 0..<count {
            names.append(columnName(at: index))
            values.append(value(at: index))
        }
        return Row(columns: names, values: values)
    }
}

/// One result row: values by position or by column name.
public struct Row: Sendable, Equatable {
    public let columns: [String]
    public let values: [SQLiteValue]

    public subscript(index: Int) -> SQLiteValue {
        values.indices.contains(index) ? values[index] : .null
    }

    public subscript(column: String) -> SQLiteValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }
}

/// SQLite copies bound text/blobs before the bind call returns.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
