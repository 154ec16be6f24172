import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `seer healthcheck`: one plain-socket HTTP GET, for container health checks in images without curl.
/// Exits 0 when the answer's status is 200, 1 otherwise (with the reason on stderr).
struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 if the server answers 200 (default: GET /readyz on 127.0.0.1, port SEER_PORT or 8080).")

    @Option(help: "http:// URL to GET (default: http://127.0.0.1:$SEER_PORT/readyz).") var url: String?
    @Option(help: "Seconds to wait for connect, send and each read.") var timeout: Int = 5

    func run() throws {
        try reportingErrors {
            let target = try HealthcheckTarget(url ?? Self.defaultURL(environment: ProcessInfo.processInfo.environment))
            guard timeout >= 1 else { throw CommandError("--timeout must be at least 1 second") }
            let status = try fetchStatus(of: target, timeoutSeconds: timeout)
            guard status == 200 else { throw CommandError("GET \(target.description) answered \(status)") }
        }
    }

    static func defaultURL(environment: [String: String]) -> String {
        let port = environment["SEER_PORT"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 8080
        return "http://127.0.0.1:\(port)/readyz"
    }
}

/// An `http://host[:port]/path` URL split into what a raw GET needs (no TLS, no user info).
struct HealthcheckTarget: CustomStringConvertible {
    let host: String
    let port: Int
    let path: String

    init(_ text: String) throws {
        guard text.hasPrefix("http://") else { throw CommandError("healthcheck URL must start with http://, got '\(text)'") }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let pathPart = rest.dropFirst(authority.count)
        path = pathPart.isEmpty ? "/" : String(pathPart)
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw CommandError("unclosed '[' in URL '\(text)'") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = try Self.port(after.hasPrefix(":") ? after.dropFirst() : nil, in: text)
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = try Self.port(authority[authority.index(after: colon)...], in: text)
        } else {
            host = String(authority)
            port = 80
        }
        guard !host.isEmpty else { throw CommandError("no host in URL '\(text)'") }
        guard !path.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) else {
            throw CommandError("URL path must not contain spaces or line breaks: '\(text)'")
        }
    }

    private static func port(_ text: Substring?, in url: String) throws -> Int {
        guard let text else { return 80 }
        guard let port = Int(text), (1...65535).contains(port) else { throw CommandError("bad port in URL '\(url)'") }
        return port
    }

    var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)" }
}

/// Connects, sends `GET path HTTP/1.1` with `Connection: close`, and returns the status code of the answer.
func fetchStatus(of target: HealthcheckTarget, timeoutSeconds: Int) throws -> Int {
    let socketFD = try connectSocket(host: target.host, port: target.port, timeoutSeconds: timeoutSeconds)
    defer { close(socketFD) }
    let hostHeader = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
    let request = Array("GET \(target.path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: seer-healthcheck\r\nConnection: close\r\n\r\n".utf8)
    var sent = 0
    while sent < request.count {
        let count = request[sent...].withUnsafeBytes { send(socketFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count > 0 else { throw CommandError("cannot send to \(target.description): \(String(cString: strerror(errno)))") }
        sent += count
    }
    // The status line is all we need: read until the first line ends (it is short; cap what we keep).
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1024)
    while !received.contains(UInt8(ascii: "\n")) && received.count < 4096 {
        let count = buffer.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
        if count == 0 { break }
        guard count > 0 else {
            throw CommandError("no answer from \(target.description): \(String(cString: strerror(errno)))")
        }
        received += buffer[..<count]
    }
    let statusLine = String(decoding: received.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    let parts = statusLine.split(separator: " ", maxSplits: 2)
    guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
        throw CommandError("\(target.description) did not answer with an HTTP status line (got '\(statusLine.prefix(80))')")
    }
    return status
}

/// Resolves `host` and connects a TCP socket to the first address that accepts, with send/receive timeouts set.
private func connectSocket(host: String, port: Int, timeoutSeconds: Int) throws -> Int32 {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host, String(port), &hints, &list)
    guard status == 0, let first = list else {
        throw CommandError("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
    }
    defer { freeaddrinfo(list) }
    var lastError = "no address"
    var candidate: UnsafeMutablePointer<addrinfo>? = first
    while let info = candidate {
        candidate = info.pointee.ai_next
        let socketFD = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard socketFD >= 0 else { lastError = String(cString: strerror(errno)); continue }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if connect(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return socketFD }
        lastError = String(cString: strerror(errno))
        close(socketFD)
    }
    throw CommandError("cannot connect to \(host):\(port): \(lastError)")
}
