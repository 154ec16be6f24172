import Foundation
import XCTest

/// Runs deploy/validate.py: the Kubernetes manifests against a pinned Kubernetes schema (strict),
/// the KServe, compose and Dockerfile structure, and the validator's own rejections of bad objects.
/// The first run makes .venv-deploy and pip-installs kubernetes-validate; later runs take seconds.
final class DeployManifestTests: XCTestCase {
    func testDeployManifestsValidateOffline() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("deploy/validate.py")
        XCTAssertTrue(FileManager.default.fileExists(atPath: script.path), "missing \(script.path)")
        guard let python = Self.executable(named: "python3") else {
            return XCTFail("python3 is not on PATH: the deploy manifests cannot be validated without it")
        }

        let process = Process()
        process.executableURL = python
        process.arguments = [script.path]
        process.currentDirectoryURL = root
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        XCTAssertEqual(process.terminationStatus, 0, "deploy/validate.py failed:\n\(text)")
        let summary = text.split(separator: "\n").last.map(String.init) ?? ""
        let counts = summary.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(counts.count, 2, "no 'N passed, N failed' summary in:\n\(text)")
        if counts.count == 2 {
            XCTAssertGreaterThanOrEqual(counts[0], 80, "fewer checks ran than expected:\n\(text)")
            XCTAssertEqual(counts[1], 0, text)
        }
    }

    private static func executable(named name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":")
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
