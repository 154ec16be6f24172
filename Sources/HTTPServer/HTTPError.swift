import Foundation

/// An error answered to the client as the contract's JSON error body:
/// `{"success": false, "error": message, "code": code, "request_id": …}`.
///
/// Handlers throw it (or complete with it); the server raises it for parse
/// errors, limits, timeouts and overload. `response(requestID:)` is the one
/// place that renders it.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    /// Machine-readable code, e.g. `bad_request`, `payload_too_large`.
    public var code: String
    /// Human-readable message naming what is wrong.
    public var message: String
    /// Extra response headers, e.g. `Retry-After` or `Allow`.
    public var headers: HTTPHeaders

    public init(status: Int, code: String, message: String, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(message)" }

    /// The JSON error response. Its body is the contract's error object; its
    /// `errorCode` is `code`, so the request log can record it.
    public func response(requestID: String) -> Response {
        let body = ErrorBody(success: false, error: message, code: code, request_id: requestID)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data()
        var response = Response(status: status, headers: headers, body: data)
        response.headers.set(name: "Content-Type", value: "application/json")
        response.errorCode = code
        return response
    }

    private struct ErrorBody: Encodable {
        let success: Bool
        let error: String
        let code: String
        let request_id: String
    }
}

extension HTTPError {
    public static func badRequest(_ message: String) -> HTTPError {
        HTTPError(status: 400, code: "bad_request", message: message)
    }
    public static func notFound(_ message: String) -> HTTPError {
        HTTPError(status: 404, code: "not_found", message: message)
    }
    public static func methodNotAllowed(_ method: String, path: String, allowed: [String]) -> HTTPError {
        HTTPError(status: 405, code: "method_not_allowed",
                  message: "method \(method) is not allowed for \(path); allowed: \(allowed.joined(separator: ", "))",
                  headers: ["Allow": allowed.joined(separator: ", ")])
    }
    public static func requestTimeout(_ message: String) -> HTTPError {
        HTTPError(status: 408, code: "request_timeout", message: message)
    }
    public static func lengthRequired(_ message: String) -> HTTPError {
        HTTPError(status: 411, code: "length_required", message: message)
    }
    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(status: 413, code: "payload_too_large",
                  message: "request body is larger than the limit of \(limit) bytes")
    }
    public static func uriTooLong(limit: Int) -> HTTPError {
        HTTPError(status: 414, code: "uri_too_long",
                  message: "request line is longer than the limit of \(limit) bytes")
    }
    public static func headersTooLarge(_ message: String) -> HTTPError {
        HTTPError(status: 431, code: "headers_too_large", message: message)
    }
    public static func expectationFailed(_ message: String) -> HTTPError {
        HTTPError(status: 417, code: "expectation_failed", message: message)
    }
    public static func notImplemented(_ message: String) -> HTTPError {
        HTTPError(status: 501, code: "not_implemented", message: message)
    }
    public static func versionNotSupported(_ version: String) -> HTTPError {
        HTTPError(status: 505, code: "http_version_not_supported",
                  message: "HTTP version \(version) is not supported; use HTTP/1.0 or HTTP/1.1")
    }
    public static func overloaded(retryAfterSeconds: Int, message: String) -> HTTPError {
        HTTPError(status: 503, code: "overloaded", message: message,
                  headers: ["Retry-After": String(retryAfterSeconds)])
    }
    public static func internalError(_ message: String) -> HTTPError {
        HTTPError(status: 500, code: "internal", message: message)
    }
}
