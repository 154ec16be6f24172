import Foundation

/// A complete request as framed on the wire: head, de-chunked body, trailers.
public struct ParsedRequest: Equatable, Sendable {
    public var head: RequestHead
    public var body: Data
    /// Trailer fields of a chunked body (empty otherwise).
    public var trailers: HTTPHeaders
    /// Bytes this request occupied on the wire (request line through body).
    public var byteCount: Int
}

/// What is known of a request that is not complete (for errors and logs).
public struct PartialRequest: Equatable, Sendable {
    public var method: String?
    public var target: String?
    /// Header fields parsed so far (e.g. to echo `X-Request-Id`).
    public var headers: HTTPHeaders
    /// Bytes of this request received so far.
    public var byteCount: Int
}

/// A request the parser rejected, with what was known of it.
public struct HTTPParseFailure: Error, Equatable, Sendable {
    public var error: HTTPError
    public var partial: PartialRequest
}

public enum HTTPParserEvent: Equatable, Sendable {
    /// The header block is complete and acceptable; the body (if any) follows.
    /// Emitted once for every request, before its `.request`.
    case head(RequestHead)
    /// The request, body included, is complete.
    case request(ParsedRequest)
    /// The request is malformed or over a limit. The parser stops here; the
    /// connection must answer `failure.error` and close.
    case failure(HTTPParseFailure)
}

/// HTTP/1.x request parser: a state machine fed arbitrary byte chunks.
///
/// `feed` returns the events completed by the new bytes, in order; pipelined
/// requests come out one after another. The size limits are those of
/// `HTTPLimits`; time limits are the caller's business.
public struct HTTPRequestParser {
    public let limits: HTTPLimits

    private enum State: Equatable {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed
    }

    private enum Line {
        case line(Range<Int>)
        case needMore
        case tooLong
    }

    private var state = State.requestLine
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanFrom = 0

    // The request in progress.
    private var method: String?
    private var target: String?
    private var version: HTTPVersion = .http11
    private var headers = HTTPHeaders()
    private var headerBytes = 0
    private var head: RequestHead?
    private var body = Data()
    private var trailers = HTTPHeaders()
    private var requestBytes = 0

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// True once the parser has failed; it then ignores further input.
    public var isFailed: Bool { state == .failed }

    /// True if bytes of a request that is not yet complete have been received.
    public var hasPartialRequest: Bool {
        state != .requestLine && state != .failed || buffer.count > start
    }

    /// The request in progress (not yet complete).
    public var partialRequest: PartialRequest {
        PartialRequest(method: method, target: target, headers: headers, byteCount: requestBytes + buffer.count - start)
    }

    /// True while the body of an accepted head is being received.
    public var isReadingBody: Bool {
        switch state {
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers: return true
        default: return false
        }
    }

    public mutating func feed<C: Collection>(_ bytes: C) -> [HTTPParserEvent] where C.Element == UInt8 {
        guard state != .failed else { return [] }
        buffer.append(contentsOf: bytes)
        var events: [HTTPParserEvent] = []
        do {
            while try step(into: &events) {}
        } catch let error as HTTPError {
            events.append(.failure(HTTPParseFailure(error: error, partial: partialRequest)))
            state = .failed
            buffer = []
            start = 0
            scanFrom = 0
            return events
        } catch {
            preconditionFailure("parser throws only HTTPError")
        }
        compact()
        return events
    }

    /// Advances by one unit of work; false when more bytes are needed.
    private mutating func step(into events: inout [HTTPParserEvent]) throws -> Bool {
        switch state {
        case .failed:
            return false
        case .requestLine:
            switch nextLine(limit: limits.maxRequestLineBytes) {
            case .needMore: return false
            case .tooLong: throw HTTPError.uriTooLong(limit: limits.maxRequestLineBytes)
            case .line(let range):
                if range.isEmpty { return true }  // RFC 9112 §2.2: ignore empty lines before a request
                try parseRequestLine(buffer[range])
                state = .headers
                return true
            }
        case .headers, .trailers:
            let isTrailer = state == .trailers
            switch nextLine(limit: max(0, limits.maxHeaderBytes - headerBytes - 1)) {
            case .needMore: return false
            case .tooLong:
                throw HTTPError.headersTooLarge("\(isTrailer ? "trailer" : "header") block is larger than the limit of \(limits.maxHeaderBytes) bytes")
            case .line(let range):
                if range.isEmpty {
                    if isTrailer { finishRequest(into: &events) } else { try finishHead(into: &events) }
                    return true
                }
                let field = try parseHeaderLine(buffer[range])
                if isTrailer {
                    trailers.add(name: field.name, value: field.value)
                } else {
                    headers.add(name: field.name, value: field.value)
                }
                guard (isTrailer ? trailers.count : headers.count) <= limits.maxHeaderCount else {
                    throw HTTPError.headersTooLarge("request has more than \(limits.maxHeaderCount) \(isTrailer ? "trailer" : "header") fields")
                }
                return true
            }
        case .body(let remaining):
            let available = min(remaining, buffer.count - start)
            guard available > 0 else { return false }
            appendToBody(count: available)
            if remaining == available {
                finishRequest(into: &events)
            } else {
                state = .body(remaining: remaining - available)
            }
            return true
        case .chunkSize:
            switch nextLine(limit: limits.maxChunkLineBytes) {
            case .needMore: return false
            case .tooLong: throw HTTPError.badRequest("chunk-size line is longer than \(limits.maxChunkLineBytes) bytes")
            case .line(let range):
                let size = try parseChunkSize(buffer[range])
                guard size <= limits.maxBodyBytes - body.count else {
                    throw HTTPError.payloadTooLarge(limit: limits.maxBodyBytes)
                }
                if size == 0 {
                    headerBytes = 0
                    state = .trailers
                } else {
                    if body.isEmpty { body.reserveCapacity(min(size, 1 << 20)) }
                    state = .chunkData(remaining: size)
                }
                return true
            }
        case .chunkData(let remaining):
            let available = min(remaining, buffer.count - start)
            guard available > 0 else { return false }
            appendToBody(count: available)
            state = remaining == available ? .chunkDataEnd : .chunkData(remaining: remaining - available)
            return true
        case .chunkDataEnd:
            let pending = buffer.count - start
            guard pending > 0 else { return false }
            let lineFeed = UInt8(ascii: "\n")
            if buffer[start] == UInt8(ascii: "\r") {
                guard pending > 1 else { return false }
                guard buffer[start + 1] == lineFeed else { throw Self.chunkOverrun }
                consume(2)
            } else {
                guard buffer[start] == lineFeed else { throw Self.chunkOverrun }
                consume(1)
            }
            state = .chunkSize
            return true
        }
    }

    private static let chunkOverrun = HTTPError.badRequest("chunk data is longer than its declared size (no CRLF after the chunk)")

    /// Finds the next line (LF or CRLF terminated) and consumes it. `limit` is
    /// the longest allowed content, terminator excluded.
    private mutating func nextLine(limit: Int) -> Line {
        var index = max(scanFrom, start)
        let end = buffer.count
        while index < end && buffer[index] != UInt8(ascii: "\n") { index += 1 }
        guard index < end else {
            scanFrom = end
            return end - start > limit + 1 ? .tooLong : .needMore
        }
        var contentEnd = index
        if contentEnd > start && buffer[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
        let lineStart = start
        guard contentEnd - lineStart <= limit else { return .tooLong }
        consume(index + 1 - start)
        if state == .headers || state == .trailers { headerBytes += index + 1 - lineStart }
        return .line(lineStart..<contentEnd)
    }

    /// Moves `count` buffered bytes into the body (one memcpy).
    private mutating func appendToBody(count: Int) {
        buffer.withUnsafeBufferPointer { bytes in
            body.append(UnsafeBufferPointer(rebasing: bytes[start..<start + count]))
        }
        consume(count)
    }

    private mutating func consume(_ count: Int) {
        start += count
        requestBytes += count
        scanFrom = start
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            start = 0
            scanFrom = 0
        } else if start > 1 << 16 || start > buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
    }

    // MARK: Request line and headers

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPError.badRequest("malformed request line: expected 'METHOD TARGET HTTP/1.1'")
        }
        guard parts[0].allSatisfy(HTTPSyntax.isTokenByte) else {
            throw HTTPError.badRequest("request method contains an invalid character")
        }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPError.badRequest("request target contains a space, control or non-ASCII byte (it must be percent-encoded)")
        }
        method = String(decoding: parts[0], as: UTF8.self)
        target = String(decoding: parts[1], as: UTF8.self)
        let versionText = String(decoding: parts[2], as: UTF8.self)
        if let known = HTTPVersion(rawValue: versionText) {
            version = known
        } else if Self.looksLikeHTTPVersion(parts[2]) {
            throw HTTPError.versionNotSupported(versionText)
        } else {
            throw HTTPError.badRequest("malformed HTTP version in request line")
        }
        headerBytes = 0
    }

    private func parseHeaderLine(_ line: ArraySlice<UInt8>) throws -> HTTPHeaders.Field {
        guard let first = line.first, first != UInt8(ascii: " "), first != UInt8(ascii: "\t") else {
            throw HTTPError.badRequest("obsolete header line folding is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPError.badRequest("header line without ':'")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(HTTPSyntax.isTokenByte) else {
            throw HTTPError.badRequest("invalid header field name '\(String(decoding: name.prefix(64), as: UTF8.self))'")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
        while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPError.badRequest("header '\(String(decoding: name, as: UTF8.self))' contains a control character")
        }
        return HTTPHeaders.Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    /// Validates the header block, decides the body framing and emits `.head`.
    private mutating func finishHead(into events: inout [HTTPParserEvent]) throws {
        guard let method, let target else { preconditionFailure("head finished without a request line") }
        let hosts = headers.values(for: "Host")
        if version == .http11 && hosts.count != 1 {
            throw HTTPError.badRequest(hosts.isEmpty ? "HTTP/1.1 request without a Host header" : "request has more than one Host header")
        }
        let expectsContinue = try expectation()
        let framing = try bodyFraming(method: method, expectsContinue: expectsContinue)
        let keepAlive = version == .http11
            ? !headers.listContains("Connection", token: "close")
            : headers.listContains("Connection", token: "keep-alive")
        let head = try RequestHead(method: method, target: target, version: version, headers: headers,
                                   keepAlive: keepAlive, expectsContinue: expectsContinue, bodyFraming: framing)
        self.head = head
        events.append(.head(head))
        switch framing {
        case .none, .length(0):
            finishRequest(into: &events)
        case .length(let length):
            body.reserveCapacity(min(length, 1 << 20))
            state = .body(remaining: length)
        case .chunked:
            state = .chunkSize
        }
    }

    private func expectation() throws -> Bool {
        let values = headers.values(for: "Expect")
        guard !values.isEmpty else { return false }
        guard values.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" }) else {
            throw HTTPError.expectationFailed("only 'Expect: 100-continue' is supported")
        }
        return version == .http11
    }

    private func bodyFraming(method: String, expectsContinue: Bool) throws -> BodyFraming {
        let transferEncodings = headers.values(for: "Transfer-Encoding")
        let contentLengths = headers.values(for: "Content-Length")
        if !transferEncodings.isEmpty {
            guard version == .http11 else {
                throw HTTPError.badRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            }
            guard contentLengths.isEmpty else {
                throw HTTPError.badRequest("request has both Transfer-Encoding and Content-Length")
            }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard codings.last == "chunked" else {
                throw HTTPError.badRequest("Transfer-Encoding must end with 'chunked'")
            }
            guard codings.count == 1 else {
                throw HTTPError.notImplemented("transfer codings other than 'chunked' are not supported: \(codings.joined(separator: ", "))")
            }
            return .chunked
        }
        if !contentLengths.isEmpty {
            return .length(try contentLength(contentLengths))
        }
        let sendsBody = expectsContinue || headers.contains("Content-Type")
        if sendsBody && ["POST", "PUT", "PATCH"].contains(method) {
            throw HTTPError.lengthRequired("\(method) request with a body needs Content-Length or Transfer-Encoding: chunked")
        }
        return .none
    }

    /// One Content-Length from one or more fields/list elements that must all agree.
    private func contentLength(_ values: [String]) throws -> Int {
        let elements = values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var result: Int?
        for element in elements {
            guard !element.isEmpty, element.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw HTTPError.badRequest("Content-Length '\(HTTPError.clip(element))' is not a non-negative decimal number")
            }
            let length = Int(element) ?? Int.max  // all digits: nil only on overflow
            if let result, result != length {
                throw HTTPError.badRequest("conflicting Content-Length values: \(HTTPError.clip(values.joined(separator: ", ")))")
            }
            result = length
        }
        let length = result ?? 0
        guard length <= limits.maxBodyBytes else { throw HTTPError.payloadTooLarge(limit: limits.maxBodyBytes) }
        return length
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws -> Int {
        var size = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let value = PercentDecoding.hexValue(line[index]) {
            guard digits < 15 || size == 0 else { throw HTTPError.payloadTooLarge(limit: limits.maxBodyBytes) }
            size = size << 4 | Int(value)
            if size != 0 { digits += 1 }
            index += 1
        }
        guard index > line.startIndex else { throw HTTPError.badRequest("chunk size is not a hexadecimal number") }
        while index < line.endIndex, line[index] == 0x20 || line[index] == 0x09 { index += 1 }
        guard index == line.endIndex || line[index] == UInt8(ascii: ";") else {
            throw HTTPError.badRequest("chunk size is not a hexadecimal number")
        }
        guard line[index...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPError.badRequest("chunk extension contains a control character")
        }
        return size
    }

    private mutating func finishRequest(into events: inout [HTTPParserEvent]) {
        guard let head else { preconditionFailure("request finished without a head") }
        events.append(.request(ParsedRequest(head: head, body: body, trailers: trailers, byteCount: requestBytes)))
        state = .requestLine
        method = nil
        target = nil
        version = .http11
        headers = HTTPHeaders()
        headerBytes = 0
        self.head = nil
        body = Data()
        trailers = HTTPHeaders()
        requestBytes = 0
    }

    private static func looksLikeHTTPVersion(_ bytes: ArraySlice<UInt8>) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("HTTP/") else { return false }
        let number = text.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false)
        return number.count == 2 && number.allSatisfy { $0.count == 1 && $0.first?.isNumber == true }
    }
}

extension HTTPError {
    static func clip(_ text: String) -> String { RequestHead.clip(text) }
}

/// Character classes of RFC 9110.
enum HTTPSyntax {
    /// `tchar`: the characters of methods and header field names.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
