import App
import Foundation
import HTTPServer
import TensorRuntime

// The body of POST /v2/models/{name}/infer (Open Inference Protocol v2) through the decoder
// the route uses: JSON, nested data arrays, shapes and datatypes into input tensors.
// Refusals must be 4xx HTTP errors.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOIPJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    do {
        let feeds = try Application.v2Feeds(fromBody: Data(bytes: data, count: size))
        for tensor in feeds.values {
            precondition(tensor.dataType == .float32 || tensor.dataType == .int64, "fed a \(tensor.dataType) tensor")
            precondition(tensor.count <= size, "\(tensor.count) elements from \(size) bytes")
        }
    } catch let error as HTTPError {
        precondition((400..<500).contains(error.status), "status \(error.status) for a bad body")
    } catch {
        preconditionFailure("v2Feeds threw a non-HTTP error: \(error)")
    }
    return 0
}
