import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The bad-input corpus (`Tests/Fixtures/bad-inputs`, written by its `make-cases.py`) sent to a
/// live server over real sockets, one connection per case, in the manifest's order.
///
/// Every case must get its status and contract error code (with the JSON error envelope), and
/// `/healthz` must answer after each one. At the end the request log must hold exactly one row
/// per request the server saw, and the models and data folders must hold only what succeeded.
///
/// What counts as a request (HTTPServer's `RequestObserver` contract, logged by `Application.log`):
/// every byte sequence the server started to parse is one request and one log row, whether it
/// was answered, refused by the parser, timed out, or abandoned by the client (status 499,
/// `client_closed_request`). A connection that closes before sending a byte is not a request
/// and leaves no row; the test opens one such connection to check it.
final class BadInputCorpusTests: XCTestCase {
    static let corpusFolder = Paths.fixtures.appendingPathComponent("bad-inputs")
    /// The bundled models the corpus's endpoints need (each endpoint's default model).
    static let modelNames = ["mtcnn", "age", "person", "yolov3-tiny", "clip-novelty", "yolo-backbone"]
    /// Short enough that the slow-client cases finish quickly, long enough for any honest client here.
    static let readTimeout: TimeInterval = 2

    var root: TemporaryFolder!
    var service: TestService!
    var models: URL { root.file("models") }

    override func setUpWithError() throws {
        root = try TemporaryFolder("seer-bad-inputs")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        for name in Self.modelNames {
            try FileManager.default.copyItem(at: Paths.models.appendingPathComponent(name), to: models.appendingPathComponent(name))
        }
        service = try TestService(modelsDirectory: models) { configuration in
            configuration.limits.headerReadTimeout = Self.readTimeout
            configuration.limits.bodyReadTimeout = Self.readTimeout
        }
    }

    override func tearDown() {
        service?.stopAndRemove()
        root?.remove()
    }

    func testEveryBadInputGetsItsErrorAndTheServiceStaysWhole() throws {
        let corpus = try Corpus.load(Self.corpusFolder)
        XCTAssertGreaterThanOrEqual(corpus.cases.count, 100)
        XCTAssertEqual(corpus.limits.maxBodyBytes, service.configuration.limits.maxBodyBytes, "the corpus was made for these limits")
        XCTAssertEqual(corpus.limits.maxImagePixels, service.configuration.maxImagePixels)
        let modelsBefore = listing(models)
        var log = ExpectedLog()

        for testCase in corpus.cases {
            try run(testCase, corpus: corpus, log: &log)
            expectHealthy(after: testCase.id, log: &log)
        }
        try checkSilentConnectionIsNoRequest()
        try checkTheRegisteredModelServes(corpus.registeredModel, log: &log)

        try checkRequestLog(log)
        try checkLogWriterLostNothing()
        checkFolders(modelsBefore: modelsBefore, registered: corpus.registeredModel)
    }

    // MARK: Cases

    func run(_ testCase: Corpus.Case, corpus: Corpus, log: inout ExpectedLog) throws {
        let wire = try testCase.wireBytes(in: Self.corpusFolder)
        let context = "\(testCase.id) (\(testCase.note))"
        let reply: RawReply?
        do {
            reply = try RawHTTP.exchange(port: service.port, wire, halfClose: testCase.client == "half-close")
        } catch {
            XCTFail("\(context): \(error)")
            return
        }
        if testCase.expect.status == 499 {
            // The client left: nobody to answer, but the request is logged.
            XCTAssertNil(reply, "\(context): an abandoned request gets no answer, got \(reply?.status ?? 0)")
            guard let id = testCase.sentRequestID(in: wire) else {
                return XCTFail("\(context): an abandoned case must carry X-Request-Id to be found in the log")
            }
            log.expect(id: id, status: 499, code: testCase.expect.code, context: context)
            return
        }
        guard let reply else { return XCTFail("\(context): the connection closed without an answer") }
        XCTAssertEqual(reply.status, testCase.expect.status, "\(context): \(reply.text.prefix(300))")
        XCTAssertNotEqual(reply.status, 500, "\(context): bad input must never be a 500")
        let requestID = reply.header("X-Request-Id") ?? ""
        XCTAssertFalse(requestID.isEmpty, "\(context): every answer carries X-Request-Id")
        if let sent = testCase.sentRequestID(in: wire), RequestIDs.isSane(sent) {
            XCTAssertEqual(requestID, sent, "\(context): the client's request id is echoed")
        }
        if let code = testCase.expect.code {
            expectErrorEnvelope(reply, code: code, requestID: requestID, context: context)
        } else {
            XCTAssertNotEqual(reply.json["success"].bool, false, "\(context): \(reply.text.prefix(300))")
        }
        XCTAssertFalse(reply.text.contains("root:x:0:0"), "\(context): the answer leaks /etc/passwd")
        for folder in [service.data.url.lastPathComponent, root.url.lastPathComponent] {
            XCTAssertFalse(reply.text.contains(folder), "\(context): the answer reveals the server's folders: \(reply.text.prefix(300))")
        }
        log.expect(id: requestID, status: reply.status, code: testCase.expect.code == nil ? nil : reply.json["code"].string,
                   context: context)
    }

    /// `{"success": false, "error": <message>, "code": <code>, "request_id": <the X-Request-Id>}` as JSON.
    func expectErrorEnvelope(_ reply: RawReply, code: String, requestID: String, context: String) {
        let body = reply.json
        XCTAssertEqual(body.keys, ["success", "error", "code", "request_id"], "\(context): \(reply.text.prefix(300))")
        XCTAssertEqual(body["success"].bool, false, context)
        XCTAssertEqual(body["code"].string, code, "\(context): \(reply.text.prefix(300))")
        XCTAssertFalse((body["error"].string ?? "").isEmpty, "\(context): the error names what is wrong")
        XCTAssertEqual(body["request_id"].string, requestID, context)
        XCTAssertTrue(reply.header("Content-Type")?.hasPrefix("application/json") ?? false, context)
    }

    func expectHealthy(after caseID: String, log: inout ExpectedLog) {
        let id = "healthz-after-\(caseID)"
        let wire = Data("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: \(id)\r\nConnection: close\r\n\r\n".utf8)
        do {
            guard let reply = try RawHTTP.exchange(port: service.port, wire) else {
                return XCTFail("healthz after \(caseID): no answer")
            }
            XCTAssertEqual(reply.status, 200, "healthz after \(caseID)")
            XCTAssertEqual(reply.text, "ok\n", "healthz after \(caseID)")
            log.expect(id: id, status: 200, code: nil, context: "healthz after \(caseID)")
        } catch {
            XCTFail("healthz after \(caseID): \(error)")
        }
    }

    /// Connecting and closing without a byte is not a request: no answer, no log row.
    func checkSilentConnectionIsNoRequest() throws {
        XCTAssertNil(try RawHTTP.exchange(port: service.port, Data(), halfClose: true), "a silent connection gets no answer")
    }

    /// The model the corpus registered answers a well-formed request: the v2 errors were about their inputs.
    func checkTheRegisteredModelServes(_ name: String, log: inout ExpectedLog) throws {
        let values = (0..<60).map { Double($0 - 30) / 10 }
        let body = try JSONSerialization.data(withJSONObject: ["inputs": [["name": "x", "shape": [3, 4, 5], "datatype": "FP32", "data": values]]])
        let id = "registered-model-serves"
        let wire = Data("POST /v2/models/\(name)/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: \(id)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
        let reply = try XCTUnwrap(try RawHTTP.exchange(port: service.port, wire))
        XCTAssertEqual(reply.status, 200, reply.text)
        let outputs = reply.json["outputs"][0]["data"].array?.compactMap(\.double).map { Float($0) } ?? []
        XCTAssertEqual(outputs, values.map { Float(max(0, $0)) }, "Relu of the input (float32)")
        log.expect(id: id, status: 200, code: nil, context: id)
    }

    // MARK: Request log

    /// Every request above is exactly one row with its status and code, and there are no other rows.
    func checkRequestLog(_ expected: ExpectedLog) throws {
        // A connection reports its request right after writing the answer: give the last ones a moment.
        var rows: [String: [JSON]] = [:]
        var polls = Set<String>()
        for attempt in 0..<50 {
            let id = "log-poll-\(attempt)"
            polls.insert(id)
            let wire = Data("GET /requests?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: \(id)\r\nConnection: close\r\n\r\n".utf8)
            let reply = try XCTUnwrap(try RawHTTP.exchange(port: service.port, wire))
            XCTAssertEqual(reply.status, 200, reply.text.prefix(300).description)
            rows = Dictionary(grouping: reply.json["requests"].array ?? [], by: { $0["id"].string ?? "" })
            if expected.rows.keys.allSatisfy({ rows[$0] != nil }) { break }
            usleep(100_000)
        }
        XCTAssertLessThan(expected.rows.count + polls.count, 1000, "the whole log fits in one page")
        for (id, row) in expected.rows.sorted(by: { $0.key < $1.key }) {
            let found = rows[id] ?? []
            XCTAssertEqual(found.count, 1, "\(row.context): one log row for request id \(id), found \(found.count)")
            guard let logged = found.first else { continue }
            XCTAssertEqual(logged["status"].int, row.status, "\(row.context): logged status \(logged)")
            XCTAssertEqual(logged["error_code"].string, row.code, "\(row.context): logged error code \(logged)")
        }
        let unexpected = Set(rows.keys).subtracting(expected.rows.keys).subtracting(polls)
        XCTAssertEqual(unexpected, [], "rows for requests nobody sent (the silent connection must not be one)")
    }

    /// The log writer dropped nothing and no batch failed (/metrics counters).
    func checkLogWriterLostNothing() throws {
        let reply = try HTTP.get(service.url("/metrics"))
        XCTAssertEqual(reply.status, 200)
        let lines = reply.text.split(separator: "\n")
        for counter in ["seer_request_log_dropped_rows_total", "seer_request_log_failed_writes_total"] {
            XCTAssertTrue(lines.contains(Substring("\(counter) 0")), "\(counter) is 0 in /metrics")
        }
    }

    // MARK: Folders

    /// The models folder gained only the registered model's files; the data folder holds the database
    /// and an empty staging folder; nothing appeared beside the models folder.
    func checkFolders(modelsBefore: Set<String>, registered: String) {
        let modelsAfter = listing(models)
        XCTAssertTrue(modelsBefore.isSubset(of: modelsAfter), "nothing was removed from the models folder")
        XCTAssertEqual(modelsAfter.subtracting(modelsBefore),
                       ["/\(registered)", "/\(registered)/v1", "/\(registered)/v1/model.onnx", "/\(registered)/v1/manifest.json"],
                       "only the one successful registration was written")
        XCTAssertEqual(listing(root.url).filter { !$0.hasPrefix("/models/") }, ["/models"], "nothing beside the models folder")
        let data = listing(service.data.url)
        XCTAssertEqual(data.filter { !$0.hasPrefix("/seer.sqlite") }, ["/tmp"], "the data folder holds the database and staging only: \(data)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.url.deletingLastPathComponent().appendingPathComponent("escaped").path))
    }
}

/// The log rows the test expects, by request id.
struct ExpectedLog {
    struct Row {
        let status: Int
        let code: String?
        let context: String
    }

    private(set) var rows: [String: Row] = [:]

    mutating func expect(id: String, status: Int, code: String?, context: String) {
        XCTAssertNil(rows[id], "\(context): request id \(id) was used twice")
        rows[id] = Row(status: status, code: code, context: context)
    }
}

enum RequestIDs {
    /// What the server echoes (HTTPServer's `RequestID.isSane`): 1...128 printable ASCII characters.
    static func isSane(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }
}

// MARK: - The corpus manifest

struct Corpus: Decodable {
    struct Limits: Decodable {
        let maxBodyBytes: Int
        let maxImagePixels: Int

        enum CodingKeys: String, CodingKey {
            case maxBodyBytes = "max_body_bytes"
            case maxImagePixels = "max_image_pixels"
        }
    }

    struct Expectation: Decodable {
        let status: Int
        let code: String?
    }

    struct Case: Decodable {
        let id: String
        let category: String
        let note: String
        let expect: Expectation
        /// A file sent byte for byte, or:
        let raw: String?
        let method: String?
        let path: String?
        let headers: [String: String]?
        let body: String?
        /// "half-close": stop sending after the bytes (the default is to wait for the answer).
        let client: String?

        /// The bytes to send: the raw file, or the structured request framed as HTTP/1.1.
        func wireBytes(in folder: URL) throws -> Data {
            if let raw { return try contents(of: folder.appendingPathComponent(raw)) }
            guard let method, let path else { throw CorpusError(description: "case \(id) has neither raw nor method and path") }
            let payload = try body.map { try contents(of: folder.appendingPathComponent($0)) }
            var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: bad-\(id)\r\n"
            for (name, value) in (headers ?? [:]).sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
            if let payload { head += "Content-Length: \(payload.count)\r\n" }
            head += "Connection: close\r\n\r\n"
            return Data(head.utf8) + (payload ?? Data())
        }

        /// The `X-Request-Id` value the bytes carry, if any.
        func sentRequestID(in wire: Data) -> String? {
            let text = String(decoding: wire.prefix(64 << 10), as: UTF8.self)
            for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                if line.isEmpty { break }
                if line.lowercased().hasPrefix("x-request-id:") {
                    return line.dropFirst("x-request-id:".count).trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return nil
        }
    }

    struct CorpusError: Error, CustomStringConvertible {
        let description: String
    }

    let limits: Limits
    let registeredModel: String
    let cases: [Case]

    enum CodingKeys: String, CodingKey {
        case limits, cases
        case registeredModel = "registered_model"
    }

    static func load(_ folder: URL) throws -> Corpus {
        try JSONDecoder().decode(Corpus.self, from: contents(of: folder.appendingPathComponent("cases.json")))
    }
}

// MARK: - A byte-exact HTTP client

/// A response read off a raw socket.
struct RawReply {
    let status: Int
    /// Header fields by lower-cased name.
    let headers: [String: String]
    let body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSON { JSON(data: body) }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Sends bytes exactly as given over a fresh TCP connection and reads one final response.
enum RawHTTP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// How long the server may take to answer one case (its own read timeouts are shorter).
    static let answerTimeout: TimeInterval = 30

    /// Sends `bytes`; with `halfClose`, then shuts down the sending side. Returns the final
    /// (non-1xx) response, or nil if the server closed the connection without answering.
    static func exchange(port: Int, _ bytes: Data, halfClose: Bool = false) throws -> RawReply? {
        let fd = try connect(port: port)
        defer { close(fd) }
        sendAll(fd, bytes)  // a server that answers early and closes may refuse the rest: the answer still counts
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var received = Data()
        let deadline = Date().addingTimeInterval(answerTimeout)
        while true {
            if let reply = try parse(&received) { return reply }
            guard let chunk = try receive(fd, until: deadline) else {
                guard received.isEmpty else { throw Failure(description: "the connection closed in the middle of a response: \(String(decoding: received.prefix(200), as: UTF8.self))") }
                return nil
            }
            received.append(chunk)
        }
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends as much of `bytes` as the peer takes; stops at the first error (e.g. the server closed).
    static func sendAll(_ fd: Int32, _ bytes: Data) {
        bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let sent = send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 && errno == EINTR { continue }
                guard sent > 0 else { return }
                offset += sent
            }
        }
    }

    /// The next bytes, or nil at end of stream (or a reset).
    static func receive(_ fd: Int32, until deadline: Date) throws -> Data? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw Failure(description: "no complete answer within \(Int(answerTimeout)) s") }
            let ready = poll(&descriptor, 1, Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? Data(buffer[0..<count]) : nil
        }
    }

    /// A complete final response at the start of `buffer` (interim 1xx responses are dropped), or nil if more is needed.
    static func parse(_ buffer: inout Data) throws -> RawReply? {
        while let headEnd = buffer.range(of: Data("\r\n\r\n".utf8)) {
            let head = String(decoding: buffer[buffer.startIndex..<headEnd.lowerBound], as: UTF8.self)
            let lines = head.components(separatedBy: "\r\n")
            let statusWords = lines[0].split(separator: " ")
            guard statusWords.count >= 2, statusWords[0].hasPrefix("HTTP/1."), let status = Int(statusWords[1]) else {
                throw Failure(description: "malformed status line '\(lines[0])'")
            }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { throw Failure(description: "malformed response header '\(line)'") }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            if (100..<200).contains(status) {
                buffer = Data(buffer[headEnd.upperBound...])
                continue
            }
            guard let length = headers["content-length"].flatMap(Int.init) else {
                throw Failure(description: "response \(status) without Content-Length")
            }
            let available = buffer.distance(from: headEnd.upperBound, to: buffer.endIndex)
            guard available >= length else { return nil }
            let bodyStart = headEnd.upperBound
            let body = Data(buffer[bodyStart..<buffer.index(bodyStart, offsetBy: length)])
            return RawReply(status: status, headers: headers, body: body)
        }
        return nil
    }
}
