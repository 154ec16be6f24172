import TensorRuntime
import XCTest

/// KernelContext.parallelRanges over its thread team: every index exactly once, ranges numbered by
/// worker, many short loops back to back (the helpers spin, sleep and wake between them), nested loops,
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

    func testEveryIndexRunsOnceInConsecutiveRangesPerWorker() {
        for threads in [1, 2, 3, 4] {
            let context = KernelContext(options: ExecutionOptions(threads: threads))
            for count in [1, 2, 3, 5, 8, 1000] {
                let visits = Visits(count: count)
                context.parallelRanges(count) { worker, range in
                    for index in range {
                        visits.counts[index] += 1
                        visits.workers[index] = worker
                    }
                }
                let workers = Array(UnsafeBufferPointer(start: visits.workers, count: count))
                XCTAssertEqual(Array(UnsafeBufferPointer(start: visits.counts, count: count)),
                               Array(repeating: 1, count: count), "threads \(threads), count \(count)")
                XCTAssertEqual(workers, workers.sorted(), "ranges must follow worker order")
                let chunk = (count + min(threads, count) - 1) / min(threads, count)
                XCTAssertEqual(Set(workers), Set(0..<(count + chunk - 1) / chunk), "threads \(threads), count \(count)")
            }
        }
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
