import Foundation
import XCTest

/// The repository's openapi.yaml is a valid OpenAPI document and describes exactly the routes the router serves.
final class OpenAPITests: XCTestCase {
    /// The Python of the test environment (scripts/python-test-env makes it on first use).
    func testPython() throws -> String {
        let script = Paths.repositoryRoot.appendingPathComponent("scripts/python-test-env").path
        let output = try Programs.run("bash", [script])
        guard output.status == 0, let python = output.stdout.split(separator: "\n").last.map(String.init),
              FileManager.default.isExecutableFile(atPath: python) else {
            XCTFail("scripts/python-test-env failed (status \(output.status)): \(output.stderr)")
            throw XCTSkip("no Python test environment")
        }
        return python
    }

    static let validateScript = #"""
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
spec, _ = read_from_filename(sys.argv[1])
validate(spec)
methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
routes = sorted("%s %s" % (method.upper(), path)
                for path, item in spec.get("paths", {}).items()
                for method in item if method in methods)
print(json.dumps({"version": spec.get("openapi"), "routes": routes}))
"""#

    /// `METHOD /path` of every `route(...)` and `sync(...)` registration in Application.swift.
    static func servedRoutes() throws -> Set<String> {
        let source = try String(contentsOf: Paths.repositoryRoot.appendingPathComponent("Sources/App/Application.swift"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"(?:route|sync)\("([A-Z]+)", "(/[^"]*)""#)
        let matches = pattern.matches(in: source, range: NSRange(source.startIndex..., in: source))
        return Set(matches.map { match in
            "\(source[Range(match.range(at: 1), in: source)!]) \(source[Range(match.range(at: 2), in: source)!])"
        })
    }

    func testSpecIsValidAndMatchesTheRouter() throws {
        let python = try testPython()
        let spec = Paths.repositoryRoot.appendingPathComponent("openapi.yaml").path
        let output = try Programs.python(Self.validateScript, [spec], interpreter: python)
        XCTAssertEqual(output.status, 0, "openapi-spec-validator: \(output.stderr)")
        let result = JSON(data: Data(output.stdout.utf8))
        XCTAssertTrue(result["version"].string?.hasPrefix("3.") ?? false, output.stdout)
        let documented = Set(result["routes"].array?.compactMap(\.string) ?? [])
        let served = try Self.servedRoutes()
        XCTAssertGreaterThanOrEqual(served.count, 20, "the route parser found the registrations: \(served.sorted())")
        XCTAssertTrue(served.contains("POST /faces") && served.contains("GET /v2/models/{name}"), "\(served.sorted())")

        XCTAssertEqual(served.subtracting(documented).sorted(), [], "served but not in openapi.yaml")
        XCTAssertEqual(documented.subtracting(served).sorted(), [],
                       "in openapi.yaml but not served")
    }

    /// The parser really reads the router: every parsed route answers with something other than 404/405.
    func testParsedRoutesAreServed() throws {
        let service = try SharedService.get()
        for route in try Self.servedRoutes() {
            let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
            // A model that does not exist, so that no route changes the shared service's models.
            let path = parts[1].replacingOccurrences(of: "{name}", with: "no-such-model").replacingOccurrences(of: "{version}", with: "1")
            // An empty body: handlers answer 4xx for it, but the router must have matched.
            let reply = try HTTP.send(parts[0], service.url(path), headers: ["Content-Type": "application/octet-stream"],
                                      body: parts[0] == "GET" ? nil : Data())
            XCTAssertFalse([404, 405].contains(reply.status) && ["not_found", "method_not_allowed"].contains(reply.json["code"].string ?? ""),
                           "\(route) is not routed: \(reply.status) \(reply.text)")
        }
    }
}
