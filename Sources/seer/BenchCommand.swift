import ArgumentParser
import Dispatch
import Foundation
import ONNX
import TensorRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `seer bench MODEL.onnx [--shape NAME=1x3x224x224] [--threads N] [--iterations K] [--warmup W] [--warmup-ms T] [--json]
/// [--rounds-from-stdin]`
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a model on random inputs (floats uniform in [-1, 1), integers and bools zero).")

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("shape"), help: ArgumentHelp("An input's shape as NAME=1x3x224x224; required for inputs with dynamic dimensions.", valueName: "name=shape"))
    var shapes: [String] = []

    @Option(help: "Threads for the model's kernels.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed runs.")
    var iterations: Int = 20

    @Option(help: "Untimed runs before timing (at least; see --warmup-ms).")
    var warmup: Int = 3

    /// On a shared VM a second vCPU can run at a fraction of its speed for the first few hundred
    /// milliseconds a process keeps it busy (measured: 2-thread runs at 1-thread speed for 0-300 ms), so
    /// warm-up lasts a minimum time as well as a minimum number of runs: timing starts at steady state.
    @Option(name: .customLong("warmup-ms"), help: "Keep warming up until this many milliseconds have passed.")
    var warmupMilliseconds: Int = 500

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Flag(help: "Also print time per operator, input and output shape (to stderr), slowest first.")
    var profile = false

    /// A comparison script alternates this process with another engine in short windows, so both see the
    /// same moments of a shared machine; a fresh process per window would also time its start-up.
    @Flag(name: .customLong("rounds-from-stdin"),
          help: "Load once, then run one round (warm-up and timed runs) per line read from standard input, printing one report per round, until end of input.")
    var roundsFromStandardInput = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard warmupMilliseconds >= 0 else { throw ValidationError("--warmup-ms must not be negative") }
        guard !(profile && roundsFromStandardInput) else {
            throw ValidationError("--profile times one round: it cannot be combined with --rounds-from-stdin")
        }
    }

    func run() throws {
        try reportingErrors {
            var requested: [String: [Int]] = [:]
            for assignment in shapes {
                let (name, text) = try parseAssignment(assignment, option: "shape")
                requested[name] = try parseShape(text, input: name)
            }
            let loadStart = DispatchTime.now().uptimeNanoseconds
            let executor = try loadExecutor(modelPath: model, threads: threads)
            let loadMilliseconds = milliseconds(since: loadStart)
            let feeds = try randomInputs(for: executor.inputs, shapes: requested)
            if roundsFromStandardInput {
                while readLine() != nil {
                    let report = try round(executor, feeds, loadMilliseconds: loadMilliseconds)
                    print(json ? try report.json() : report.text(model: model))
                    fflush(stdout)
                }
                return
            }
            let report = try round(executor, feeds, loadMilliseconds: loadMilliseconds)
            print(json ? try report.json() : report.text(model: model))
            if let spent = executor.profile {
                let total = spent.values.reduce(0, +)
                for (key, milliseconds) in spent.sorted(by: { $0.value > $1.value }).prefix(25) {
                    let line = String(format: "%8.3f ms/run %5.1f%%  %@ %@\n", milliseconds / Double(iterations),
                                      100 * milliseconds / total, key.op, key.shape)
                    FileHandle.standardError.write(Data(line.utf8))
                }
            }
        }
    }

    /// Warm-up (at least --warmup runs and --warmup-ms), then --iterations timed runs. With --profile, the
    /// executor's per-operator times count the timed runs only.
    private func round(_ executor: Executor, _ feeds: [String: Tensor], loadMilliseconds: Double) throws -> BenchReport {
        let warmupStart = DispatchTime.now().uptimeNanoseconds
        var warmupRuns = 0
        while warmupRuns < warmup || milliseconds(since: warmupStart) < Double(warmupMilliseconds) {
            _ = try executor.run(feeds)
            warmupRuns += 1
        }
        if profile { executor.profile = [:] }
        var times: [Double] = []
        times.reserveCapacity(iterations)
        let cpuStart = BenchReport.processorSeconds()
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try executor.run(feeds)
            times.append(milliseconds(since: start))
        }
        let cpuMilliseconds = (BenchReport.processorSeconds() - cpuStart) * 1000 / Double(iterations)
        return BenchReport(times: times, cpuMilliseconds: cpuMilliseconds, threads: threads, warmup: warmupRuns,
                           loadMilliseconds: loadMilliseconds, inputs: feeds.mapValues(\.shape))
    }

    /// "1x3x224x224" -> [1, 3, 224, 224]; "" is a scalar.
    private func parseShape(_ text: String, input: String) throws -> [Int] {
        guard !text.isEmpty else { return [] }
        return try text.split(separator: "x", omittingEmptySubsequences: false).map { part in
            guard let size = Int(part), size >= 1 else {
                throw CommandError("--shape \(input)=\(text): dimensions must be positive integers separated by 'x'")
            }
            return size
        }
    }

    private func randomInputs(for inputs: [ValueInfo], shapes: [String: [Int]]) throws -> [String: Tensor] {
        let known = Set(inputs.map(\.name))
        for name in shapes.keys where !known.contains(name) {
            throw CommandError("--shape names '\(name)', but the model's inputs are: \(inputs.map(\.name).joined(separator: ", "))")
        }
        var generator = SeededRandom(seed: 42)
        var feeds: [String: Tensor] = [:]
        for input in inputs {
            let shape = try shapes[input.name] ?? fixedShape(of: input)
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, product <= 1 << 32 else { throw CommandError("input '\(input.name)' shape \(shape) is too large") }
                count = product
            }
            let tensor = Tensor(dataType: input.dataType ?? .float32, shape: shape) // zero-filled
            switch tensor.dataType {
            case .float32:
                tensor.withUnsafeMutableBuffer(of: Float.self) { for i in $0.indices { $0[i] = Float(generator.symmetricUnit()) } }
            case .float64:
                tensor.withUnsafeMutableBuffer(of: Double.self) { for i in $0.indices { $0[i] = generator.symmetricUnit() } }
            case .float16:
                tensor.withUnsafeMutableBuffer(of: Float16.self) { for i in $0.indices { $0[i] = Float16(generator.symmetricUnit()) } }
            default:
                break // integer and bool inputs stay zero: valid as indices and flags
            }
            feeds[input.name] = tensor
        }
        return feeds
    }

    private func fixedShape(of input: ValueInfo) throws -> [Int] {
        guard let dims = input.shape else {
            throw CommandError("input '\(input.name)' has no declared shape; give it with --shape \(input.name)=1x3x224x224")
        }
        return try dims.enumerated().map { axis, dim in
            guard case let .fixed(size) = dim else {
                let example = dims.map(\.description).joined(separator: "x") // e.g. Nx3xHxW: the names to replace
                throw CommandError("input '\(input.name)' has dynamic dimension \(axis) (\(dim)) in shape \(dims); give it with --shape \(input.name)=\(example)")
            }
            return size
        }
    }

    private func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
    }
}

/// Timing statistics of one benchmark, printed as JSON or text.
struct BenchReport: Encodable {
    let median_ms: Double
    let p90_ms: Double
    let mean_ms: Double
    let min_ms: Double
    let max_ms: Double
    /// CPU time (user + system, all threads) per timed run.
    let cpu_ms: Double
    let iterations: Int
    let warmup: Int
    let threads: Int
    let load_ms: Double
    let peak_rss_mb: Double
    let inputs: [String: [Int]]

    init(times: [Double], cpuMilliseconds: Double, threads: Int, warmup: Int, loadMilliseconds: Double,
         inputs: [String: [Int]]) {
        let sorted = times.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        let p90Rank = max(0, Int((0.9 * Double(sorted.count)).rounded(.up)) - 1) // nearest rank
        func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
        median_ms = rounded(median)
        p90_ms = rounded(sorted[p90Rank])
        mean_ms = rounded(sorted.reduce(0, +) / Double(sorted.count))
        min_ms = rounded(sorted[0])
        max_ms = rounded(sorted[sorted.count - 1])
        cpu_ms = rounded(cpuMilliseconds)
        iterations = times.count
        self.warmup = warmup
        self.threads = threads
        load_ms = rounded(loadMilliseconds)
        peak_rss_mb = rounded(BenchReport.peakResidentMegabytes())
        self.inputs = inputs
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text(model: String) -> String {
        let shapes = inputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.map(String.init).joined(separator: "x"))" }
        return """
        \(model) (\(shapes.joined(separator: ", "))), \(threads) thread\(threads == 1 ? "" : "s"), \(iterations) iterations after \(warmup) warm-up
          median \(median_ms) ms, p90 \(p90_ms) ms, mean \(mean_ms) ms, min \(min_ms) ms, max \(max_ms) ms
          load \(load_ms) ms, peak RSS \(peak_rss_mb) MB
        """
    }

    /// User and system time of the whole process so far, all threads.
    static func processorSeconds() -> Double {
        guard let usage = processUsage() else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The process's peak resident set size (Linux reports kilobytes, macOS bytes).
    static func peakResidentMegabytes() -> Double {
        guard let usage = processUsage() else { return 0 }
        #if os(Linux)
        return Double(usage.ru_maxrss) / 1024
        #else
        return Double(usage.ru_maxrss) / (1024 * 1024)
        #endif
    }

    private static func processUsage() -> rusage? {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
        #endif
        return usage
    }
}

extension SeededRandom {
    /// Uniform in [-1, 1).
    mutating func symmetricUnit() -> Double { Double(next() >> 11) / Double(1 << 53) * 2 - 1 }
}
