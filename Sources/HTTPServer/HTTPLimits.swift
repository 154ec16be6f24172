import Foundation

/// Every size, count and time limit the server enforces, in one value.
///
/// Sizes are bytes, times are seconds. The parser uses the size limits; the
/// connection loop uses the time limits; the server uses `maxConnections`.
public struct HTTPLimits: Equatable, Sendable {
    /// Longest request line (method, target, version) -> 414 `uri_too_long`.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Largest header block (all header lines after the request line, and all
    /// trailer lines of a chunked body) -> 431 `headers_too_large`.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Most header fields in one request (or trailer) -> 431 `headers_too_large`.
    public var maxHeaderCount: Int = 100
    /// Largest request body (after removing chunked framing) -> 413 `payload_too_large`.
    public var maxBodyBytes: Int = 64 * 1024 * 1024
    /// Request body bytes all connections together may hold in memory (bodies
    /// being received or waiting for their response). A request that would go
    /// over gets 503 `overloaded`: a declared Content-Length before its body is
    /// read (instead of `100 Continue`), a chunked body when a chunk arrives.
    public var maxBufferedBodyBytes: Int = 1 << 30
    /// Longest chunk-size line of a chunked body, extensions included -> 400 `bad_request`.
    public var maxChunkLineBytes: Int = 4 * 1024
    /// Most parts in one multipart/form-data body, or fields in one url-encoded
    /// form body -> 400 `bad_request`.
    public var maxMultipartParts: Int = 1000

    /// Time allowed from the first byte of a request (or from accepting the
    /// connection, for its first request) until its header block is complete
    /// -> 408 `request_timeout`, then close.
    public var headerReadTimeout: TimeInterval = 10
    /// Longest silence while a request body is being received -> 408 `request_timeout`, then close.
    public var bodyReadTimeout: TimeInterval = 30
    /// How long a keep-alive connection may sit idle between requests before it is closed (no response).
    public var idleTimeout: TimeInterval = 60
    /// Longest time a response write may make no progress before the connection is dropped.
    public var writeTimeout: TimeInterval = 30
    /// Open connections served at once; one more is answered 503 `overloaded` and closed.
    public var maxConnections: Int = 256
    /// How long a closing connection keeps reading (and discarding) what the
    /// client still sends, so that the client sees the final response rather than a reset.
    public var lingerTimeout: TimeInterval = 2

    public init() {}
}
