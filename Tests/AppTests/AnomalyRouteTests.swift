import App
import Foundation
import HTTPServer
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// POST /anomaly and POST /anomaly/baselines through the service's router (and once over a socket),
/// with the bundled backbone and default scorer, on the clips of Tests/Fixtures/video.
final class AnomalyRouteTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let videos = repository.appendingPathComponent("Tests/Fixtures/video")

    var scratch: URL!
    var application: Application!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("seer-anomaly-\(UUID().uuidString)")
        let models = scratch.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        for name in ["yolo-backbone", "clip-novelty"] {
            try FileManager.default.copyItem(at: AnomalyRouteTests.repository.appendingPathComponent("models/\(name)"),
                                             to: models.appendingPathComponent(name))
        }
        var configuration = ServiceConfiguration(modelsDirectory: models, dataDirectory: scratch.appendingPathComponent("data"))
        configuration.workers = 1
        configuration.threadsPerWorker = 2
        configuration.port = 0
        configuration.host = "127.0.0.1"
        application = try Application(configuration: configuration)
        XCTAssertEqual(application.loadModels(), [:])
    }

    override func tearDownWithError() throws {
        application.shutdown()
        try? FileManager.default.removeItem(at: scratch)
    }

    func clip(_ name: String) throws -> Data { try Data(contentsOf: AnomalyRouteTests.videos.appendingPathComponent(name)) }

    func post(_ target: String, _ body: Data, headers: HTTPHeaders = ["Content-Type": "application/octet-stream"]) throws -> Response {
        application.handle(try Request(method: "POST", target: target, headers: headers, body: body))
    }

    func json(_ response: Response) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: response.body) as? [String: Any], String(decoding: response.body, as: UTF8.self))
    }

    func multipart(_ parts: [(name: String, filename: String?, data: Data)]) -> (Data, HTTPHeaders) {
        let boundary = "seer-test-boundary-\(UUID().uuidString)"
        var body = Data()
        for part in parts {
            var disposition = "Content-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { disposition += "; filename=\"\(filename)\"" }
            body.append(Data("--\(boundary)\r\n\(disposition)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
            body.append(part.data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return (body, ["Content-Type": "multipart/form-data; boundary=\(boundary)"])
    }

    /// Indices of the segments scoring at or above 0.5.
    func flagged(_ body: [String: Any]) -> [Int] {
        ((body["segments"] as? [[String: Any]]) ?? []).filter { ($0["score"] as? Double ?? 0) >= 0.5 }.compactMap { $0["index"] as? Int }
    }

    func testScoresAClipAsTheContractSays() throws {
        let response = try post("/anomaly", try clip("test_tamper.mp4"))
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let body = try json(response)
        XCTAssertEqual(body["success"] as? Bool, true)
        XCTAssertNotNil(body["request_id"] as? String)
        XCTAssertEqual((body["model"] as? [String: Any])?["name"] as? String, "clip-novelty")
        XCTAssertEqual(body["method"] as? String, "clip-self-reference")
        let video = try XCTUnwrap(body["video"] as? [String: Any])
        XCTAssertEqual(video["frames"] as? Int, 160)
        XCTAssertEqual(video["fps"] as? Double, 10)
        XCTAssertEqual(video["duration_s"] as? Double, 16)
        XCTAssertEqual(video["width"] as? Int, 160)
        XCTAssertEqual(video["height"] as? Int, 120)
        let segments = try XCTUnwrap(body["segments"] as? [[String: Any]])
        XCTAssertEqual(segments.count, 32)
        XCTAssertEqual(segments[1]["start_s"] as? Double, 0.5)
        XCTAssertEqual(segments[1]["end_s"] as? Double, 1)
        XCTAssertEqual(body["threshold"] as? Double, 0.5)
        XCTAssertEqual(body["anomalous"] as? Bool, true)
        // The blackout is 9-11 s: segments 18-21.
        XCTAssertFalse(flagged(body).isEmpty)
        XCTAssertTrue(flagged(body).allSatisfy { (17...22).contains($0) }, "\(flagged(body))")
        XCTAssertEqual(body["max_score"] as? Double, segments.compactMap { $0["score"] as? Double }.max())
        XCTAssertNotNil((body["timing"] as? [String: Any])?["total_ms"] as? Double)

        // Multipart field `video`, AVI, and segments=.
        let (form, headers) = multipart([(name: "video", filename: "clip.avi", data: try clip("test_tamper.avi")),
                                         (name: "segments", filename: nil, data: Data("16".utf8))])
        let avi = try json(try post("/anomaly", form, headers: headers))
        XCTAssertEqual((avi["segments"] as? [Any])?.count, 16)
        XCTAssertEqual((avi["video"] as? [String: Any])?["sampled_frames"] as? Int, 64)
        XCTAssertTrue(flagged(avi).allSatisfy { (8...11).contains($0) } && !flagged(avi).isEmpty, "\(flagged(avi))")
    }

    func testSamplingRateIsConfigurableForTheSelfReference() throws {
        let body = try json(try post("/anomaly?fps=2", try clip("test_foreign.mp4")))
        XCTAssertEqual((body["video"] as? [String: Any])?["sampled_frames"] as? Int, 32)
        XCTAssertEqual(try post("/anomaly?fps=0", try clip("test_foreign.mp4")).status, 400)
    }

    func testPlotIsAPNGChart() throws {
        for (target, headers) in [("/anomaly", ["Accept": "image/png"] as HTTPHeaders), ("/anomaly?plot=1", HTTPHeaders())] {
            let response = try post(target, try clip("test_foreign.mp4"), headers: headers)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers["Content-Type"], "image/png")
            XCTAssertEqual(Array(response.body.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
    }

    func testBadInputsGetTheRight4xxAndTheServiceKeepsServing() throws {
        let mp4 = try clip("test_tamper.mp4")
        let jpeg = try Data(contentsOf: AnomalyRouteTests.repository.appendingPathComponent("Tests/Fixtures/media/orientation_1.jpg"))
        var corrupt = [UInt8](mp4)
        for offset in 0..<3000 { corrupt[corrupt.count / 2 + offset] = UInt8((offset * 37 + 11) & 0xFF) }
        let cases: [(String, String, Data, Int, String)] = [
            ("zero-length", "/anomaly", Data(), 400, "bad_request"),
            ("truncated to 1000 bytes", "/anomaly", mp4.prefix(1000), 400, "invalid_video"),
            ("MP4 cut before its index", "/anomaly", try clip("bad_truncated_index.mp4"), 400, "invalid_video"),
            ("a JPEG", "/anomaly", jpeg, 400, "invalid_video"),
            ("a text file", "/anomaly", Data("name,value\nframes,100\n".utf8), 400, "invalid_video"),
            ("audio only", "/anomaly", try clip("bad_audio_only.m4a"), 400, "invalid_video"),
            ("100000x100000 header", "/anomaly", try clip("bad_huge_header.avi"), 422, "video_too_large"),
            ("2-hour clip", "/anomaly", try clip("bad_two_hours.mp4"), 422, "video_too_long"),
            ("unknown baseline", "/anomaly?baseline=nope", mp4, 404, "model_not_found"),
            ("not a baseline", "/anomaly?baseline=clip-novelty", mp4, 400, "invalid_parameter"),
            ("segments=0", "/anomaly?segments=0", mp4, 400, "invalid_parameter"),
            ("threshold=2", "/anomaly?threshold=2", mp4, 400, "invalid_parameter"),
        ]
        for (label, target, body, status, code) in cases {
            let response = try post(target, body)
            XCTAssertEqual(response.status, status, "\(label): \(String(decoding: response.body, as: UTF8.self))")
            let json = try json(response)
            XCTAssertEqual(json["code"] as? String, code, label)
            XCTAssertEqual(json["success"] as? Bool, false, label)
            XCTAssertFalse((json["error"] as? String ?? "").isEmpty, label)
        }
        // Damage mid-file: what is valid is decoded, and the response says so.
        let damaged = try json(try post("/anomaly", Data(corrupt)))
        XCTAssertEqual(damaged["success"] as? Bool, true)
        XCTAssertFalse((damaged["warnings"] as? [String] ?? []).isEmpty)
        XCTAssertGreaterThan((damaged["video"] as? [String: Any])?["frames"] as? Int ?? 0, 140)
        // Still serving.
        XCTAssertEqual(try post("/anomaly", mp4).status, 200)
    }

    /// Over a real socket: a refused clip, then a good one on the same server.
    func testServerKeepsServingOverHTTP() throws {
        try application.start()
        application.waitUntilLoaded()
        func send(_ data: Data) throws -> (Int, Data) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(application.port)/anomaly")!)
            request.httpMethod = "POST"
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            request.httpBody = data
            final class Box: @unchecked Sendable { var status = 0; var data = Data() }
            let done = DispatchSemaphore(value: 0)
            let box = Box()
            URLSession.shared.dataTask(with: request) { data, response, _ in
                box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
                box.data = data ?? Data()
                done.signal()
            }.resume()
            done.wait()
            return (box.status, box.data)
        }
        XCTAssertEqual(try send(try clip("bad_two_hours.mp4")).0, 422)
        XCTAssertEqual(try send(Data("not a video".utf8)).0, 400)
        XCTAssertEqual(try send(try clip("test_fast.mp4")).0, 200)
    }

    func testBuildsABaselineOverHTTPAndScoresWithIt() throws {
        let (form, headers) = multipart([(name: "name", filename: nil, data: Data("camera-1".utf8)),
                                         (name: "video", filename: "a.mp4", data: try clip("normal_a.mp4")),
                                         (name: "video", filename: "b.mp4", data: try clip("normal_b.mp4"))])
        let created = try post("/anomaly/baselines", form, headers: headers)
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        XCTAssertEqual(((try json(created))["model"] as? [String: Any])?["task"] as? String, "anomaly")

        let response = try post("/anomaly?baseline=camera-1", try clip("test_fast.mp4"))
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let body = try json(response)
        XCTAssertEqual(body["method"] as? String, "novelty-baseline")
        XCTAssertEqual((body["model"] as? [String: Any])?["name"] as? String, "camera-1")
        // The 8x burst is 11-13 s: segments 22-25.
        let scores = try XCTUnwrap(body["segments"] as? [[String: Any]]).compactMap { $0["score"] as? Double }
        let top = try XCTUnwrap(scores.indices.max { scores[$0] < scores[$1] })
        XCTAssertTrue((22...25).contains(top), "top segment \(top)")
        XCTAssertEqual(body["anomalous"] as? Bool, true)

        // A second build of the same name is version 2, not activated.
        let again = try post("/anomaly/baselines", form, headers: headers)
        XCTAssertEqual(((try json(again))["model"] as? [String: Any])?["version"] as? Int, 2)
        // Bad requests.
        XCTAssertEqual(try post("/anomaly/baselines", Data("x".utf8)).status, 415)
        let (noVideo, noVideoHeaders) = multipart([(name: "name", filename: nil, data: Data("camera-2".utf8))])
        XCTAssertEqual(try post("/anomaly/baselines", noVideo, headers: noVideoHeaders).status, 400)
    }
}
