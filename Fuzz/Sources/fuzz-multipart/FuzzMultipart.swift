import Foundation
import HTTPServer

// multipart/form-data (and url-encoded) bodies through FormData.parse, as the server parses
// uploads. The first line of the input is the Content-Type, the rest the body, so that the
// boundary parameter is fuzzed too.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? size
    let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
    let body = Data(bytes[min(size, newline + 1)...])
    var limits = HTTPLimits()
    limits.maxMultipartParts = 64
    limits.maxHeaderBytes = 1024
    limits.maxHeaderCount = 16
    do {
        guard let form = try FormData.parse(body: body, contentType: contentType, limits: limits) else { return 0 }
        precondition(form.parts.count <= limits.maxMultipartParts, "more parts than maxMultipartParts")
        for part in form.parts {
            precondition(part.data.count <= body.count, "a part is larger than the body")
        }
    } catch let error as HTTPError {
        precondition((400..<500).contains(error.status), "multipart error with status \(error.status)")
    } catch {
        preconditionFailure("FormData.parse threw a non-HTTP error: \(error)")
    }
    return 0
}
