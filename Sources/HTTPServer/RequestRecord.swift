import Foundation

/// One row for the request log: everything the server knows about one request
/// it answered (or that ended without an answer).
public struct RequestRecord: Sendable {
    public var requestID: String
    /// Empty when the request line was never received.
    public var method: String
    /// The decoded path; the raw target (clipped) when the head was malformed; empty when unknown.
    public var path: String
    /// The status sent, or `RequestRecord.clientClosedStatus` (499) when the
    /// client went away before the response could be sent.
    public var status: Int
    /// The machine code of an error response (`bad_request`, `payload_too_large`, …).
    public var errorCode: String?
    /// Bytes of this request received (request line, headers, body framing included).
    public var bytesIn: Int
    /// Bytes of responses written for it (a `100 Continue` included).
    public var bytesOut: Int
    public var clientAddress: String
    /// When the server started on the request: its first byte, the end of the previous
    /// response for pipelined requests, or the accept time for an overload rejection.
    public var startTime: Date
    /// From `startTime` until the header block was complete (nil if it never was).
    public var headerDuration: TimeInterval?
    /// From calling the handler until it completed (nil if it was not called).
    public var handlerDuration: TimeInterval?
    /// From `startTime` until the response was written (or the exchange ended).
    public var totalDuration: TimeInterval
    /// True if the response could not be delivered (client closed or stopped reading).
    public var clientDisconnected: Bool
    /// The handler's `Response.annotations` (empty when no handler answered).
    public var annotations: [String: String] = [:]

    public static let clientClosedStatus = 499
}

/// Called exactly once for every request: answered, rejected or abandoned.
/// Runs on the connection's thread (or the accept thread for overload
/// rejections), concurrently for different connections; it must be thread-safe
/// and quick (queue the row, do not write SQLite inline).
public typealias RequestObserver = (RequestRecord) -> Void
