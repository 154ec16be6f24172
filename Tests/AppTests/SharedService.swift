import Foundation
import XCTest

/// One service over the repository's bundled models, shared by the test classes that
/// only read (loading every model once keeps the suite short). Each class that uses it
/// calls `SharedService.get()` in `setUpWithError`; it is shut down when the test process ends.
enum SharedService {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<TestService, Error>?

    static func get() throws -> TestService {
        try lock.withLock { () -> Result<TestService, Error> in
            if let started { return started }
            let result = Result { try TestService() }
            started = result
            if case let .success(service) = result {
                atexit { SharedService.shutdownAtExit() }
                _ = service
            }
            return result
        }.get()
    }

    private static func shutdownAtExit() {
        if case let .success(service)? = started { service.stopAndRemove() }
    }
}

/// Shared helpers for image requests.
extension TestService {
    /// POSTs a file's bytes as the raw body.
    func postFile(_ path: String, _ file: URL, contentType: String = "application/octet-stream",
                  headers: [String: String] = [:]) throws -> HTTPReply {
        try HTTP.post(url(path), body: try contents(of: file), contentType: contentType, headers: headers)
    }

    /// GET /healthz answers 200 "ok".
    func assertHealthy(_ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
        do {
            let reply = try HTTP.get(url("/healthz"))
            XCTAssertEqual(reply.status, 200, "healthz after \(context)", file: file, line: line)
            XCTAssertEqual(reply.text, "ok\n", "healthz after \(context)", file: file, line: line)
        } catch {
            XCTFail("healthz after \(context): \(error)", file: file, line: line)
        }
    }
}
