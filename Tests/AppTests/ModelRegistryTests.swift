import Foundation
import XCTest

/// POST /models, versions, activation and deletion, on a temporary copy of two bundled models
/// (`<root>/models/{mtcnn,age}`), so the repository's models folder is never touched.
final class ModelRegistryTests: XCTestCase {
    nonisolated(unsafe) static var root: TemporaryFolder?
    nonisolated(unsafe) static var started: Result<TestService, Error>?
    var service: TestService!
    var root: TemporaryFolder!
    var modelsFolder: URL { root.file("models") }
    var scratch: TemporaryFolder!

    override class func tearDown() {
        if case let .success(service)? = started { service.stopAndRemove() }
        root?.remove()
        started = nil
        root = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        if Self.started == nil {
            Self.started = Result {
                let root = try TemporaryFolder("seer-registry")
                Self.root = root
                try FileManager.default.createDirectory(at: root.file("models"), withIntermediateDirectories: true)
                for name in ["mtcnn", "age"] {
                    try FileManager.default.copyItem(at: Paths.models.appendingPathComponent(name), to: root.file("models/\(name)"))
                }
                return try TestService(modelsDirectory: root.file("models"))
            }
        }
        service = try XCTUnwrap(Self.started).get()
        root = try XCTUnwrap(Self.root)
        scratch = try TemporaryFolder()
    }

    override func tearDown() {
        scratch?.remove()
    }

    // MARK: Helpers

    func manifest(name: String, task: String = "anomaly") -> Data {
        Data(#"{"name": "\#(name)", "version": 1, "task": "\#(task)", "description": "test upload", "graphs": {"main": "model.onnx"}}"#.utf8)
    }

    /// POST /models with curl: `file` = the ONNX bytes, `manifest` = the JSON.
    func register(model: URL, manifest: Data) throws -> HTTPReply {
        let manifestFile = try scratch.write(manifest, name: "manifest-\(UUID().uuidString).json")
        let result = try Curl.run(["-F", "file=@\(model.path);type=application/octet-stream",
                                   "-F", "manifest=@\(manifestFile.path);type=application/json", service.url("/models")])
        XCTAssertEqual(result.exitStatus, 0, result.trace)
        return result.reply
    }

    func infer(_ name: String, values: [Float], shape: [Int]) throws -> HTTPReply {
        let body: [String: Any] = ["inputs": [["name": "x", "shape": shape, "datatype": "FP32", "data": values.map(Double.init)]]]
        return try HTTP.post(service.url("/v2/models/\(name)/infer"), body: try JSONSerialization.data(withJSONObject: body),
                             contentType: "application/json")
    }

    /// 60 values from -3 to 2.9 (shape [3, 4, 5], the node tests' input shape).
    static let input: [Float] = (0..<60).map { Float($0 - 30) / 10 }

    // MARK: Tests

    func testRegisteredGraphAnswersOpenInferenceRequests() throws {
        let reply = try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: "relu-a"))
        XCTAssertEqual(reply.status, 201, reply.text)
        let model = reply.json["model"]
        XCTAssertEqual(model["name"].string, "relu-a")
        XCTAssertEqual(model["version"].int, 1)
        XCTAssertEqual(model["task"].string, "anomaly")
        XCTAssertEqual(model["active"].bool, true, "a new model's first version is active")
        XCTAssertEqual(model["loaded"].bool, true)
        XCTAssertEqual(model["sha256"].string?.count, 64)
        XCTAssertEqual(model["manifest"]["graphs"]["main"].string, "model.onnx")
        let uploaded = modelsFolder.appendingPathComponent("relu-a/v1/model.onnx")
        XCTAssertEqual(try Data(contentsOf: uploaded), try Data(contentsOf: Paths.nodeTest("test_relu")))
        let storedManifest = JSON(data: try Data(contentsOf: modelsFolder.appendingPathComponent("relu-a/v1/manifest.json")))
        XCTAssertEqual(storedManifest["name"].string, "relu-a")
        XCTAssertEqual(storedManifest["version"].int, 1)

        let metadata = try HTTP.get(service.url("/v2/models/relu-a"))
        XCTAssertEqual(metadata.status, 200, metadata.text)
        XCTAssertEqual(metadata.json["inputs"][0]["name"].string, "x")
        XCTAssertEqual(metadata.json["inputs"][0]["shape"].array?.compactMap(\.int), [3, 4, 5])
        XCTAssertEqual(metadata.json["outputs"][0]["name"].string, "y")

        let result = try infer("relu-a", values: Self.input, shape: [3, 4, 5])
        XCTAssertEqual(result.status, 200, result.text)
        XCTAssertEqual(result.json["model_name"].string, "relu-a")
        let output = result.json["outputs"][0]
        XCTAssertEqual(output["name"].string, "y")
        XCTAssertEqual(output["datatype"].string, "FP32")
        XCTAssertEqual(output["shape"].array?.compactMap(\.int), [3, 4, 5])
        let values = try XCTUnwrap(output["data"].array?.compactMap(\.double))
        XCTAssertEqual(values.map { Float($0) }, Self.input.map { max(0, $0) }, "relu(x) exactly")

        // Wrong input shapes are the client's fault.
        let wrong = try infer("relu-a", values: [1, 2, 3], shape: [3, 4, 5])
        Expect.error(wrong, status: 400, code: "invalid_parameter", "3 values for [3,4,5]")
    }

    func testRegisteredDetectorServesDetect() throws {
        let folder = Paths.fixtures.appendingPathComponent("models/yolov8-random")
        let reply = try register(model: folder.appendingPathComponent("yolov8-random.onnx"),
                                 manifest: try contents(of: folder.appendingPathComponent("manifest.json")))
        XCTAssertEqual(reply.status, 201, reply.text)
        XCTAssertEqual(reply.json["model"]["task"].string, "detection")

        let detect = try Curl.run(["-F", "image=@\(Paths.media("astronaut.png").path)", service.url("/detect?model=yolov8-random")])
        XCTAssertEqual(detect.reply.status, 200, detect.reply.text)
        let body = detect.reply.json
        XCTAssertEqual(body["success"].bool, true)
        XCTAssertEqual(body["model"]["name"].string, "yolov8-random")
        XCTAssertEqual(body["model"]["version"].int, 1)
        XCTAssertEqual(body["image"]["width"].int, 512)
        XCTAssertEqual(body["image"]["height"].int, 512)
        let predictions = try XCTUnwrap(body["predictions"].array)
        XCTAssertTrue(predictions.allSatisfy { ["thing_a", "thing_b", "thing_c"].contains($0["label"].string ?? "") }, detect.reply.text)
        // The strongest detection of the independent decode (Tests/Fixtures/reference/yolov8-random/detections.json).
        let best = try XCTUnwrap(predictions.max { ($0["confidence"].double ?? 0) < ($1["confidence"].double ?? 0) })
        XCTAssertEqual(best["label"].string, "thing_c")
        XCTAssertEqual(best["class_id"].int, 2)
        XCTAssertEqual(best["confidence"].double ?? 0, 0.928675, accuracy: 0.02)
        XCTAssertGreaterThanOrEqual(ContractTests.iou(ContractTests.boxArray(best["box"]), [405.68, 277.869, 484.643, 357.894]), 0.9)

        // The face task's endpoint refuses a detection model by name.
        let wrongTask = try HTTP.post(service.url("/faces?model=yolov8-random"), body: try contents(of: Paths.media("astronaut.png")))
        Expect.error(wrongTask, status: 400, code: "invalid_parameter", "detection model on /faces")
    }

    func testManifestThatDoesNotFitTheGraphIs422() throws {
        let folder = Paths.fixtures.appendingPathComponent("models/yolov8-random")
        var manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: try contents(of: folder.appendingPathComponent("manifest.json"))) as? [String: Any])
        manifest["name"] = "yolov8-mislabelled"
        manifest["labels"] = ["a", "b", "c", "d", "e"]
        let reply = try register(model: folder.appendingPathComponent("yolov8-random.onnx"),
                                 manifest: try JSONSerialization.data(withJSONObject: manifest))
        Expect.error(reply, status: 422, code: "manifest_mismatch", "5 labels for a 3-class graph")
        let message = reply.json["error"].string ?? ""
        XCTAssertTrue(message.contains("5") && message.contains("7"), "the message names the label count and the output size: \(message)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("yolov8-mislabelled").path))
        Expect.error(try HTTP.get(service.url("/models/yolov8-mislabelled")), status: 404, code: "model_not_found", "not registered")
    }

    /// Face and age pipelines need several named graphs; a one-file upload could only fail later, at inference (500).
    func testSingleGraphFaceOrAgeModelIs422() throws {
        for task in ["faces", "age"] {
            let reply = try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: "single-\(task)", task: task))
            Expect.error(reply, status: 422, code: "manifest_mismatch", "task \(task)")
            XCTAssertTrue(reply.json["error"].string?.contains(task) ?? false, reply.text)
            XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("single-\(task)").path))
        }
        let unknownTask = try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: "odd-task", task: "poetry"))
        Expect.error(unknownTask, status: 400, code: "invalid_parameter", "unknown task")
    }

    func testNewVersionMustKeepTheTask() throws {
        XCTAssertEqual(try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: "steady")).status, 201)
        let other = try register(model: Paths.nodeTest("test_leakyrelu"), manifest: manifest(name: "steady", task: "segmentation"))
        Expect.error(other, status: 409, code: "conflict", "task change")
        XCTAssertTrue(other.json["error"].string?.contains("anomaly") ?? false, other.text)
        let versions = try HTTP.get(service.url("/models/steady"))
        XCTAssertEqual(versions.json["versions"].array?.compactMap { $0["version"].int }, [1])
        XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("steady/v2").path))
    }

    func testUnsupportedOperatorIs422NamingTheOperator() throws {
        for (test, op) in [("test_det_2d", "Det"), ("test_einsum_sum", "Einsum")] {
            let reply = try register(model: Paths.nodeTest(test), manifest: manifest(name: "unsupported-\(op.lowercased())"))
            Expect.error(reply, status: 422, code: "unsupported_operator", test)
            let message = reply.json["error"].string ?? ""
            XCTAssertTrue(message.contains(op), "names the operator: \(message)")
            XCTAssertTrue(message.contains("opset"), "names the opset: \(message)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("unsupported-\(op.lowercased())").path))
        }
    }

    func testGarbageFileIs400InvalidModelFile() throws {
        let garbage = try scratch.write(Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }), name: "garbage.onnx")
        let reply = try register(model: garbage, manifest: manifest(name: "garbage"))
        Expect.error(reply, status: 400, code: "invalid_model_file", "garbage")
        XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("garbage").path))
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: service.configuration.temporaryDirectory.path)) ?? []
        XCTAssertEqual(leftovers, [], "staging folders are removed")
    }

    func testHostileManifestNamesAre400AndWriteNothing() throws {
        let before = listing(root.url)
        for name in ["../x", "..", "a/b", "../../../tmp/seer-escape", "", "x\\y"] {
            let reply = try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: name))
            XCTAssertEqual(reply.status, 400, "name \(name): \(reply.text)")
            XCTAssertEqual(reply.json["success"].bool, false)
            XCTAssertTrue(["invalid_parameter", "bad_request"].contains(reply.json["code"].string ?? ""), reply.text)
        }
        XCTAssertEqual(listing(root.url), before, "nothing written in or beside the models folder")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.file("x").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/seer-escape"))
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: service.configuration.temporaryDirectory.path)) ?? [], [])

        // A graph file name in the manifest cannot point elsewhere either: uploads are always stored as model.onnx.
        var hostile = try XCTUnwrap(try JSONSerialization.jsonObject(with: manifest(name: "relu-paths")) as? [String: Any])
        hostile["graphs"] = ["main": "../../escape.onnx"]
        let reply = try register(model: Paths.nodeTest("test_relu"), manifest: try JSONSerialization.data(withJSONObject: hostile))
        XCTAssertEqual(reply.status, 201, reply.text)
        XCTAssertEqual(reply.json["model"]["manifest"]["graphs"]["main"].string, "model.onnx")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.file("escape.onnx").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("escape.onnx").path))
    }

    func testVersionsCanBeActivatedAndDeleted() throws {
        // Version 1 is Relu, version 2 LeakyRelu(alpha 0.1): the answers tell which one serves.
        XCTAssertEqual(try register(model: Paths.nodeTest("test_relu"), manifest: manifest(name: "act")).status, 201)
        let second = try register(model: Paths.nodeTest("test_leakyrelu"), manifest: manifest(name: "act"))
        XCTAssertEqual(second.status, 201, second.text)
        XCTAssertEqual(second.json["model"]["version"].int, 2)
        XCTAssertEqual(second.json["model"]["active"].bool, false, "a new version of a known model waits for activation")

        func outputs() throws -> [Float] {
            let reply = try infer("act", values: Self.input, shape: [3, 4, 5])
            XCTAssertEqual(reply.status, 200, reply.text)
            return reply.json["outputs"][0]["data"].array?.compactMap(\.double).map { Float($0) } ?? []
        }
        let relu = Self.input.map { max(0, $0) }
        let leaky = Self.input.map { $0 < 0 ? $0 * 0.1 : $0 }
        XCTAssertEqual(try outputs(), relu)

        var versions = try HTTP.get(service.url("/models/act"))
        XCTAssertEqual(versions.status, 200)
        XCTAssertEqual(versions.json["versions"].array?.map { "\($0["version"].int ?? 0):\($0["active"].bool ?? false)" }.sorted(),
                       ["1:true", "2:false"])

        let activate = try HTTP.send("POST", service.url("/models/act/versions/2/activate"))
        XCTAssertEqual(activate.status, 200, activate.text)
        XCTAssertEqual(activate.json["model"]["active"].bool, true)
        let afterActivation = try outputs()
        XCTAssertEqual(afterActivation.count, leaky.count)
        for (value, expected) in zip(afterActivation, leaky) { XCTAssertEqual(value, expected, accuracy: 1e-6) }
        versions = try HTTP.get(service.url("/models/act"))
        XCTAssertEqual(versions.json["versions"].array?.map { "\($0["version"].int ?? 0):\($0["active"].bool ?? false)" }.sorted(),
                       ["1:false", "2:true"])

        Expect.error(try HTTP.send("DELETE", service.url("/models/act/versions/2")), status: 409, code: "conflict", "delete the active version")
        Expect.error(try HTTP.send("POST", service.url("/models/act/versions/9/activate")), status: 404, code: "model_not_found", "no version 9")
        Expect.error(try HTTP.send("POST", service.url("/models/act/versions/zero/activate")), status: 400, code: "invalid_parameter", "version zero")
        Expect.error(try HTTP.send("DELETE", service.url("/models/nothing-here/versions/1")), status: 404, code: "model_not_found", "unknown model")

        let delete = try HTTP.send("DELETE", service.url("/models/act/versions/1"))
        XCTAssertEqual(delete.status, 200, delete.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("act/v1").path), "the uploaded folder is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("act/v2/model.onnx").path))
        versions = try HTTP.get(service.url("/models/act"))
        XCTAssertEqual(versions.json["versions"].array?.compactMap { $0["version"].int }, [2])
        XCTAssertEqual(try outputs().count, leaky.count, "the active version still serves")

        let list = try HTTP.get(service.url("/models"))
        XCTAssertEqual(list.status, 200)
        let entries = list.json["models"].array ?? []
        let names = Set(entries.compactMap { $0["name"].string })
        XCTAssertTrue(names.isSuperset(of: ["mtcnn", "age", "act"]), "\(names)")
        XCTAssertEqual(entries.filter { $0["name"].string == "act" }.compactMap { $0["version"].int }, [2])
        let mtcnn = try XCTUnwrap(entries.first { $0["name"].string == "mtcnn" })
        XCTAssertEqual(mtcnn["task"].string, "faces")
        XCTAssertEqual(mtcnn["active"].bool, true)
        XCTAssertEqual(mtcnn["loaded"].bool, true)
        // Bundled models' folders are never deleted.
        XCTAssertTrue(FileManager.default.fileExists(atPath: modelsFolder.appendingPathComponent("mtcnn/pnet.onnx").path))
    }
}
