import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors starting the server.
public struct HTTPServerError: Error, CustomStringConvertible {
    public let description: String
}

/// Thin wrappers over the socket calls the server needs.
enum Socket {
    /// A non-blocking IPv4 listening socket with SO_REUSEADDR; returns it and the bound port.
    static func listen(host: String, port: Int, backlog: Int) throws -> (fd: Int32, port: Int) {
        guard (0...65535).contains(port) else { throw HTTPServerError(description: "port \(port) is outside 0...65535") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = try resolveIPv4(host)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPServerError(description: "socket() failed: \(errorText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let message = errorText()
            close(fd)
            throw HTTPServerError(description: "cannot bind \(host):\(port): \(message)")
        }
        guard Glibc.listen(fd, Int32(backlog)) == 0 else {
            let message = errorText()
            close(fd)
            throw HTTPServerError(description: "cannot listen on \(host):\(port): \(message)")
        }
        setNonBlocking(fd)
        return (fd, localPort(fd))
    }

    private static func resolveIPv4(_ host: String) throws -> in_addr {
        var address = in_addr()
        if inet_pton(AF_INET, host, &address) == 1 { return address }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list, let socketAddress = first.pointee.ai_addr else {
            throw HTTPServerError(description: "cannot resolve host '\(host)' to an IPv4 address")
        }
        defer { freeaddrinfo(list) }
        return socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
    }

    static func localPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts one connection (non-blocking, close-on-exec, TCP_NODELAY) and its peer as `a.b.c.d:port`.
    static func accept(_ listener: Int32) -> (fd: Int32, peer: String)? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        setNonBlocking(fd)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var ip = address.sin_addr
        inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (fd, "\(host):\(UInt16(bigEndian: address.sin_port))")
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    enum Wait: Equatable {
        case ready
        case signaled(Int)
        case timedOut
    }

    /// Waits until `fd` has `events` (POLLIN/POLLOUT), one of `signals` is readable, or `deadline` passes.
    static func wait(_ fd: Int32, for events: Int32, signals: [Int32], until deadline: Date?) -> Wait {
        var descriptors = [pollfd(fd: fd, events: Int16(events), revents: 0)]
        descriptors += signals.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            let result = poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds(until: deadline))
            if result < 0 {
                if errno == EINTR { continue }
                return .ready  // let the following read or write report the error
            }
            for index in 1..<descriptors.count where descriptors[index].revents != 0 { return .signaled(index - 1) }
            if descriptors[0].revents != 0 { return .ready }
            if let deadline, deadline.timeIntervalSinceNow <= 0 { return .timedOut }
        }
    }

    static func timeoutMilliseconds(until deadline: Date?) -> Int32 {
        guard let deadline else { return -1 }
        let milliseconds = (deadline.timeIntervalSinceNow * 1000).rounded(.up)
        return Int32(max(0, min(milliseconds, 3_600_000)))
    }

    static func errorText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}

/// A level-triggered, one-way flag many threads can poll: once `raise()`d, its
/// `fd` stays readable.
final class Signal: @unchecked Sendable {
    let fd: Int32
    private let writeFD: Int32
    private let lock = NSLock()
    private var raised = false

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw HTTPServerError(description: "pipe() failed: \(Socket.errorText())") }
        for descriptor in fds {
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            Socket.setNonBlocking(descriptor)
        }
        fd = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(fd)
        close(writeFD)
    }

    var isRaised: Bool { lock.withLock { raised } }

    /// Empties the pipe so a re-armable use (`Lingerer`) can wait again.
    func drain() {
        lock.withLock {
            raised = false
            var scratch = [UInt8](repeating: 0, count: 64)
            while read(fd, &scratch, scratch.count) > 0 {}
        }
    }

    func raise() {
        lock.withLock {
            guard !raised else { return }
            raised = true
            var byte: UInt8 = 1
            _ = write(writeFD, &byte, 1)
        }
    }
}
