import Foundation

/// One registered model version.
public struct ModelRecord: Sendable, Equatable, Codable {
    public let name: String
    public let version: Int
    public let task: String
    /// Folder or file relative to the models folder.
    public let path: String
    public let sha256: String
    public let sizeBytes: Int
    /// The manifest JSON text as registered.
    public let manifest: String
    public let createdAt: Date
    public let active: Bool
}

/// What a registry call refused, and why.
public enum RegistryError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidName(String)
    case invalidVersion(Int)
    case invalidPath(String)
    case invalidField(field: String, reason: String)
    case modelNotFound(String)
    case versionNotFound(name: String, version: Int)
    case versionExists(name: String, version: Int)
    /// The active version cannot be deleted while other versions exist.
    case activeVersion(name: String, version: Int, otherVersions: [Int])

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid model name '\(name)': use 1-64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        case .invalidVersion(let version):
            return "invalid model version \(version): versions are integers >= 1"
        case .invalidPath(let path):
            return "invalid model path '\(path)': it must be relative to the models folder, without '..' components"
        case .invalidField(let field, let reason):
            return "invalid model \(field): \(reason)"
        case .modelNotFound(let name):
            return "model '\(name)' is not registered"
        case .versionNotFound(let name, let version):
            return "model '\(name)' has no version \(version)"
        case .versionExists(let name, let version):
            return "model '\(name)' version \(version) is already registered"
        case .activeVersion(let name, let version, let others):
            let list = others.map(String.init).joined(separator: ", ")
            return "model '\(name)' version \(version) is active; activate another version (\(list)) before deleting it"
        }
    }
}

/// The table of models and their versions.
///
/// Rules:
/// - Every registered name has exactly one active version. The first version of a name becomes
///   active; later versions become active only when registered with `activate: true` or through
///   `activate(name:version:)`.
/// - `delete` refuses the active version while other versions exist (activate another first).
///   Deleting the only remaining version removes the model name entirely.
/// - `register` with `version: nil` takes the highest registered version + 1.
/// - `registerIfAbsent` (bundled models at startup) adds no row when a version with the same name
///   and sha256 exists.
///
/// Thread-safe: calls are serialised on one connection.
public final class ModelRegistry: @unchecked Sendable {
    private let database: Database
    private let lock = NSLock()

    /// Opens the registry on `database`, applying the schema migrations.
    public init(database: Database) throws {
        self.database = database
        try StoreSchema.migrator.migrate(database)
    }

    /// Opens (creating) the database file at `path`.
    public convenience init(path: String) throws {
        try self.init(database: Database(path: path))
    }

    /// True for names that can be used as a folder name: `^[a-z0-9][a-z0-9._-]{0,63}$`
    /// (checked byte by byte: a regex `$` would also accept a trailing newline).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, isLowerAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: ".")
            || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public static func validateName(_ name: String) throws {
        guard isValidName(name) else { throw RegistryError.invalidName(name) }
    }

    /// A path inside the models folder: relative, no `..`, no NUL, not empty.
    public static func validatePath(_ path: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\0"), !path.contains("\\"),
              !components.isEmpty, !components.contains("..")
        else { throw RegistryError.invalidPath(path) }
    }

    // MARK: Writing

    /// Registers a new version and returns its record.
    @discardableResult
    public func register(name: String, version: Int? = nil, task: String, path: String, sha256: String,
                         sizeBytes: Int, manifest: String, activate: Bool = false) throws -> ModelRecord {
        try Self.validateName(name)
        try Self.validatePath(path)
        try Self.validateFields(task: task, sha256: sha256, sizeBytes: sizeBytes)
        if let version, version < 1 { throw RegistryError.invalidVersion(version) }
        return try locked {
            try database.inTransaction {
                try insert(name: name, version: version, task: task, path: path, sha256: sha256,
                           sizeBytes: sizeBytes, manifest: manifest, activate: activate)
            }
        }
    }

    /// Registers a bundled model unless a version with the same name and sha256 already exists;
    /// returns the existing or new record. A new version (changed file) becomes active when `activate`.
    @discardableResult
    public func registerIfAbsent(name: String, task: String, path: String, sha256: String, sizeBytes: Int,
                                 manifest: String, activate: Bool = true) throws -> ModelRecord {
        try Self.validateName(name)
        try Self.validatePath(path)
        try Self.validateFields(task: task, sha256: sha256, sizeBytes: sizeBytes)
        return try locked {
            try database.inTransaction {
                let existing = try database.query(
                    "SELECT \(Self.columns) FROM models WHERE name = ? AND sha256 = ? ORDER BY version DESC LIMIT 1",
                    [name, sha256])
                if let row = existing.first { return try Self.record(from: row) }
                return try insert(name: name, version: nil, task: task, path: path, sha256: sha256,
                                  sizeBytes: sizeBytes, manifest: manifest, activate: activate)
            }
        }
    }

    /// Makes `version` the active version of `name`.
    @discardableResult
    public func activate(name: String, version: Int) throws -> ModelRecord {
        try Self.validateName(name)
        return try locked {
            try database.inTransaction {
                guard try fetch(name: name, version: version) != nil else {
                    throw try notFoundError(name: name, version: version)
                }
                try database.run("UPDATE models SET active = 0 WHERE name = ? AND active = 1", [name])
                try database.run("UPDATE models SET active = 1 WHERE name = ? AND version = ?", [name, version])
                guard let record = try fetch(name: name, version: version) else {
                    throw RegistryError.versionNotFound(name: name, version: version)
                }
                return record
            }
        }
    }

    /// Deletes one version and returns its record (see the type's rules for the active version).
    @discardableResult
    public func delete(name: String, version: Int) throws -> ModelRecord {
        try Self.validateName(name)
        return try locked {
            try database.inTransaction {
                guard let record = try fetch(name: name, version: version) else {
                    throw try notFoundError(name: name, version: version)
                }
                let others = try versionNumbers(name: name).filter { $0 != version }
                if record.active && !others.isEmpty {
                    throw RegistryError.activeVersion(name: name, version: version, otherVersions: others)
                }
                try database.run("DELETE FROM models WHERE name = ? AND version = ?", [name, version])
                return record
            }
        }
    }

    // MARK: Reading

    /// Every version of every model, by name then version.
    public func list() throws -> [ModelRecord] {
        try locked {
            try database.query("SELECT \(Self.columns) FROM models ORDER BY name, version").map(Self.record(from:))
        }
    }

    /// The versions of `name`, oldest first; throws `modelNotFound` for an unknown name.
    public func versions(name: String) throws -> [ModelRecord] {
        try Self.validateName(name)
        let records = try locked {
            try database.query("SELECT \(Self.columns) FROM models WHERE name = ? ORDER BY version", [name])
                .map(Self.record(from:))
        }
        guard !records.isEmpty else { throw RegistryError.modelNotFound(name) }
        return records
    }

    /// The active version of `name`, or nil when the name is not registered.
    public func active(name: String) throws -> ModelRecord? {
        try Self.validateName(name)
        return try locked {
            try database.query("SELECT \(Self.columns) FROM models WHERE name = ? AND active = 1", [name])
                .first.map(Self.record(from:))
        }
    }

    /// One version, or nil.
    public func record(name: String, version: Int) throws -> ModelRecord? {
        try Self.validateName(name)
        return try locked { try fetch(name: name, version: version) }
    }

    // MARK: Internals

    private static let columns = "name, version, task, path, sha256, size_bytes, manifest, created_at, active"

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private static func validateFields(task: String, sha256: String, sizeBytes: Int) throws {
        guard !task.isEmpty, task.count <= 64 else {
            throw RegistryError.invalidField(field: "task", reason: "must be 1-64 characters")
        }
        let hexDigits = Set("0123456789abcdef")
        guard sha256.count == 64, sha256.allSatisfy({ hexDigits.contains($0) }) else {
            throw RegistryError.invalidField(field: "sha256", reason: "must be 64 lowercase hex digits, got '\(sha256)'")
        }
        guard sizeBytes >= 0 else {
            throw RegistryError.invalidField(field: "size", reason: "must be >= 0, got \(sizeBytes)")
        }
    }

    /// Inserts a row; call inside a transaction.
    private func insert(name: String, version: Int?, task: String, path: String, sha256: String,
                        sizeBytes: Int, manifest: String, activate: Bool) throws -> ModelRecord {
        let existing = try versionNumbers(name: name)
        let newVersion = version ?? ((existing.max() ?? 0) + 1)
        if existing.contains(newVersion) {
            throw RegistryError.versionExists(name: name, version: newVersion)
        }
        let makeActive = activate || existing.isEmpty
        if makeActive {
            try database.run("UPDATE models SET active = 0 WHERE name = ? AND active = 1", [name])
        }
        try database.run(
            """
            INSERT INTO models (name, version, task, path, sha256, size_bytes, manifest, created_at, active)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [name, newVersion, task, path, sha256, sizeBytes, manifest, Date().timeIntervalSince1970, makeActive])
        guard let record = try fetch(name: name, version: newVersion) else {
            throw RegistryError.versionNotFound(name: name, version: newVersion)
        }
        return record
    }

    private func fetch(name: String, version: Int) throws -> ModelRecord? {
        try database.query("SELECT \(Self.columns) FROM models WHERE name = ? AND version = ?", [name, version])
            .first.map(Self.record(from:))
    }

    private func versionNumbers(name: String) throws -> [Int] {
        try database.query("SELECT version FROM models WHERE name = ? ORDER BY version", [name]).compactMap { $0[0].intValue }
    }

    private func notFoundError(name: String, version: Int) throws -> RegistryError {
        try versionNumbers(name: name).isEmpty
            ? .modelNotFound(name) : .versionNotFound(name: name, version: version)
    }

    private static func record(from row: Row) throws -> ModelRecord {
        guard let name = row[0].stringValue, let version = row[1].intValue, let task = row[2].stringValue,
              let path = row[3].stringValue, let sha256 = row[4].stringValue, let size = row[5].intValue,
              let manifest = row[6].stringValue, let created = row[7].doubleValue, let active = row[8].intValue
        else {
            throw SQLiteError(code: 11, message: "malformed row in table models: \(row.values)", sql: nil)
        }
        return ModelRecord(name: name, version: version, task: task, path: path, sha256: sha256, sizeBytes: size,
                           manifest: manifest, createdAt: Date(timeIntervalSince1970: created), active: active == 1)
    }
}
