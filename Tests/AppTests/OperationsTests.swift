import Foundation
import XCTest

/// /metrics, /readyz, /healthz, /openapi.yaml.
final class OperationsTests: XCTestCase {
    var service: TestService!

    override func setUpWithError() throws {
        service = try SharedService.get()
    }

    /// One sample line of the Prometheus text format: `name{labels} value`.
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    static func parseSamples(_ text: String) -> (samples: [Sample], malformed: [String]) {
        let pattern = try! NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})? (\S+)$"#)
        let labelPattern = try! NSRegularExpression(pattern: #"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#)
        var samples: [Sample] = [], malformed: [String] = []
        for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
            let range = NSRange(line.startIndex..., in: line)
            guard let match = pattern.firstMatch(in: line, range: range),
                  let value = Double(line[Range(match.range(at: 4), in: line)!]) else {
                malformed.append(line)
                continue
            }
            var labels: [String: String] = [:]
            if let labelRange = Range(match.range(at: 3), in: line) {
                let labelText = String(line[labelRange])
                for label in labelPattern.matches(in: labelText, range: NSRange(labelText.startIndex..., in: labelText)) {
                    labels[String(labelText[Range(label.range(at: 1), in: labelText)!])] = String(labelText[Range(label.range(at: 2), in: labelText)!])
                }
            }
            samples.append(Sample(name: String(line[Range(match.range(at: 1), in: line)!]), labels: labels, value: value))
        }
        return (samples, malformed)
    }

    func testMetricsArePrometheusTextWithRequestCountsHistogramsAndQueueDepth() throws {
        for _ in 0..<2 { XCTAssertEqual(try HTTP.get(service.url("/healthz")).status, 200) }
        XCTAssertEqual(try HTTP.post(service.url("/faces"), body: try contents(of: Paths.media("grace_hopper.jpg"))).status, 200)
        XCTAssertEqual(try HTTP.post(service.url("/faces"), body: try contents(of: Paths.fixtureMedia("random.bin"))).status, 400)

        let reply = try HTTP.get(service.url("/metrics"))
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.header("Content-Type")?.hasPrefix("text/plain") ?? false, "\(reply.headers)")
        let (samples, malformed) = Self.parseSamples(reply.text)
        XCTAssertEqual(malformed, [], "every non-comment line is `name{labels} value`")
        XCTAssertTrue(reply.text.contains("# TYPE seer_requests_total counter"))
        XCTAssertTrue(reply.text.contains("# TYPE seer_request_duration_seconds histogram"))
        XCTAssertTrue(reply.text.contains("# TYPE seer_queue_depth gauge"))

        func count(_ route: String, _ status: String) -> Double {
            samples.first { $0.name == "seer_requests_total" && $0.labels == ["route": route, "status": status] }?.value ?? 0
        }
        XCTAssertGreaterThanOrEqual(count("GET /healthz", "200"), 2)
        XCTAssertGreaterThanOrEqual(count("POST /faces", "200"), 1)
        XCTAssertGreaterThanOrEqual(count("POST /faces", "400"), 1)

        // Histogram buckets are cumulative and end in +Inf == _count.
        let buckets = samples.filter { $0.name == "seer_request_duration_seconds_bucket" && $0.labels["route"] == "POST /faces" }
        XCTAssertEqual(buckets.last?.labels["le"], "+Inf")
        XCTAssertEqual(buckets.map(\.value), buckets.map(\.value).sorted(), "cumulative buckets")
        let total = samples.first { $0.name == "seer_request_duration_seconds_count" && $0.labels == ["route": "POST /faces"] }
        XCTAssertEqual(total?.value, buckets.last?.value)
        let routeTotal = samples.filter { $0.name == "seer_requests_total" && $0.labels["route"] == "POST /faces" }.map(\.value).reduce(0, +)
        XCTAssertEqual(total?.value, routeTotal, "one duration per counted request")
        XCTAssertTrue(samples.contains { $0.name == "seer_inference_duration_seconds_count" && $0.labels["model"] == "mtcnn" && $0.value >= 1 })
        XCTAssertTrue(samples.contains { $0.name == "seer_queue_wait_seconds_count" && $0.value >= 1 })
        XCTAssertEqual(samples.first { $0.name == "seer_queue_depth" }?.value, 0, "nothing waits now")
        XCTAssertEqual(samples.first { $0.name == "seer_workers" }?.value, 2)
        let bundled = try FileManager.default.contentsOfDirectory(at: Paths.models, includingPropertiesForKeys: nil)
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
        XCTAssertGreaterThanOrEqual(bundled.count, 7)
        XCTAssertEqual(samples.first { $0.name == "seer_models_loaded" }?.value, Double(bundled.count), "every bundled model folder")
    }

    func testReadyAfterLoadingAndHealthz() throws {
        let ready = try HTTP.get(service.url("/readyz"))
        XCTAssertEqual(ready.status, 200, ready.text)
        XCTAssertEqual(ready.text, "ready\n")
        let healthy = try HTTP.get(service.url("/healthz"))
        XCTAssertEqual(healthy.status, 200)
        XCTAssertEqual(healthy.text, "ok\n")
        let head = try HTTP.send("HEAD", service.url("/healthz"))
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty)
    }

    func testNotReadyWithoutDefaultModels() throws {
        let models = try TemporaryFolder("seer-no-models")
        defer { models.remove() }
        let empty = try TestService(modelsDirectory: models.url)
        defer { empty.stopAndRemove() }
        Expect.error(try HTTP.get(empty.url("/readyz")), status: 503, code: "not_ready", "no models")
        Expect.error(try HTTP.get(empty.url("/v2/health/ready")), status: 503, code: "not_ready", "no models, v2")
        XCTAssertEqual(try HTTP.get(empty.url("/healthz")).status, 200, "alive even when not ready")
        XCTAssertEqual(try HTTP.get(empty.url("/v2/health/live")).status, 200)
    }

    func testOpenAPIDocumentIsServed() throws {
        let reply = try HTTP.get(service.url("/openapi.yaml"))
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.header("Content-Type")?.contains("yaml") ?? false, "\(reply.headers)")
        XCTAssertEqual(reply.body, try contents(of: Paths.repositoryRoot.appendingPathComponent("openapi.yaml")))
        XCTAssertTrue(reply.text.hasPrefix("openapi: 3"))
    }
}
