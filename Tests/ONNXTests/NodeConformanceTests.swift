import Foundation
import ONNX
import TensorRuntime
import XCTest

/// Runs the ONNX project's node tests (Debian package `libonnx-testdata`) through the loader,
/// `ExecutionPlan` and `Executor`, comparing every output with the reference `.pb` files.
///
/// A case is included when every node is a default-domain operator Seer has an `OpKind` for.
/// `SEER_NODE_FILTER=<substring>` runs only the case directories whose name contains it.
final class NodeConformanceTests: XCTestCase {
    static let dataDirectory = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node")
    static let relativeTolerance = 1e-3
    static let absoluteTolerance = 1e-4
    static let requiredPassRate = 0.95

    /// Case directory name -> why it fails. Every failing case must be listed here.
    /// Cases outside what an inference runtime does, each with its reason.
    static let knownFailures: [String: String] = [
        "test_batchnorm_epsilon_training_mode": "BatchNormalization training mode (running statistics update): Seer only runs inference",
        "test_batchnorm_example_training_mode": "BatchNormalization training mode (running statistics update): Seer only runs inference",
        "test_cast_BFLOAT16_to_FLOAT": "bfloat16 is not a runtime element type",
        "test_cast_FLOAT_to_BFLOAT16": "bfloat16 is not a runtime element type",
        "test_castlike_BFLOAT16_to_FLOAT_expanded": "bfloat16 is not a runtime element type",
        "test_castlike_FLOAT_to_BFLOAT16_expanded": "bfloat16 is not a runtime element type",
        "test_cast_FLOAT_to_STRING": "string tensors are not a runtime element type",
        "test_cast_STRING_to_FLOAT": "string tensors are not a runtime element type",
        "test_castlike_FLOAT_to_STRING_expanded": "string tensors are not a runtime element type",
        "test_castlike_STRING_to_FLOAT_expanded": "string tensors are not a runtime element type",
        "test_identity_opt": "optional and sequence graph inputs are not supported (tensors only)",
        "test_identity_sequence": "optional and sequence graph inputs are not supported (tensors only)",
        "test_training_dropout": "random dropout in training mode: an inference runtime does not train, and the expected values come from numpy's generator",
        "test_training_dropout_default": "random dropout in training mode: an inference runtime does not train, and the expected values come from numpy's generator",
        "test_training_dropout_default_mask": "random dropout in training mode: an inference runtime does not train, and the expected values come from numpy's generator",
        "test_training_dropout_mask": "random dropout in training mode: an inference runtime does not train, and the expected values come from numpy's generator",
    ]

    struct CaseResult {
        let name: String
        /// The case's operators, e.g. "Conv" or "ReduceMax+Sub+Exp" for expanded cases.
        let ops: String
        /// nil when every output matched.
        let failure: String?
    }

    func testNodeConformance() throws {
        let directory = NodeConformanceTests.dataDirectory
        guard FileManager.default.fileExists(atPath: directory.path) else {
            XCTFail("ONNX node test data not found at \(directory.path): install it with `apt-get install libonnx-testdata`")
            return
        }
        let filter = ProcessInfo.processInfo.environment["SEER_NODE_FILTER"].flatMap { $0.isEmpty ? nil : $0 }
        let caseNames = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("test_") && (filter.map($0.contains) ?? true) }
            .sorted()
        let results = caseNames.compactMap { runCase(directory.appendingPathComponent($0)) }

        let failed = results.filter { $0.failure != nil }
        let unlisted = failed.filter { NodeConformanceTests.knownFailures[$0.name] == nil }
        let passRate = results.isEmpty ? 0 : Double(results.count - failed.count) / Double(results.count)
        print(summary(results, filter: filter, passRate: passRate))

        guard !results.isEmpty else {
            XCTFail("no runnable node test case\(filter.map { " matches SEER_NODE_FILTER='\($0)'" } ?? "") in \(directory.path)")
            return
        }
        for result in unlisted {
            XCTFail("\(result.name) [\(result.ops)] failed and is not in knownFailures: \(result.failure ?? "")")
        }
        if filter == nil {
            XCTAssertGreaterThanOrEqual(passRate, NodeConformanceTests.requiredPassRate,
                                        "node conformance pass rate \(percent(passRate)) is below \(percent(NodeConformanceTests.requiredPassRate))")
        }
    }

    // MARK: One case

    /// nil if the case uses an operator Seer does not have (it is not counted).
    func runCase(_ caseDirectory: URL) -> CaseResult? {
        let name = caseDirectory.lastPathComponent
        let modelURL = caseDirectory.appendingPathComponent("model.onnx")
        guard FileManager.default.fileExists(atPath: modelURL.path) else { return nil }
        let operators: [OperatorUse]
        do {
            operators = try ONNXModel.operators(contentsOf: modelURL)
        } catch {
            return CaseResult(name: name, ops: "?", failure: "model.onnx does not decode: \(error)")
        }
        guard !operators.isEmpty, operators.allSatisfy(\.isSupportedOperator) else { return nil }
        var opNames: [String] = []
        for use in operators where !opNames.contains(use.opType) { opNames.append(use.opType) }
        let ops = opNames.joined(separator: "+")
        return CaseResult(name: name, ops: ops, failure: failure(ofCaseAt: caseDirectory, model: modelURL))
    }

    func failure(ofCaseAt caseDirectory: URL, model modelURL: URL) -> String? {
        let graph: Graph
        let executor: Executor
        do {
            graph = try ONNXModel.load(contentsOf: modelURL)
            executor = Executor(plan: try ExecutionPlan(graph: graph), options: ExecutionOptions(threads: 1))
        } catch {
            return "load: \(error)"
        }
        let dataSets = numberedEntries(in: caseDirectory, prefix: "test_data_set_", suffix: "")
        guard !dataSets.isEmpty else { return "no test_data_set_* folder" }
        for dataSet in dataSets {
            do {
                if let problem = try failure(ofDataSet: dataSet, graph: graph, executor: executor) {
                    return "\(dataSet.lastPathComponent): \(problem)"
                }
            } catch {
                return "\(dataSet.lastPathComponent): \(error)"
            }
        }
        return nil
    }

    func failure(ofDataSet dataSet: URL, graph: Graph, executor: Executor) throws -> String? {
        let inputFiles = numberedEntries(in: dataSet, prefix: "input_", suffix: ".pb")
        let outputFiles = numberedEntries(in: dataSet, prefix: "output_", suffix: ".pb")
        guard inputFiles.count <= graph.inputs.count else {
            return "\(inputFiles.count) input files for \(graph.inputs.count) graph inputs"
        }
        guard outputFiles.count == graph.outputs.count else {
            return "\(outputFiles.count) output files for \(graph.outputs.count) graph outputs"
        }
        var feeds: [String: Tensor] = [:]
        for (info, file) in zip(graph.inputs, inputFiles) {
            feeds[info.name] = try TensorProtoFile.read(contentsOf: file)
        }
        let outputs = try executor.run(feeds)
        for (info, file) in zip(graph.outputs, outputFiles) {
            let expected = try TensorProtoFile.read(contentsOf: file)
            guard let actual = outputs[info.name] else { return "output '\(info.name)' missing" }
            if let mismatch = NodeConformanceTests.mismatch(actual: actual, expected: expected) {
                return "output '\(info.name)': \(mismatch)"
            }
        }
        return nil
    }

    /// `prefix<N>suffix` entries of a folder in numeric order of N.
    func numberedEntries(in directory: URL, prefix: String, suffix: String) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix),
                  let number = Int(name.dropFirst(prefix.count).dropLast(suffix.count)) else { return nil }
            return (number, directory.appendingPathComponent(name))
        }
        .sorted { $0.0 < $1.0 }
        .map(\.1)
    }

    // MARK: Comparison

    /// Why `actual` differs from `expected`, or nil if it matches: same type and shape, floats
    /// within |a - e| <= atol + rtol * |e| (NaN matches NaN, infinities match exactly), other types bit-exact.
    static func mismatch(actual: Tensor, expected: Tensor) -> String? {
        guard actual.dataType == expected.dataType else { return "type \(actual.dataType), expected \(expected.dataType)" }
        guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
        guard actual.dataType.isFloatingPoint else {
            let equal = memcmp(actual.storage.pointer, expected.storage.pointer, expected.byteCount) == 0
            return equal ? nil : "values differ: \(preview(actual)) vs expected \(preview(expected))"
        }
        let got = doubles(actual)
        let want = doubles(expected)
        for index in want.indices {
            let (a, e) = (got[index], want[index])
            let matches: Bool
            if e.isNaN {
                matches = a.isNaN
            } else if e.isInfinite {
                matches = a == e
            } else {
                matches = abs(a - e) <= absoluteTolerance + relativeTolerance * abs(e)
            }
            if !matches {
                return "element \(index) is \(a), expected \(e) (rtol \(relativeTolerance), atol \(absoluteTolerance))"
            }
        }
        return nil
    }

    static func doubles(_ tensor: Tensor) -> [Double] {
        switch tensor.dataType {
        case .float64: return tensor.array(of: Double.self)
        case .float16: return tensor.array(of: Float16.self).map(Double.init)
        default: return tensor.array(of: Float.self).map(Double.init)
        }
    }

    static func preview(_ tensor: Tensor) -> String {
        let values = tensor.dataType == .bool ? tensor.array(of: Bool.self).map { $0 ? 1 : 0 } : ((try? tensor.integers()) ?? [])
        return "[" + values.prefix(8).map(String.init).joined(separator: ", ") + (values.count > 8 ? ", …]" : "]")
    }

    // MARK: Report

    func summary(_ results: [CaseResult], filter: String?, passRate: Double) -> String {
        let failed = results.filter { $0.failure != nil }
        let known = failed.filter { NodeConformanceTests.knownFailures[$0.name] != nil }
        var lines = ["Node conformance\(filter.map { " (SEER_NODE_FILTER=\($0))" } ?? ""): \(results.count) cases run, "
            + "\(results.count - failed.count) passed, \(failed.count) failed (\(known.count) known failures), pass rate \(percent(passRate))"]
        var perOp: [String: (passed: Int, failed: Int)] = [:]
        for result in results {
            var tally = perOp[result.ops] ?? (0, 0)
            if result.failure == nil { tally.passed += 1 } else { tally.failed += 1 }
            perOp[result.ops] = tally
        }
        for (ops, tally) in perOp.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(ops): \(tally.passed) passed, \(tally.failed) failed")
        }
        for result in failed {
            let reason = result.failure ?? ""
            let tag = NodeConformanceTests.knownFailures[result.name] == nil ? "FAIL" : "known"
            lines.append("  \(tag) \(result.name) [\(result.ops)]: \(reason.prefix(300))")
        }
        let passedNames = Set(results.filter { $0.failure == nil }.map(\.name))
        for name in NodeConformanceTests.knownFailures.keys.sorted() where passedNames.contains(name) {
            lines.append("  note: \(name) is listed in knownFailures but passes now; remove it from the list")
        }
        return lines.joined(separator: "\n")
    }

    func percent(_ rate: Double) -> String { String(format: "%.1f%%", rate * 100) }
}
