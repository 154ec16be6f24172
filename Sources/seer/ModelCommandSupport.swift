import ArgumentParser
import Foundation
import ONNX
import TensorRuntime

/// Loads an ONNX file and compiles it; every refusal names the node, operator and opset.
func loadExecutor(modelPath: String, threads: Int) throws -> Executor {
    // The graph is passed as a temporary so the plan can free each weight it packs.
    let plan = try ExecutionPlan(graph: ONNXModel.load(contentsOf: URL(fileURLWithPath: modelPath)))
    return Executor(plan: plan, options: ExecutionOptions(threads: threads))
}

/// Splits `NAME=VALUE` at its last `=` (input names may contain `=`, file names and shapes do not).
func parseAssignment(_ text: String, option: String) throws -> (name: String, value: String) {
    guard let separator = text.lastIndex(of: "="), separator != text.startIndex else {
        throw CommandError("--\(option) expects NAME=VALUE, got '\(text)'")
    }
    return (String(text[..<separator]), String(text[text.index(after: separator)...]))
}

/// Runs a command body, printing any failure as one `error:` line on stderr and exiting with status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// A failure the commands report in their own words.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
