import CKernels
import Foundation

/// Why a kernel refused a node (at construction) or an input (at run time).
/// The plan and executor wrap it into a `RuntimeError` naming the node, op and opset.
public enum KernelError: Error, Equatable {
    /// A feature of the operator this runtime does not implement (attribute value, dtype, mode).
    case unsupported(String)
    /// Attributes or inputs that break the operator's definition.
    case invalid(String)
}

/// A compiled node: built once per plan from the node's attributes, then run many times.
/// Kernels are immutable and may run on several executors at once.
public protocol Kernel: Sendable {
    /// Computes the node's outputs, in the node's output order. Absent optional
    /// inputs are nil. Trailing outputs the node does not name may be omitted.
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor]
}

/// A kernel that can do part of its work once, at load, when some of its inputs are constants
/// of the plan (e.g. pack a convolution's weights for the GEMM).
protocol ConstantSpecializable: Kernel {
    /// A kernel for the same node given its constant inputs (nil where an input is computed at run time),
    /// and the indices of the inputs it has absorbed: the plan passes nil for those and need not keep them.
    func specialized(constants: [Tensor?]) throws -> (kernel: Kernel, absorbed: Set<Int>)
}

/// How one executor runs: pinned by the caller, never read from globals.
public struct ExecutionOptions: Sendable, Equatable {
    /// Threads for the executor's intra-op parallel loops, its OpenBLAS calls included (OpenBLAS itself
    /// runs on its caller's thread).
    public var threads: Int

    public init(threads: Int = 1) {
        self.threads = max(1, threads)
    }
}

/// Recycles tensor storage between nodes and between runs of one executor.
/// A request takes the smallest free buffer that is large enough (best fit), so
/// the pool grows to about the largest set of simultaneously live tensors rather
/// than to one buffer per distinct tensor size.
final class BufferPool {
    /// Free buffers, ordered by capacity.
    private var free: [TensorStorage] = []
    private(set) var bytesHeld = 0

    func take(byteCount: Int) -> TensorStorage {
        var low = 0, high = free.count
        while low < high {
            let middle = (low + high) / 2
            if free[middle].byteCount < byteCount { low = middle + 1 } else { high = middle }
        }
        if low < free.count {
            let storage = free.remove(at: low)
            bytesHeld -= storage.byteCount
            return storage
        }
        return TensorStorage(byteCount: byteCount, zeroed: false)
    }

    func give(_ storage: TensorStorage) {
        var low = 0, high = free.count
        while low < high {
            let middle = (low + high) / 2
            if free[middle].byteCount < storage.byteCount { low = middle + 1 } else { high = middle }
        }
        free.insert(storage, at: low)
        bytesHeld += storage.byteCount
    }
}

/// What a kernel may use while it runs: options, output allocation, scratch memory, parallel loops.
/// One context belongs to one executor and is used by one thread at a time.
public final class KernelContext {
    public let options: ExecutionOptions
    let pool = BufferPool()
    private var scratchStorage: TensorStorage?
    private var packingStorage: TensorStorage?
    /// The threads of `parallelRanges`, started with the first parallel loop (nil until then, and with 1 thread).
    private var team: OpaquePointer?
    /// Whether a parallel loop is running: a loop inside it runs on its caller's thread.
    private var inParallelLoop = false

    public init(options: ExecutionOptions) {
        self.options = options
        BLAS.openBLASOnCallingThread
    }

    deinit { seer_team_destroy(team) }

    /// A tensor for a kernel's output. Its contents are undefined: the kernel must write every element.
    public func allocate(_ dataType: DataType, _ shape: [Int]) -> Tensor {
        let byteCount = shape.reduce(1, *) * dataType.byteSize
        return Tensor(dataType: dataType, shape: shape, storage: pool.take(byteCount: byteCount))
    }

    /// A zero-filled output tensor.
    public func allocateZeroed(_ dataType: DataType, _ shape: [Int]) -> Tensor {
        let tensor = allocate(dataType, shape)
        tensor.storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: tensor.byteCount)
        return tensor
    }

    /// Scratch floats valid until the next `scratch` call on this context (e.g. an im2col buffer).
    public func scratch(floats count: Int) -> UnsafeMutablePointer<Float> {
        KernelContext.floats(count, reusing: &scratchStorage)
    }

    /// Scratch floats for the packed GEMM's blocks of B, separate from `scratch` (which may hold its input).
    func packingScratch(floats count: Int) -> UnsafeMutablePointer<Float> {
        KernelContext.floats(count, reusing: &packingStorage)
    }

    /// `storage` if it holds `count` floats, else a new storage that replaces it.
    private static func floats(_ count: Int, reusing storage: inout TensorStorage?) -> UnsafeMutablePointer<Float> {
        let byteCount = count * MemoryLayout<Float>.stride
        if let existing = storage, existing.byteCount >= byteCount {
            return existing.pointer.assumingMemoryBound(to: Float.self)
        }
        let grown = TensorStorage(byteCount: byteCount)
        storage = grown
        return grown.pointer.assumingMemoryBound(to: Float.self)
    }

    /// Runs `body(i)` for i in 0..<count, spread over `options.threads` threads.
    /// `body` must write only to memory that no other index writes.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        parallelRanges(count) { _, range in for index in range { body(index) } }
    }

    /// Splits 0..<count into consecutive ranges, a few per thread, and runs `body(worker, range)` once for
    /// each on the context's threads, each range on whichever thread claims it first: a thread on a busier
    /// core (a shared VM's vCPUs often run at different speeds) takes fewer ranges rather than holding up
    /// the loop. `worker` (0..<min(threads, count)) numbers the threads, so a body may use per-worker
    /// scratch: no two ranges with the same `worker` run at once. A loop started inside a body runs on
    /// that body's thread. A larger `rangesPerThread` cuts finer, for bodies with little set-up per range.
    public func parallelRanges(_ count: Int, rangesPerThread: Int = KernelContext.rangesPerThread,
                               _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        if team == nil, options.threads > 1 { team = seer_team_create(Int32(options.threads)) }
        guard let team, !inParallelLoop else { return body(0, 0..<count) }
        let threads = min(Int(seer_team_threads(team)), count)
        if threads <= 1 { return body(0, 0..<count) }
        inParallelLoop = true
        defer { inParallelLoop = false }
        let ranges = threads * max(1, rangesPerThread)
        let chunk = (count + ranges - 1) / ranges
        withoutActuallyEscaping(body) { body in
            var loop = ParallelLoop(count: count, chunk: chunk, body: body)
            withUnsafeMutablePointer(to: &loop) { loop in
                seer_team_run(team, Int32((count + chunk - 1) / chunk), { context, range, worker in
                    let loop = context!.assumingMemoryBound(to: ParallelLoop.self).pointee
                    let start = Int(range) * loop.chunk
                    loop.body(Int(worker), start..<min(start + loop.chunk, loop.count))
                }, loop)
            }
        }
    }

    /// Ranges per thread in `parallelRanges`: enough that a thread running at half speed leaves most of its
    /// share to the others, few enough that kernels still get long runs.
    public static let rangesPerThread = 4

    /// One `parallelRanges` call as the team's workers see it.
    private struct ParallelLoop {
        let count: Int
        let chunk: Int
        let body: (_ worker: Int, _ range: Range<Int>) -> Void
    }

    /// Returns a no longer referenced storage to the pool (the executor calls this at a value's last use).
    func recycle(_ storage: TensorStorage) { pool.give(storage) }

    /// Bytes held for reuse between runs.
    public var pooledBytes: Int { pool.bytesHeld }
}
