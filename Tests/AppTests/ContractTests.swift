import Foundation
import Media
import XCTest

/// The contract's success shapes over real sockets, with curl as the client.
final class ContractTests: XCTestCase {
    var service: TestService!

    override func setUpWithError() throws {
        service = try SharedService.get()
    }

    // MARK: Faces

    /// facenet-pytorch's MTCNN on grace_hopper.jpg (Tests/Fixtures/reference/mtcnn/faces.json).
    struct ReferenceFace {
        let box: [Double]
        let landmarks: [String: [Double]]
    }

    func referenceFace() throws -> ReferenceFace {
        let reference = JSON(data: try contents(of: Paths.fixtures.appendingPathComponent("reference/mtcnn/faces.json")))
        let image = try XCTUnwrap(reference["images"].array?.first { $0["image"].string?.hasSuffix("grace_hopper.jpg") == true })
        let face = image["faces"][0]
        let box = try XCTUnwrap(face["box"].array?.compactMap(\.double))
        var landmarks: [String: [Double]] = [:]
        for (name, point) in face["landmarks"].object ?? [:] { landmarks[name] = point.array?.compactMap(\.double) }
        return ReferenceFace(box: box, landmarks: landmarks)
    }

    static let landmarkNames: Set<String> = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]

    /// Checks the success envelope of an image endpoint and returns its predictions.
    @discardableResult
    func assertEnvelope(_ reply: HTTPReply, model: String, width: Int, height: Int,
                        file: StaticString = #filePath, line: UInt = #line) -> [JSON] {
        XCTAssertEqual(reply.status, 200, reply.text, file: file, line: line)
        XCTAssertTrue(reply.header("Content-Type")?.hasPrefix("application/json") ?? false, file: file, line: line)
        let body = reply.json
        XCTAssertEqual(body["success"].bool, true, reply.text, file: file, line: line)
        XCTAssertEqual(body["request_id"].string, reply.header("X-Request-Id"), file: file, line: line)
        XCTAssertFalse((body["request_id"].string ?? "").isEmpty, file: file, line: line)
        XCTAssertEqual(body["model"]["name"].string, model, file: file, line: line)
        XCTAssertNotNil(body["model"]["version"].int, "model.version must be an integer: \(body["model"])", file: file, line: line)
        XCTAssertEqual(body["image"]["width"].int, width, file: file, line: line)
        XCTAssertEqual(body["image"]["height"].int, height, file: file, line: line)
        for key in ["decode_ms", "inference_ms", "total_ms"] {
            let value = body["timing"][key].double
            XCTAssertNotNil(value, "timing.\(key) missing: \(body["timing"])", file: file, line: line)
            XCTAssertGreaterThanOrEqual(value ?? -1, 0, "timing.\(key)", file: file, line: line)
        }
        let predictions = body["predictions"].array
        XCTAssertNotNil(predictions, "predictions must be an array: \(reply.text)", file: file, line: line)
        return predictions ?? []
    }

    func assertBox(_ box: JSON, width: Int, height: Int, file: StaticString = #filePath, line: UInt = #line) {
        guard let xMin = box["x_min"].double, let yMin = box["y_min"].double,
              let xMax = box["x_max"].double, let yMax = box["y_max"].double else {
            return XCTFail("box needs x_min, y_min, x_max, y_max numbers: \(box)", file: file, line: line)
        }
        XCTAssertLessThan(xMin, xMax, "\(box)", file: file, line: line)
        XCTAssertLessThan(yMin, yMax, "\(box)", file: file, line: line)
        // Boxes may reach a little past the border (models regress them), never far.
        XCTAssertTrue(xMin > -0.5 * Double(width) && xMax < 1.5 * Double(width), "\(box)", file: file, line: line)
        XCTAssertTrue(yMin > -0.5 * Double(height) && yMax < 1.5 * Double(height), "\(box)", file: file, line: line)
    }

    static func boxArray(_ box: JSON) -> [Double] {
        ["x_min", "y_min", "x_max", "y_max"].map { box[$0].double ?? .nan }
    }

    static func iou(_ a: [Double], _ b: [Double]) -> Double {
        let width = max(0, min(a[2], b[2]) - max(a[0], b[0])), height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        let intersection = width * height
        let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
        return union > 0 ? intersection / union : 0
    }

    /// One face like facenet-pytorch's: box IoU >= 0.95, landmarks within 2% of the box width (the reference's tolerances).
    func assertGraceHopperFace(_ predictions: [JSON], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(predictions.count, 1, "grace_hopper.jpg has one face", file: file, line: line)
        guard let face = predictions.first else { return }
        let reference = try referenceFace()
        let confidence = try XCTUnwrap(face["confidence"].double, file: file, line: line)
        XCTAssertTrue((0.9...1).contains(confidence), "confidence \(confidence)", file: file, line: line)
        assertBox(face["box"], width: 512, height: 600, file: file, line: line)
        let box = Self.boxArray(face["box"])
        XCTAssertGreaterThanOrEqual(Self.iou(box, reference.box), 0.95, "box \(box) vs reference \(reference.box)", file: file, line: line)
        let landmarks = face["landmarks"]
        XCTAssertEqual(landmarks.keys, Self.landmarkNames, "\(landmarks)", file: file, line: line)
        let tolerance = 0.02 * (reference.box[2] - reference.box[0])
        for name in Self.landmarkNames {
            let point = landmarks[name].array?.compactMap(\.double) ?? []
            let expected = reference.landmarks[name] ?? []
            XCTAssertEqual(point.count, 2, "\(name): \(landmarks[name])", file: file, line: line)
            XCTAssertEqual(expected.count, 2, "reference \(name)", file: file, line: line)
            guard point.count == 2, expected.count == 2 else { continue }
            XCTAssertLessThanOrEqual(hypot(point[0] - expected[0], point[1] - expected[1]), tolerance,
                                     "\(name) \(point) vs reference \(expected)", file: file, line: line)
        }
        // The contract: left_eye / mouth_left are on the image's left.
        XCTAssertLessThan(landmarks["left_eye"][0].double ?? .nan, landmarks["right_eye"][0].double ?? .nan, file: file, line: line)
        XCTAssertLessThan(landmarks["mouth_left"][0].double ?? .nan, landmarks["mouth_right"][0].double ?? .nan, file: file, line: line)
    }

    func testFacesAcceptsMultipartAndRawBodyWithTheSameAnswer() throws {
        let photo = Paths.media("grace_hopper.jpg").path
        let multipart = try Curl.run(["-F", "image=@\(photo)", service.url("/faces")])
        let raw = try Curl.run(["--data-binary", "@\(photo)", "-H", "Content-Type: image/jpeg", service.url("/faces")])
        let fileField = try Curl.run(["-F", "file=@\(photo)", service.url("/faces")])
        for (name, result) in [("multipart", multipart), ("raw body", raw), ("field file", fileField)] {
            XCTAssertEqual(result.exitStatus, 0, "\(name): \(result.trace)")
            let predictions = assertEnvelope(result.reply, model: "mtcnn", width: 512, height: 600)
            try assertGraceHopperFace(predictions)
        }
        XCTAssertEqual(multipart.reply.json["predictions"].description, raw.reply.json["predictions"].description,
                       "the same bytes give the same faces however they are sent")
        XCTAssertNotEqual(multipart.reply.json["request_id"].string, raw.reply.json["request_id"].string, "each request gets its own id")
    }

    func testClientRequestIdIsEchoed() throws {
        let photo = Paths.media("grace_hopper.jpg").path
        let success = try Curl.run(["-H", "X-Request-Id: contract-echo-1", "-F", "image=@\(photo)", service.url("/faces")])
        XCTAssertEqual(success.reply.status, 200)
        XCTAssertEqual(success.reply.header("X-Request-Id"), "contract-echo-1")
        XCTAssertEqual(success.reply.json["request_id"].string, "contract-echo-1")

        let failure = try Curl.run(["-H", "X-Request-Id: contract-echo-2", "-X", "POST", service.url("/faces")])
        Expect.error(failure.reply, status: 400, code: "bad_request", "empty body")
        XCTAssertEqual(failure.reply.json["request_id"].string, "contract-echo-2")

        let plain = try Curl.run(["-H", "X-Request-Id: contract-echo-3", service.url("/healthz")])
        XCTAssertEqual(plain.reply.header("X-Request-Id"), "contract-echo-3")
    }

    func testFaceAttributesAddAgeAndGender() throws {
        let photo = Paths.media("grace_hopper.jpg").path
        let result = try Curl.run(["-F", "image=@\(photo)", service.url("/faces?attributes=age,gender")])
        let predictions = assertEnvelope(result.reply, model: "mtcnn", width: 512, height: 600)
        try assertGraceHopperFace(predictions)
        let face = try XCTUnwrap(predictions.first)
        let age = face["age"]
        XCTAssertEqual(age.keys, ["value", "low", "high"], "\(age)")
        let value = try XCTUnwrap(age["value"].double), low = try XCTUnwrap(age["low"].double), high = try XCTUnwrap(age["high"].double)
        XCTAssertTrue(low <= value && value <= high, "age \(age)")
        XCTAssertTrue((0...120).contains(low) && (0...120).contains(high), "age \(age)")
        // The bundled gender model (like its reference run, Tests/Fixtures/reference/age/ages.json)
        // calls this photo "male" with probability ~0.99; the value must come through as the model says.
        XCTAssertEqual(face["gender"]["value"].string, "male", "\(face["gender"])")
        let confidence = try XCTUnwrap(face["gender"]["confidence"].double)
        XCTAssertTrue((0.5...1).contains(confidence), "gender \(face["gender"])")

        // Form fields carry parameters too.
        let viaForm = try Curl.run(["-F", "image=@\(photo)", "-F", "attributes=age", service.url("/faces")])
        XCTAssertEqual(viaForm.reply.json["predictions"][0]["age"].description, age.description)
        XCTAssertFalse(viaForm.reply.json["predictions"][0]["gender"].exists, "gender only when asked for")
    }

    func testAgeEndpointEqualsFacesWithAge() throws {
        let photo = Paths.media("grace_hopper.jpg").path
        let age = try Curl.run(["--data-binary", "@\(photo)", "-H", "Content-Type: image/jpeg", service.url("/age")])
        let faces = try Curl.run(["--data-binary", "@\(photo)", "-H", "Content-Type: image/jpeg", service.url("/faces?attributes=age")])
        let agePredictions = assertEnvelope(age.reply, model: "mtcnn", width: 512, height: 600)
        assertEnvelope(faces.reply, model: "mtcnn", width: 512, height: 600)
        XCTAssertEqual(agePredictions.count, 1)
        XCTAssertTrue(agePredictions.first?["age"].exists ?? false, "/age adds age: \(age.reply.text)")
        XCTAssertEqual(age.reply.json["predictions"].description, faces.reply.json["predictions"].description)
        XCTAssertEqual(age.reply.json["model"].description, faces.reply.json["model"].description)
    }

    func testImageWithoutFacesIsAnEmptySuccess() throws {
        let photo = Paths.media("coffee.png").path
        let result = try Curl.run(["--data-binary", "@\(photo)", "-H", "Content-Type: image/png", service.url("/faces")])
        let predictions = assertEnvelope(result.reply, model: "mtcnn", width: 600, height: 400)
        XCTAssertEqual(predictions.count, 0)
        XCTAssertTrue(result.reply.text.contains("\"predictions\":[]"), result.reply.text)
    }

    func testDeepStackFaceAliasHasDeepStackShapeWithIntegerPixels() throws {
        let photo = Paths.media("grace_hopper.jpg").path
        let result = try Curl.run(["-F", "image=@\(photo)", service.url("/v1/vision/face")])
        XCTAssertEqual(result.reply.status, 200, result.reply.text)
        let body = result.reply.json
        XCTAssertEqual(body["success"].bool, true)
        XCTAssertEqual(body["predictions"].array?.count, 1, result.reply.text)
        let face = body["predictions"][0]
        XCTAssertTrue(face.keys.isSuperset(of: ["confidence", "x_min", "y_min", "x_max", "y_max"]), "\(face)")
        XCTAssertTrue((0.9...1).contains(face["confidence"].double ?? -1))
        for key in ["x_min", "y_min", "x_max", "y_max"] {
            XCTAssertNotNil(result.reply.text.range(of: "\"\(key)\":-?[0-9]+[,}]", options: .regularExpression),
                            "\(key) must be an integer: \(result.reply.text)")
        }
        let reference = try referenceFace().box
        let box = Self.boxArray(face)
        for (value, expected) in zip(box, reference) {
            XCTAssertEqual(value, expected.rounded(), accuracy: 3, "box \(box) vs reference \(reference)")
        }
    }

    func testMaxResultsAndMinConfidenceLimitFaces() throws {
        // facenet-pytorch finds 4 faces here (Tests/Fixtures/reference/mtcnn/faces.json).
        let photo = Paths.fixtureMedia("faces_pair_640x480.png")
        let all = assertEnvelope(try service.postFile("/faces", photo, contentType: "image/png"), model: "mtcnn", width: 640, height: 480)
        XCTAssertEqual(all.count, 4)
        let two = assertEnvelope(try service.postFile("/faces?max_results=2", photo), model: "mtcnn", width: 640, height: 480)
        XCTAssertEqual(two.map(\.description), all.prefix(2).map(\.description), "the first faces of the full answer")

        // A threshold halfway between the two lowest (rounded) confidences keeps the others.
        let confidences = all.compactMap { $0["confidence"].double }
        let distinct = Array(Set(confidences)).sorted()
        XCTAssertGreaterThanOrEqual(distinct.count, 2, "\(confidences)")
        guard distinct.count >= 2 else { return }
        let threshold = (distinct[0] + distinct[1]) / 2
        let confident = assertEnvelope(try service.postFile("/faces?min_confidence=\(threshold)", photo), model: "mtcnn", width: 640, height: 480)
        XCTAssertEqual(confident.count, confidences.filter { $0 > threshold }.count, "min_confidence \(threshold) of \(confidences)")
        XCTAssertTrue(confident.allSatisfy { ($0["confidence"].double ?? 0) > threshold })

        let detections = assertEnvelope(try service.postFile("/detect?max_results=2", Paths.media("dog.jpg")), model: "yolov3-tiny", width: 768, height: 576)
        XCTAssertEqual(detections.count, 2)
    }

    // MARK: Detection

    /// darknet's yolov3-tiny on dog.jpg (Tests/Fixtures/reference/yolov3-tiny/darknet-detections.json) finds these at 0.4.
    static let dogClasses: [String: Int] = ["dog": 16, "bicycle": 1, "car": 2, "truck": 7]

    func testDetectFindsTheDogPhotosObjects() throws {
        let photo = Paths.media("dog.jpg").path
        let result = try Curl.run(["-F", "image=@\(photo)", service.url("/detect")])
        let predictions = assertEnvelope(result.reply, model: "yolov3-tiny", width: 768, height: 576)
        XCTAssertEqual(Set(predictions.compactMap { $0["label"].string }), Set(Self.dogClasses.keys), result.reply.text)
        for prediction in predictions {
            let label = prediction["label"].string ?? ""
            XCTAssertEqual(prediction["class_id"].int, Self.dogClasses[label], "\(prediction)")
            XCTAssertTrue((0.4...1).contains(prediction["confidence"].double ?? -1), "default min confidence 0.4: \(prediction)")
            assertBox(prediction["box"], width: 768, height: 576)
        }
        let raw = try Curl.run(["--data-binary", "@\(photo)", "-H", "Content-Type: image/jpeg", service.url("/detect")])
        XCTAssertEqual(raw.reply.json["predictions"].description, result.reply.json["predictions"].description)
    }

    func testDeepStackDetectionAliasHasDeepStackShape() throws {
        let photo = Paths.media("dog.jpg").path
        let result = try Curl.run(["-F", "image=@\(photo)", service.url("/v1/vision/detection")])
        XCTAssertEqual(result.reply.status, 200, result.reply.text)
        let body = result.reply.json
        XCTAssertEqual(body["success"].bool, true)
        let predictions = try XCTUnwrap(body["predictions"].array)
        XCTAssertEqual(Set(predictions.compactMap { $0["label"].string }), Set(Self.dogClasses.keys))
        for prediction in predictions {
            XCTAssertTrue(prediction.keys.isSuperset(of: ["label", "confidence", "x_min", "y_min", "x_max", "y_max"]), "\(prediction)")
            XCTAssertLessThan(prediction["x_min"].int ?? .max, prediction["x_max"].int ?? .min)
            XCTAssertLessThan(prediction["y_min"].int ?? .max, prediction["y_max"].int ?? .min)
        }
        let integer = try NSRegularExpression(pattern: "\"(x_min|y_min|x_max|y_max)\":-?[0-9]+[,}]")
        let matches = integer.numberOfMatches(in: result.reply.text, range: NSRange(result.reply.text.startIndex..., in: result.reply.text))
        XCTAssertEqual(matches, 4 * predictions.count, "every coordinate an integer: \(result.reply.text)")
    }

    func testClassesParameterFiltersAndRejectsUnknownNames() throws {
        let photo = Paths.media("dog.jpg").path
        let dogs = try Curl.run(["-F", "image=@\(photo)", service.url("/detect?classes=dog")])
        let predictions = assertEnvelope(dogs.reply, model: "yolov3-tiny", width: 768, height: 576)
        XCTAssertEqual(predictions.count, 1, dogs.reply.text)
        XCTAssertEqual(Set(predictions.compactMap { $0["label"].string }), ["dog"])

        let two = try Curl.run(["-F", "image=@\(photo)", "-F", "classes=dog,truck", service.url("/detect")])
        XCTAssertEqual(Set(two.reply.json["predictions"].array?.compactMap { $0["label"].string } ?? []), ["dog", "truck"])

        let unicorn = try Curl.run(["-F", "image=@\(photo)", service.url("/detect?classes=unicorn")])
        Expect.error(unicorn.reply, status: 400, code: "invalid_parameter", "classes=unicorn")
        XCTAssertTrue(unicorn.reply.json["error"].string?.contains("unicorn") ?? false, unicorn.reply.text)
    }

    // MARK: Large uploads

    /// A PNG of seeded noise, stored without compression: width*height*3 bytes and a little more.
    static func noisePNG(width: Int, height: Int, seed: UInt64 = 0x5EED) throws -> Data {
        var state = seed
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in pixels.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            pixels[index] = UInt8(truncatingIfNeeded: state >> 24)
        }
        return try PNGEncoder.encode(RGBImage(width: width, height: height, pixels: pixels), compressionLevel: 0)
    }

    func testTwoMegabyteUploadGets100Continue() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let png = try Self.noisePNG(width: 840, height: 840)
        XCTAssertGreaterThan(png.count, 2_000_000)
        let file = try folder.write(png, name: "noise.png")

        let raw = try Curl.run(["--data-binary", "@\(file.path)", "-H", "Content-Type: image/png", "-H", "Expect: 100-continue",
                                service.url("/faces")], verbose: true)
        XCTAssertTrue(raw.trace.contains("HTTP/1.1 100 Continue"), raw.trace)
        assertEnvelope(raw.reply, model: "mtcnn", width: 840, height: 840)

        // curl sends Expect: 100-continue on its own for a multipart upload this large.
        let multipart = try Curl.run(["-F", "image=@\(file.path);type=image/png", service.url("/faces")], verbose: true)
        XCTAssertTrue(multipart.trace.contains("Expect: 100-continue"), multipart.trace)
        XCTAssertTrue(multipart.trace.contains("HTTP/1.1 100 Continue"), multipart.trace)
        assertEnvelope(multipart.reply, model: "mtcnn", width: 840, height: 840)
        XCTAssertEqual(multipart.reply.json["predictions"].description, raw.reply.json["predictions"].description)
    }
}
