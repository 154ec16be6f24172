import Foundation
import XCTest

/// Open Inference Protocol v2 (KServe / Triton REST) on the bundled models.
final class InferenceProtocolTests: XCTestCase {
    var service: TestService!

    override func setUpWithError() throws {
        service = try SharedService.get()
    }

    func testHealthEndpoints() throws {
        let live = try HTTP.get(service.url("/v2/health/live"))
        XCTAssertEqual(live.status, 200)
        XCTAssertEqual(live.json["live"].bool, true)
        let ready = try HTTP.get(service.url("/v2/health/ready"))
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.json["ready"].bool, true)
    }

    func testMetadataOfOneGraph() throws {
        let reply = try HTTP.get(service.url("/v2/models/mtcnn?graph=pnet"))
        XCTAssertEqual(reply.status, 200, reply.text)
        let body = reply.json
        XCTAssertEqual(body["name"].string, "mtcnn")
        XCTAssertEqual(body["versions"].array?.compactMap(\.string), ["1"])
        XCTAssertEqual(body["graphs"].array?.compactMap(\.string), ["onet", "pnet", "rnet"])
        XCTAssertEqual(body["inputs"].array?.count, 1)
        XCTAssertEqual(body["inputs"][0]["name"].string, "input")
        XCTAssertEqual(body["inputs"][0]["datatype"].string, "FP32")
        XCTAssertEqual(body["inputs"][0]["shape"].array?.compactMap(\.int), [-1, 3, -1, -1])
        XCTAssertEqual(Set(body["outputs"].array?.compactMap { $0["name"].string } ?? []), ["regression", "probability"])

        Expect.error(try HTTP.get(service.url("/v2/models/mtcnn")), status: 400, code: "invalid_parameter", "several graphs, none chosen")
        Expect.error(try HTTP.get(service.url("/v2/models/no-such-model")), status: 404, code: "model_not_found", "unknown model")
        let single = try HTTP.get(service.url("/v2/models/yolov3-tiny"))
        XCTAssertEqual(single.status, 200, "a single-graph model needs no graph: \(single.text)")
    }

    /// Seeded values in [-1, 1].
    static func values(count: Int, seed: UInt64 = 42) -> [Double] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
    }

    func testInferOnRNetGivesBoxRegressionAndProbabilities() throws {
        let request: [String: Any] = [
            "id": "rnet-1",
            "inputs": [["name": "input", "shape": [1, 3, 24, 24], "datatype": "FP32", "data": Self.values(count: 3 * 24 * 24)]],
        ]
        let reply = try HTTP.post(service.url("/v2/models/mtcnn/infer?graph=rnet"), body: try JSONSerialization.data(withJSONObject: request),
                                  contentType: "application/json")
        XCTAssertEqual(reply.status, 200, reply.text)
        let body = reply.json
        XCTAssertEqual(body["model_name"].string, "mtcnn")
        XCTAssertEqual(body["model_version"].string, "1")
        XCTAssertEqual(body["id"].string, "rnet-1")
        let outputs = Dictionary(uniqueKeysWithValues: (body["outputs"].array ?? []).map { ($0["name"].string ?? "", $0) })
        XCTAssertEqual(Set(outputs.keys), ["regression", "probability"])
        XCTAssertEqual(outputs["regression"]?["shape"].array?.compactMap(\.int), [1, 4])
        XCTAssertEqual(outputs["probability"]?["shape"].array?.compactMap(\.int), [1, 2])
        XCTAssertEqual(outputs["regression"]?["datatype"].string, "FP32")
        XCTAssertEqual(outputs["regression"]?["data"].array?.compactMap(\.double).count, 4)
        let probabilities = try XCTUnwrap(outputs["probability"]?["data"].array?.compactMap(\.double))
        XCTAssertEqual(probabilities.count, 2)
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5, "softmax output")
        XCTAssertTrue(probabilities.allSatisfy { (0...1).contains($0) }, "\(probabilities)")

        // The same request with nested data and an explicit output list.
        let nested: [String: Any] = [
            "inputs": [["name": "input", "shape": [1, 3, 24, 24], "datatype": "FP32",
                        "data": [Self.nest(Self.values(count: 3 * 24 * 24), rows: 24, columns: 24)]]],
            "outputs": [["name": "probability"]],
        ]
        let again = try HTTP.post(service.url("/v2/models/mtcnn/infer?graph=rnet"), body: try JSONSerialization.data(withJSONObject: nested),
                                  contentType: "application/json")
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json["outputs"].array?.count, 1)
        XCTAssertEqual(again.json["outputs"][0]["data"].array?.compactMap(\.double), probabilities, "same input, same answer")
    }

    /// [channels][rows][columns] nesting of a flat channel-major array.
    static func nest(_ flat: [Double], rows: Int, columns: Int) -> [[[Double]]] {
        stride(from: 0, to: flat.count, by: rows * columns).map { channel in
            (0..<rows).map { row in Array(flat[(channel + row * columns)..<(channel + (row + 1) * columns)]) }
        }
    }

    func testInferRejectsBadRequests() throws {
        func post(_ target: String, _ json: String) throws -> HTTPReply {
            try HTTP.post(service.url(target), body: Data(json.utf8), contentType: "application/json")
        }
        Expect.error(try post("/v2/models/mtcnn/infer?graph=rnet", "{not json"), status: 400, code: "bad_request", "not JSON")
        Expect.error(try post("/v2/models/mtcnn/infer?graph=rnet", #"{"inputs": [{"name": "input", "shape": [1, 3, 24, 24], "datatype": "FP32", "data": [1, 2]}]}"#),
                     status: 400, code: "invalid_parameter", "too few values")
        Expect.error(try post("/v2/models/mtcnn/infer?graph=rnet", #"{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [1]}]}"#),
                     status: 400, code: "invalid_parameter", "BYTES")
        Expect.error(try post("/v2/models/mtcnn/infer?graph=rnet", #"{"inputs": [{"name": "input", "shape": [1, 3, 2, 2], "datatype": "FP32", "data": [1,2,3,4,5,6,7,8,9,10,11,12]}]}"#),
                     status: 400, code: "bad_request", "2x2 into a 24x24 network")
        Expect.error(try post("/v2/models/mtcnn/infer?graph=xnet", #"{"inputs": []}"#), status: 400, code: "invalid_parameter", "unknown graph")
        Expect.error(try post("/v2/models/no-such-model/infer", #"{"inputs": []}"#), status: 404, code: "model_not_found", "unknown model")
        service.assertHealthy("v2 errors")
    }
}
