import Dispatch
import Foundation
import HTTPServer
import Media
import Vision

/// What an inference job measured, for the response's `timing` and the request log.
struct InferenceTiming {
    var queueMilliseconds: Double
    var decodeMilliseconds: Double = 0
    var inferenceMilliseconds: Double = 0
    let started: DispatchTime

    func timing() -> Timing {
        Timing(decode_ms: rounded(decodeMilliseconds), inference_ms: rounded(inferenceMilliseconds),
               total_ms: rounded(milliseconds(since: started)), queue_ms: rounded(queueMilliseconds))
    }

    private func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Times `body` in milliseconds.
func measure<T>(_ milliseconds: inout Double, _ body: () throws -> T) rethrows -> T {
    let start = DispatchTime.now()
    defer { milliseconds += Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6 }
    return try body()
}

extension Application {
    /// Runs `job` on a model worker and completes the request with its response.
    /// A full queue is a 503 at once; a job that waited past the queue timeout is a 503 without running.
    func submit(_ request: Request, model: LoadedModel, _ completion: @escaping ResponseCompletion,
                _ job: @escaping (Worker, inout InferenceTiming) throws -> Response) {
        let started = DispatchTime.now()
        let queueTimeout = configuration.queueTimeout * 1000
        do {
            try pool.submit { [metrics, catalog] worker, ticket in
                // Pipelines of replaced or deleted model versions would otherwise stay cached for good.
                worker.forget(except: catalog.loadedModels)
                var timing = InferenceTiming(queueMilliseconds: ticket.queueMilliseconds, started: started)
                metrics.observeQueueWait(seconds: ticket.queueMilliseconds / 1000)
                guard ticket.queueMilliseconds <= queueTimeout else {
                    completion(.failure(HTTPError(status: 503, code: "overloaded",
                                                  message: "the request waited \(Int(ticket.queueMilliseconds)) ms for a worker, longer than the \(Int(queueTimeout)) ms limit",
                                                  headers: ["Retry-After": "1"])))
                    return
                }
                let result = Result { try job(worker, &timing) }.mapError { httpError(for: $0) as Error }
                metrics.observeInference(model: model.name, seconds: timing.inferenceMilliseconds / 1000)
                completion(result.map { response in
                    var response = response
                    response.headers.set(name: "Server-Timing",
                                         value: String(format: "queue;dur=%.2f, decode;dur=%.2f, inference;dur=%.2f",
                                                       timing.queueMilliseconds, timing.decodeMilliseconds, timing.inferenceMilliseconds))
                    response.annotations = RequestAnnotations(model: model.name, modelVersion: model.version,
                                                              queueMilliseconds: timing.queueMilliseconds,
                                                              inferenceMilliseconds: timing.inferenceMilliseconds).fields
                    return response
                })
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    /// The model a request names, or the task's default; 404 for unknown names, 503 while loading.
    func resolveModel(_ name: String?, task: String) throws -> LoadedModel {
        if let name {
            guard let model = catalog.model(named: name) else {
                if let failure = catalog.loadFailures[name] {
                    throw HTTPError(status: 503, code: "not_ready", message: "model '\(name)' failed to load: \(failure)")
                }
                throw HTTPError.modelNotFound("no model named '\(name.prefix(64))' is registered and active; see GET /models")
            }
            guard model.task == task else {
                throw HTTPError.invalidParameter("model '\(name)' is a \(model.task) model, not a \(task) model")
            }
            return model
        }
        guard let model = catalog.defaultModel(task: task) else {
            if !catalog.isReady { throw HTTPError.notReady("models are still loading") }
            throw HTTPError.modelNotFound("no default \(task) model is registered")
        }
        return model
    }

    func decodeImage(_ data: Data, _ timing: inout InferenceTiming) throws -> RGBImage {
        let options = ImageDecodingOptions(maxPixels: configuration.maxImagePixels)
        return try measure(&timing.decodeMilliseconds) { try ImageDecoder.decode(data, options: options).image }
    }

    // MARK: Faces and age

    struct FaceRequest {
        var options = FaceDetectionOptions()
        var age = false
        var gender = false
    }

    func faceRequest(_ request: Request, ageByDefault: Bool) throws -> FaceRequest {
        let parameters = Parameters(request: request)
        var faces = FaceRequest()
        faces.options.minConfidence = try parameters.fraction("min_confidence") ?? 0
        faces.options.maxResults = try parameters.count("max_results")
        faces.options.minFaceSize = try parameters.number("min_face_size", in: 12...100_000) ?? 20
        faces.options.thresholds = try parameters.fractions("thresholds", count: 3) ?? [0.6, 0.7, 0.7]
        let attributes = parameters.list("attributes")
        for attribute in attributes where attribute != "age" && attribute != "gender" {
            throw HTTPError.invalidParameter("unknown attribute '\(attribute.prefix(40))': use age, gender or age,gender")
        }
        faces.age = ageByDefault || attributes.contains("age")
        faces.gender = attributes.contains("gender")
        return faces
    }

    func faces(_ request: Request, ageByDefault: Bool, _ completion: @escaping ResponseCompletion) {
        do {
            let parameters = Parameters(request: request)
            let faceRequest = try faceRequest(request, ageByDefault: ageByDefault)
            let detector = try resolveModel(parameters.string("model"), task: "faces")
            let attributes = faceRequest.age || faceRequest.gender ? try resolveModel(nil, task: "age") : nil
            let data = try parameters.upload(field: "image")
            submit(request, model: detector, completion) { worker, timing in
                let image = try self.decodeImage(data, &timing)
                var predictions: [FacePrediction] = []
                try measure(&timing.inferenceMilliseconds) {
                    let faces = try worker.faceDetector(detector).detect(image, options: faceRequest.options)
                    predictions = faces.map(FacePrediction.init)
                    if let attributes {
                        let estimator = try worker.attributeEstimator(attributes)
                        if faceRequest.age {
                            for (index, age) in try estimator.estimateAge(image, faces: faces).enumerated() {
                                predictions[index].age = .init(value: round(age.value, 1), low: round(age.low, 1), high: round(age.high, 1))
                            }
                        }
                        if faceRequest.gender {
                            for (index, gender) in try estimator.estimateGender(image, faces: faces).enumerated() {
                                predictions[index].gender = .init(value: gender.value, confidence: round(gender.confidence, 4))
                            }
                        }
                    }
                }
                let body = ImageEnvelope(request_id: request.id, model: ModelReference(name: detector.name, version: detector.version),
                                         image: ImageSize(width: image.width, height: image.height),
                                         predictions: predictions, timing: timing.timing(), extra: NoExtra?.none)
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(body))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    /// DeepStack's /v1/vision/face: boxes only, integer pixels.
    func deepStackFaces(_ request: Request, _ completion: @escaping ResponseCompletion) {
        do {
            let parameters = Parameters(request: request)
            var options = FaceDetectionOptions()
            options.minConfidence = try parameters.fraction("min_confidence") ?? 0
            let detector = try resolveModel(nil, task: "faces")
            let data = try parameters.upload(field: "image")
            submit(request, model: detector, completion) { worker, timing in
                let image = try self.decodeImage(data, &timing)
                let faces = try measure(&timing.inferenceMilliseconds) { try worker.faceDetector(detector).detect(image, options: options) }
                let body = DeepStackResponse(predictions: faces.map { DeepStackPrediction(label: nil, confidence: $0.confidence, box: $0.box) })
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(body))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    // MARK: Detection

    func detectionOptions(_ parameters: Parameters, model: LoadedModel) throws -> DetectionOptions {
        let settings = try DetectionSettings(manifest: model.manifest)
        var options = DetectionOptions()
        options.minConfidence = try parameters.fraction("min_confidence") ?? settings.defaultMinConfidence
        options.iouThreshold = try parameters.fraction("iou") ?? settings.defaultIoU
        options.maxResults = try parameters.count("max_results")
        let classes = parameters.list("classes")
        if !classes.isEmpty {
            var ids = Set<Int>()
            for name in classes {
                guard let id = settings.labels.firstIndex(where: { $0.lowercased() == name }) else {
                    throw HTTPError.invalidParameter("unknown class '\(name.prefix(40))' for model '\(model.name)'; see GET /models/\(model.name) for its labels")
                }
                ids.insert(id)
            }
            options.classes = ids
        }
        return options
    }

    func detect(_ request: Request, deepStack: Bool, _ completion: @escaping ResponseCompletion) {
        do {
            let parameters = Parameters(request: request)
            let model = try resolveModel(deepStack ? nil : parameters.string("model"), task: "detection")
            let options = try detectionOptions(parameters, model: model)
            let data = try parameters.upload(field: "image")
            submit(request, model: model, completion) { worker, timing in
                let image = try self.decodeImage(data, &timing)
                let detections = try measure(&timing.inferenceMilliseconds) { try worker.objectDetector(model).detect(image, options: options) }
                let body: Data
                if deepStack {
                    body = encodeJSON(DeepStackResponse(predictions: detections.map { DeepStackPrediction(label: $0.label, confidence: $0.confidence, box: $0.box) }))
                } else {
                    body = encodeJSON(ImageEnvelope(request_id: request.id, model: ModelReference(name: model.name, version: model.version),
                                                    image: ImageSize(width: image.width, height: image.height),
                                                    predictions: detections.map(DetectionPrediction.init), timing: timing.timing(),
                                                    extra: NoExtra?.none))
                }
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: body)
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    // MARK: Segmentation

    func segment(_ request: Request, _ completion: @escaping ResponseCompletion) {
        do {
            let parameters = Parameters(request: request)
            let model = try resolveModel(parameters.string("model"), task: "segmentation")
            let minConfidence = try parameters.fraction("min_confidence")
            let maxResults = try parameters.count("max_results")
            let wantsPNG = (request.headers["Accept"] ?? "").lowercased().contains("image/png")
            let data = try parameters.upload(field: "image")
            submit(request, model: model, completion) { worker, timing in
                let image = try self.decodeImage(data, &timing)
                let segmenter = try worker.segmenter(model)
                let result = try measure(&timing.inferenceMilliseconds) {
                    try segmenter.segment(image, minConfidence: minConfidence, maxResults: maxResults)
                }
                let png = try PNGEncoder.encode(result.mask)
                if wantsPNG {
                    return Response(status: 200, headers: ["Content-Type": "image/png"], body: png)
                }
                let regions = segmenter.settings.decoder == .db ? result.regions.map { region in
                    SegmentExtra.Region(confidence: round(region.confidence, 4), box: BoxJSON(region.box),
                                        polygon: region.polygon.map { [round($0.x, 2), round($0.y, 2)] })
                } : nil
                let extra = SegmentExtra(mask: .init(width: result.mask.width, height: result.mask.height, data: png.base64EncodedString()),
                                         regions: regions)
                let body = ImageEnvelope(request_id: request.id, model: ModelReference(name: model.name, version: model.version),
                                         image: ImageSize(width: image.width, height: image.height),
                                         predictions: [SegmentPrediction(label: result.label, pixel_fraction: Double(round(result.pixelFraction, 6)))],
                                         timing: timing.timing(), extra: extra)
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(body))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }
}
