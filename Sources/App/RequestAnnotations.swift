/// What a handler tells the request log about a request beyond what the server sees.
struct RequestAnnotations {
    var model: String?
    var modelVersion: Int?
    var queueMilliseconds: Double?
    var inferenceMilliseconds: Double?

    var fields: [String: String] {
        var fields: [String: String] = [:]
        fields["model"] = model
        fields["model_version"] = modelVersion.map(String.init)
        fields["queue_ms"] = queueMilliseconds.map { String($0) }
        fields["inference_ms"] = inferenceMilliseconds.map { String($0) }
        return fields
    }

    init(model: String?, modelVersion: Int?, queueMilliseconds: Double?, inferenceMilliseconds: Double?) {
        self.model = model
        self.modelVersion = modelVersion
        self.queueMilliseconds = queueMilliseconds
        self.inferenceMilliseconds = inferenceMilliseconds
    }

    init(_ fields: [String: String]) {
        model = fields["model"]
        modelVersion = fields["model_version"].flatMap { Int($0) }
        queueMilliseconds = fields["queue_ms"].flatMap { Double($0) }
        inferenceMilliseconds = fields["inference_ms"].flatMap { Double($0) }
    }
}
