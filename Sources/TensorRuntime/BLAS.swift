import CKernels
import COpenBLAS

/// The one door into BLAS and the packed GEMM. Only MatMul, Gemm and the convolutions call it.
public enum BLAS {
    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major.
    @inline(__always)
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS leaves C untouched for k = 0 only when beta = 1; define it for every beta.
            for row in 0..<m { for col in 0..<n { c[row * ldc + col] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets OpenBLAS's thread count. It is process-wide: the executor sets it from its options.
    public static func setThreads(_ threads: Int) {
        openblas_set_num_threads(Int32(threads))
    }

    /// Whether this CPU runs the packed AVX2/FMA kernel (checked once); otherwise packed products use cblas_sgemm.
    public static let hasPackedKernel: Bool = seer_packed_gemm_supported() != 0

    /// Floats of workspace one thread needs for `sgemm(packed:…)`.
    static let packedWorkspaceFloats = Int(seer_packed_gemm_workspace_floats())

    /// Whether weights with `rows` output rows are worth packing for `sgemm(packed:…)` (decided at load,
    /// where the activation's width is not yet known). Measured on an AVX2 EPYC against OpenBLAS 0.3.21:
    /// the packed kernel wins where the weights dominate (deep layers: 1.2–1.6× at 256×16…64 × 2304) and
    /// loses 20–40 % where few output channels meet a wide activation (16×76800×144, 32×12544×288).
    public static func prefersPacked(rows: Int) -> Bool {
        hasPackedKernel && rows >= 64
    }

    /// C[m×n] = A·B (+ bias[row]) (then max(·, 0) if `relu`), with A packed once by `PackedMatrix`.
    /// Rows or columns are spread over `context`'s threads; its packing scratch holds each thread's block of B.
    public static func sgemm(packed a: PackedMatrix, n: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, relu: Bool,
                             context: KernelContext) {
        let m = a.rows, k = a.depth
        guard m > 0, n > 0 else { return }
        guard a.isPacked else {
            sgemm(m: m, n: n, k: k, a: a.storage, lda: k, b: b, ldb: ldb, c: c, ldc: ldc)
            addBiasAndRelu(c, rows: m, columns: n, ldc: ldc, bias: bias, relu: relu)
            return
        }
        let threads = min(context.options.threads, max(1, m * n * k / 200_000))
        let workspace = context.packingScratch(floats: threads * packedWorkspaceFloats)
        if threads <= 1 {
            seer_packed_gemm(Int32(m), Int32(n), Int32(k), a.storage, b, Int32(ldb), c, Int32(ldc), bias,
                             relu ? 1 : 0, workspace)
            return
        }
        // Split the wider side: columns in multiples of 16, or rows in whole 6-row panels.
        let splitColumns = n >= 64 * threads
        let unit = splitColumns ? 16 : 6
        let units = ((splitColumns ? n : m) + unit - 1) / unit
        let perThread = (units + threads - 1) / threads * unit
        context.parallelFor(threads) { thread in
            let start = thread * perThread
            let end = min(splitColumns ? n : m, start + perThread)
            guard start < end else { return }
            let threadWorkspace = workspace + thread * packedWorkspaceFloats
            if splitColumns {
                seer_packed_gemm(Int32(m), Int32(end - start), Int32(k), a.storage, b + start, Int32(ldb),
                                 c + start, Int32(ldc), bias, relu ? 1 : 0, threadWorkspace)
            } else {
                seer_packed_gemm(Int32(end - start), Int32(n), Int32(k), a.storage + start * k, b, Int32(ldb),
                                 c + start * ldc, Int32(ldc), bias.map { $0 + start }, relu ? 1 : 0, threadWorkspace)
            }
        }
    }

    static func addBiasAndRelu(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ldc: Int,
                               bias: UnsafePointer<Float>?, relu: Bool) {
        guard bias != nil || relu else { return }
        for row in 0..<rows {
            let values = c + row * ldc
            let shift = bias?[row] ?? 0
            for column in 0..<columns {
                let value = values[column] + shift
                values[column] = relu ? Swift.max(value, 0) : value
            }
        }
    }

    /// A constant left operand (weights, rows × depth) prepared once for many products A·B:
    /// packed into the kernel's 6-row panels, or a plain row-major copy when the CPU lacks AVX2/FMA.
    public final class PackedMatrix: @unchecked Sendable {
        public let rows: Int
        public let depth: Int
        let isPacked: Bool
        let storage: UnsafeMutablePointer<Float>

        /// Packs `a` (rows × depth, row stride `lda`); `transposed` reads it as Aᵀ (a[d·lda + r]).
        public init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, lda: Int, transposed: Bool = false) {
            self.rows = rows
            self.depth = depth
            isPacked = BLAS.hasPackedKernel
            guard isPacked || transposed else {
                storage = .allocate(capacity: max(1, rows * depth))
                for row in 0..<rows { (storage + row * depth).update(from: a + row * lda, count: depth) }
                return
            }
            // A transposed source is first copied row-major; a row-major one is packed where it lies.
            var source = a, stride = lda
            var rowMajor: UnsafeMutablePointer<Float>?
            if transposed {
                let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * depth))
                for row in 0..<rows { for d in 0..<depth { copy[row * depth + d] = a[d * lda + row] } }
                rowMajor = copy
                (source, stride) = (UnsafePointer(copy), depth)
            }
            if isPacked {
                storage = .allocate(capacity: max(1, Int(seer_packed_a_floats(Int32(rows), Int32(depth)))))
                seer_pack_a(source, Int32(stride), Int32(rows), Int32(depth), storage)
                rowMajor?.deallocate()
            } else {
                storage = rowMajor!
            }
        }

        deinit { storage.deallocate() }
    }
}
