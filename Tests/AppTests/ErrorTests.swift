import Foundation
import HTTPServer
import XCTest

/// Bad input gets the contract's status, code and JSON error body, and the server keeps serving.
final class ErrorTests: XCTestCase {
    var service: TestService!

    override func setUpWithError() throws {
        service = try SharedService.get()
    }

    func testUnsupportedImageFormatsAre415() throws {
        for name in ["sample.gif", "sample.webp"] {
            let reply = try service.postFile("/faces", Paths.fixtureMedia(name))
            Expect.error(reply, status: 415, code: "unsupported_media_type", name)
            let format = name.hasSuffix("gif") ? "GIF" : "WebP"
            XCTAssertTrue(reply.json["error"].string?.contains(format) ?? false, "the message names the format: \(reply.text)")
            service.assertHealthy(name)
        }
        let detect = try service.postFile("/detect", Paths.fixtureMedia("sample.gif"), contentType: "image/gif")
        Expect.error(detect, status: 415, code: "unsupported_media_type", "/detect gif")
    }

    func testBrokenImagesAre400InvalidImage() throws {
        for (name, path) in [("truncated.jpg", "/faces"), ("truncated.png", "/faces"), ("random.bin", "/faces"),
                             ("truncated.jpg", "/detect"), ("random.bin", "/v1/vision/detection")] {
            let reply = try service.postFile(path, Paths.fixtureMedia(name))
            Expect.error(reply, status: 400, code: "invalid_image", "\(name) to \(path)")
            service.assertHealthy(name)
        }
        // Multipart carries the same error.
        let multipart = try Curl.run(["-F", "image=@\(Paths.fixtureMedia("truncated.jpg").path)", service.url("/age")])
        Expect.error(multipart.reply, status: 400, code: "invalid_image", "multipart truncated.jpg")
    }

    func testHugeDeclaredImageIs422() throws {
        for name in ["huge_header.png", "huge_header.jpg"] {
            let reply = try service.postFile("/faces", Paths.fixtureMedia(name))
            Expect.error(reply, status: 422, code: "image_too_large", name)
            XCTAssertTrue(reply.json["error"].string?.contains("30000") ?? false, "the message names the size: \(reply.text)")
            service.assertHealthy(name)
        }
    }

    func testOutOfRangeParametersAre400InvalidParameter() throws {
        let photo = Paths.media("grace_hopper.jpg")
        let cases: [(String, String)] = [
            ("/faces?thresholds=0.6,1.5,0.7", "thresholds"),
            ("/faces?thresholds=0.6,0.7", "thresholds"),
            ("/faces?min_confidence=1.5", "min_confidence"),
            ("/faces?min_confidence=-0.1", "min_confidence"),
            ("/faces?min_confidence=abc", "min_confidence"),
            ("/faces?max_results=-1", "max_results"),
            ("/faces?attributes=height", "attribute"),
            ("/detect?min_confidence=2", "min_confidence"),
            ("/v1/vision/face?min_confidence=7", "min_confidence"),
        ]
        for (path, parameter) in cases {
            let reply = try service.postFile(path, photo, contentType: "image/jpeg")
            Expect.error(reply, status: 400, code: "invalid_parameter", path)
            XCTAssertTrue(reply.json["error"].string?.contains(parameter) ?? false, "\(path): the message names \(parameter): \(reply.text)")
            service.assertHealthy(path)
        }
        // In a form field too.
        let form = try Curl.run(["-F", "image=@\(photo.path)", "-F", "min_confidence=3", service.url("/faces")])
        Expect.error(form.reply, status: 400, code: "invalid_parameter", "form min_confidence")
    }

    func testUnknownModelIs404ModelNotFound() throws {
        let photo = Paths.media("grace_hopper.jpg")
        for path in ["/faces?model=no-such-model", "/detect?model=no-such-model", "/age?model=no-such-model"] {
            let reply = try service.postFile(path, photo, contentType: "image/jpeg")
            Expect.error(reply, status: 404, code: "model_not_found", path)
            XCTAssertTrue(reply.json["error"].string?.contains("no-such-model") ?? false, reply.text)
        }
        Expect.error(try HTTP.get(service.url("/models/no-such-model")), status: 404, code: "model_not_found", "GET /models/{name}")
        service.assertHealthy("unknown model")
    }

    func testEmptyBodyIs400BadRequest() throws {
        for path in ["/faces", "/detect", "/age", "/v1/vision/face"] {
            let reply = try HTTP.send("POST", service.url(path), headers: ["Content-Type": "image/jpeg"], body: Data())
            Expect.error(reply, status: 400, code: "bad_request", "empty \(path)")
        }
        let emptyForm = try Curl.run(["-F", "other=1", service.url("/faces")])
        Expect.error(emptyForm.reply, status: 400, code: "bad_request", "multipart without image")
        XCTAssertTrue(emptyForm.reply.json["error"].string?.contains("image") ?? false, emptyForm.reply.text)
        service.assertHealthy("empty body")
    }

    func testUnknownRouteIs404AndWrongMethodIs405WithAllow() throws {
        Expect.error(try HTTP.get(service.url("/no/such/route")), status: 404, code: "not_found", "unknown route")
        Expect.error(try HTTP.send("POST", service.url("/facez"), body: Data([1])), status: 404, code: "not_found", "typo route")

        let get = try HTTP.get(service.url("/faces"))
        Expect.error(get, status: 405, code: "method_not_allowed", "GET /faces")
        XCTAssertEqual(get.header("Allow"), "POST")
        let delete = try HTTP.send("DELETE", service.url("/healthz"))
        Expect.error(delete, status: 405, code: "method_not_allowed", "DELETE /healthz")
        XCTAssertEqual(Set(delete.header("Allow")?.components(separatedBy: ", ") ?? []), ["GET", "HEAD"])
        let models = try HTTP.send("PUT", service.url("/models"), body: Data([1]))
        Expect.error(models, status: 405, code: "method_not_allowed", "PUT /models")
        XCTAssertEqual(Set(models.header("Allow")?.components(separatedBy: ", ") ?? []), ["GET", "HEAD", "POST"])
        service.assertHealthy("404/405")
    }

    func testBodyOverTheConfiguredLimitIs413() throws {
        let models = try TemporaryFolder("seer-no-models")
        defer { models.remove() }
        let small = try TestService(modelsDirectory: models.url) { $0.limits.maxBodyBytes = 64 * 1024 }
        defer { small.stopAndRemove() }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = try folder.write(Data(repeating: 0x42, count: 200_000), name: "big.bin")

        for arguments in [["--data-binary", "@\(file.path)", "-H", "Content-Type: image/jpeg"], ["-F", "image=@\(file.path)"]] {
            let result = try Curl.run(arguments + [small.url("/faces")])
            Expect.error(result.reply, status: 413, code: "payload_too_large", "\(arguments)")
            XCTAssertTrue(result.reply.json["error"].string?.contains("65536") ?? false, "the message states the limit: \(result.reply.text)")
            small.assertHealthy("413")
        }
        // Under the limit the request reaches the route (no default model here: 503 not_ready or 404, not 413).
        let fits = try HTTP.post(small.url("/faces"), body: Data(repeating: 0x42, count: 1000))
        XCTAssertNotEqual(fits.status, 413)
    }

    func testErrorBodiesCarryTheRequestId() throws {
        let reply = try HTTP.send("POST", service.url("/faces"), headers: ["X-Request-Id": "error-id-7", "Content-Type": "image/png"],
                                  body: try contents(of: Paths.fixtureMedia("random.bin")))
        Expect.error(reply, status: 400, code: "invalid_image", "random bytes")
        XCTAssertEqual(reply.json["request_id"].string, "error-id-7")
        XCTAssertEqual(reply.header("X-Request-Id"), "error-id-7")
    }
}
