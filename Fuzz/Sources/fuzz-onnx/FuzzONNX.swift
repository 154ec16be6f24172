import Foundation
import ONNX
import TensorRuntime

// A model upload as POST /models handles it: the bytes are written to a staging folder as
// model.onnx, loaded with that folder as the base for external data, then compiled into an
// ExecutionPlan (kernels validated, constants folded). Refusals must be ONNX, protobuf or
// runtime errors; anything else (a trap, a crash, another error) is a finding.

// In /dev/shm when there is one: a file write per run on a disk costs more than the load itself.
private let staging: URL = {
    let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
    let base = FileManager.default.fileExists(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
    let folder = base.appendingPathComponent("seer-fuzz-onnx-\(ProcessInfo.processInfo.processIdentifier)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let file = Data(bytes: data, count: size)
    let modelURL = staging.appendingPathComponent("model.onnx")
    do {
        try file.write(to: modelURL)
    } catch {
        preconditionFailure("cannot write \(modelURL.path): \(error)")
    }
    do {
        let plan = try ExecutionPlan(graph: ONNXModel.load(data: file, baseDirectory: staging))
        precondition(!plan.graph.outputs.isEmpty, "a plan without outputs")
    } catch is ONNXError {
    } catch is ProtobufError {
    } catch is RuntimeError {
    } catch {
        preconditionFailure("model loading threw an unexpected error: \(error)")
    }
    return 0
}
