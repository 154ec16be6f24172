import Foundation
import HTTPServer
import XCTest

/// Parser behaviour. Every input is fed whole, split at every byte boundary,
/// and byte by byte; all three must give the same events.
final class ParserTests: XCTestCase {
    // MARK: Helpers

    /// Events of `input` fed whole, after checking every split gives the same
    /// (failures compared by their error, since how much was read before the
    /// error depends on the split).
    @discardableResult
    func parse(_ input: String, limits: HTTPLimits = HTTPLimits(), file: StaticString = #filePath, line: UInt = #line) -> [HTTPParserEvent] {
        parse(Array(input.utf8), limits: limits, file: file, line: line)
    }

    @discardableResult
    func parse(_ bytes: [UInt8], limits: HTTPLimits = HTTPLimits(), file: StaticString = #filePath, line: UInt = #line) -> [HTTPParserEvent] {
        var whole = HTTPRequestParser(limits: limits)
        let expected = whole.feed(bytes)
        for split in 0...bytes.count {
            var parser = HTTPRequestParser(limits: limits)
            let events = parser.feed(bytes[..<split]) + parser.feed(bytes[split...])
            XCTAssertEqual(comparable(events), comparable(expected), "split at byte \(split)", file: file, line: line)
        }
        var parser = HTTPRequestParser(limits: limits)
        let byteByByte = bytes.flatMap { parser.feed([$0]) }
        XCTAssertEqual(comparable(byteByByte), comparable(expected), "byte by byte", file: file, line: line)
        return expected
    }

    private enum Comparable: Equatable {
        case head(RequestHead)
        case request(ParsedRequest)
        case failure(HTTPError)
    }

    private func comparable(_ events: [HTTPParserEvent]) -> [Comparable] {
        events.map {
            switch $0 {
            case .head(let head): return .head(head)
            case .request(let request): return .request(request)
            case .failure(let failure): return .failure(failure.error)
            }
        }
    }

    func requests(_ events: [HTTPParserEvent]) -> [ParsedRequest] {
        events.compactMap { if case .request(let request) = $0 { return request } else { return nil } }
    }

    func failure(_ events: [HTTPParserEvent]) -> HTTPError? {
        for event in events { if case .failure(let failure) = event { return failure.error } }
        return nil
    }

    func assertError(_ input: String, status: Int, code: String, limits: HTTPLimits = HTTPLimits(),
                     file: StaticString = #filePath, line: UInt = #line) {
        let events = parse(input, limits: limits, file: file, line: line)
        let error = failure(events)
        XCTAssertEqual(error?.status, status, "\(error?.message ?? "no error")", file: file, line: line)
        XCTAssertEqual(error?.code, code, file: file, line: line)
        XCTAssertEqual(requests(events).count, 0, file: file, line: line)
    }

    // MARK: Well-formed requests

    func testDefaultLimits() {
        let limits = HTTPLimits()
        XCTAssertEqual(limits.maxHeaderBytes, 16384)
        XCTAssertEqual(limits.maxRequestLineBytes, 8192)
        XCTAssertEqual(limits.maxBodyBytes, 64 << 20)
    }

    func testGetWithQueryPathDecodingAndRepeatedHeaders() throws {
        let input = "GET /models/a%20b+c/x?model=yolo&name=a+b%2Bc&e=%C3%A9&flag HTTP/1.1\r\n"
            + "Host: example\r\nX-Tag: one\r\nx-tag:two  \r\nAccept:\t*/*\r\n\r\n"
        let events = parse(input)
        XCTAssertEqual(events.count, 2)
        let request = try XCTUnwrap(requests(events).first)
        let head = request.head
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.version, .http11)
        XCTAssertEqual(head.rawPath, "/models/a%20b+c/x")
        XCTAssertEqual(head.path, "/models/a b+c/x")
        XCTAssertEqual(head.query, [QueryItem(name: "model", value: "yolo"), QueryItem(name: "name", value: "a b+c"),
                                    QueryItem(name: "e", value: "é"), QueryItem(name: "flag", value: "")])
        XCTAssertEqual(head.queryParameter("name"), "a b+c")
        XCTAssertEqual(head.headers["X-TAG"], "one")
        XCTAssertEqual(head.headers.values(for: "x-Tag"), ["one", "two"])
        XCTAssertEqual(head.headers["accept"], "*/*")
        XCTAssertTrue(head.keepAlive)
        XCTAssertEqual(head.bodyFraming, .none)
        XCTAssertEqual(request.body, Data())
        XCTAssertEqual(request.byteCount, input.utf8.count)
    }

    func testPostWithContentLength() throws {
        let events = parse("POST /detect HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: image/jpeg\r\n\r\nhello world")
        guard case .head(let head)? = events.first else { return XCTFail("no head event first") }
        XCTAssertEqual(head.bodyFraming, .length(11))
        let request = try XCTUnwrap(requests(events).first)
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), "hello world")
    }

    func testIdenticalDuplicateContentLengthIsAccepted() throws {
        let events = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")
        XCTAssertEqual(requests(events).first?.body, Data("abc".utf8))
    }

    func testBinaryBodyWithAllByteValues() throws {
        let body = (0..<256).map { UInt8($0) }
        let events = parse(Array("PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 256\r\n\r\n".utf8) + body)
        XCTAssertEqual(requests(events).first?.body, Data(body))
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let events = parse("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + "5;name=value\r\nhello\r\n6 ; ext ; other=\"q\"\r\n world\r\nA\r\n0123456789\r\n"
                           + "0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
        let request = try XCTUnwrap(requests(events).first)
        XCTAssertEqual(request.head.bodyFraming, .chunked)
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), "hello world0123456789")
        XCTAssertEqual(request.trailers["x-checksum"], "abc")
        XCTAssertEqual(request.trailers.count, 2)
    }

    func testChunkedWithUppercaseHexAndLeadingZeros() throws {
        let body = String(repeating: "z", count: 26)
        let events = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n001A\r\n\(body)\r\n00\r\n\r\n")
        XCTAssertEqual(requests(events).first?.body, Data(body.utf8))
    }

    func testPipelinedRequestsComeOutInOrder() throws {
        let input = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        let events = parse(input)
        XCTAssertEqual(events.count, 6)
        let all = requests(events)
        XCTAssertEqual(all.map(\.head.path), ["/one", "/two", "/three"])
        XCTAssertEqual(all.map { String(decoding: $0.body, as: UTF8.self) }, ["", "abc", "xy"])
        XCTAssertEqual(all.map(\.byteCount).reduce(0, +), Array(input.utf8).count)
    }

    func testLeadingEmptyLinesAreIgnored() {
        let events = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertEqual(requests(events).count, 1)
    }

    func testBareLineFeedsAreAccepted() {
        let events = parse("GET /lf HTTP/1.1\nHost: h\n\n")
        XCTAssertEqual(requests(events).first?.head.path, "/lf")
    }

    func testHTTP10KeepAliveRules() throws {
        let plain = try XCTUnwrap(requests(parse("GET / HTTP/1.0\r\n\r\n")).first)
        XCTAssertEqual(plain.head.version, .http10)
        XCTAssertFalse(plain.head.keepAlive)
        let kept = try XCTUnwrap(requests(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).first)
        XCTAssertTrue(kept.head.keepAlive)
        let closed = try XCTUnwrap(requests(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n")).first)
        XCTAssertFalse(closed.head.keepAlive)
    }

    func testAbsoluteFormTarget() throws {
        let request = try XCTUnwrap(requests(parse("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")).first)
        XCTAssertEqual(request.head.path, "/a/b")
        XCTAssertEqual(request.head.queryParameter("x"), "1")
    }

    func testExpectContinueHeadComesBeforeBody() throws {
        var parser = HTTPRequestParser()
        let headEvents = parser.feed(Array("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".utf8))
        guard headEvents.count == 1, case .head(let head) = headEvents[0] else { return XCTFail("expected only a head: \(headEvents)") }
        XCTAssertTrue(head.expectsContinue)
        XCTAssertTrue(parser.hasPartialRequest)
        XCTAssertTrue(parser.isReadingBody)
        let rest = parser.feed(Array("data".utf8))
        XCTAssertEqual(requests(rest).first?.body, Data("data".utf8))
        XCTAssertFalse(parser.hasPartialRequest)
    }

    func testEmptyPostWithoutLengthHasEmptyBody() throws {
        let request = try XCTUnwrap(requests(parse("POST /activate HTTP/1.1\r\nHost: h\r\n\r\n")).first)
        XCTAssertEqual(request.body, Data())
    }

    func testPartialRequestIsReported() {
        var parser = HTTPRequestParser()
        XCTAssertFalse(parser.hasPartialRequest)
        XCTAssertTrue(parser.feed(Array("GET /x HTTP/1.1\r\nHo".utf8)).isEmpty)
        XCTAssertTrue(parser.hasPartialRequest)
        XCTAssertEqual(parser.partialRequest.method, "GET")
        XCTAssertEqual(parser.partialRequest.target, "/x")
        XCTAssertEqual(parser.partialRequest.byteCount, 19)
    }

    // MARK: Limits

    func testRequestLineLimitGives414() {
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = 40
        let fits = "GET /" + String(repeating: "a", count: 26) + " HTTP/1.1"  // exactly 40 bytes
        XCTAssertEqual(fits.utf8.count, 40)
        XCTAssertEqual(requests(parse(fits + "\r\nHost: h\r\n\r\n", limits: limits)).count, 1)
        assertError("GET /" + String(repeating: "a", count: 27) + " HTTP/1.1\r\nHost: h\r\n\r\n",
                    status: 414, code: "uri_too_long", limits: limits)
        // Detected without waiting for the end of the line.
        assertError("GET /" + String(repeating: "a", count: 100), status: 414, code: "uri_too_long", limits: limits)
    }

    func testDefaultRequestLineLimit() {
        var parser = HTTPRequestParser()
        let events = parser.feed(Array(("GET /" + String(repeating: "a", count: 9000)).utf8))
        XCTAssertEqual(failure(events)?.status, 414)
        XCTAssertTrue(failure(events)?.message.contains("8192") ?? false)
    }

    func testHeaderBlockLimitGives431() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        let ok = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + String(repeating: "v", count: 30) + "\r\n\r\n"
        XCTAssertEqual(requests(parse(ok, limits: limits)).count, 1)
        assertError("GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + String(repeating: "v", count: 60) + "\r\n\r\n",
                    status: 431, code: "headers_too_large", limits: limits)
        assertError("GET / HTTP/1.1\r\nHost: h\r\n" + String(repeating: "A: b\r\n", count: 12) + "\r\n",
                    status: 431, code: "headers_too_large", limits: limits)
    }

    func testHeaderCountLimitGives431() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 3
        XCTAssertEqual(requests(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: limits)).count, 1)
        assertError("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", status: 431, code: "headers_too_large", limits: limits)
    }

    func testTenThousandHeadersGive431() {
        var parser = HTTPRequestParser()
        let input = "GET / HTTP/1.1\r\nHost: h\r\n" + String(repeating: "X-H: v\r\n", count: 10_000) + "\r\n"
        XCTAssertEqual(failure(parser.feed(Array(input.utf8)))?.status, 431)
    }

    func testContentLengthOverLimitGives413BeforeTheBody() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let events = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits: limits)
        XCTAssertEqual(events.count, 1, "rejected at the header block, without a head event")
        let error = try XCTUnwrap(failure(events))
        XCTAssertEqual(error.status, 413)
        XCTAssertEqual(error.code, "payload_too_large")
        XCTAssertTrue(error.message.contains("10 bytes"), error.message)
        XCTAssertEqual(requests(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits)).count, 1)
        assertError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                    status: 413, code: "payload_too_large", limits: limits)
    }

    func testChunkedBodyOverLimitGives413() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let events = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", limits: limits)
        XCTAssertEqual(failure(events)?.status, 413)
        XCTAssertEqual(requests(events).count, 0)
        assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
                    status: 413, code: "payload_too_large", limits: limits)
    }

    func testTrailerLimits() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 2
        assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                    status: 431, code: "headers_too_large", limits: limits)
    }

    // MARK: Malformed requests

    func testContentLengthErrors() {
        for value in ["-1", "abc", "1.5", "+5", "0x10", ""] {
            assertError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(value)\r\n\r\n", status: 400, code: "bad_request")
        }
        assertError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", status: 400, code: "bad_request")
        assertError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\nabcdef", status: 400, code: "bad_request")
    }

    func testTransferEncodingErrors() {
        assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", status: 400, code: "bad_request")
        assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", status: 400, code: "bad_request")
        assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501, code: "not_implemented")
        assertError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, code: "bad_request")
    }

    func testBadChunksGive400() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        assertError(head + "zz\r\n", status: 400, code: "bad_request")
        assertError(head + "\r\n", status: 400, code: "bad_request")
        assertError(head + "-5\r\n", status: 400, code: "bad_request")
        assertError(head + "5 x\r\nhello\r\n", status: 400, code: "bad_request")
        assertError(head + "3\r\nhello\r\n0\r\n\r\n", status: 400, code: "bad_request")
        assertError(head + "3;a\u{01}\r\nabc\r\n0\r\n\r\n", status: 400, code: "bad_request")
        var limits = HTTPLimits()
        limits.maxChunkLineBytes = 16
        assertError(head + "3;" + String(repeating: "e", count: 40) + "\r\n", status: 400, code: "bad_request", limits: limits)
    }

    func testMissingLengthOnPostWithBodyGives411() {
        assertError("POST /detect HTTP/1.1\r\nHost: h\r\nContent-Type: image/jpeg\r\n\r\n", status: 411, code: "length_required")
        assertError("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", status: 411, code: "length_required")
    }

    func testRequestLineErrors() {
        assertError("GET /\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505, code: "http_version_not_supported")
        assertError("GET / HTTX/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET nopath HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET /?a=%C3 HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET /\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, code: "bad_request")
        assertError("\u{00}\u{01}\u{02}garbage\r\n\r\n", status: 400, code: "bad_request")
    }

    func testHeaderErrors() {
        assertError("GET / HTTP/1.1\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost : h\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n  folded\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: h\r\nA: x\ry\r\n\r\n", status: 400, code: "bad_request")
        assertError("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", status: 417, code: "expectation_failed")
    }

    func testParserStopsAfterAFailure() {
        var parser = HTTPRequestParser()
        let events = parser.feed(Array("BAD\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        XCTAssertEqual(events.count, 1)
        XCTAssertTrue(parser.isFailed)
        XCTAssertTrue(parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)).isEmpty)
    }

    func testFailureAfterGoodPipelinedRequestKeepsTheGoodOne() {
        let events = parse("GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/9.9\r\n\r\n")
        XCTAssertEqual(requests(events).map(\.head.path), ["/ok"])
        XCTAssertEqual(failure(events)?.status, 505)
    }

    func testFailureCarriesWhatWasParsed() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1
        var parser = HTTPRequestParser(limits: limits)
        let events = parser.feed(Array("POST /p?q=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc\r\nContent-Length: 2\r\n\r\n".utf8))
        guard case .failure(let failure)? = events.last else { return XCTFail("no failure") }
        XCTAssertEqual(failure.partial.method, "POST")
        XCTAssertEqual(failure.partial.target, "/p?q=1")
        XCTAssertEqual(failure.partial.headers["x-request-id"], "abc")
    }
}
