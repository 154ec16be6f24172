import App
import Foundation
import HTTPServer
import XCTest

/// API key for inference, admin key (or loopback only) for model changes and the request log.
final class AuthTests: XCTestCase {
    var models: TemporaryFolder!

    override func setUpWithError() throws {
        models = try TemporaryFolder.modelsCopy(["mtcnn"])
    }

    override func tearDown() {
        models?.remove()
    }

    /// An in-process request as if from `clientAddress`.
    func handle(_ service: TestService, _ method: String, _ target: String, headers: HTTPHeaders = HTTPHeaders(),
                body: Data = Data(), from clientAddress: String) throws -> HTTPReply {
        let response = service.application.handle(try Request(method: method, target: target, headers: headers, body: body,
                                                              clientAddress: clientAddress))
        var fields: [String: String] = [:]
        for field in response.headers { fields[field.name.lowercased()] = field.value }
        // The server adds X-Request-Id on the wire; in-process the body's request_id stands alone.
        if fields["x-request-id"] == nil, let id = JSON(data: response.body)["request_id"].string { fields["x-request-id"] = id }
        return HTTPReply(status: response.status, headers: fields, body: response.body)
    }

    func testApiKeyGuardsInferenceButNotHealth() throws {
        let service = try TestService(modelsDirectory: models.url) { $0.apiKey = "inference-key-1" }
        defer { service.stopAndRemove() }
        let photo = try contents(of: Paths.media("grace_hopper.jpg"))

        let missing = try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg")
        Expect.error(missing, status: 401, code: "unauthorized", "no key")
        XCTAssertNotNil(missing.header("WWW-Authenticate"))
        Expect.error(try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg", headers: ["x-api-key": "wrong"]),
                     status: 401, code: "unauthorized", "wrong key")
        Expect.error(try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg", headers: ["Authorization": "Bearer inference-key-1x"]),
                     status: 401, code: "unauthorized", "longer key")
        Expect.error(try HTTP.get(service.url("/models")), status: 401, code: "unauthorized", "GET /models without key")

        let header = try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg", headers: ["x-api-key": "inference-key-1"])
        XCTAssertEqual(header.status, 200, header.text)
        XCTAssertEqual(header.json["predictions"].array?.count, 1)
        let bearer = try HTTP.post(service.url("/faces"), body: photo, contentType: "image/jpeg", headers: ["Authorization": "Bearer inference-key-1"])
        XCTAssertEqual(bearer.status, 200, bearer.text)
        XCTAssertEqual(try HTTP.get(service.url("/models"), headers: ["x-api-key": "inference-key-1"]).status, 200)

        for path in ["/healthz", "/readyz", "/metrics", "/openapi.yaml", "/v2/health/live", "/v2/health/ready"] {
            XCTAssertEqual(try HTTP.get(service.url(path)).status, 200, "\(path) needs no key")
        }
    }

    func testWithoutAdminKeyModelChangesAreLoopbackOnly() throws {
        let service = try TestService(modelsDirectory: models.url)
        defer { service.stopAndRemove() }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let garbage = try folder.write(Data("not an onnx model".utf8), name: "garbage.onnx")
        let manifest = try folder.write(Data(#"{"name": "loopback-check", "version": 1, "task": "anomaly", "graphs": {"main": "model.onnx"}}"#.utf8),
                                        name: "manifest.json")

        // Over a loopback socket the admin endpoints are open: the request gets as far as the model check.
        let upload = try Curl.run(["-F", "file=@\(garbage.path)", "-F", "manifest=@\(manifest.path);type=application/json", service.url("/models")])
        Expect.error(upload.reply, status: 400, code: "invalid_model_file", "loopback POST /models")
        XCTAssertEqual(try HTTP.get(service.url("/requests")).status, 200)

        // From another address (in-process, same router) they are refused.
        let form = try Self.multipart([("file", "model.onnx", Data("x".utf8)), ("manifest", nil, try contents(of: manifest))])
        for (method, target, body, headers) in [("POST", "/models", form.body, form.headers),
                                                ("GET", "/requests", Data(), HTTPHeaders()),
                                                ("POST", "/models/mtcnn/versions/1/activate", Data(), HTTPHeaders()),
                                                ("DELETE", "/models/mtcnn/versions/1", Data(), HTTPHeaders())] {
            let remote = try handle(service, method, target, headers: headers, body: body, from: "10.1.2.3:5555")
            Expect.error(remote, status: 403, code: "forbidden", "\(method) \(target) from 10.1.2.3")
            XCTAssertTrue(remote.json["error"].string?.contains("loopback") ?? false, remote.text)
        }
        // Reads and inference are not admin endpoints.
        XCTAssertEqual(try handle(service, "GET", "/models", from: "10.1.2.3:5555").status, 200)
        XCTAssertEqual(try handle(service, "GET", "/requests", from: "127.0.0.1:40000").status, 200)
        XCTAssertEqual(try handle(service, "GET", "/requests", from: "[::1]:40000").status, 200)
        let remoteFaces = try handle(service, "POST", "/faces", headers: ["Content-Type": "image/jpeg"],
                                     body: try contents(of: Paths.media("grace_hopper.jpg")), from: "10.1.2.3:5555")
        XCTAssertEqual(remoteFaces.status, 200, remoteFaces.text)
        // Nothing was registered.
        XCTAssertFalse(FileManager.default.fileExists(atPath: models.file("loopback-check").path))
    }

    func testAdminKeyGuardsTheRequestLogAndModelChanges() throws {
        let service = try TestService(modelsDirectory: models.url) { $0.adminKey = "admin-key-9" }
        defer { service.stopAndRemove() }

        Expect.error(try HTTP.get(service.url("/requests")), status: 401, code: "unauthorized", "no admin key")
        Expect.error(try HTTP.get(service.url("/requests"), headers: ["x-api-key": "wrong"]), status: 401, code: "unauthorized", "wrong admin key")
        XCTAssertEqual(try HTTP.get(service.url("/requests"), headers: ["x-api-key": "admin-key-9"]).status, 200)
        XCTAssertEqual(try HTTP.get(service.url("/requests"), headers: ["Authorization": "Bearer admin-key-9"]).status, 200)
        Expect.error(try HTTP.send("POST", service.url("/models/mtcnn/versions/1/activate")), status: 401, code: "unauthorized", "activate")

        // With the key, remote administration is allowed.
        XCTAssertEqual(try handle(service, "GET", "/requests", headers: ["x-api-key": "admin-key-9"], from: "10.1.2.3:5555").status, 200)
        Expect.error(try handle(service, "GET", "/requests", from: "10.1.2.3:5555"), status: 401, code: "unauthorized", "remote without key")
        let activate = try handle(service, "POST", "/models/mtcnn/versions/1/activate", headers: ["Authorization": "Bearer admin-key-9"],
                                  from: "10.1.2.3:5555")
        XCTAssertEqual(activate.status, 200, activate.text)
        // No API key configured: inference stays open.
        XCTAssertEqual(try HTTP.post(service.url("/faces"), body: try contents(of: Paths.media("grace_hopper.jpg"))).status, 200)
    }

    /// A multipart/form-data body: (name, filename, data) parts.
    static func multipart(_ parts: [(String, String?, Data)]) throws -> (body: Data, headers: HTTPHeaders) {
        let boundary = "seer-test-\(UUID().uuidString)"
        var body = Data()
        for (name, filename, data) in parts {
            var disposition = "Content-Disposition: form-data; name=\"\(name)\""
            if let filename { disposition += "; filename=\"\(filename)\"" }
            body.append(Data("--\(boundary)\r\n\(disposition)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
            body.append(data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return (body, ["Content-Type": "multipart/form-data; boundary=\(boundary)"])
    }
}
