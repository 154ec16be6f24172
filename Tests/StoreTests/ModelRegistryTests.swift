import Foundation
import Store
import XCTest

final class ModelRegistryTests: XCTestCase {
    private var folder: TemporaryFolder!
    private var registry: ModelRegistry!

    private let shaA = String(repeating: "a", count: 64)
    private let shaB = String(repeating: "b", count: 64)
    private let shaC = String(repeating: "c", count: 64)

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
        registry = try ModelRegistry(path: folder.path("registry.db"))
    }

    override func tearDown() {
        registry = nil
        folder.remove()
    }

    @discardableResult
    private func register(_ name: String, version: Int? = nil, sha: String, activate: Bool = false) throws -> ModelRecord {
        try registry.register(name: name, version: version, task: "detection", path: name, sha256: sha,
                              sizeBytes: 1234, manifest: #"{"name":"\#(name)"}"#, activate: activate)
    }

    func testFirstVersionIsActiveAndVersionsIncrement() throws {
        let first = try register("yolov3-tiny", sha: shaA)
        XCTAssertEqual(first.version, 1)
        XCTAssertTrue(first.active)
        XCTAssertEqual(first.task, "detection")
        XCTAssertEqual(first.sizeBytes, 1234)
        XCTAssertEqual(first.manifest, #"{"name":"yolov3-tiny"}"#)

        let second = try register("yolov3-tiny", sha: shaB)
        XCTAssertEqual(second.version, 2)
        XCTAssertFalse(second.active, "later versions are not activated unless asked")
        XCTAssertEqual(try registry.active(name: "yolov3-tiny")?.version, 1)

        let third = try register("yolov3-tiny", sha: shaC, activate: true)
        XCTAssertEqual(third.version, 3)
        XCTAssertEqual(try registry.active(name: "yolov3-tiny")?.version, 3)
        XCTAssertEqual(try registry.versions(name: "yolov3-tiny").map(\.version), [1, 2, 3])
        XCTAssertEqual(try registry.versions(name: "yolov3-tiny").filter(\.active).count, 1)
    }

    func testExplicitVersionAndDuplicates() throws {
        try register("age", version: 5, sha: shaA)
        XCTAssertEqual(try register("age", sha: shaB).version, 6)
        XCTAssertThrowsError(try register("age", version: 5, sha: shaC)) { error in
            XCTAssertEqual(error as? RegistryError, .versionExists(name: "age", version: 5))
        }
        XCTAssertThrowsError(try register("age", version: 0, sha: shaC)) { error in
            XCTAssertEqual(error as? RegistryError, .invalidVersion(0))
        }
    }

    func testActivateSwitchesTheSingleActiveVersion() throws {
        try register("person", sha: shaA)
        try register("person", sha: shaB)
        let activated = try registry.activate(name: "person", version: 2)
        XCTAssertTrue(activated.active)
        let versions = try registry.versions(name: "person")
        XCTAssertEqual(versions.filter(\.active).map(\.version), [2])
        XCTAssertThrowsError(try registry.activate(name: "person", version: 9)) { error in
            XCTAssertEqual(error as? RegistryError, .versionNotFound(name: "person", version: 9))
        }
        XCTAssertEqual(try registry.active(name: "person")?.version, 2, "failed activation changes nothing")
        XCTAssertThrowsError(try registry.activate(name: "nobody", version: 1)) { error in
            XCTAssertEqual(error as? RegistryError, .modelNotFound("nobody"))
        }
    }

    func testDeleteRefusesActiveVersionWhileOthersExist() throws {
        try register("text", sha: shaA)
        try register("text", sha: shaB)
        XCTAssertThrowsError(try registry.delete(name: "text", version: 1)) { error in
            XCTAssertEqual(error as? RegistryError, .activeVersion(name: "text", version: 1, otherVersions: [2]))
        }
        XCTAssertEqual(try registry.delete(name: "text", version: 2).version, 2)
        XCTAssertEqual(try registry.versions(name: "text").map(\.version), [1])
        // The only remaining version may go: the model disappears.
        try registry.delete(name: "text", version: 1)
        XCTAssertNil(try registry.active(name: "text"))
        XCTAssertThrowsError(try registry.versions(name: "text")) { error in
            XCTAssertEqual(error as? RegistryError, .modelNotFound("text"))
        }
        XCTAssertThrowsError(try registry.delete(name: "text", version: 1)) { error in
            XCTAssertEqual(error as? RegistryError, .modelNotFound("text"))
        }
    }

    func testRegisterIfAbsentIsIdempotentBySha() throws {
        let first = try registry.registerIfAbsent(name: "mtcnn", task: "faces", path: "mtcnn", sha256: shaA,
                                                  sizeBytes: 10, manifest: "{}")
        let again = try registry.registerIfAbsent(name: "mtcnn", task: "faces", path: "mtcnn", sha256: shaA,
                                                  sizeBytes: 10, manifest: "{}")
        XCTAssertEqual(first, again)
        XCTAssertEqual(try registry.versions(name: "mtcnn").count, 1)

        // A changed bundled file becomes a new, active version.
        let changed = try registry.registerIfAbsent(name: "mtcnn", task: "faces", path: "mtcnn", sha256: shaB,
                                                    sizeBytes: 11, manifest: "{}")
        XCTAssertEqual(changed.version, 2)
        XCTAssertEqual(try registry.active(name: "mtcnn")?.sha256, shaB)
    }

    func testListOrdersByNameThenVersionAndSurvivesReopen() throws {
        try register("zeta", sha: shaA)
        try register("alpha", sha: shaA)
        try register("alpha", sha: shaB)
        let path = folder.path("registry.db")
        registry = nil
        let reopened = try ModelRegistry(path: path)
        XCTAssertEqual(try reopened.list().map { "\($0.name)@\($0.version)" }, ["alpha@1", "alpha@2", "zeta@1"])
    }

    func testNameValidation() throws {
        let valid = ["a", "0", "yolov3-tiny", "age.v2", "a_b", String(repeating: "x", count: 64)]
        let invalid = ["", "A", "-a", ".hidden", "..", "../etc", "a/b", "a b", "ä", "a\0b",
                       String(repeating: "x", count: 65), "name\n"]
        for name in valid { XCTAssertTrue(ModelRegistry.isValidName(name), name) }
        for name in invalid {
            XCTAssertFalse(ModelRegistry.isValidName(name), name.debugDescription)
            XCTAssertThrowsError(try register(name, sha: shaA)) { error in
                XCTAssertEqual(error as? RegistryError, .invalidName(name))
            }
        }
        XCTAssertTrue(try registry.list().isEmpty)
    }

    func testPathAndFieldValidation() throws {
        for path in ["", "/etc/passwd", "../x", "a/../../b", "a\\b"] {
            XCTAssertThrowsError(try registry.register(name: "m", task: "t", path: path, sha256: shaA,
                                                       sizeBytes: 1, manifest: "{}"), path) { error in
                XCTAssertEqual(error as? RegistryError, .invalidPath(path))
            }
        }
        XCTAssertNoThrow(try registry.register(name: "m", task: "t", path: "m/model.onnx", sha256: shaA,
                                               sizeBytes: 1, manifest: "{}"))
        XCTAssertThrowsError(try registry.register(name: "m", task: "t", path: "m", sha256: "ABC",
                                                   sizeBytes: 1, manifest: "{}"))
        XCTAssertThrowsError(try registry.register(name: "m", task: "t", path: "m", sha256: shaA,
                                                   sizeBytes: -1, manifest: "{}"))
    }

    func testConcurrentRegistrationsGetDistinctVersions() throws {
        let registry = self.registry!
        let sha = shaA
        let errors = NSLock()
        var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 40) { _ in
            do {
                try registry.register(name: "busy", task: "t", path: "busy", sha256: sha, sizeBytes: 1, manifest: "{}")
            } catch {
                errors.lock(); failures.append("\(error)"); errors.unlock()
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertEqual(try registry.versions(name: "busy").map(\.version), Array(1...40))
        XCTAssertEqual(try registry.versions(name: "busy").filter(\.active).count, 1)
    }
}
