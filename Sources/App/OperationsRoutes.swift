import Foundation
import HTTPServer
import Store

extension Application {
    func healthz(_ request: Request) throws -> Response {
        Response.text("ok\n")
    }

    func readyz(_ request: Request) throws -> Response {
        guard catalog.isReady else {
            let failures = catalog.loadFailures.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; ")
            if !failures.isEmpty { throw HTTPError.notReady("models failed to load: \(failures)") }
            throw HTTPError.notReady(catalog.hasLoaded ? "no default model is registered: add a model folder with \"default\": true to \(catalog.modelsDirectory.path)"
                                                       : "models are still loading")
        }
        return Response.text("ready\n")
    }

    func metricsText(_ request: Request) throws -> Response {
        let statistics = requestLog.statistics
        let text = metrics.render(Metrics.Gauges(queueDepth: pool.queueDepth, workers: pool.workerCount,
                                                 modelsLoaded: catalog.loadedModels.count,
                                                 requestLogFailedWrites: Int(statistics.failedWrites),
                                                 requestLogDroppedRows: Int(statistics.droppedRows),
                                                 requestLogWrittenRows: Int(statistics.writtenRows),
                                                 requestLogPendingRows: statistics.pendingRows,
                                                 requestLogHealthy: statistics.isHealthy))
        return Response.text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    func openAPIDocument(_ request: Request) throws -> Response {
        guard let document = openAPI else {
            throw HTTPError.notFound("openapi.yaml was not found next to the models folder")
        }
        return Response(status: 200, headers: ["Content-Type": "application/yaml"], body: document)
    }

    func recentRequests(_ request: Request) throws -> Response {
        let limit = try Parameters(request: request).count("limit", max: 1000) ?? 100
        guard limit >= 1 else { throw HTTPError.invalidParameter("limit must be from 1 to 1000") }
        requestLog.flush()
        let rows = try requestLog.recent(limit: limit).map(RequestLogRow.init)
        struct Body: Encodable { let success = true; let requests: [RequestLogRow] }
        return Response(status: 200, headers: ["Content-Type": "application/json"], body: encodeJSON(Body(requests: rows)))
    }
}

struct RequestLogRow: Encodable {
    let id: String, time: String, method: String, path: String
    let model: String?, model_version: Int?, status: Int, error_code: String?
    let queue_ms: Double?, inference_ms: Double?, total_ms: Double
    let bytes_in: Int, bytes_out: Int, client: String?

    init(_ record: Store.RequestRecord) {
        id = record.id
        time = ISO8601DateFormatter.withFractions.string(from: record.time)
        method = record.method
        path = record.path
        model = record.model
        model_version = record.modelVersion
        status = record.status
        error_code = record.errorCode
        queue_ms = record.queueMs
        inference_ms = record.inferenceMs
        total_ms = record.totalMs
        bytes_in = record.bytesIn
        bytes_out = record.bytesOut
        client = record.clientAddress
    }
}

extension ISO8601DateFormatter {
    static let withFractions: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
