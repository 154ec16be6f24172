import Foundation
import Glibc
import Store
import XCTest

/// The WAL index must never be a memory-mapped `-shm` file: when that file cannot back its pages
/// (disk full, read-only, truncated by another actor) the next access raises SIGBUS and kills the
/// process. `Database` keeps the index in process memory instead.
final class WALIndexTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
    }

    override func tearDown() {
        folder.remove()
    }

    func testWALIndexLivesInProcessMemoryAndConnectionsShareIt() throws {
        let path = folder.path("heap.db")
        let writer = try Database(path: path)
        XCTAssertEqual(try writer.journalMode(), "wal")
        try writer.execute("CREATE TABLE t (x INTEGER)")
        try writer.run("INSERT INTO t VALUES (1)")

        // The registry and the request log each hold a connection to the same file.
        let second = try Database(path: path)
        try second.run("INSERT INTO t VALUES (2)")
        let reader = try Database(path: path, options: .init(mode: .readOnly))
        XCTAssertEqual(try reader.scalar("SELECT COUNT(*) FROM t")?.intValue, 2)
        try writer.run("INSERT INTO t VALUES (3)")
        XCTAssertEqual(try reader.scalar("SELECT SUM(x) FROM t")?.intValue, 6, "the reader sees the latest commit")

        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"), "still write-ahead logging")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-shm"), "no -shm file is created to be mapped")
        reader.close()
        second.close()
        writer.close()
    }

    /// A read-only, empty `-shm` left beside the file, then truncated again while the connection writes:
    /// with a file-backed index the first write raises SIGBUS (as root) or fails to open WAL (as a user).
    func testUnwritableOrTruncatedShmFileDoesNotStopWrites() throws {
        let path = folder.path("shm.db")
        let shm = path + "-shm"
        XCTAssertTrue(FileManager.default.createFile(atPath: shm, contents: Data(), attributes: [.posixPermissions: 0o444]))

        let database = try Database(path: path)
        try database.execute("CREATE TABLE t (x INTEGER)")
        for value in 0..<200 {
            try database.run("INSERT INTO t VALUES (?)", [value])
            if value % 50 == 25 {
                XCTAssertEqual(truncate(shm, 0), 0, "truncate \(shm): errno \(errno)")
            }
        }
        XCTAssertEqual(try database.scalar("SELECT COUNT(*) FROM t")?.intValue, 200)
        XCTAssertEqual(try database.scalar("PRAGMA integrity_check")?.stringValue, "ok")
        let size = try FileManager.default.attributesOfItem(atPath: shm)[.size] as? Int
        XCTAssertEqual(size, 0, "SQLite never grew (so never mapped) the -shm file")
        database.close()

        let reopened = try Database(path: path)
        XCTAssertEqual(try reopened.scalar("SELECT COUNT(*) FROM t")?.intValue, 200, "committed rows survive a reopen")
        reopened.close()
    }
}
