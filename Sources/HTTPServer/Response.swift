import Foundation

/// A response: status, headers and the whole body in memory.
///
/// The server adds `Content-Length` (replacing any given one), `X-Request-Id`
/// and `Connection`; handlers set everything else.
public struct Response: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data
    /// The machine code of an error response (set by `HTTPError.response`);
    /// reported to the request observer.
    public var errorCode: String?
    /// Facts for the request log that are not sent (model, timings); passed to the observer.
    public var annotations: [String: String] = [:]

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response encoding `value`.
    public static func json<T: Encodable>(_ value: T, status: Int = 200,
                                          encoder: JSONEncoder = JSONEncoder()) throws -> Response {
        Response(status: status, headers: ["Content-Type": "application/json"], body: try encoder.encode(value))
    }

    /// A plain-text (UTF-8) response.
    public static func text(_ text: String, status: Int = 200,
                            contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: ["Content-Type": contentType], body: Data(text.utf8))
    }

    /// Statuses whose responses never carry a body or Content-Length (RFC 9110 §8.6).
    var forbidsBody: Bool { (100..<200).contains(status) || status == 204 || status == 304 }

    /// The reason phrase sent on the status line.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

extension Response {
    /// Header fields only the server writes; a handler's values for them are ignored.
    static let serverOwnedHeaders: Set<String> = ["content-length", "connection", "x-request-id", "transfer-encoding", "keep-alive"]

    /// The status line and header block as sent. Handler header names that are
    /// not tokens are dropped and control characters in values become spaces,
    /// so a handler cannot split the response.
    func wireHead(requestID: String, keepAlive: Bool, clientVersion: HTTPVersion) -> Data {
        var text = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        for field in headers where !Self.serverOwnedHeaders.contains(field.name.lowercased()) {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(HTTPSyntax.isTokenByte) else { continue }
            let value = String(String.UnicodeScalarView(field.value.unicodeScalars.map {
                $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F ? " " : $0
            }))
            text += "\(field.name): \(value)\r\n"
        }
        if !forbidsBody { text += "Content-Length: \(body.count)\r\n" }
        text += "X-Request-Id: \(requestID)\r\n"
        if !keepAlive {
            text += "Connection: close\r\n"
        } else if clientVersion == .http10 {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        return Data(text.utf8)
    }
}
