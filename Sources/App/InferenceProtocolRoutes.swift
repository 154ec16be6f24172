import Foundation
import HTTPServer
import TensorRuntime

/// Open Inference Protocol v2 (KServe / Triton REST) over any registered graph.
extension Application {
    struct V2Tensor: Codable {
        let name: String
        let shape: [Int]
        let datatype: String
        let data: [Double]
    }

    struct V2InferRequest: Decodable {
        let id: String?
        let inputs: [V2InputTensor]
        let outputs: [V2RequestedOutput]?
    }

    struct V2RequestedOutput: Decodable { let name: String }

    /// An input tensor whose `data` may be flat or nested as its shape.
    struct V2InputTensor: Decodable {
        let name: String
        let shape: [Int]
        let datatype: String
        let data: [Double]

        enum CodingKeys: String, CodingKey { case name, shape, datatype, data }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            shape = try container.decode([Int].self, forKey: .shape)
            datatype = try container.decode(String.self, forKey: .datatype)
            data = try container.decode(NestedNumbers.self, forKey: .data).values
        }
    }

    struct NestedNumbers: Decodable {
        var values: [Double] = []
        init(from decoder: Decoder) throws {
            if let number = try? decoder.singleValueContainer().decode(Double.self) {
                values = [number]
                return
            }
            var container = try decoder.unkeyedContainer()
            while !container.isAtEnd { values += try container.decode(NestedNumbers.self).values }
        }
    }

    func v2Ready(_ request: Request) throws -> Response {
        _ = try readyz(request)
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: Data("{\"ready\":true}".utf8))
    }

    func v2Metadata(_ request: Request) throws -> Response {
        let name = request.pathParameters["name"] ?? ""
        guard let model = catalog.model(named: name) else { throw HTTPError.modelNotFound("no model named '\(name.prefix(64))' is loaded") }
        struct Port: Encodable { let name: String; let datatype: String; let shape: [Int] }
        struct Body: Encodable { let name: String; let versions: [String]; let platform: String; let inputs: [Port]; let outputs: [Port]; let graphs: [String] }
        guard let plan = model.plan(Parameters(request: request).string("graph")) else {
            throw HTTPError.invalidParameter("model '\(name)' has several graphs (\(model.plans.keys.sorted().joined(separator: ", "))): choose one with ?graph=")
        }
        func port(_ info: ValueInfo) -> Port {
            Port(name: info.name, datatype: info.dataType.map(Application.v2Name) ?? "FP32",
                 shape: info.shape?.map { if case let .fixed(size) = $0 { return size } else { return -1 } } ?? [])
        }
        let body = Body(name: model.name, versions: [String(model.version)], platform: "seer_onnx",
                        inputs: plan.graph.inputs.map(port), outputs: plan.graph.outputs.map(port), graphs: model.plans.keys.sorted())
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(body))
    }

    static func v2Name(_ type: DataType) -> String {
        switch type {
        case .float32: return "FP32"
        case .float64: return "FP64"
        case .float16: return "FP16"
        case .int64: return "INT64"
        case .int32: return "INT32"
        case .int16: return "INT16"
        case .int8: return "INT8"
        case .uint8: return "UINT8"
        case .uint16: return "UINT16"
        case .uint32: return "UINT32"
        case .uint64: return "UINT64"
        case .bool: return "BOOL"
        }
    }

    func v2Infer(_ request: Request, _ completion: @escaping ResponseCompletion) {
        do {
            let name = request.pathParameters["name"] ?? ""
            guard let model = catalog.model(named: name) else { throw HTTPError.modelNotFound("no model named '\(name.prefix(64))' is loaded") }
            let role = Parameters(request: request).string("graph")
            guard model.plan(role) != nil else {
                throw HTTPError.invalidParameter("model '\(name)' has no graph '\(role ?? "main")'; graphs: \(model.plans.keys.sorted().joined(separator: ", "))")
            }
            let (body, feeds) = try Application.decodeV2Request(request.body)
            submit(request, model: model, completion) { worker, timing in
                let executor = try worker.executor(model, role: role)
                let outputs: [String: Tensor]
                do {
                    outputs = try measure(&timing.inferenceMilliseconds) { try executor.run(feeds) }
                } catch let error as RuntimeError {
                    if case .invalidInput = error { throw HTTPError(status: 400, code: "bad_request", message: error.description) }
                    if case .executionFailed = error { throw HTTPError(status: 400, code: "bad_request", message: error.description) }
                    throw error
                }
                let wanted = body.outputs?.map(\.name) ?? executor.outputNames
                var tensors: [V2Tensor] = []
                for outputName in wanted {
                    guard let tensor = outputs[outputName] else {
                        throw HTTPError.invalidParameter("the graph has no output named '\(outputName.prefix(64))'")
                    }
                    tensors.append(V2Tensor(name: outputName, shape: tensor.shape, datatype: Application.v2Name(tensor.dataType),
                                            data: tensor.floatValues().map { Double($0) }))
                }
                struct Reply: Encodable { let model_name: String; let model_version: String; let id: String?; let outputs: [V2Tensor] }
                let reply = Reply(model_name: model.name, model_version: String(model.version), id: body.id, outputs: tensors)
                return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(reply))
            }
        } catch {
            completion(.failure(httpError(for: error)))
        }
    }

    /// The tensors an inference request body feeds, by input name, as `POST /v2/models/{name}/infer`
    /// decodes them: a body that is not a request is a 400 `bad_request`, a bad tensor a 400 `invalid_parameter`.
    public static func v2Feeds(fromBody body: Data) throws -> [String: Tensor] {
        try decodeV2Request(body).feeds
    }

    static func decodeV2Request(_ data: Data) throws -> (request: V2InferRequest, feeds: [String: Tensor]) {
        let request: V2InferRequest
        do { request = try JSONDecoder().decode(V2InferRequest.self, from: data) } catch {
            throw HTTPError(status: 400, code: "bad_request", message: "the body is not an inference request: \(error)")
        }
        let feeds = try Dictionary(request.inputs.map { ($0.name, try Application.tensor(from: $0)) }, uniquingKeysWith: { first, _ in first })
        return (request, feeds)
    }

    static func tensor(from input: V2InputTensor) throws -> Tensor {
        guard input.shape.allSatisfy({ $0 >= 0 }), input.shape.count <= 8 else {
            throw HTTPError.invalidParameter("input '\(input.name.prefix(64))' has an invalid shape \(input.shape)")
        }
        let (count, overflow) = input.shape.reduce((1, false)) { partial, dim in
            let (product, over) = partial.0.multipliedReportingOverflow(by: dim)
            return (product, partial.1 || over)
        }
        guard !overflow, count == input.data.count else {
            throw HTTPError.invalidParameter("input '\(input.name.prefix(64))' has \(input.data.count) values for shape \(input.shape)")
        }
        switch input.datatype {
        case "FP32": return Tensor(shape: input.shape, values: input.data.map { Float($0) })
        case "INT64":
            guard input.data.allSatisfy({ $0.rounded() == $0 && abs($0) < 9.0e15 }) else {
                throw HTTPError.invalidParameter("input '\(input.name.prefix(64))' is INT64 but holds non-integer values")
            }
            return Tensor(shape: input.shape, values: input.data.map { Int64($0) })
        default:
            throw HTTPError.invalidParameter("datatype '\(input.datatype.prefix(16))' is not supported; use FP32 or INT64")
        }
    }
}
