import HTTPServer

// The HTTP/1.1 request parser, fed as a socket would: the input is split into chunks at
// positions chosen by its first byte, so that every state can be interrupted mid-way.
// Every event must be well formed and the parser must stop at its first failure.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let chunkSeed = Int(data[0])
    let bytes = UnsafeBufferPointer(start: data + 1, count: size - 1)
    var limits = HTTPLimits()
    // Small limits so that every limit check is reachable within -max_len.
    limits.maxRequestLineBytes = 256
    limits.maxHeaderBytes = 512
    limits.maxHeaderCount = 16
    limits.maxBodyBytes = 1024
    limits.maxChunkLineBytes = 64
    var parser = HTTPRequestParser(limits: limits)
    var offset = 0
    var chunk = 1 + chunkSeed % 17
    var failed = false
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        for event in parser.feed(UnsafeBufferPointer(rebasing: bytes[offset..<end])) {
            precondition(!failed, "the parser produced an event after a failure")
            switch event {
            case .head(let head):
                precondition(!head.method.isEmpty && !head.target.isEmpty, "head with an empty method or target")
            case .request(let request):
                precondition(request.body.count <= limits.maxBodyBytes, "body larger than maxBodyBytes")
                precondition(request.byteCount <= bytes.count, "request claims more bytes than were fed")
            case .failure(let failure):
                precondition((400..<600).contains(failure.error.status), "failure with status \(failure.error.status)")
                failed = true
            }
        }
        precondition(parser.isFailed == failed, "isFailed disagrees with the events")
        offset = end
        chunk = 1 + (chunk * 7 + chunkSeed) % 97
    }
    _ = parser.partialRequest
    return 0
}
