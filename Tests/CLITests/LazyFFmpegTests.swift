import Foundation
import XCTest

/// FFmpeg's shared libraries are loaded on the first video decode, not at process start: the
/// dynamic linker's own log (LD_DEBUG=libs) lists every library a `seer` process initialises.
final class LazyFFmpegTests: XCTestCase {
    static let ffmpegLibraries = ["libavformat.so", "libavcodec.so", "libswscale.so", "libavutil.so"]

    /// The paths of the shared libraries the process initialised ("calling init: PATH" lines).
    func librariesInitialised(by arguments: [String]) throws -> (status: Int32, libraries: [String], log: String) {
        let binary = ProcessInfo.processInfo.environment["SEER_BINARY"]
            ?? CommandLineTests.packageRoot.appendingPathComponent(".build/release/seer").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CommandLineTests.Missing(description: "no seer binary at \(binary): build it first (swift build -c release --product seer)")
        }
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("seer-ld-debug-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = CommandLineTests.packageRoot
        process.environment = ProcessInfo.processInfo.environment.merging(["LD_DEBUG": "libs"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: logFile)
        try process.run()
        process.waitUntilExit()
        let log = String(decoding: try Data(contentsOf: logFile), as: UTF8.self)
        let libraries = log.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "calling init: ") else { return nil }
            return String(line[range.upperBound...])
        }
        return (process.terminationStatus, libraries, log)
    }

    func ffmpegLibraries(in libraries: [String]) -> [String] {
        libraries.filter { path in LazyFFmpegTests.ffmpegLibraries.contains { path.contains($0) } }
    }

    func testRunningAModelNeverLoadsFFmpeg() throws {
        let input = CommandLineTests.packageRoot
            .appendingPathComponent("Tests/Fixtures/reference/mtcnn/runtime/pnet_grace_hopper_149x127_input.npy").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("seer-lazy-ffmpeg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try librariesInitialised(by: ["run", "models/mtcnn/pnet.onnx", "--input", "input=\(input)",
                                                "--output-dir", output.path, "--threads", "1"])
        XCTAssertEqual(run.status, 0, String(run.log.suffix(2000)))
        // The log is the dynamic linker's: it lists OpenBLAS, which `seer` does link.
        XCTAssertTrue(run.libraries.contains { $0.contains("libopenblas") }, "LD_DEBUG=libs listed no libopenblas: \(run.libraries)")
        XCTAssertEqual(ffmpegLibraries(in: run.libraries), [])
    }

    func testDecodingAClipLoadsFFmpeg() throws {
        let score = try librariesInitialised(by: ["anomaly", "Tests/Fixtures/video/normal_c.webm", "--threads", "1"])
        XCTAssertEqual(score.status, 0, String(score.log.suffix(2000)))
        let loaded = ffmpegLibraries(in: score.libraries)
        for library in LazyFFmpegTests.ffmpegLibraries {
            XCTAssertTrue(loaded.contains { $0.contains(library) }, "\(library) not among \(loaded)")
        }
    }
}
