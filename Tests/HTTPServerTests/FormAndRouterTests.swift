import Foundation
import HTTPServer
import XCTest

final class MultipartTests: XCTestCase {
    private func multipartBody(boundary: String, closed: Bool = true) -> Data {
        var body = Data()
        body.append(Data("preamble to ignore\r\n".utf8))
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nyolov3-tiny\r\n".utf8))
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a \\\"b\\\".jpg\"\r\n".utf8))
        body.append(Data("Content-Type: image/jpeg\r\n\r\n".utf8))
        body.append(Data([0xFF, 0xD8, 0x0D, 0x0A, 0x2D, 0x2D, 0x00, 0xFF, 0xD9]))  // contains CRLF--
        body.append(Data("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n".utf8))
        body.append(Data("--\(boundary)".utf8))
        body.append(Data((closed ? "--\r\nepilogue" : "\r\n").utf8))
        return body
    }

    func testFieldsAndFiles() throws {
        let boundary = "----seer-boundary-123"
        let form = try XCTUnwrap(FormData.parse(body: multipartBody(boundary: boundary),
                                                contentType: "multipart/form-data; boundary=\"\(boundary)\""))
        XCTAssertEqual(form.parts.map(\.name), ["model", "image", "empty"])
        XCTAssertEqual(form.field("model"), "yolov3-tiny")
        XCTAssertEqual(form.field("empty"), "")
        XCTAssertNil(form.field("image"), "a file part is not a plain field")
        let image = try XCTUnwrap(form.part("image"))
        XCTAssertEqual(image.filename, "a \"b\".jpg")
        XCTAssertEqual(image.contentType, "image/jpeg")
        XCTAssertEqual(image.data, Data([0xFF, 0xD8, 0x0D, 0x0A, 0x2D, 0x2D, 0x00, 0xFF, 0xD9]))
    }

    func testMissingClosingBoundaryIs400() {
        let boundary = "xyz"
        XCTAssertThrowsError(try FormData.parse(body: multipartBody(boundary: boundary, closed: false),
                                                contentType: "multipart/form-data; boundary=\(boundary)")) { error in
            XCTAssertEqual((error as? HTTPError)?.status, 400)
            XCTAssertEqual((error as? HTTPError)?.code, "bad_request")
            XCTAssertTrue((error as? HTTPError)?.message.contains("closing boundary") ?? false)
        }
        let truncated = Data("--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue without end".utf8)
        XCTAssertThrowsError(try FormData.parse(body: truncated, contentType: "multipart/form-data; boundary=xyz")) { error in
            XCTAssertEqual((error as? HTTPError)?.status, 400)
        }
    }

    func testMalformedMultipartIs400() {
        let cases: [(String, Data)] = [
            ("multipart/form-data", Data("--x--".utf8)),
            ("multipart/form-data; boundary=x", Data("no boundary here".utf8)),
            ("multipart/form-data; boundary=x", Data("--x\r\nNo-Disposition: y\r\n\r\nv\r\n--x--".utf8)),
            ("multipart/form-data; boundary=x", Data("--x\r\nContent-Disposition: form-data; name=a\r\nv\r\n--x--".utf8)),
        ]
        for (type, body) in cases {
            XCTAssertThrowsError(try FormData.parse(body: body, contentType: type), type) { error in
                XCTAssertEqual((error as? HTTPError)?.status, 400)
            }
        }
    }

    func testPartCountLimit() {
        var limits = HTTPLimits()
        limits.maxMultipartParts = 2
        let body = Data(((0..<3).map { "--b\r\nContent-Disposition: form-data; name=\"f\($0)\"\r\n\r\nv\r\n" }.joined() + "--b--").utf8)
        XCTAssertEqual(try FormData.parse(body: body, contentType: "multipart/form-data; boundary=b")?.parts.count, 3)
        XCTAssertThrowsError(try FormData.parse(body: body, contentType: "multipart/form-data; boundary=b", limits: limits))
    }

    func testURLEncodedForm() throws {
        let form = try XCTUnwrap(FormData.parse(body: Data("model=age&min_confidence=0.5&note=a+b%21".utf8),
                                                contentType: "application/x-www-form-urlencoded; charset=utf-8"))
        XCTAssertEqual(form.field("model"), "age")
        XCTAssertEqual(form.field("note"), "a b!")
        XCTAssertNil(try FormData.parse(body: Data("x".utf8), contentType: "image/png"))
        XCTAssertEqual(form.kind, .urlEncoded)
    }

    func testUndecodableURLEncodedBodyStaysARawUpload() throws {
        // What `curl --data-binary @photo.jpg URL` sends when no Content-Type is given.
        let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0x25, 0x00, 0x80])
        XCTAssertNil(try FormData.parse(body: jpeg, contentType: "application/x-www-form-urlencoded"))
        let request = try Request(method: "POST", target: "/detect", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: jpeg)
        XCTAssertEqual(request.upload()?.data, jpeg)
        XCTAssertNil(request.upload()?.field)
    }

    func testRequestParameterAndUpload() throws {
        let boundary = "b0undary"
        let request = try Request(method: "POST", target: "/detect?model=from-query&max_results=3",
                                  headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                                  body: multipartBody(boundary: boundary))
        XCTAssertEqual(request.parameter("model"), "from-query", "query wins over the form")
        XCTAssertEqual(request.parameter("max_results"), "3")
        XCTAssertNil(request.parameter("missing"))
        let upload = try XCTUnwrap(request.upload(fields: ["image", "file"]))
        XCTAssertEqual(upload.field, "image")
        XCTAssertEqual(upload.contentType, "image/jpeg")
        XCTAssertEqual(upload.data.count, 9)
        XCTAssertNil(request.upload(fields: ["video"]))

        let formOnly = try Request(method: "POST", target: "/detect",
                                   headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
                                   body: multipartBody(boundary: boundary))
        XCTAssertEqual(formOnly.parameter("model"), "yolov3-tiny")
        let fileField = try Request(method: "POST", target: "/x", headers: ["Content-Type": "multipart/form-data; boundary=q"],
                                    body: Data("--q\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.png\"\r\n\r\nPNG\r\n--q--\r\n".utf8))
        XCTAssertEqual(fileField.upload()?.field, "file")
        XCTAssertEqual(fileField.upload()?.filename, "f.png")
    }

    func testRawBodyUpload() throws {
        let request = try Request(method: "POST", target: "/detect", headers: ["Content-Type": "image/png"], body: Data([1, 2, 3]))
        let upload = try XCTUnwrap(request.upload())
        XCTAssertNil(upload.field)
        XCTAssertEqual(upload.contentType, "image/png")
        XCTAssertEqual(upload.data, Data([1, 2, 3]))
        XCTAssertNil(try Request(method: "POST", target: "/detect").upload())
    }

    func testRequestIDPolicy() throws {
        XCTAssertEqual(try Request(method: "GET", target: "/", headers: ["X-Request-Id": "abc-123"]).id, "abc-123")
        let tooLong = String(repeating: "a", count: 129)
        for bad in [tooLong, "has space", "tab\tx", "é"] {
            let id = try Request(method: "GET", target: "/", headers: ["X-Request-Id": bad]).id
            XCTAssertNotEqual(id, bad)
            XCTAssertTrue(RequestID.isSane(id))
        }
        XCTAssertEqual(try Request(method: "GET", target: "/", headers: ["X-Request-Id": String(repeating: "b", count: 128)]).id.count, 128)
        XCTAssertNotEqual(RequestID.generate(), RequestID.generate())
    }
}

final class RouterTests: XCTestCase {
    private func respond(_ router: Router, _ method: String, _ target: String) throws -> Response {
        let request = try Request(method: method, target: target, id: "rid-1")
        var response: Response?
        router.handle(request) { response = Response($0, requestID: request.id) }
        return try XCTUnwrap(response, "handler completed synchronously")
    }

    private func json(_ response: Response) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: response.body) as? [String: Any])
    }

    private func makeRouter() -> Router {
        let router = Router()
        router.get("/models") { _ in .text("list") }
        router.get("/models/{name}") { request in .text("model \(request.pathParameters["name"] ?? "?")") }
        router.get("/models/default") { _ in .text("literal wins") }
        router.post("/models/{name}/versions/{version}/activate") { request in
            .text("activate \(request.parameter("name") ?? "") \(request.parameter("version") ?? "")")
        }
        router.delete("/models/{name}/versions/{version}") { _ in Response(status: 204) }
        router.post("/detect") { request, completion in
            DispatchQueue.global().async { completion(.success(.text("async \(request.method)"))) }
        }
        router.get("/fail") { _ in throw HTTPError(status: 415, code: "unsupported_media_type", message: "no") }
        return router
    }

    func testMatchesMethodAndPattern() throws {
        let router = makeRouter()
        XCTAssertEqual(String(decoding: try respond(router, "GET", "/models").body, as: UTF8.self), "list")
        XCTAssertEqual(String(decoding: try respond(router, "GET", "/models/yolo%2Fv3").body, as: UTF8.self), "model yolo/v3")
        XCTAssertEqual(String(decoding: try respond(router, "GET", "/models/default").body, as: UTF8.self), "literal wins")
        XCTAssertEqual(String(decoding: try respond(router, "POST", "/models/age/versions/2/activate").body, as: UTF8.self), "activate age 2")
        XCTAssertEqual(try respond(router, "DELETE", "/models/age/versions/2").status, 204)
        XCTAssertEqual(String(decoding: try respond(router, "HEAD", "/models").body, as: UTF8.self), "list", "HEAD uses the GET route")
    }

    func testAsyncHandler() throws {
        let router = makeRouter()
        let done = expectation(description: "completion")
        router.handle(try Request(method: "POST", target: "/detect")) { result in
            XCTAssertEqual(try? result.get().body, Data("async POST".utf8))
            done.fulfill()
        }
        wait(for: [done], timeout: 30)
    }

    func testNotFound() throws {
        let router = makeRouter()
        for target in ["/nothing", "/models/", "/models/a/b", "/models//versions/1/activate"] {
            let response = try respond(router, "GET", target)
            XCTAssertEqual(response.status, 404, target)
            let body = try json(response)
            XCTAssertEqual(body["success"] as? Bool, false)
            XCTAssertEqual(body["code"] as? String, "not_found")
            XCTAssertEqual(body["request_id"] as? String, "rid-1")
            XCTAssertNotNil(body["error"] as? String)
            XCTAssertEqual(response.headers["Content-Type"], "application/json")
        }
    }

    func testMethodNotAllowedListsAllowedMethods() throws {
        let router = makeRouter()
        let response = try respond(router, "PUT", "/models/age")
        XCTAssertEqual(response.status, 405)
        XCTAssertEqual(response.headers["Allow"], "GET, HEAD")
        XCTAssertEqual(try json(response)["code"] as? String, "method_not_allowed")
        XCTAssertEqual(try respond(router, "GET", "/models/age/versions/3").headers["Allow"], "DELETE")
        XCTAssertEqual(try respond(router, "GET", "/detect").headers["Allow"], "POST")
    }

    func testCheckReportsTheErrorARequestWouldGet() throws {
        let router = makeRouter()
        XCTAssertNil(router.check(try RequestHead(method: "POST", target: "/detect?x=1")))
        XCTAssertNil(router.check(try RequestHead(method: "HEAD", target: "/models")))
        XCTAssertEqual(router.check(try RequestHead(method: "POST", target: "/nope"))?.status, 404)
        XCTAssertEqual(router.check(try RequestHead(method: "PUT", target: "/detect"))?.status, 405)
    }

    func testThrownErrorsRenderAsContractJSON() throws {
        let response = try respond(makeRouter(), "GET", "/fail")
        XCTAssertEqual(response.status, 415)
        XCTAssertEqual(response.errorCode, "unsupported_media_type")
        let body = try json(response)
        XCTAssertEqual(body["success"] as? Bool, false)
        XCTAssertEqual(body["error"] as? String, "no")
        XCTAssertEqual(body["code"] as? String, "unsupported_media_type")
        XCTAssertEqual(body["request_id"] as? String, "rid-1")
    }

    func testOtherErrorsBecome500AndErrorHeadersAreKept() throws {
        struct Oops: Error {}
        let internalError = Response(.failure(Oops()), requestID: "r")
        XCTAssertEqual(internalError.status, 500)
        XCTAssertEqual(internalError.errorCode, "internal")
        let overloaded = HTTPError.overloaded(retryAfterSeconds: 3, message: "busy").response(requestID: "r")
        XCTAssertEqual(overloaded.status, 503)
        XCTAssertEqual(overloaded.headers["Retry-After"], "3")
    }
}
