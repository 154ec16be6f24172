import Foundation
import HTTPServer
import XCTest

final class ShutdownTests: XCTestCase {
    /// Waits (without a time assertion) until `condition` holds; fails after a generous guard.
    private func waitUntil(_ what: String, _ condition: () -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let guardDeadline = Date().addingTimeInterval(60)
        while !condition() {
            if Date() > guardDeadline { return XCTFail("never happened: \(what)", file: file, line: line) }
            usleep(2_000)
        }
    }

    func testGracefulShutdownFinishesInFlightClosesIdleAndStopsAccepting() throws {
        let server = try TestServer()
        let client = try Tools.Running("python3", ["-c", pythonPrelude + "\n" + """
        idle = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        idle.request("GET", "/hello?n=idle")
        r = idle.getresponse()
        print(r.status, r.read().decode())
        busy = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        busy.request("GET", "/block")
        r = busy.getresponse()
        print(r.status, r.read().decode(), r.getheader("Connection"))
        print("idle closed" if idle.sock.recv(1) == b"" else "idle open")
        """, String(server.port)])
        XCTAssertEqual(server.blockEntered.wait(timeout: .now() + 60), .success)
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var clean = false
        DispatchQueue.global().async {
            clean = server.server.shutdown(gracePeriod: 60)
            finished.signal()
        }
        waitUntil("the idle connection is closed by the drain") { server.server.connectionCount == 1 }
        server.release.signal()
        XCTAssertEqual(finished.wait(timeout: .now() + 60), .success)
        XCTAssertTrue(clean, "nothing had to be cut off")
        let output = client.finish()
        XCTAssertEqual(output.stdout.split(separator: "\n"), ["200 hello idle", "200 released close", "idle closed"], output.stderr)
        let refused = try Tools.curl(["\(server.url)/hello"])
        XCTAssertEqual(refused.status, 7, "curl exit 7: could not connect, the listener is closed")
        XCTAssertEqual(server.log.records.map(\.status).sorted(), [200, 200])
    }

    func testShutdownDeadlineAnswersStuckRequests503() throws {
        let server = try TestServer()
        let client = try Tools.Running("python3", ["-c", pythonPrelude + "\n" + """
        s = connect()
        s.sendall(b"GET /block HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: stuck\\r\\n\\r\\n")
        status, headers, body, rest = read_response(s)
        print(status, json.loads(body)["code"], headers.get("connection"), headers.get("x-request-id"))
        """, String(server.port)])
        XCTAssertEqual(server.blockEntered.wait(timeout: .now() + 60), .success)
        XCTAssertFalse(server.server.shutdown(gracePeriod: 0.1), "the stuck request had to be cut off")
        server.release.signal()
        let output = client.finish()
        XCTAssertEqual(output.stdout, "503 not_ready close stuck\n", output.stderr)
        let records = server.log.records
        XCTAssertEqual(records.map(\.status), [503])
        XCTAssertEqual(records.first?.errorCode, "not_ready")
        XCTAssertEqual(records.first?.requestID, "stuck")
        XCTAssertEqual(server.server.shutdown(), false, "a second call reports the first result")
    }
}
