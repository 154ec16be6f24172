import Foundation
import ONNX
import TensorRuntime
import XCTest

/// The `seer` command line as the contract gives it (/work/shared/docs/api-contract.md, "Command line"),
/// run as a real process: the binary `./dev test` builds (SEER_BINARY), else .build/release/seer.
final class CommandLineTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    struct Missing: Error, CustomStringConvertible { let description: String }

    struct Outcome {
        let status: Int32
        let stdout: Data
        let stderr: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: stdout) as? [String: Any] }
    }

    /// Runs seer with `arguments`, and `input` (if any) as its standard input, closed after it.
    func seer(_ arguments: [String], input: String? = nil) throws -> Outcome {
        let binary = ProcessInfo.processInfo.environment["SEER_BINARY"]
            ?? CommandLineTests.packageRoot.appendingPathComponent(".build/release/seer").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw Missing(description: "no seer binary at \(binary): run ./dev test, or build it first (swift build -c release --product seer)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = CommandLineTests.packageRoot
        // stderr goes to a file, so only one pipe needs draining while the process runs.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("seer-cli-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: errorFile)
        let standardInput = input.map { _ in Pipe() }
        if let standardInput { process.standardInput = standardInput }
        try process.run()
        if let standardInput, let input {
            // Small inputs only: the pipe's buffer holds them while seer has not read yet. A seer that exits
            // first (a refused option) must not take the test down with SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
            try? standardInput.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try? standardInput.fileHandleForWriting.close()
        }
        let outputBytes = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorBytes = try Data(contentsOf: errorFile)
        return Outcome(status: process.terminationStatus, stdout: outputBytes, stderr: String(decoding: errorBytes, as: UTF8.self))
    }

    func scratchFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("seer-cli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    func fixture(_ path: String) -> String { CommandLineTests.packageRoot.appendingPathComponent(path).path }

    /// |actual - expected| <= atol + rtol * |expected|, elementwise, same shape.
    func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float, _ label: String) {
        XCTAssertEqual(actual.shape, expected.shape, label)
        let a = actual.floats, e = expected.floats
        guard a.count == e.count else { return }
        let worst = zip(a, e).map { abs($0 - $1) - rtol * abs($1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, atol, "\(label): worst excess over the tolerance")
    }

    // MARK: seer run

    func testRunWritesEveryOutputAsNpyEqualToOnnxruntime() throws {
        let output = try scratchFolder()
        let reference = "Tests/Fixtures/reference/mtcnn/runtime/pnet_grace_hopper_149x127"
        let outcome = try seer(["run", "models/mtcnn/pnet.onnx", "--input", "input=\(fixture(reference + "_input.npy"))",
                                "--output-dir", output.path, "--threads", "1"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        for name in ["regression", "probability"] {
            let actual = try NPY.read(contentsOf: output.appendingPathComponent("\(name).npy"))
            let expected = try NPY.read(contentsOf: URL(fileURLWithPath: fixture(reference + "_\(name).npy")))
            assertClose(actual, expected, atol: 1e-4, rtol: 1e-3, name)
        }
    }

    func testRunReadsTensorProtoInputsOfTheOnnxTestData() throws {
        let case_ = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding")
        let data = case_.appendingPathComponent("test_data_set_0")
        guard FileManager.default.fileExists(atPath: data.path) else {
            throw Missing(description: "libonnx-testdata is missing (\(data.path)): ./dev test installs it")
        }
        let output = try scratchFolder()
        let x = try TensorProtoFile.readNamed(contentsOf: data.appendingPathComponent("input_0.pb"))
        let w = try TensorProtoFile.readNamed(contentsOf: data.appendingPathComponent("input_1.pb"))
        let expected = try TensorProtoFile.readNamed(contentsOf: data.appendingPathComponent("output_0.pb"))
        let outcome = try seer(["run", case_.appendingPathComponent("model.onnx").path,
                                "--input", "\(x.name)=\(data.appendingPathComponent("input_0.pb").path)",
                                "--input", "\(w.name)=\(data.appendingPathComponent("input_1.pb").path)",
                                "--output-dir", output.path])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let actual = try NPY.read(contentsOf: output.appendingPathComponent("\(expected.name).npy"))
        assertClose(actual, expected.tensor, atol: 1e-4, rtol: 1e-3, expected.name)
    }

    func testRunRefusesAnUnsupportedOperatorNamingNodeOperatorAndOpset() throws {
        let folder = try scratchFolder()
        var writer = ONNXModelWriter(graphName: "unsupported")
        writer.opset = 13
        writer.nodes = [.init("NonMaxSuppression", inputs: ["boxes", "scores"], outputs: ["selected"], name: "nms")]
        writer.inputs = [.init(name: "boxes", dims: [.fixed(1), .fixed(4), .fixed(4)]),
                         .init(name: "scores", dims: [.fixed(1), .fixed(1), .fixed(4)])]
        writer.outputs = [.init(name: "selected", dims: [.symbolic("K"), .fixed(3)])]
        let model = folder.appendingPathComponent("nms.onnx")
        try writer.write(to: model)
        let outcome = try seer(["run", model.path, "--output-dir", folder.path])
        XCTAssertNotEqual(outcome.status, 0)
        XCTAssertTrue(outcome.stderr.contains("NonMaxSuppression"), outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("13"), outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("nms"), outcome.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("selected.npy").path))
    }

    func testRunNamesAWrongInputName() throws {
        let reference = "Tests/Fixtures/reference/mtcnn/runtime/rnet_crops_24_input.npy"
        let outcome = try seer(["run", "models/mtcnn/rnet.onnx", "--input", "pixels=\(fixture(reference))",
                                "--output-dir", try scratchFolder().path])
        XCTAssertNotEqual(outcome.status, 0)
        XCTAssertTrue(outcome.stderr.contains("pixels"), outcome.stderr)
    }

    // MARK: seer bench

    func testBenchPrintsTheContractsJSON() throws {
        let outcome = try seer(["bench", "models/mtcnn/rnet.onnx", "--shape", "input=4x3x24x24",
                                "--threads", "1", "--iterations", "5", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let json = try XCTUnwrap(outcome.json, String(decoding: outcome.stdout, as: UTF8.self))
        XCTAssertEqual(json["iterations"] as? Int, 5)
        XCTAssertEqual(json["threads"] as? Int, 1)
        let median = try XCTUnwrap(json["median_ms"] as? Double)
        let p90 = try XCTUnwrap(json["p90_ms"] as? Double)
        XCTAssertGreaterThan(median, 0)
        XCTAssertGreaterThanOrEqual(p90, median)
    }

    func testBenchWarmsUpForRunsAndForTime() throws {
        // --warmup runs at least, and --warmup-ms of them: the JSON's "warmup" counts the runs made.
        let counted = try seer(["bench", "models/mtcnn/rnet.onnx", "--shape", "input=1x3x24x24", "--threads", "1",
                                "--iterations", "1", "--warmup", "2", "--warmup-ms", "0", "--json"])
        XCTAssertEqual(counted.status, 0, counted.stderr)
        XCTAssertEqual(try XCTUnwrap(counted.json)["warmup"] as? Int, 2)
        let start = Date()
        let timed = try seer(["bench", "models/mtcnn/rnet.onnx", "--shape", "input=1x3x24x24", "--threads", "1",
                              "--iterations", "1", "--warmup", "0", "--warmup-ms", "300", "--json"])
        XCTAssertEqual(timed.status, 0, timed.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.3)
        // One R-Net crop takes well under 30 ms, so 300 ms of warm-up are more than 10 runs.
        XCTAssertGreaterThan(try XCTUnwrap(try XCTUnwrap(timed.json)["warmup"] as? Int), 10)
    }

    func testBenchRunsARoundPerLineOfStandardInput() throws {
        // A comparison script keeps one process and asks it for rounds: one report per line read, until end
        // of input, each with its own warm-up and CPU time per timed run (1 thread: at most about the wall time).
        let outcome = try seer(["bench", "models/mtcnn/pnet.onnx", "--shape", "input=1x3x120x160", "--threads", "1",
                                "--iterations", "5", "--warmup", "1", "--warmup-ms", "0", "--json", "--rounds-from-stdin"],
                               input: "round\nround\nround\n")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let lines = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, String(decoding: outcome.stdout, as: UTF8.self))
        for line in lines {
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(report["iterations"] as? Int, 5)
            XCTAssertEqual(report["warmup"] as? Int, 1)
            let cpu = try XCTUnwrap(report["cpu_ms"] as? Double), mean = try XCTUnwrap(report["mean_ms"] as? Double)
            XCTAssertGreaterThan(cpu, 0)
            XCTAssertLessThanOrEqual(cpu, mean * 1.5 + 0.5, "CPU ms per run against a mean of \(mean) ms")
        }
        let profiled = try seer(["bench", "models/mtcnn/pnet.onnx", "--shape", "input=1x3x120x160", "--profile",
                                 "--rounds-from-stdin"], input: "round\n")
        XCTAssertNotEqual(profiled.status, 0)
        XCTAssertTrue(profiled.stderr.contains("--rounds-from-stdin"), profiled.stderr)
    }

    // MARK: endpoint commands

    func testFacesAnswersLikeThePostEndpoint() throws {
        // The project's shared photos sit beside the repository (../shared/media), as in the other suites.
        let photo = CommandLineTests.packageRoot.appendingPathComponent("../shared/media/grace_hopper.jpg").standardizedFileURL
        let outcome = try seer(["faces", photo.path])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let json = try XCTUnwrap(outcome.json)
        XCTAssertEqual(json["success"] as? Bool, true)
        let faces = try XCTUnwrap(json["predictions"] as? [[String: Any]])
        XCTAssertEqual(faces.count, 1, "facenet-pytorch finds one face in grace_hopper.jpg")
        XCTAssertEqual((json["image"] as? [String: Any])?["width"] as? Int, 512)
    }

    func testDetectOnNonImageBytesExitsNonZeroWithTheErrorBody() throws {
        let outcome = try seer(["detect", fixture("Package.swift")])
        XCTAssertNotEqual(outcome.status, 0)
        let json = try XCTUnwrap(outcome.json, String(decoding: outcome.stdout, as: UTF8.self))
        XCTAssertEqual(json["success"] as? Bool, false)
        XCTAssertEqual(json["code"] as? String, "invalid_image")
    }

    func testDetectOnAMissingFileSaysWhichFile() throws {
        let outcome = try seer(["detect", "/nonexistent/photo.jpg"])
        XCTAssertNotEqual(outcome.status, 0)
        XCTAssertTrue(outcome.stderr.contains("/nonexistent/photo.jpg"), outcome.stderr)
    }
}
