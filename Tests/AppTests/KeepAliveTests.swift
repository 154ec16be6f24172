import Foundation
import XCTest

/// Python's http.client keeps one connection open across requests.
final class KeepAliveTests: XCTestCase {
    static let script = #"""
import http.client, json, sys
port, photo = int(sys.argv[1]), open(sys.argv[2], "rb").read()
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
results = []
for index in range(6):
    if index % 2 == 0:
        connection.request("GET", "/healthz", headers={"X-Request-Id": "keepalive-%d" % index})
    else:
        connection.request("POST", "/faces", body=photo,
                           headers={"Content-Type": "image/jpeg", "X-Request-Id": "keepalive-%d" % index})
    local_port = connection.sock.getsockname()[1]
    response = connection.getresponse()
    body = response.read()
    results.append({"status": response.status, "local_port": local_port,
                    "request_id": response.getheader("X-Request-Id"),
                    "connection": response.getheader("Connection"),
                    "will_close": response.will_close,
                    "body": body.decode("utf-8", "replace")})
connection.close()
print(json.dumps(results))
"""#

    func testSeveralRequestsOverOneConnection() throws {
        let service = try SharedService.get()
        let output = try Programs.python(Self.script, [String(service.port), Paths.media("grace_hopper.jpg").path])
        XCTAssertEqual(output.status, 0, output.stderr)
        let results = try XCTUnwrap(JSON(data: Data(output.stdout.utf8)).array, output.stdout)
        XCTAssertEqual(results.count, 6)
        let ports = Set(results.compactMap { $0["local_port"].int })
        XCTAssertEqual(ports.count, 1, "every request went over the same connection: \(ports)")
        for (index, result) in results.enumerated() {
            XCTAssertEqual(result["status"].int, 200, "\(result)")
            XCTAssertEqual(result["request_id"].string, "keepalive-\(index)")
            XCTAssertEqual(result["will_close"].bool, false, "\(result)")
            XCTAssertNil(result["connection"].string, "HTTP/1.1 keeps the connection open by default")
            let body = result["body"].string ?? ""
            if index % 2 == 0 {
                XCTAssertEqual(body, "ok\n")
            } else {
                let faces = JSON(data: Data(body.utf8))
                XCTAssertEqual(faces["success"].bool, true, body)
                XCTAssertEqual(faces["request_id"].string, "keepalive-\(index)")
                XCTAssertEqual(faces["predictions"].array?.count, 1, body)
            }
        }
    }
}
