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
        // A single row or column is a matrix-vector product: OpenBLAS 0.3.21's sgemm does not
        // forward it to sgemv itself and runs it several times slower (a 1280→1000 FC layer: 2×).
        if m == 1 {
            // c = op(B)ᵀ·a: B is k×n (rows of length n) or, transposed, n×k.
            cblas_sgemv(CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans,
                        Int32(transposeB ? n : k), Int32(transposeB ? k : n), alpha, b, Int32(ldb),
                        a, transposeA ? Int32(lda) : 1, beta, c, 1)
            return
        }
        if n == 1 {
            // c = op(A)·b: A is m×k or, transposed, k×m; c is a column with stride ldc.
            cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                        Int32(transposeA ? k : m), Int32(transposeA ? m : k), alpha, a, Int32(lda),
                        b, transposeB ? 1 : Int32(ldb), beta, c, Int32(ldc))
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

    /// Whether rows × depth weights are worth packing for `sgemm(packed:…)` (decided at load, where the
    /// activation's width is not yet known). Measured on an idle AVX2 EPYC against OpenBLAS 0.3.21's
    /// cblas_sgemm (GFLOP/s, packed vs OpenBLAS): the packed kernel wins where the weights dominate
    /// (66×4096×576: 63 vs 59, 96×3136×96: 79 vs 72) and wherever the depth is shallow, as in first layers
    /// and pointwise expansions (32×12544×27: 67 vs 46, 96×12544×16: 63 vs 35, 16×12544×32: 46 vs 40); it
    /// loses 10–25 % with few rows over a deep, wide product (16×76800×144: 30 vs 40, 8×4096×72: 34 vs 38).
    public static func prefersPacked(rows: Int, depth: Int) -> Bool {
        hasPackedKernel && (rows >= 64 || depth <= 48)
    }

    /// A piecewise-linear activation (ReLU, LeakyReLU, Clip) that the packed kernel applies as it stores C.
    public struct Epilogue: Sendable {
        let activation: Activation
        fileprivate let values: seer_epilogue

        /// nil for activations the kernel cannot apply (the caller applies them afterwards).
        public init?(_ activation: Activation) {
            switch activation {
            case .relu: values = seer_epilogue(negativeSlope: 1, low: 0, high: .infinity)
            case let .leakyRelu(alpha): values = seer_epilogue(negativeSlope: alpha, low: -.infinity, high: .infinity)
            case let .clip(low, high): values = seer_epilogue(negativeSlope: 1, low: low, high: high)
            default: return nil
            }
            self.activation = activation
        }
    }

    /// C[m×n] = A·B (+ bias[row]) (then the epilogue), with A packed once by `PackedMatrix`.
    /// Rows or columns are spread over `context`'s threads; its packing scratch holds each thread's block of B.
    public static func sgemm(packed a: PackedMatrix, n: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, epilogue: Epilogue?,
                             context: KernelContext) {
        let m = a.rows, k = a.depth
        guard m > 0, n > 0 else { return }
        guard a.isPacked else {
            sgemm(m: m, n: n, k: k, a: a.storage, lda: k, b: b, ldb: ldb, c: c, ldc: ldc)
            for row in 0..<m {
                let values = c + row * ldc
                if let shift = bias?[row] { for column in 0..<n { values[column] += shift } }
                epilogue?.activation.apply(values, count: n)
            }
            return
        }
        withUnsafePointer(to: epilogue?.values ?? seer_epilogue()) { values in
            let epilogue = epilogue == nil ? nil : values
            let threads = min(context.options.threads, max(1, m * n * k / 200_000))
            let workspace = context.packingScratch(floats: threads * packedWorkspaceFloats)
            if threads <= 1 {
                seer_packed_gemm(Int32(m), Int32(n), Int32(k), a.storage, b, Int32(ldb), c, Int32(ldc), bias,
                                 epilogue, workspace)
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
                                     c + start, Int32(ldc), bias, epilogue, threadWorkspace)
                } else {
                    seer_packed_gemm(Int32(end - start), Int32(n), Int32(k), a.storage + start * k, b, Int32(ldb),
                                     c + start * ldc, Int32(ldc), bias.map { $0 + start }, epilogue, threadWorkspace)
                }
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
