import ArgumentParser
import Foundation
import ONNX
import TensorRuntime

/// `seer run MODEL.onnx --input NAME=FILE ... [--output-dir DIR] [--threads N]`
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an ONNX model once and write every graph output as DIR/<output name>.npy.")

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input"), help: ArgumentHelp("An input tensor as NAME=FILE, FILE a .npy or ONNX TensorProto .pb file; repeat for each input.", valueName: "name=file"))
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: "Folder for the output .npy files (created if missing).")
    var outputDirectory: String = "."

    @Option(help: "Threads for the model's kernels.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            var feeds: [String: Tensor] = [:]
            for assignment in inputs {
                let (name, path) = try parseAssignment(assignment, option: "input")
                guard feeds[name] == nil else { throw CommandError("input '\(name)' is given twice") }
                feeds[name] = try readTensor(path)
            }
            let executor = try loadExecutor(modelPath: model, threads: threads)
            let outputs = try executor.run(feeds)

            let directory = URL(fileURLWithPath: outputDirectory, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let names = executor.outputNames
            for (name, fileName) in zip(names, outputFileNames(names)) {
                guard let tensor = outputs[name] else { throw CommandError("the model produced no value for output '\(name)'") }
                let url = directory.appendingPathComponent(fileName)
                try NPY.write(tensor, to: url)
                print("\(name): \(tensor.dataType) \(tensor.shape) -> \(url.path)")
            }
        }
    }

    private func readTensor(_ path: String) throws -> Tensor {
        let url = URL(fileURLWithPath: path)
        switch url.pathExtension.lowercased() {
        case "npy": return try NPY.read(contentsOf: url)
        case "pb": return try TensorProtoFile.read(contentsOf: url)
        default: throw CommandError("input file '\(path)' must be a .npy or an ONNX TensorProto .pb file")
        }
    }
}

/// One safe, distinct file name per output: characters other than letters, digits, `-`, `_`
/// and `.` become `_`, a leading dot too (no hidden files, no `..`), and repeats get a suffix.
func outputFileNames(_ outputNames: [String]) -> [String] {
    var used: Set<String> = []
    return outputNames.enumerated().map { index, name in
        var safe = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "_" })
        if safe.hasPrefix(".") { safe = "_" + safe.dropFirst() }
        safe = String(safe.prefix(200)) // file names are limited to 255 bytes
        if safe.isEmpty { safe = "output_\(index)" }
        var candidate = safe
        var suffix = 2
        while used.contains(candidate.lowercased()) {
            candidate = "\(safe)_\(suffix)"
            suffix += 1
        }
        used.insert(candidate.lowercased())
        return candidate + ".npy"
    }
}
