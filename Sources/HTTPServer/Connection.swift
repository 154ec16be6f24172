import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a connection needs from its server.
struct ConnectionContext {
    let limits: HTTPLimits
    let handler: Handler
    let observer: RequestObserver?
    let bodyGate: BodyGate?
    /// Raised at the start of a graceful shutdown: idle connections close, busy ones finish.
    let draining: Signal
    /// Raised when the shutdown deadline passes: every connection ends now.
    let forced: Signal
    let lingerer: Lingerer
    let bodyBudget: BodyBudget
    let retryAfterSeconds: Int
}

/// The shared allowance of request body bytes held in memory (`HTTPLimits.maxBufferedBodyBytes`).
final class BodyBudget: @unchecked Sendable {
    private let lock = NSLock()
    private let capacity: Int
    private var used = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Takes `count` bytes if they fit.
    func reserve(_ count: Int) -> Bool {
        lock.withLock {
            guard count <= capacity - used else { return false }
            used += count
            return true
        }
    }

    func release(_ count: Int) {
        lock.withLock { used -= count }
    }
}

/// The handler's answer for one request, or the news that shutdown gave up on it.
final class ResponseSlot: @unchecked Sendable {
    enum Outcome {
        case finished(Result<Response, Error>)
        case cancelled
    }

    private let condition = NSCondition()
    private var outcome: Outcome?

    /// Only the first `complete` or `cancel` counts.
    func complete(_ result: Result<Response, Error>) { fill(.finished(result)) }
    func cancel() { fill(.cancelled) }

    func wait() -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let outcome { return outcome }
            condition.wait()
        }
    }

    private func fill(_ value: Outcome) {
        condition.lock()
        if outcome == nil {
            outcome = value
            condition.broadcast()
        }
        condition.unlock()
    }
}

/// One client connection, served on its own thread with non-blocking I/O and
/// poll(2) deadlines. Requests are answered strictly in order; while a handler
/// runs, nothing more is read (pipelined bytes wait in the parser or the kernel).
final class Connection: @unchecked Sendable {
    let fd: Int32
    let peer: String
    private let acceptedAt: Date
    private let context: ConnectionContext
    private var parser: HTTPRequestParser
    private var pending: [HTTPParserEvent] = []
    private let slotLock = NSLock()
    private var inFlight: ResponseSlot?

    // The request being received or served.
    private var requestStart: Date?
    private var headAt: Date?
    private var currentHead: RequestHead?
    private var bytesOut = 0
    private var lastReadAt: Date
    private var lastResponseEnd: Date?
    /// Body bytes of the current request counted against the shared budget.
    private var reservedBodyBytes = 0

    private enum Phase {
        case idle, head, body
    }

    init(fd: Int32, peer: String, context: ConnectionContext) {
        self.fd = fd
        self.peer = peer
        self.context = context
        self.parser = HTTPRequestParser(limits: context.limits)
        acceptedAt = Date()
        lastReadAt = acceptedAt
    }

    /// Ends a handler wait at the shutdown deadline (the request is answered 503).
    func cancelInFlight() {
        slotLock.withLock { inFlight }?.cancel()
    }

    /// Serves requests until the connection ends, then hands the socket to the lingerer.
    func run() {
        defer {
            releaseBody()
            context.lingerer.close(fd)
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            while !pending.isEmpty {
                guard handle(pending.removeFirst()) else { return }
            }
            guard receive(into: &buffer) else { return }
        }
    }

    // MARK: Events

    /// Acts on one parser event; false when the connection must end.
    private func handle(_ event: HTTPParserEvent) -> Bool {
        switch event {
        case .head(let head):
            headAt = Date()
            if requestStart == nil { requestStart = headAt }
            currentHead = head
            if case .request = pending.first { return true }  // the body is already here
            if head.bodyFraming == .none || head.bodyFraming == .length(0) { return true }
            if let error = context.bodyGate?(head) {
                answer(error, partial: parser.partialRequest)
                return false
            }
            if case .length(let length) = head.bodyFraming, !reserveBody(upTo: length) {
                answer(bodyBudgetExceeded, partial: parser.partialRequest)
                return false
            }
            if head.expectsContinue {
                guard send(Data("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else {
                    reportAbandoned(partial: parser.partialRequest)
                    return false
                }
            }
            return true
        case .request(let request):
            return serve(request)
        case .failure(let failure):
            answer(failure.error, partial: failure.partial)
            return false
        }
    }

    private func serve(_ parsed: ParsedRequest) -> Bool {
        let id = RequestID.resolve(parsed.head.headers)
        var handlerDuration: TimeInterval?
        let outcome: ResponseSlot.Outcome
        do {
            let request = try Request(id: id, head: parsed.head, body: parsed.body, trailers: parsed.trailers,
                                      clientAddress: peer, limits: context.limits)
            let handlerStart = Date()
            outcome = runHandler(request)
            handlerDuration = Date().timeIntervalSince(handlerStart)
        } catch {
            outcome = .finished(.failure(error))
        }
        let response: Response
        switch outcome {
        case .finished(let result): response = Response(result, requestID: id)
        case .cancelled: response = Self.shuttingDown.response(requestID: id)
        }
        let keepAlive = parsed.head.keepAlive && !context.draining.isRaised && !context.forced.isRaised
        let omitBody = parsed.head.method == "HEAD" || response.forbidsBody
        var delivered = send(response.wireHead(requestID: id, keepAlive: keepAlive, clientVersion: parsed.head.version))
        if delivered && !omitBody && !response.body.isEmpty { delivered = send(response.body) }
        var record = RequestRecord(requestID: id, method: parsed.head.method, path: parsed.head.path, status: response.status,
                                   errorCode: response.errorCode, bytesIn: parsed.byteCount, bytesOut: bytesOut,
                                   clientAddress: peer, startTime: requestStart ?? acceptedAt,
                                   headerDuration: headerDuration, handlerDuration: handlerDuration,
                                   totalDuration: sinceStart, clientDisconnected: !delivered)
        record.annotations = response.annotations
        report(record)
        startNextRequest()
        return delivered && keepAlive
    }

    private func runHandler(_ request: Request) -> ResponseSlot.Outcome {
        let slot = ResponseSlot()
        slotLock.withLock { inFlight = slot }
        defer { slotLock.withLock { inFlight = nil } }
        if context.forced.isRaised { slot.cancel() }
        context.handler(request) { result in slot.complete(result) }
        return slot.wait()
    }

    /// Answers a request the server itself rejects (parse error, limit, timeout, shutdown) and reports it.
    private func answer(_ error: HTTPError, partial: PartialRequest) {
        let id = RequestID.resolve(partial.headers)
        let response = error.response(requestID: id)
        var delivered = send(response.wireHead(requestID: id, keepAlive: false, clientVersion: .http11))
        if delivered && currentHead?.method != "HEAD" { delivered = send(response.body) }
        report(record(for: partial, id: id, status: error.status, errorCode: error.code, disconnected: !delivered))
    }

    /// Reports a request the client abandoned before it could be answered.
    private func reportAbandoned(partial: PartialRequest) {
        report(record(for: partial, id: RequestID.resolve(partial.headers), status: RequestRecord.clientClosedStatus,
                      errorCode: "client_closed_request", disconnected: true))
    }

    private func record(for partial: PartialRequest, id: String, status: Int, errorCode: String, disconnected: Bool) -> RequestRecord {
        RequestRecord(requestID: id, method: currentHead?.method ?? partial.method ?? "",
                      path: currentHead?.path ?? partial.target.map(RequestHead.clip) ?? "",
                      status: status, errorCode: errorCode, bytesIn: partial.byteCount, bytesOut: bytesOut,
                      clientAddress: peer, startTime: requestStart ?? acceptedAt, headerDuration: headerDuration,
                      handlerDuration: nil, totalDuration: sinceStart, clientDisconnected: disconnected)
    }

    private var headerDuration: TimeInterval? {
        guard let headAt else { return nil }
        return headAt.timeIntervalSince(requestStart ?? acceptedAt)
    }

    private var sinceStart: TimeInterval { Date().timeIntervalSince(requestStart ?? acceptedAt) }

    private func report(_ record: RequestRecord) {
        context.observer?(record)
    }

    /// Grows this request's share of the body budget to `total` bytes; false if the budget is spent.
    private func reserveBody(upTo total: Int) -> Bool {
        guard total > reservedBodyBytes else { return true }
        guard context.bodyBudget.reserve(total - reservedBodyBytes) else { return false }
        reservedBodyBytes = total
        return true
    }

    private func releaseBody() {
        context.bodyBudget.release(reservedBodyBytes)
        reservedBodyBytes = 0
    }

    private var bodyBudgetExceeded: HTTPError {
        .overloaded(retryAfterSeconds: context.retryAfterSeconds,
                    message: "the server is holding its limit of \(context.limits.maxBufferedBodyBytes) bytes of request bodies; retry later")
    }

    private func startNextRequest() {
        releaseBody()
        let now = Date()
        lastResponseEnd = now
        requestStart = parser.hasPartialRequest || !pending.isEmpty ? now : nil
        headAt = nil
        currentHead = nil
        bytesOut = 0
    }

    private static let shuttingDown = HTTPError(status: 503, code: "not_ready",
                                                message: "the server is shutting down; retry the request")

    // MARK: Reading

    /// Waits for and reads more bytes into the parser; false when the connection must end.
    private func receive(into buffer: inout [UInt8]) -> Bool {
        let phase: Phase = parser.hasPartialRequest ? (parser.isReadingBody ? .body : .head) : .idle
        if phase == .body, currentHead?.bodyFraming == .chunked, !reserveBody(upTo: parser.partialRequest.byteCount) {
            answer(bodyBudgetExceeded, partial: parser.partialRequest)
            return false
        }
        let limits = context.limits
        let deadline: Date
        switch phase {
        case .idle: deadline = lastResponseEnd.map { $0 + limits.idleTimeout } ?? acceptedAt + limits.headerReadTimeout
        case .head: deadline = (requestStart ?? acceptedAt) + limits.headerReadTimeout
        case .body: deadline = lastReadAt + limits.bodyReadTimeout
        }
        let signals = phase == .idle ? [context.forced.fd, context.draining.fd] : [context.forced.fd]
        switch Socket.wait(fd, for: Int32(POLLIN), signals: signals, until: deadline) {
        case .signaled:
            if phase != .idle { answer(Self.shuttingDown, partial: parser.partialRequest) }
            return false
        case .timedOut:
            switch phase {
            case .idle:
                break
            case .head:
                answer(.requestTimeout("request headers were not complete within \(Self.seconds(limits.headerReadTimeout))"),
                       partial: parser.partialRequest)
            case .body:
                answer(.requestTimeout("no request body data arrived for \(Self.seconds(limits.bodyReadTimeout))"),
                       partial: parser.partialRequest)
            }
            return false
        case .ready:
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                let now = Date()
                lastReadAt = now
                if requestStart == nil { requestStart = now }
                pending += parser.feed(buffer[0..<count])
                return true
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
            if phase != .idle { reportAbandoned(partial: parser.partialRequest) }
            return false
        }
    }

    private static func seconds(_ interval: TimeInterval) -> String {
        interval == interval.rounded() ? "\(Int(interval)) s" : "\(interval) s"
    }

    // MARK: Writing

    /// Writes all of `data`; false if the client is gone, stops reading for
    /// `writeTimeout`, or the shutdown deadline passed while the socket was full.
    private func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            guard let base = bytes.baseAddress else { return true }
            var offset = 0
            var lastProgress = Date()
            while offset < bytes.count {
                let written = Glibc.send(fd, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if written > 0 {
                    offset += written
                    bytesOut += written
                    lastProgress = Date()
                    continue
                }
                guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
                if errno == EINTR { continue }
                if context.forced.isRaised { return false }
                let deadline = lastProgress + context.limits.writeTimeout
                switch Socket.wait(fd, for: Int32(POLLOUT), signals: [context.forced.fd], until: deadline) {
                case .ready: continue
                case .signaled, .timedOut: return false
                }
            }
            return true
        }
    }
}
