/// # HTTPServer: Seer's HTTP/1.1 server (Glibc sockets, Foundation, Dispatch)
///
/// ```swift
/// let router = Router()
/// router.get("/healthz") { _ in .text("ok") }
/// router.post("/detect") { request, done in            // asynchronous handler
///     guard let upload = request.upload(fields: ["image", "file"]) else {
///         return done(.failure(HTTPError(status: 400, code: "invalid_image", message: "no image in the request")))
///     }
///     let model = request.parameter("model")           // path {param}, query, or form field
///     workers.async { done(Result { try Response.json(detect(upload.data, model)) }) }
/// }
/// var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
/// configuration.limits.maxBodyBytes = 32 << 20
/// let server = HTTPServer(configuration: configuration, handler: router.handler) { record in log.enqueue(record) }
/// try server.start()                                    // port 0 binds any free port: read `server.port`
/// ...
/// server.shutdown(gracePeriod: 10)                      // drain, then return
/// ```
///
/// - `Handler` = `(Request, @escaping ResponseCompletion) -> Void`. It is called on the
///   connection's thread; complete it exactly once, from any thread, with a `Response` or
///   an error. An `HTTPError` is rendered (in `HTTPError.response`, the one place) as
///   `{"success": false, "error", "code", "request_id"}`; any other error becomes 500 `internal`.
/// - `Request`: `id` (echoed client `X-Request-Id` if sane, else generated), `method`, `path`,
///   `query`, `headers` (case-insensitive, repeats kept), `body`, `form` (multipart or
///   url-encoded, parsed before the handler runs), `parameter(_:)`, `upload(fields:)`.
/// - `Response`: status, headers, body `Data`. The server adds `Content-Length`,
///   `X-Request-Id` and `Connection`.
/// - `bodyGate` (e.g. `router.check`) may refuse a request from its head alone, before an upload
///   is read; curl's `Expect: 100-continue` then gets the error instead of `100 Continue`.
/// - `RequestObserver` is called exactly once per request, including parse errors, timeouts,
///   overload rejections and clients that vanish mid-request (status 499).
/// - Limits (sizes, counts, timeouts, connections) are one `HTTPLimits` value; the parser
///   (`HTTPRequestParser`) is usable on its own. Bodies and multipart parts are held in memory
///   (no temp files): each up to `maxBodyBytes`, all together up to `maxBufferedBodyBytes`.
///
/// Model: one accept thread; one thread per connection (at most `maxConnections`; the next
/// connection gets 503 `overloaded` with `Retry-After` and is closed), non-blocking sockets and
/// poll(2) deadlines for the header, body, idle and write timeouts; one lingering-close thread.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct ServerConfiguration: Sendable {
    /// IPv4 address or host name to bind.
    public var host: String
    /// TCP port; 0 picks a free port (read it from `HTTPServer.port`).
    public var port: Int
    public var backlog: Int = 128
    public var limits = HTTPLimits()
    /// `Retry-After` seconds sent with 503 `overloaded`.
    public var retryAfterSeconds: Int = 1

    public init(host: String = "127.0.0.1", port: Int = 8080, limits: HTTPLimits = HTTPLimits()) {
        self.host = host
        self.port = port
        self.limits = limits
    }
}

/// Decides, once a request's header block is accepted and before its body is
/// read, whether to refuse it (e.g. `Router.check` for 404/405, or 401).
public typealias BodyGate = (RequestHead) -> HTTPError?

public final class HTTPServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let handler: Handler
    private let observer: RequestObserver?

    private enum State {
        case created, running, stopping, stopped
    }

    /// Resources that exist while the server runs.
    private struct Running {
        let listener: Int32
        let draining: Signal
        let forced: Signal
        let lingerer: Lingerer
        let bodyBudget: BodyBudget
    }

    private let lock = NSLock()
    private var state = State.created
    private var running: Running?
    private var boundPort = 0
    private var connections: [ObjectIdentifier: Connection] = [:]
    private let acceptThread = DispatchGroup()
    private let connectionThreads = DispatchGroup()
    private let stopped = DispatchGroup()
    private var cleanShutdown = true
    private var gate: BodyGate?

    /// Consulted for requests whose body has not arrived yet: an error is sent
    /// at once (instead of `100 Continue`) and the connection closed without
    /// reading the body. Set before `start()`.
    public var bodyGate: BodyGate? {
        get { lock.withLock { gate } }
        set { lock.withLock { gate = newValue } }
    }

    public init(configuration: ServerConfiguration, handler: @escaping Handler, observer: RequestObserver? = nil) {
        self.configuration = configuration
        self.handler = handler
        self.observer = observer
    }

    /// The bound port (meaningful after `start()`).
    public var port: Int { lock.withLock { boundPort } }

    /// Connections currently being served (not counting lingering closes).
    public var connectionCount: Int { lock.withLock { connections.count } }

    /// Binds, listens and starts the accept thread. Throws if the address cannot be bound.
    public func start() throws {
        try lock.withLock {
            guard state == .created else { throw HTTPServerError(description: "the server was already started") }
            let limits = configuration.limits
            let (listener, port) = try Socket.listen(host: configuration.host, port: configuration.port,
                                                     backlog: configuration.backlog)
            let lingerer: Lingerer
            let draining: Signal
            let forced: Signal
            do {
                lingerer = try Lingerer(timeout: limits.lingerTimeout, capacity: max(64, limits.maxConnections * 2))
                draining = try Signal()
                forced = try Signal()
            } catch {
                close(listener)
                throw error
            }
            running = Running(listener: listener, draining: draining, forced: forced, lingerer: lingerer,
                              bodyBudget: BodyBudget(capacity: limits.maxBufferedBodyBytes))
            boundPort = port
            state = .running
            stopped.enter()
            lingerer.start()
            acceptThread.enter()
            spawn(name: "http-accept") { [self] in
                acceptLoop(listener: listener, draining: draining)
                acceptThread.leave()
            }
        }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let requests in
    /// progress finish for up to `gracePeriod` seconds, then answer the rest 503
    /// and close them. Returns when every connection is closed; true if none had
    /// to be cut off. Safe to call more than once (later calls wait for the first).
    @discardableResult
    public func shutdown(gracePeriod: TimeInterval = 10) -> Bool {
        let current: Running? = lock.withLock {
            guard state == .running else { return nil }
            state = .stopping
            return running
        }
        guard let current else {
            waitUntilStopped()
            return lock.withLock { cleanShutdown }
        }
        current.draining.raise()
        acceptThread.wait()
        let finished = connectionThreads.wait(timeout: .now() + gracePeriod) == .success
        if !finished {
            current.forced.raise()
            for connection in lock.withLock({ Array(connections.values) }) { connection.cancelInFlight() }
            connectionThreads.wait()
        }
        current.lingerer.stop()
        lock.withLock {
            cleanShutdown = finished
            state = .stopped
            running = nil
        }
        stopped.leave()
        return finished
    }

    /// Blocks until a shutdown has completed (returns at once if never started).
    public func waitUntilStopped() {
        let started = lock.withLock { state != .created }
        if started { stopped.wait() }
    }

    // MARK: Accepting

    private func acceptLoop(listener: Int32, draining: Signal) {
        defer { close(listener) }
        while true {
            switch Socket.wait(listener, for: Int32(POLLIN), signals: [draining.fd], until: nil) {
            case .signaled:
                return
            case .timedOut:
                continue
            case .ready:
                guard let (fd, peer) = Socket.accept(listener) else {
                    if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { usleep(10_000) }
                    continue
                }
                admit(fd: fd, peer: peer)
            }
        }
    }

    private func admit(fd: Int32, peer: String) {
        guard let running = lock.withLock({ running }) else {
            close(fd)
            return
        }
        let context = ConnectionContext(limits: configuration.limits, handler: handler, observer: observer,
                                        bodyGate: bodyGate, draining: running.draining, forced: running.forced,
                                        lingerer: running.lingerer, bodyBudget: running.bodyBudget,
                                        retryAfterSeconds: configuration.retryAfterSeconds)
        let connection: Connection? = lock.withLock {
            guard connections.count < configuration.limits.maxConnections else { return nil }
            let connection = Connection(fd: fd, peer: peer, context: context)
            connections[ObjectIdentifier(connection)] = connection
            connectionThreads.enter()
            return connection
        }
        guard let connection else {
            reject(fd: fd, peer: peer, lingerer: running.lingerer)
            return
        }
        spawn(name: "http-connection") { [self] in
            connection.run()
            lock.withLock { _ = connections.removeValue(forKey: ObjectIdentifier(connection)) }
            connectionThreads.leave()
        }
    }

    /// Answers 503 `overloaded` without reading the request, then closes.
    private func reject(fd: Int32, peer: String, lingerer: Lingerer) {
        let start = Date()
        let id = RequestID.generate()
        let error = HTTPError.overloaded(
            retryAfterSeconds: configuration.retryAfterSeconds,
            message: "the server is serving its limit of \(configuration.limits.maxConnections) connections; retry later")
        let response = error.response(requestID: id)
        var wire = response.wireHead(requestID: id, keepAlive: false, clientVersion: .http11)
        wire.append(response.body)
        let written = wire.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        observer?(RequestRecord(requestID: id, method: "", path: "", status: error.status, errorCode: error.code,
                                bytesIn: 0, bytesOut: max(0, written), clientAddress: peer, startTime: start,
                                headerDuration: nil, handlerDuration: nil,
                                totalDuration: Date().timeIntervalSince(start), clientDisconnected: written != wire.count))
        lingerer.close(fd)
    }

    private func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.stackSize = 512 << 10
        thread.start()
    }
}
