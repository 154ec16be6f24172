import Foundation

public enum HTTPVersion: String, Equatable, Sendable {
    case http10 = "HTTP/1.0"
    case http11 = "HTTP/1.1"
}

/// How the body of a request is delimited.
public enum BodyFraming: Equatable, Sendable {
    case none
    case length(Int)
    case chunked
}

/// One decoded `name=value` pair of a query string or url-encoded form.
public struct QueryItem: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The request line and header block of a request, validated.
public struct RequestHead: Equatable, Sendable {
    public var method: String
    /// The request-target exactly as sent.
    public var target: String
    /// The path as sent (before `?`), still percent-encoded.
    public var rawPath: String
    /// The percent-decoded path (`+` stays `+`).
    public var path: String
    /// Decoded query parameters in order (`+` decoded as space); repeated names kept.
    public var query: [QueryItem]
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// Whether the connection stays open after this request (version default and `Connection`).
    public var keepAlive: Bool
    /// Whether the client sent `Expect: 100-continue` (HTTP/1.1 only).
    public var expectsContinue: Bool
    public var bodyFraming: BodyFraming

    /// Builds a head from a request line's parts, decoding the target. Throws 400 for a bad target.
    public init(method: String, target: String, version: HTTPVersion = .http11,
                headers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true,
                expectsContinue: Bool = false, bodyFraming: BodyFraming = .none) throws {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.bodyFraming = bodyFraming
        let parts = try Self.splitTarget(target, method: method)
        rawPath = String(parts.path)
        guard let decodedPath = PercentDecoding.decode(parts.path.utf8, plusIsSpace: false) else {
            throw HTTPError.badRequest("request path has a malformed percent-escape or is not UTF-8: \(Self.clip(target))")
        }
        path = decodedPath
        guard let pairs = PercentDecoding.formPairs(parts.query) else {
            throw HTTPError.badRequest("query string has a malformed percent-escape or is not UTF-8: \(Self.clip(target))")
        }
        query = pairs.map { QueryItem(name: $0.0, value: $0.1) }
    }

    /// The first query parameter named `name`.
    public func queryParameter(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// Splits origin-form (`/p?q`), absolute-form (`http://h/p?q`) or asterisk-form targets.
    private static func splitTarget(_ target: String, method: String) throws -> (path: Substring, query: Substring) {
        var rest = Substring(target)
        if method == "OPTIONS" && rest == "*" { return ("*", "") }
        if !rest.hasPrefix("/") {
            let lower = rest.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw HTTPError.badRequest("request target must start with '/' or be an absolute http URL: \(clip(target))")
            }
            rest = rest.dropFirst(lower.hasPrefix("https://") ? 8 : 7)
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        if let mark = rest.firstIndex(of: "?") {
            return (rest[..<mark], rest[rest.index(after: mark)...])
        }
        return (rest, "")
    }

    static func clip(_ text: String) -> String {
        text.count <= 200 ? text : String(text.prefix(200)) + "…"
    }
}
