import Foundation
import XCTest

/// The bounded worker queue: a burst beyond one running + one waiting job is refused with 503 at once.
final class OverloadTests: XCTestCase {
    func testBurstBeyondTheQueueGets503OverloadedWithRetryAfter() throws {
        let models = try TemporaryFolder.modelsCopy(["mtcnn"])
        defer { models.remove() }
        let service = try TestService(modelsDirectory: models.url) {
            $0.workers = 1
            $0.queueCapacity = 1
        }
        defer { service.stopAndRemove() }
        // A large photo keeps the single worker busy far longer than the burst takes to arrive.
        let photo = try contents(of: Paths.media("kite.jpg"))
        let clients = 16
        let collected = Locked<[HTTPReply]>([])
        let failures = Locked<[String]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for _ in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                start.wait()
                do {
                    let reply = try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg")
                    collected.mutate { $0.append(reply) }
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
                group.leave()
            }
        }
        for _ in 0..<clients { start.signal() }
        group.wait()

        XCTAssertEqual(failures.current, [])
        let replies = collected.current
        XCTAssertEqual(replies.count, clients)
        let statuses = replies.map(\.status)
        XCTAssertEqual(Set(statuses).subtracting([200, 503]), [], "only 200 or 503: \(statuses)")
        let refused = replies.filter { $0.status == 503 }
        let served = replies.filter { $0.status == 200 }
        XCTAssertFalse(refused.isEmpty, "one worker and one queue slot cannot take \(clients) requests at once: \(statuses)")
        XCTAssertGreaterThanOrEqual(served.count, 2, "the running and the queued request are answered: \(statuses)")
        for reply in refused {
            Expect.error(reply, status: 503, code: "overloaded", "burst")
            XCTAssertNotNil(reply.header("Retry-After").flatMap { Int($0) }, "Retry-After seconds: \(reply.headers)")
        }
        for reply in served {
            XCTAssertEqual(reply.json["success"].bool, true, reply.text)
            XCTAssertEqual(reply.json["model"]["name"].string, "mtcnn")
        }
        // Once the burst is over, the pool takes work again.
        let after = try HTTP.post(service.url("/faces"), body: try contents(of: Paths.media("grace_hopper.jpg")), contentType: "image/jpeg")
        XCTAssertEqual(after.status, 200, after.text)
    }
}
