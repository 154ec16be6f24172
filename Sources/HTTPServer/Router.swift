import Foundation

/// Delivers a handler's outcome; call it exactly once, from any thread.
/// A thrown `HTTPError` becomes its JSON error body; any other error a 500 `internal`.
public typealias ResponseCompletion = (Result<Response, Error>) -> Void

/// Answers one request, now or later: call `completion` when done (e.g. from
/// an inference worker queue). The calling connection thread waits for it.
public typealias Handler = (Request, @escaping ResponseCompletion) -> Void

/// Routes by method and path pattern. Patterns are literal segments and
/// `{name}` segments (one non-empty path segment each, percent-decoded, in
/// `request.pathParameters`). A path no route matches is 404 `not_found`; a
/// path matched only for other methods is 405 `method_not_allowed` with `Allow`.
/// `HEAD` falls back to the `GET` route. The most literal matching pattern wins.
public final class Router: @unchecked Sendable {
    private struct Route {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: Handler
        var literalCount: Int { segments.filter { if case .literal = $0 { return true } else { return false } }.count }
    }

    private enum Segment {
        case literal(String)
        case parameter(String)
    }

    private var routes: [Route] = []
    private let lock = NSLock()

    public init() {}

    /// Adds a route whose handler completes asynchronously.
    public func on(_ method: String, _ pattern: String, handler: @escaping Handler) {
        let segments = Self.split(pattern).map { text -> Segment in
            text.hasPrefix("{") && text.hasSuffix("}") && text.count > 2
                ? .parameter(String(text.dropFirst().dropLast())) : .literal(text)
        }
        lock.withLock { routes.append(Route(method: method.uppercased(), pattern: pattern, segments: segments, handler: handler)) }
    }

    /// Adds a route whose handler answers synchronously (returns or throws).
    public func on(_ method: String, _ pattern: String, respond: @escaping (Request) throws -> Response) {
        on(method, pattern) { request, completion in
            completion(Result { try respond(request) })
        }
    }

    public func get(_ pattern: String, respond: @escaping (Request) throws -> Response) { on("GET", pattern, respond: respond) }
    public func post(_ pattern: String, respond: @escaping (Request) throws -> Response) { on("POST", pattern, respond: respond) }
    public func put(_ pattern: String, respond: @escaping (Request) throws -> Response) { on("PUT", pattern, respond: respond) }
    public func delete(_ pattern: String, respond: @escaping (Request) throws -> Response) { on("DELETE", pattern, respond: respond) }
    public func get(_ pattern: String, handler: @escaping Handler) { on("GET", pattern, handler: handler) }
    public func post(_ pattern: String, handler: @escaping Handler) { on("POST", pattern, handler: handler) }
    public func put(_ pattern: String, handler: @escaping Handler) { on("PUT", pattern, handler: handler) }
    public func delete(_ pattern: String, handler: @escaping Handler) { on("DELETE", pattern, handler: handler) }

    /// The router as a server handler.
    public var handler: Handler {
        { [self] request, completion in handle(request, completion: completion) }
    }

    /// Finds the route and runs it, or completes with 404/405.
    public func handle(_ request: Request, completion: @escaping ResponseCompletion) {
        switch resolve(method: request.method, head: request.head) {
        case .failure(let error):
            completion(.failure(error))
        case .success(let (route, parameters)):
            var routed = request
            routed.pathParameters = parameters
            route.handler(routed, completion)
        }
    }

    /// The 404/405 error a request would get, or nil if a route takes it.
    /// Use as the server's `bodyGate` to refuse an upload before reading it.
    public func check(_ head: RequestHead) -> HTTPError? {
        if case .failure(let error) = resolve(method: head.method, head: head) { return error }
        return nil
    }

    private func resolve(method: String, head: RequestHead) -> Result<(Route, [String: String]), HTTPError> {
        let routes = lock.withLock { self.routes }
        let pathSegments = Self.split(head.rawPath).map {
            PercentDecoding.decode($0.utf8, plusIsSpace: false) ?? $0
        }
        var matches: [(route: Route, parameters: [String: String])] = []
        for route in routes {
            if let parameters = Self.match(route.segments, pathSegments) { matches.append((route, parameters)) }
        }
        guard !matches.isEmpty else {
            return .failure(HTTPError.notFound("no route for \(method) \(RequestHead.clip(head.path))"))
        }
        let chosen = best(matches.filter { $0.route.method == method })
            ?? (method == "HEAD" ? best(matches.filter { $0.route.method == "GET" }) : nil)
        guard let chosen else {
            var allowed = Set(matches.map(\.route.method))
            if allowed.contains("GET") { allowed.insert("HEAD") }
            return .failure(HTTPError.methodNotAllowed(method, path: RequestHead.clip(head.path), allowed: allowed.sorted()))
        }
        return .success((chosen.route, chosen.parameters))
    }

    private func best(_ matches: [(route: Route, parameters: [String: String])]) -> (route: Route, parameters: [String: String])? {
        matches.reduce(nil) { best, next in
            guard let best else { return next }
            return next.route.literalCount > best.route.literalCount ? next : best
        }
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    private static func match(_ pattern: [Segment], _ path: [String]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, text) in zip(pattern, path) {
            switch segment {
            case .literal(let literal):
                guard literal == text else { return nil }
            case .parameter(let name):
                guard !text.isEmpty else { return nil }
                parameters[name] = text
            }
        }
        return parameters
    }
}

extension Response {
    /// The response for a handler outcome: the response itself, or the JSON
    /// error for a thrown error (`HTTPError` as is, anything else 500 `internal`).
    public init(_ result: Result<Response, Error>, requestID: String) {
        switch result {
        case .success(let response):
            self = response
        case .failure(let error as HTTPError):
            self = error.response(requestID: requestID)
        case .failure(let error):
            self = HTTPError.internalError("internal error: \(error)").response(requestID: requestID)
        }
    }
}
