import Foundation

/// A complete request handed to a handler.
public struct Request: Sendable {
    /// The request id: the client's `X-Request-Id` when sane, else generated.
    /// The server sends it back in `X-Request-Id` and in JSON error bodies.
    public let id: String
    public let head: RequestHead
    /// The body with any chunked framing removed.
    public let body: Data
    /// Trailer fields of a chunked body.
    public let trailers: HTTPHeaders
    /// `address:port` of the peer.
    public let clientAddress: String
    /// The decoded body of a multipart/form-data or url-encoded request, else nil.
    public let form: FormData?
    /// Values of `{name}` segments of the matched route (set by `Router`).
    public var pathParameters: [String: String] = [:]

    /// Builds a request from a parsed head and body; decodes a form body. Throws 400 for a malformed form.
    public init(id: String, head: RequestHead, body: Data = Data(), trailers: HTTPHeaders = HTTPHeaders(),
                clientAddress: String = "", limits: HTTPLimits = HTTPLimits()) throws {
        self.id = id
        self.head = head
        self.body = body
        self.trailers = trailers
        self.clientAddress = clientAddress
        self.form = try FormData.parse(body: body, contentType: head.headers["Content-Type"], limits: limits)
    }

    /// Convenience for in-process tests: a request as if it came over a socket.
    public init(method: String, target: String, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data(),
                id: String? = nil, clientAddress: String = "127.0.0.1:0") throws {
        let head = try RequestHead(method: method, target: target, headers: headers,
                                   bodyFraming: body.isEmpty ? .none : .length(body.count))
        try self.init(id: id ?? RequestID.resolve(headers), head: head, body: body, clientAddress: clientAddress)
    }

    public var method: String { head.method }
    public var path: String { head.path }
    public var query: [QueryItem] { head.query }
    public var headers: HTTPHeaders { head.headers }
    public var version: HTTPVersion { head.version }

    /// A named parameter: a route `{name}` segment, else the query string, else a form field.
    public func parameter(_ name: String) -> String? {
        pathParameters[name] ?? head.queryParameter(name) ?? form?.field(name)
    }

    /// An uploaded payload: the first multipart part named by one of `fields`
    /// (in the order given), or for any other request the raw body (nil if empty).
    public func upload(fields: [String] = ["image", "file"]) -> Upload? {
        if let form, form.kind == .multipart {
            for field in fields {
                if let part = form.part(field) {
                    return Upload(data: part.data, contentType: part.contentType, filename: part.filename, field: field)
                }
            }
            return nil
        }
        guard !body.isEmpty else { return nil }
        return Upload(data: body, contentType: headers["Content-Type"], filename: nil, field: nil)
    }
}

/// Bytes uploaded with a request, from a multipart part or the raw body.
public struct Upload: Equatable, Sendable {
    public var data: Data
    public var contentType: String?
    public var filename: String?
    /// The multipart field it came from; nil for the raw body.
    public var field: String?
}

/// Request id policy: echo a sane client id, else make one.
public enum RequestID {
    public static let maxLength = 128

    /// The client's `X-Request-Id` if it is 1...128 printable ASCII characters, else a new id.
    public static func resolve(_ headers: HTTPHeaders) -> String {
        if let sent = headers["X-Request-Id"], isSane(sent) { return sent }
        return generate()
    }

    public static func isSane(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maxLength && id.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// A new random id (32 lowercase hex digits).
    public static func generate() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}
