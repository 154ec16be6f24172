import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Closes sockets gracefully on one thread: after the final response it
/// shuts down the write side and reads (and discards) what the client still
/// sends until it closes, `lingerTimeout` passes or `maxDiscardBytes` arrive.
/// Closing a socket with unread input makes the kernel send a reset that can
/// destroy the response before the client reads it. At most `capacity`
/// sockets linger; beyond that they are closed at once.
final class Lingerer: @unchecked Sendable {
    private struct Entry {
        let fd: Int32
        let deadline: Date
        var discarded: Int
    }

    private let timeout: TimeInterval
    private let capacity: Int
    private let maxDiscardBytes = 4 << 20
    private let wakeup: Signal
    private let stopped: Signal
    private let lock = NSLock()
    private var incoming: [Int32] = []
    private let finished = DispatchGroup()

    init(timeout: TimeInterval, capacity: Int) throws {
        self.timeout = timeout
        self.capacity = capacity
        wakeup = try Signal()
        stopped = try Signal()
    }

    func start() {
        finished.enter()
        let thread = Thread { [self] in
            run()
            finished.leave()
        }
        thread.name = "http-linger"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Takes ownership of `fd`.
    func close(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_WR))
        let accepted = lock.withLock { () -> Bool in
            guard !stopped.isRaised, incoming.count < capacity else { return false }
            incoming.append(fd)
            return true
        }
        if accepted {
            wakeup.raise()
        } else {
            Glibc.close(fd)
        }
    }

    /// Closes every lingering socket and ends the thread.
    func stop() {
        stopped.raise()
        finished.wait()
    }

    private func run() {
        var entries: [Entry] = []
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        while !stopped.isRaised {
            wakeup.drain()
            let added = lock.withLock { () -> [Int32] in
                defer { incoming.removeAll() }
                return incoming
            }
            let now = Date()
            entries += added.map { Entry(fd: $0, deadline: now.addingTimeInterval(timeout), discarded: 0) }
            if entries.count > capacity {
                for entry in entries[capacity...] { Glibc.close(entry.fd) }
                entries.removeSubrange(capacity...)
            }
            var descriptors = [pollfd(fd: wakeup.fd, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: stopped.fd, events: Int16(POLLIN), revents: 0)]
            descriptors += entries.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let nearest = entries.map(\.deadline).min()
            _ = poll(&descriptors, nfds_t(descriptors.count), Socket.timeoutMilliseconds(until: nearest))
            var kept: [Entry] = []
            for (index, var entry) in entries.enumerated() {
                var open = entry.deadline.timeIntervalSinceNow > 0
                if open && descriptors[index + 2].revents != 0 {
                    let count = recv(entry.fd, &scratch, scratch.count, Int32(MSG_DONTWAIT))
                    if count > 0 {
                        entry.discarded += count
                        open = entry.discarded < maxDiscardBytes
                    } else {
                        open = count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    }
                }
                if open { kept.append(entry) } else { Glibc.close(entry.fd) }
            }
            entries = kept
        }
        let leftovers = lock.withLock { () -> [Int32] in
            defer { incoming.removeAll() }
            return incoming
        }
        for fd in leftovers + entries.map(\.fd) { Glibc.close(fd) }
    }
}
