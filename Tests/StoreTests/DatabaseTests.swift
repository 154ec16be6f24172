import Foundation
import Store
import XCTest

final class DatabaseTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder.remove()
    }

    func testOpenCreatesParentFolderAndEnablesWALAndForeignKeys() throws {
        let path = folder.path("nested/deeper/seer.db")
        let database = try Database(path: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try database.journalMode(), "wal")
        XCTAssertEqual(try database.scalar("PRAGMA foreign_keys")?.intValue, 1)
        XCTAssertEqual(try database.scalar("PRAGMA busy_timeout")?.intValue, 5000)
    }

    func testTypedBindingRoundTrip() throws {
        let database = try Database(path: folder.path("types.db"))
        try database.execute("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)")
        let blob = Data([0, 1, 2, 255, 0])
        let text = "grüße \u{1F600} with 'quotes'"
        try database.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [Int.max, 2.5, text, blob, nil as String?])
        try database.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [-7, -0.125, "", Data(), "x"])
        let rows = try database.query("SELECT i, d, s, b, n FROM t ORDER BY rowid")
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["i"].intValue, Int.max)
        XCTAssertEqual(rows[0]["d"].doubleValue, 2.5)
        XCTAssertEqual(rows[0]["s"].stringValue, text)
        XCTAssertEqual(rows[0]["b"], .blob(blob))
        XCTAssertEqual(rows[0]["n"], .null)
        XCTAssertEqual(rows[1][0].intValue, -7)
        XCTAssertEqual(rows[1][1].doubleValue, -0.125)
        XCTAssertEqual(rows[1][2], .text(""))
        XCTAssertEqual(rows[1][3], .blob(Data()), "an empty blob stays a blob, not NULL")
        XCTAssertEqual(rows[1][4].stringValue, "x")
    }

    func testStatementReuseWithReset() throws {
        let database = try Database(path: folder.path("reuse.db"))
        try database.execute("CREATE TABLE t (v INTEGER)")
        let insert = try database.prepare("INSERT INTO t VALUES (?)")
        for value in 1...10 {
            try insert.bind([value])
            XCTAssertFalse(try insert.step())
        }
        XCTAssertEqual(try database.scalar("SELECT SUM(v) FROM t")?.intValue, 55)
    }

    func testErrorsCarryMessageAndSQL() throws {
        let database = try Database(path: folder.path("errors.db"))
        XCTAssertThrowsError(try database.prepare("SELEKT 1")) { error in
            let sqliteError = error as? SQLiteError
            XCTAssertEqual(sqliteError?.sql, "SELEKT 1")
            XCTAssertTrue(sqliteError?.message.contains("syntax error") ?? false, "\(error)")
        }
        try database.execute("CREATE TABLE t (v INTEGER NOT NULL)")
        XCTAssertThrowsError(try database.run("INSERT INTO t VALUES (?)", [nil as Int?])) { error in
            let sqliteError = error as? SQLiteError
            XCTAssertEqual(sqliteError?.primaryCode, 19, "SQLITE_CONSTRAINT")
            XCTAssertTrue(sqliteError?.message.contains("NOT NULL") ?? false, "\(error)")
            XCTAssertTrue(String(describing: error).contains("INSERT INTO t"), "\(error)")
        }
        XCTAssertThrowsError(try database.run("INSERT INTO t VALUES (?)", [1, 2]), "wrong parameter count")
    }

    func testTransactionCommitsAndRollsBackOnThrow() throws {
        struct Abort: Error {}
        let database = try Database(path: folder.path("tx.db"))
        try database.execute("CREATE TABLE t (v INTEGER)")
        try database.inTransaction {
            try database.run("INSERT INTO t VALUES (1)")
        }
        XCTAssertThrowsError(try database.inTransaction {
            try database.run("INSERT INTO t VALUES (2)")
            throw Abort()
        })
        XCTAssertTrue(database.isAutocommit, "no transaction left open")
        // A nested transaction rolls back only its own part.
        try database.inTransaction {
            try database.run("INSERT INTO t VALUES (3)")
            _ = try? database.inTransaction { () -> Void in
                try database.run("INSERT INTO t VALUES (4)")
                throw Abort()
            }
        }
        let values = try database.query("SELECT v FROM t ORDER BY v").compactMap { $0[0].intValue }
        XCTAssertEqual(values, [1, 3])
    }

    func testForeignKeysAreEnforced() throws {
        let database = try Database(path: folder.path("fk.db"))
        try database.execute("""
            CREATE TABLE parent (id INTEGER PRIMARY KEY);
            CREATE TABLE child (parent_id INTEGER REFERENCES parent(id));
            """)
        XCTAssertThrowsError(try database.run("INSERT INTO child VALUES (42)"))
    }

    func testClosedDatabaseThrows() throws {
        let database = try Database(path: folder.path("closed.db"))
        database.close()
        XCTAssertThrowsError(try database.execute("SELECT 1"))
    }

    func testReadOnlyModeRequiresExistingFile() {
        XCTAssertThrowsError(try Database(path: folder.path("missing.db"), options: .init(mode: .readOnly)))
    }
}

final class MigratorTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder.remove()
    }

    func testStepsApplyInOrderAndAreIdempotent() throws {
        let database = try Database(path: folder.path("m.db"))
        let first = Migrator(steps: ["CREATE TABLE a (v INTEGER)", "INSERT INTO a VALUES (1)"])
        let result = try first.migrate(database)
        XCTAssertEqual(result.from, 0)
        XCTAssertEqual(result.to, 2)
        let again = try first.migrate(database)
        XCTAssertEqual(again.from, 2)
        XCTAssertEqual(again.to, 2)
        XCTAssertEqual(try database.scalar("SELECT COUNT(*) FROM a")?.intValue, 1, "step 2 ran exactly once")

        let extended = Migrator(steps: first.steps + ["INSERT INTO a VALUES (2)"])
        XCTAssertEqual(try extended.migrate(database).to, 3)
        XCTAssertEqual(try database.scalar("SELECT SUM(v) FROM a")?.intValue, 3)
    }

    func testFailedStepKeepsPreviousVersion() throws {
        let database = try Database(path: folder.path("fail.db"))
        let migrator = Migrator(steps: ["CREATE TABLE a (v INTEGER)", "CREATE TABLE b (v INTEGER); BROKEN SQL"])
        XCTAssertThrowsError(try migrator.migrate(database))
        XCTAssertEqual(try database.userVersion(), 1)
        XCTAssertNil(try database.scalar("SELECT name FROM sqlite_master WHERE name = 'b'"), "step 2 rolled back")
    }

    func testNewerDatabaseIsRefused() throws {
        let database = try Database(path: folder.path("new.db"))
        try database.setUserVersion(StoreSchema.migrator.latestVersion + 1)
        XCTAssertThrowsError(try StoreSchema.migrator.migrate(database)) { error in
            let tooNew = error as? SchemaTooNewError
            XCTAssertEqual(tooNew?.found, StoreSchema.migrator.latestVersion + 1)
            XCTAssertEqual(tooNew?.supported, StoreSchema.migrator.latestVersion)
            XCTAssertTrue(String(describing: error).contains("newer"), "\(error)")
        }
        XCTAssertThrowsError(try ModelRegistry(database: database))
    }

    func testSeerSchemaCreatesTables() throws {
        let database = try Database(path: folder.path("schema.db"))
        try StoreSchema.migrator.migrate(database)
        let tables = try database.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .compactMap { $0[0].stringValue }
        XCTAssertTrue(tables.contains("models"))
        XCTAssertTrue(tables.contains("requests"))
        XCTAssertEqual(try database.userVersion(), StoreSchema.migrator.latestVersion)
    }
}
