import Foundation

/// A schema newer than this build understands.
public struct SchemaTooNewError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let found: Int
    public let supported: Int

    public var description: String {
        "database '\(path)' has schema version \(found), but this build of Seer understands versions up to \(supported); "
            + "use a newer Seer or another database file"
    }
}

/// Ordered schema migrations keyed by `PRAGMA user_version`.
///
/// Step `i` (0-based) moves the schema from version `i` to `i + 1`. Each step runs in its own
/// transaction together with the version bump, so a failed step leaves the previous version intact
/// and re-running `migrate` is idempotent.
public struct Migrator: Sendable {
    public let steps: [String]

    public init(steps: [String]) {
        self.steps = steps
    }

    public var latestVersion: Int { steps.count }

    /// Applies the missing steps; returns the versions before and after.
    @discardableResult
    public func migrate(_ database: Database) throws -> (from: Int, to: Int) {
        let start = try database.userVersion()
        guard start <= latestVersion else {
            throw SchemaTooNewError(path: database.path, found: start, supported: latestVersion)
        }
        for version in start..<latestVersion {
            try database.inTransaction {
                // Re-check inside the write lock: another connection may have migrated meanwhile.
                guard try database.userVersion() == version else { return }
                try database.execute(steps[version])
                try database.setUserVersion(version + 1)
            }
        }
        return (start, try database.userVersion())
    }
}

/// Seer's schema: the model registry and the request log in one file.
public enum StoreSchema {
    public static let migrator = Migrator(steps: [
        // 1: model registry. At most one active row per name is enforced by the partial index;
        // "exactly one" is kept by ModelRegistry's transactions.
        """
        CREATE TABLE models (
            id          INTEGER PRIMARY KEY,
            name        TEXT    NOT NULL,
            version     INTEGER NOT NULL CHECK (version >= 1),
            task        TEXT    NOT NULL,
            path        TEXT    NOT NULL,
            sha256      TEXT    NOT NULL,
            size_bytes  INTEGER NOT NULL CHECK (size_bytes >= 0),
            manifest    TEXT    NOT NULL,
            created_at  REAL    NOT NULL,
            active      INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            UNIQUE (name, version)
        );
        CREATE UNIQUE INDEX models_one_active ON models(name) WHERE active = 1;
        CREATE INDEX models_name_sha ON models(name, sha256);
        """,
        // 2: request log, one row per request; `seq` orders rows by insertion.
        """
        CREATE TABLE requests (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            id             TEXT    NOT NULL,
            time           REAL    NOT NULL,
            method         TEXT    NOT NULL,
            path           TEXT    NOT NULL,
            model          TEXT,
            model_version  INTEGER,
            status         INTEGER NOT NULL,
            error_code     TEXT,
            queue_ms       REAL,
            inference_ms   REAL,
            total_ms       REAL    NOT NULL,
            bytes_in       INTEGER NOT NULL,
            bytes_out      INTEGER NOT NULL,
            client_address TEXT
        );
        CREATE INDEX requests_time ON requests(time);
        CREATE INDEX requests_id ON requests(id);
        """,
    ])
}
