import TensorRuntime
import XCTest

/// KernelContext.parallelRanges over its thread team: every index exactly once in a few equal ranges per
/// thread, claimed by whichever thread is free, many short loops back to back (the helpers spin, sleep and wake between them), nested loops,
/// and helpers asleep once no loop comes.
final class ParallelLoopTests: XCTestCase {
    /// Counts how often each index ran and which worker ran it, from several threads at once.
    final class Visits: @unchecked Sendable {
        let counts: UnsafeMutablePointer<Int>
        let workers: UnsafeMutablePointer<Int>
        let count: Int

        init(count: Int) {
            self.count = count
            counts = .allocate(capacity: count)
            counts.initialize(repeating: 0, count: count)
            workers = .allocate(capacity: count)
            workers.initialize(repeating: -1, count: count)
        }

        deinit {
            counts.deallocate()
            workers.deallocate()
        }
    }

    func testEveryIndexRunsOnceInEqualConsecutiveRanges() {
        for threads in [1, 2, 3, 4] {
            let context = KernelContext(options: ExecutionOptions(threads: threads))
            for count in [1, 2, 3, 5, 8, 1000] {
                let visits = Visits(count: count)
                let ranges = Visits(count: count)   // counts[start] = the length of the range starting there
                context.parallelRanges(count) { worker, range in
                    ranges.counts[range.lowerBound] = range.count
                    for index in range {
                        visits.counts[index] += 1
                        visits.workers[index] = worker
                    }
                }
                XCTAssertEqual(Array(UnsafeBufferPointer(start: visits.counts, count: count)),
                               Array(repeating: 1, count: count), "threads \(threads), count \(count)")
                let workers = Set(UnsafeBufferPointer(start: visits.workers, count: count))
                XCTAssertTrue(workers.isSubset(of: Set(0..<min(threads, count))), "threads \(threads), workers \(workers)")
                // A few ranges per thread, all of one length but the last.
                let lengths = Array(UnsafeBufferPointer(start: ranges.counts, count: count)).filter { $0 > 0 }
                let chunk = (count + threads * 4 - 1) / (threads * 4)
                XCTAssertEqual(lengths.dropLast(), Array(repeating: chunk, count: lengths.count - 1)[...], "count \(count)")
                XCTAssertEqual(lengths.count, threads == 1 ? 1 : (count + chunk - 1) / chunk, "threads \(threads), count \(count)")
            }
        }
    }

    func testABusyThreadLeavesItsShareToTheOthers() {
        // The ranges are not dealt out in advance: while one thread is held inside its first range, the
        // other takes all the rest (as when one vCPU of a shared machine runs slower than the other).
        let context = KernelContext(options: ExecutionOptions(threads: 2))
        let visits = Visits(count: 8)
        let others = LockedCounter()
        context.parallelRanges(8) { worker, range in
            for index in range { visits.workers[index] = worker }
            if range.lowerBound == 0 {
                let deadline = Date().addingTimeInterval(10)
                while others.value < 7 && Date() < deadline { usleep(100) }
            } else {
                others.increment()
            }
        }
        let held = visits.workers[0]
        let workers = Array(UnsafeBufferPointer(start: visits.workers, count: 8))
        XCTAssertEqual(others.value, 7)
        XCTAssertEqual(workers.dropFirst().filter { $0 == held }.count, 0, "workers \(workers)")
    }

    func testManyShortLoopsInARowLoseNoWork() {
        // 20000 loops of two ranges: a helper that wakes late must neither run a range twice nor miss one.
        let context = KernelContext(options: ExecutionOptions(threads: 2))
        let visits = Visits(count: 2)
        for round in 0..<20_000 {
            context.parallelRanges(2) { _, range in
                for index in range { visits.counts[index] += 1 }
            }
            if round % 5000 == 4999 { usleep(2000) }   // long enough for the helper to fall asleep
        }
        XCTAssertEqual(visits.counts[0], 20_000)
        XCTAssertEqual(visits.counts[1], 20_000)
    }

    func testALoopInsideALoopRunsOnItsCallersThread() {
        let context = KernelContext(options: ExecutionOptions(threads: 2))
        let visits = Visits(count: 40)
        context.parallelRanges(4) { _, outer in
            for block in outer {
                context.parallelRanges(10) { worker, inner in
                    XCTAssertEqual(worker, 0)
                    XCTAssertEqual(inner, 0..<10)
                    for index in inner { visits.counts[block * 10 + index] += 1 }
                }
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: visits.counts, count: 40)), Array(repeating: 1, count: 40))
    }

    func testContextsWithTeamsComeAndGo() {
        // Each context starts helpers with its first loop and stops them when it is released.
        for _ in 0..<200 {
            let context = KernelContext(options: ExecutionOptions(threads: 3))
            let visits = Visits(count: 3)
            context.parallelRanges(3) { _, range in for index in range { visits.counts[index] += 1 } }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: visits.counts, count: 3)), [1, 1, 1])
        }
    }

    func testHelpersSleepBetweenLoopsFarApart() {
        // A helper left spinning would burn a core for as long as the process lives: 300 ms without a loop
        // must cost the process far less than 300 ms of CPU time.
        let context = KernelContext(options: ExecutionOptions(threads: 3))
        for _ in 0..<100 { context.parallelRanges(3) { _, _ in } }
        usleep(50_000)      // the helpers' short spin before they sleep
        let before = processCPUSeconds()
        usleep(300_000)
        XCTAssertLessThan(processCPUSeconds() - before, 0.06, "helpers still spinning 50 ms after the last loop")
    }

    func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let seconds = { (time: timeval) in Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// A counter several threads bump at once.
final class LockedCounter: @unchecked Sendable {
    private var count = 0
    private let lock = NSLock()

    var value: Int { lock.withLock { count } }

    func increment() { lock.withLock { count += 1 } }
}
