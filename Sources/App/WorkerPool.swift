import Dispatch
import Foundation

/// N model workers, each a serial DispatchQueue owning its own executors, fed
/// from one bounded queue. A full queue refuses work at once (the caller answers
/// 503 overloaded), so a burst never turns into unbounded memory or latency.
public final class WorkerPool<Worker: AnyObject>: @unchecked Sendable {
    /// What a job learns about its time in the queue.
    public struct Ticket: Sendable {
        public let queuedAt: DispatchTime
        public let startedAt: DispatchTime
        public var queueMilliseconds: Double { Double(startedAt.uptimeNanoseconds - queuedAt.uptimeNanoseconds) / 1e6 }
    }

    public enum SubmitError: Error, Equatable {
        case queueFull(capacity: Int)
        case shuttingDown
    }

    private let lock = NSLock()
    private var idleWorkers: [Int]
    private var pending: [(Int?, Ticket) -> Void] = []
    private var pendingQueuedAt: [DispatchTime] = []
    private var inFlight = 0
    private var stopped = false
    private let workers: [Worker]
    private let queues: [DispatchQueue]
    private let drained = DispatchGroup()
    public let capacity: Int

    /// `capacity` bounds the jobs waiting for a worker (not counting those running).
    public init(workers: [Worker], capacity: Int) {
        precondition(!workers.isEmpty)
        self.workers = workers
        self.capacity = max(0, capacity)
        queues = workers.indices.map { DispatchQueue(label: "seer.worker.\($0)", qos: .userInitiated) }
        idleWorkers = Array(workers.indices.reversed())
    }

    public var workerCount: Int { workers.count }

    /// Jobs waiting for a worker.
    public var queueDepth: Int { lock.withLock { pending.count } }
    /// Jobs waiting or running.
    public var busy: Int { lock.withLock { pending.count + inFlight } }

    /// Runs `job` on the next free worker. Throws at once when the queue is full or the pool is stopping.
    public func submit(_ job: @escaping (Worker, Ticket) -> Void) throws {
        let queuedAt = DispatchTime.now()
        let start: (Int, DispatchTime)? = try lock.withLock {
            if stopped { throw SubmitError.shuttingDown }
            drained.enter()
            if let worker = idleWorkers.popLast() {
                inFlight += 1
                return (worker, queuedAt)
            }
            guard pending.count < capacity else {
                drained.leave()
                throw SubmitError.queueFull(capacity: capacity)
            }
            pending.append { [unowned self] worker, ticket in job(self.workers[worker!], ticket) }
            pendingQueuedAt.append(queuedAt)
            return nil
        }
        if let (worker, queued) = start {
            run(worker: worker) { job(self.workers[worker], Ticket(queuedAt: queued, startedAt: .now())) }
        }
    }

    private func run(worker: Int, _ body: @escaping () -> Void) {
        queues[worker].async { [self] in
            body()
            finished(worker: worker)
        }
    }

    /// Hands the worker the next waiting job, or marks it idle.
    private func finished(worker: Int) {
        let next: ((Int?, Ticket) -> Void, DispatchTime)? = lock.withLock {
            drained.leave()
            if pending.isEmpty {
                inFlight -= 1
                idleWorkers.append(worker)
                return nil
            }
            return (pending.removeFirst(), pendingQueuedAt.removeFirst())
        }
        if let (job, queuedAt) = next {
            run(worker: worker) { job(worker, Ticket(queuedAt: queuedAt, startedAt: .now())) }
        }
    }

    /// Refuses new jobs and waits (up to `timeout`) for queued and running ones to finish.
    /// Returns false if the deadline passed first.
    @discardableResult
    public func drain(timeout: DispatchTime = .distantFuture) -> Bool {
        lock.withLock { stopped = true }
        return drained.wait(timeout: timeout) == .success
    }
}
