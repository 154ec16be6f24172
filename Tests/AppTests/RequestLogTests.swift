import Foundation
import Store
import XCTest

/// Every request, from many concurrent clients, becomes exactly one row of the SQLite request log.
final class RequestLogTests: XCTestCase {
    /// What one client sent and got.
    struct Sent {
        let id: String
        let method: String
        let path: String
        let status: Int
        let code: String?
        let inference: Bool
    }

    func testConcurrentClientsEachGetOneLogRow() throws {
        let models = try TemporaryFolder.modelsCopy(["mtcnn"])
        defer { models.remove() }
        let service = try TestService(modelsDirectory: models.url)
        defer { service.stopAndRemove() }
        let face = try contents(of: Paths.fixtureMedia("orientation_1.jpg"))
        let random = try contents(of: Paths.fixtureMedia("random.bin"))

        let clients = 32, requestsPerClient = 4
        let sentRequests = Locked<[Sent]>([])
        let failures = Locked<[String]>([])
        let group = DispatchGroup()
        for client in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                for index in 0..<requestsPerClient {
                    let id = "log-\(client)-\(index)"
                    do {
                        let kind = (client + index) % 4
                        let method = kind == 2 || kind == 3 ? "GET" : "POST"
                        let path = ["/faces", "/faces?min_confidence=0.5", "/no-such-route", "/healthz"][kind]
                        let body: Data? = kind == 0 ? face : kind == 1 ? random : nil
                        let reply = try HTTP.send(method, service.url(path), headers: ["X-Request-Id": id, "Content-Type": "image/jpeg"], body: body)
                        let record = Sent(id: id, method: method, path: String(path.split(separator: "?")[0]), status: reply.status,
                                          code: reply.json["code"].string, inference: kind == 0)
                        sentRequests.mutate { $0.append(record) }
                    } catch {
                        failures.mutate { $0.append("\(id): \(error)") }
                    }
                }
                group.leave()
            }
        }
        group.wait()
        XCTAssertEqual(failures.current, [])
        let sent = sentRequests.current
        XCTAssertEqual(sent.count, clients * requestsPerClient)
        // The mix as sent: valid faces, random bytes, an unknown route, a health check.
        XCTAssertEqual(Set(sent.map { "\($0.status) \($0.code ?? "-")" }), ["200 -", "400 invalid_image", "404 not_found"])

        let log = try HTTP.get(service.url("/requests?limit=1000"))
        XCTAssertEqual(log.status, 200, log.text)
        let rows = try XCTUnwrap(log.json["requests"].array)
        var rowsByID: [String: [JSON]] = [:]
        for row in rows { rowsByID[row["id"].string ?? "", default: []].append(row) }
        for request in sent {
            let matching = rowsByID[request.id] ?? []
            XCTAssertEqual(matching.count, 1, "one row for \(request.id)")
            guard let row = matching.first else { continue }
            XCTAssertEqual(row["method"].string, request.method, request.id)
            XCTAssertEqual(row["path"].string, request.path, request.id)
            XCTAssertEqual(row["status"].int, request.status, request.id)
            XCTAssertEqual(row["error_code"].string, request.code, "\(request.id): \(row)")
            XCTAssertTrue((row["total_ms"].double ?? -1) >= 0, "\(row)")
            if request.inference {
                XCTAssertEqual(row["model"].string, "mtcnn", "\(row)")
                XCTAssertEqual(row["model_version"].int, 1, "\(row)")
                XCTAssertTrue((row["inference_ms"].double ?? -1) >= 0, "\(row)")
                XCTAssertTrue((row["queue_ms"].double ?? -1) >= 0, "\(row)")
                XCTAssertGreaterThan(row["bytes_in"].int ?? 0, face.count, "body plus head: \(row)")
            } else {
                XCTAssertFalse(row["inference_ms"].exists, "no inference for \(request.id): \(row)")
            }
            XCTAssertGreaterThan(row["bytes_out"].int ?? 0, 0, "\(row)")
            XCTAssertTrue(row["client"].string?.hasPrefix("127.0.0.1:") ?? false, "\(row)")
        }
        let database = try Database(path: service.databasePath, options: .init(mode: .readOnly))
        XCTAssertEqual(try database.journalMode(), "wal")
        database.close()
    }

    func testNewestFirstAndLimit() throws {
        let service = try SharedService.get()
        let ids = (0..<3).map { "sequential-\($0)-\(UUID().uuidString)" }
        // One curl over one connection: the server logs each request before it reads the next.
        var arguments: [String] = []
        for id in ids { arguments += ["--silent", "--output", "/dev/null", "-H", "X-Request-Id: \(id)", service.url("/healthz"), "--next"] }
        XCTAssertEqual(try Programs.run("curl", Array(arguments.dropLast())).status, 0)
        let two = try HTTP.get(service.url("/requests?limit=2"))
        XCTAssertEqual(two.status, 200)
        XCTAssertEqual(two.json["requests"].array?.compactMap { $0["id"].string }, [ids[2], ids[1]], "newest first")
        Expect.error(try HTTP.get(service.url("/requests?limit=0")), status: 400, code: "invalid_parameter", "limit=0")
        Expect.error(try HTTP.get(service.url("/requests?limit=1001")), status: 400, code: "invalid_parameter", "limit=1001")
    }
}
