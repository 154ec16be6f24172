import Foundation
import HTTPServer
import XCTest

/// Real sockets, real client: curl against a server on 127.0.0.1 port 0.
final class CurlTests: XCTestCase {
    private func json(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text, file: file, line: line)
    }

    func testRawBodyUploadWithDataBinary() throws {
        let server = try TestServer()
        let payload = Tools.bytes(count: 30_000)
        let file = try Tools.temporaryFile(payload, name: "photo.jpg")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["--data-binary", "@\(file.path)", "-H", "Content-Type: image/jpeg",
                                     "\(server.url)/upload?model=yolov3-tiny"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let body = try json(result.stdout)
        XCTAssertEqual(body["field"] as? String, "(body)")
        XCTAssertEqual(body["type"] as? String, "image/jpeg")
        XCTAssertEqual(body["size"] as? String, "30000")
        XCTAssertEqual(body["checksum"] as? String, String(TestServer.checksum(payload)))
        XCTAssertEqual(body["model"] as? String, "yolov3-tiny")
        let records = server.stopAndCollect()
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(records.first?.status, 200)
        XCTAssertEqual(records.first?.path, "/upload")
        XCTAssertGreaterThan(records.first?.bytesIn ?? 0, 30_000)
    }

    func testDataBinaryWithoutContentTypeIsStillARawUpload() throws {
        let server = try TestServer()
        let payload = Tools.bytes(count: 10_000, seed: 5)
        let file = try Tools.temporaryFile(payload, name: "photo.jpg")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["-v", "--data-binary", "@\(file.path)", "\(server.url)/upload"])
        XCTAssertTrue(result.stderr.contains("Content-Type: application/x-www-form-urlencoded"), "curl's default label")
        let body = try json(result.stdout)
        XCTAssertEqual(body["field"] as? String, "(body)")
        XCTAssertEqual(body["checksum"] as? String, String(TestServer.checksum(payload)))
    }

    func testMultipartUploadWithFormFields() throws {
        let server = try TestServer()
        let payload = Tools.bytes(count: 5_000, seed: 7)
        let file = try Tools.temporaryFile(payload, name: "cat.png")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["-F", "image=@\(file.path);type=image/png", "-F", "model=person", "\(server.url)/upload"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let body = try json(result.stdout)
        XCTAssertEqual(body["field"] as? String, "image")
        XCTAssertEqual(body["filename"] as? String, file.lastPathComponent)
        XCTAssertEqual(body["type"] as? String, "image/png")
        XCTAssertEqual(body["size"] as? String, "5000")
        XCTAssertEqual(body["checksum"] as? String, String(TestServer.checksum(payload)))
        XCTAssertEqual(body["model"] as? String, "person", "parameter from a form field")
    }

    func testLargeUploadGets100Continue() throws {
        let server = try TestServer()
        let payload = Tools.bytes(count: 2 << 20, seed: 3)
        let file = try Tools.temporaryFile(payload, name: "big.jpg")
        defer { try? FileManager.default.removeItem(at: file) }
        for form in [false, true] {
            let upload = form ? ["-F", "file=@\(file.path)"] : ["--data-binary", "@\(file.path)", "-H", "Content-Type: image/jpeg"]
            let result = try Tools.curl(["-v"] + upload + ["\(server.url)/upload"])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("Expect: 100-continue"), "curl did not ask to continue; the test would prove nothing")
            XCTAssertTrue(result.stderr.contains("HTTP/1.1 100 Continue"), "server did not send 100 Continue:\n\(result.stderr)")
            let body = try json(result.stdout)
            XCTAssertEqual(body["size"] as? String, String(2 << 20))
            XCTAssertEqual(body["checksum"] as? String, String(TestServer.checksum(payload)))
        }
    }

    func testOversizedUploadGets413InsteadOf100Continue() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1 << 20
        let server = try TestServer(limits: limits)
        let file = try Tools.temporaryFile(Tools.bytes(count: 2 << 20), name: "big.bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["-v", "--data-binary", "@\(file.path)", "-H", "Content-Type: image/jpeg", "-H", "X-Request-Id: big-1",
                                     "\(server.url)/upload"])
        XCTAssertTrue(result.stderr.contains("Expect: 100-continue"))
        XCTAssertFalse(result.stderr.contains("100 Continue\r"), result.stderr)
        XCTAssertTrue(result.stderr.contains("HTTP/1.1 413"), result.stderr)
        let body = try json(result.stdout)
        XCTAssertEqual(body["success"] as? Bool, false)
        XCTAssertEqual(body["code"] as? String, "payload_too_large")
        XCTAssertEqual(body["request_id"] as? String, "big-1")
        XCTAssertTrue((body["error"] as? String)?.contains("1048576") ?? false, "message states the limit")
        let records = server.stopAndCollect()
        XCTAssertEqual(records.map(\.status), [413])
        XCTAssertEqual(records.first?.errorCode, "payload_too_large")
        XCTAssertEqual(records.first?.requestID, "big-1")
        XCTAssertEqual(records.first?.method, "POST")
    }

    func testUploadToUnknownRouteIsRefusedBeforeTheBody() throws {
        let server = try TestServer()
        let file = try Tools.temporaryFile(Tools.bytes(count: 2 << 20), name: "big.bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["-v", "--data-binary", "@\(file.path)", "\(server.url)/nowhere"])
        XCTAssertTrue(result.stderr.contains("Expect: 100-continue"))
        XCTAssertFalse(result.stderr.contains("100 Continue\r"), result.stderr)
        XCTAssertTrue(result.stderr.contains("HTTP/1.1 404"), result.stderr)
        XCTAssertEqual(try json(result.stdout)["code"] as? String, "not_found")
        let records = server.stopAndCollect()
        XCTAssertEqual(records.map(\.status), [404])
        XCTAssertLessThan(records.first?.bytesIn ?? .max, 2 << 20, "the body was not read")
    }

    func testRequestIdIsEchoedOrGenerated() throws {
        let server = try TestServer()
        let echoed = try Tools.curl(["-i", "-H", "X-Request-Id: client-id-42", "\(server.url)/hello"])
        XCTAssertTrue(echoed.stdout.contains("X-Request-Id: client-id-42\r\n"), echoed.stdout)
        let generated = try Tools.curl(["-i", "\(server.url)/hello"])
        let line = generated.stdout.split(separator: "\r\n").first { $0.hasPrefix("X-Request-Id: ") }
        let id = try XCTUnwrap(line).dropFirst("X-Request-Id: ".count)
        XCTAssertTrue(RequestID.isSane(String(id)))
        let notFound = try Tools.curl(["-i", "-H", "X-Request-Id: nf-1", "\(server.url)/missing"])
        XCTAssertTrue(notFound.stdout.hasPrefix("HTTP/1.1 404"), notFound.stdout)
        XCTAssertTrue(notFound.stdout.contains("X-Request-Id: nf-1\r\n"))
        XCTAssertTrue(notFound.stdout.contains("\"request_id\":\"nf-1\""), notFound.stdout)
        let records = server.stopAndCollect()
        XCTAssertEqual(Set(records.map(\.requestID)), ["client-id-42", String(id), "nf-1"])
        XCTAssertEqual(records.first { $0.requestID == "nf-1" }?.errorCode, "not_found")
    }

    func testMethodNotAllowedOverTheWire() throws {
        let server = try TestServer()
        let result = try Tools.curl(["-i", "-X", "DELETE", "\(server.url)/hello"])
        XCTAssertTrue(result.stdout.hasPrefix("HTTP/1.1 405"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Allow: GET, HEAD\r\n"), result.stdout)
        XCTAssertTrue(result.stdout.contains("\"code\":\"method_not_allowed\""))
    }

    func testHeadHasLengthButNoBody() throws {
        let server = try TestServer()
        let result = try Tools.curl(["-I", "\(server.url)/big?bytes=1234"])
        XCTAssertTrue(result.stdout.hasPrefix("HTTP/1.1 200"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Content-Length: 1234\r\n"), result.stdout)
    }

    func testChunkedUploadFromCurl() throws {
        let server = try TestServer()
        let payload = Tools.bytes(count: 100_000, seed: 11)
        let file = try Tools.temporaryFile(payload, name: "chunked.bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try Tools.curl(["-v", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/octet-stream",
                                     "--data-binary", "@\(file.path)", "\(server.url)/upload"])
        XCTAssertTrue(result.stderr.contains("Transfer-Encoding: chunked"))
        let body = try json(result.stdout)
        XCTAssertEqual(body["size"] as? String, "100000")
        XCTAssertEqual(body["checksum"] as? String, String(TestServer.checksum(payload)))
    }
}
