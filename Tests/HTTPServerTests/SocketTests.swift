import Foundation
import HTTPServer
import XCTest

/// Real sockets with Python clients (http.client and raw sockets).
final class SocketTests: XCTestCase {
    private func python(_ server: TestServer, _ script: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let result = try Tools.python(pythonPrelude + "\n" + script, [String(server.port)])
        XCTAssertEqual(result.status, 0, "python failed:\n\(result.stderr)", file: file, line: line)
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try TestServer()
        let output = try python(server, """
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        for n in range(5):
            conn.request("GET", "/hello?n=%d" % n)
            r = conn.getresponse()
            print(r.status, r.read().decode(), r.getheader("Connection"))
        conn.request("POST", "/echo", body=b"abc" * 1000, headers={"Content-Type": "text/plain"})
        r = conn.getresponse()
        print(r.status, len(r.read()), r.getheader("X-Body-Length"))
        """)
        XCTAssertEqual(output, (0..<5).map { "200 hello \($0) None" } + ["200 3000 3000"])
        let records = server.stopAndCollect()
        XCTAssertEqual(records.count, 6)
        XCTAssertEqual(Set(records.map(\.clientAddress)).count, 1, "all requests came over one connection")
    }

    func testHTTP10KeepAliveAndClose() throws {
        let server = try TestServer()
        let output = try python(server, """
        s = connect()
        s.sendall(b"GET /hello?n=a HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n")
        status, headers, body, rest = read_response(s)
        print(status, body.decode(), headers.get("connection"))
        s.sendall(b"GET /hello?n=b HTTP/1.0\\r\\n\\r\\n")
        status, headers, body, rest = read_response(s, rest)
        print(status, body.decode(), headers.get("connection"))
        print(repr(s.recv(10)))
        """)
        XCTAssertEqual(output, ["200 hello a keep-alive", "200 hello b close", "b''"])
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try TestServer()
        let output = try python(server, """
        s = connect()
        s.sendall(b"GET /hello?n=1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
                  b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nsecnd"
                  b"GET /path/third%20one HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        rest = b""
        for _ in range(3):
            status, headers, body, rest = read_response(s, rest)
            print(status, body.decode())
        print(repr(s.recv(10)))
        """)
        XCTAssertEqual(output, ["200 hello 1", "200 secnd", "200 path=/path/third one rest=third one", "b''"])
        let records = server.stopAndCollect()
        XCTAssertEqual(records.map(\.path), ["/hello", "/echo", "/path/third one"])
    }

    func testConcurrentClientsAreAllAnsweredAndObserved() throws {
        let server = try TestServer()
        let clients = 40
        let output = try python(server, """
        N = \(clients)
        barrier = threading.Barrier(N)
        results = [None] * N
        def run(i):
            barrier.wait()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
            body = bytes([i % 256]) * (1000 * (i + 1))
            conn.request("POST", "/echo", body=body, headers={"X-Request-Id": "c-%d" % i})
            r = conn.getresponse()
            data = r.read()
            results[i] = (r.status, data == body, r.getheader("X-Request-Id"))
            conn.close()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
        for t in threads: t.start()
        for t in threads: t.join()
        for status, same, rid in results:
            print(status, same, rid)
        """)
        XCTAssertEqual(output.sorted(), (0..<clients).map { "200 True c-\($0)" }.sorted())
        let records = server.stopAndCollect()
        XCTAssertEqual(records.count, clients)
        XCTAssertEqual(Set(records.map(\.requestID)), Set((0..<clients).map { "c-\($0)" }))
        XCTAssertTrue(records.allSatisfy { $0.status == 200 && !$0.clientDisconnected })
        for record in records {
            let index = try XCTUnwrap(Int(record.requestID.dropFirst(2)))
            XCTAssertGreaterThan(record.bytesIn, 1000 * (index + 1))
            XCTAssertGreaterThan(record.bytesOut, 1000 * (index + 1))
        }
    }

    func testClientDisconnectingMidUploadAndMidResponse() throws {
        let server = try TestServer()
        let output = try python(server, """
        s = connect()
        s.sendall(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: gone-upload\\r\\nContent-Length: 1000000\\r\\n\\r\\n" + b"a" * 5000)
        s.close()
        s = connect()
        s.sendall(b"GET /big?bytes=50000000 HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: gone-download\\r\\n\\r\\n")
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00")
        s.close()
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        conn.request("GET", "/hello?n=after")
        r = conn.getresponse()
        print(r.status, r.read().decode())
        """)
        XCTAssertEqual(output, ["200 hello after"])
        let records = server.stopAndCollect()
        XCTAssertEqual(records.count, 3)
        let upload = try XCTUnwrap(records.first { $0.requestID == "gone-upload" })
        XCTAssertEqual(upload.status, 499)
        XCTAssertEqual(upload.errorCode, "client_closed_request")
        XCTAssertTrue(upload.clientDisconnected)
        XCTAssertEqual(upload.method, "POST")
        XCTAssertEqual(upload.path, "/echo")
        XCTAssertGreaterThanOrEqual(upload.bytesIn, 5000)
        let download = try XCTUnwrap(records.first { $0.requestID == "gone-download" })
        XCTAssertEqual(download.status, 200)
        XCTAssertTrue(download.clientDisconnected)
        XCTAssertLessThan(download.bytesOut, 50_000_000)
    }

    func testGarbageHugeRequestLineAndHeaderFloodGetErrorsAndServerKeepsServing() throws {
        let server = try TestServer()
        let output = try python(server, """
        def attempt(payload):
            s = connect()
            try:
                s.sendall(payload)
            except (ConnectionResetError, BrokenPipeError):
                pass
            r = try_read_response(s)
            s.close()
            if r is None:
                return "closed"
            return "%d %s" % (r[0], json.loads(r[2])["code"])
        print(attempt(b"\\x00\\xff\\xfe garbage \\x01\\x02\\r\\n\\r\\n"))
        print(attempt(b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"))
        print(attempt(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n" + b"X-Header: value\\r\\n" * 10000 + b"\\r\\n"))
        print(attempt(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + b"v" * 20000 + b"\\r\\n\\r\\n"))
        print(attempt(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: -4\\r\\n\\r\\n"))
        print(attempt(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"))
        print(attempt(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nxyz\\r\\n"))
        print(attempt(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: image/jpeg\\r\\n\\r\\n"))
        unclosed = b"--zz\\r\\nContent-Disposition: form-data; name=a\\r\\n\\r\\nv"
        print(attempt(b"POST /upload HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: multipart/form-data; boundary=zz\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(unclosed) + unclosed))
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        conn.request("GET", "/hello?n=still")
        r = conn.getresponse()
        print(r.status, r.read().decode())
        """)
        // Lingering close lets the client read the error even when it was still sending.
        XCTAssertEqual(output, ["400 bad_request", "414 uri_too_long", "431 headers_too_large", "431 headers_too_large",
                                "400 bad_request", "400 bad_request", "400 bad_request", "411 length_required",
                                "400 bad_request", "200 hello still"])
        let records = server.stopAndCollect()
        XCTAssertEqual(records.map(\.status).sorted(), [200, 400, 400, 400, 400, 400, 411, 414, 431, 431])
        XCTAssertEqual(records.filter { $0.method.isEmpty }.map(\.status).sorted(), [400, 414],
                       "garbage and the huge request line never had a method")
    }

    func testHeaderTimeoutBodyTimeoutAndIdleClose() throws {
        var limits = HTTPLimits()
        limits.headerReadTimeout = 0.3
        limits.bodyReadTimeout = 0.3
        limits.idleTimeout = 0.3
        let server = try TestServer(limits: limits)
        let output = try python(server, """
        s = connect()
        s.sendall(b"GET /hello HTTP/1.1\\r\\nHost: x\\r\\n")      # never finishes its headers
        r = read_response(s)
        print(r[0], json.loads(r[2])["code"], r[1].get("connection"))
        print(repr(s.recv(10)))
        s = connect()
        s.sendall(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 10\\r\\n\\r\\nabc")
        r = read_response(s)
        print(r[0], json.loads(r[2])["code"])
        s = connect()
        s.sendall(b"GET /hello?n=1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        r = read_response(s)
        print(r[0], r[2].decode())
        print(repr(s.recv(10)))                                     # idle keep-alive connection is closed silently
        """)
        XCTAssertEqual(output, ["408 request_timeout close", "b''", "408 request_timeout", "200 hello 1", "b''"])
        let records = server.stopAndCollect()
        XCTAssertEqual(records.map(\.status).sorted(), [200, 408, 408])
        XCTAssertEqual(records.first { $0.path == "/echo" }?.errorCode, "request_timeout")
    }

    func testSlowlorisCannotExceedMaxConnectionsAndOverflowGets503() throws {
        var limits = HTTPLimits()
        limits.maxConnections = 3
        let server = try TestServer(limits: limits)
        let output = try python(server, """
        held = []
        for i in range(3):
            s = connect()
            s.sendall(b"GET /hello HTTP/1.1\\r\\n")               # slowloris: headers never finish
            held.append(s)
        time.sleep(0)
        extra = connect()
        r = read_response(extra)
        print(r[0], json.loads(r[2])["code"], r[1].get("retry-after"))
        for s in held:
            s.close()
        for attempt in range(2000):                           # until the server has noticed the closes
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            conn.request("GET", "/hello?n=ok")
            r = conn.getresponse()
            body = r.read()
            conn.close()
            if r.status == 200:
                print(r.status, body.decode())
                break
            time.sleep(0.005)
        """)
        XCTAssertEqual(output.first, "503 overloaded 1")
        XCTAssertEqual(output.last, "200 hello ok")
        let records = server.stopAndCollect()
        let overloaded = records.filter { $0.errorCode == "overloaded" }
        XCTAssertGreaterThanOrEqual(overloaded.count, 1)
        XCTAssertTrue(overloaded.allSatisfy { $0.status == 503 && $0.method.isEmpty })
        XCTAssertEqual(records.filter { $0.status == 499 }.count, 3, "the three abandoned slow requests are logged")
    }

    func testBufferedBodyBudgetRefusesUploadsBeyondIt() throws {
        var limits = HTTPLimits()
        limits.maxBufferedBodyBytes = 1_000_000
        let server = try TestServer(limits: limits)
        let output = try python(server, """
        head = b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nExpect: 100-continue\\r\\nContent-Length: 800000\\r\\n\\r\\n"
        a = connect()
        a.sendall(head)
        status, headers, body, rest_a = read_response(a)       # 100 Continue: a's 800000 bytes are reserved
        print(status)
        b = connect()
        b.sendall(head)
        r = read_response(b)
        print(r[0], json.loads(r[2])["code"], r[1].get("retry-after"))
        c = connect()
        c.sendall(b"POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n40000\\r\\n")
        try:
            for i in range(16):
                c.sendall(b"c" * 16384)
        except (ConnectionResetError, BrokenPipeError):
            pass
        r = try_read_response(c)
        print(r[0], json.loads(r[2])["code"]) if r else print("closed")
        a.sendall(b"a" * 800000)
        status, headers, body, rest_a = read_response(a, rest_a)
        print(status, len(body))
        for attempt in range(2000):                            # until a's reservation is released
            d = connect()
            d.sendall(head.replace(b"Expect: 100-continue\\r\\n", b"") + b"d" * 800000)
            r = try_read_response(d)
            d.close()
            if r and r[0] == 200:
                print(r[0], len(r[2]))
                break
            time.sleep(0.005)
        """)
        XCTAssertEqual(output, ["100", "503 overloaded 1", "503 overloaded", "200 800000", "200 800000"])
    }
}
