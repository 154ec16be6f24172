import Foundation

/// Counters and histograms exposed at /metrics in Prometheus' text format.
public final class Metrics: @unchecked Sendable {
    struct Histogram {
        static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        var buckets = [Int](repeating: 0, count: bounds.count)
        var count = 0
        var sum = 0.0

        mutating func observe(_ seconds: Double) {
            count += 1
            sum += seconds
            for (index, bound) in Histogram.bounds.enumerated() where seconds <= bound { buckets[index] += 1 }
        }
    }

    private let lock = NSLock()
    private var requests: [RouteStatus: Int] = [:]
    private var requestDurations: [String: Histogram] = [:]
    private var inferenceDurations: [String: Histogram] = [:]
    private var queueWait = Histogram()
    private var inFlight = 0

    struct RouteStatus: Hashable { let route: String; let status: Int }

    public init() {}

    public func requestStarted() { lock.withLock { inFlight += 1 } }

    public func requestFinished(route: String, status: Int, seconds: Double) {
        lock.withLock {
            inFlight -= 1
            requests[RouteStatus(route: route, status: status), default: 0] += 1
            requestDurations[route, default: Histogram()].observe(seconds)
        }
    }

    /// A request the server answered before it reached a handler (parse error, limit, timeout).
    public func requestRejected(status: Int) {
        lock.withLock { requests[RouteStatus(route: "(unrouted)", status: status), default: 0] += 1 }
    }

    public func observeInference(model: String, seconds: Double) {
        lock.withLock { inferenceDurations[model, default: Histogram()].observe(seconds) }
    }

    public func observeQueueWait(seconds: Double) { lock.withLock { queueWait.observe(seconds) } }

    /// Gauges read at scrape time from their owners.
    public struct Gauges {
        public var queueDepth: Int
        public var workers: Int
        public var modelsLoaded: Int
        public var requestLogFailedWrites: Int
        public var requestLogDroppedRows: Int
        public var requestLogWrittenRows: Int
        public var requestLogPendingRows: Int
        /// False from a failed request-log write until the next successful one.
        public var requestLogHealthy: Bool
    }

    public func render(_ gauges: Gauges) -> String {
        lock.withLock {
            var out = ""
            out += "# HELP seer_requests_total HTTP requests answered, by route and status.\n# TYPE seer_requests_total counter\n"
            for (key, value) in requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
                out += "seer_requests_total{route=\"\(escape(key.route))\",status=\"\(key.status)\"} \(value)\n"
            }
            out += histogram("seer_request_duration_seconds", "Time from request parsed to response ready.", label: "route", requestDurations)
            out += histogram("seer_inference_duration_seconds", "Model pipeline time per request (decode excluded).", label: "model", inferenceDurations)
            out += histogram("seer_queue_wait_seconds", "Time a job waited for a worker.", label: nil, ["": queueWait])
            out += gauge("seer_requests_in_flight", "Requests being handled.", inFlight)
            out += gauge("seer_queue_depth", "Jobs waiting for a worker.", gauges.queueDepth)
            out += gauge("seer_workers", "Model workers.", gauges.workers)
            out += gauge("seer_models_loaded", "Models loaded and ready.", gauges.modelsLoaded)
            out += "# HELP seer_request_log_failed_writes_total Request-log batches that could not be written.\n# TYPE seer_request_log_failed_writes_total counter\n"
            out += "seer_request_log_failed_writes_total \(gauges.requestLogFailedWrites)\n"
            out += "# HELP seer_request_log_dropped_rows_total Request-log rows lost to write failures.\n# TYPE seer_request_log_dropped_rows_total counter\n"
            out += "seer_request_log_dropped_rows_total \(gauges.requestLogDroppedRows)\n"
            out += "# HELP seer_request_log_written_rows_total Request-log rows committed to the database.\n# TYPE seer_request_log_written_rows_total counter\n"
            out += "seer_request_log_written_rows_total \(gauges.requestLogWrittenRows)\n"
            out += gauge("seer_request_log_pending_rows", "Request-log rows waiting for the writer.", gauges.requestLogPendingRows)
            out += gauge("seer_request_log_healthy", "1 while request-log writes succeed, 0 from a failed write until the next success.",
                         gauges.requestLogHealthy ? 1 : 0)
            return out
        }
    }

    private func gauge(_ name: String, _ help: String, _ value: Int) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
    }

    private func histogram(_ name: String, _ help: String, label: String?, _ series: [String: Histogram]) -> String {
        var out = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (key, histogram) in series.sorted(by: { $0.key < $1.key }) {
            let prefix = label.map { "\($0)=\"\(escape(key))\"," } ?? ""
            let plain = label.map { "{\($0)=\"\(escape(key))\"}" } ?? ""
            for (bound, count) in zip(Histogram.bounds, histogram.buckets) {
                out += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(count)\n"
            }
            out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(histogram.count)\n"
            out += "\(name)_sum\(plain) \(histogram.sum)\n\(name)_count\(plain) \(histogram.count)\n"
        }
        return out
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
