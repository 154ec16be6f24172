import CKernels
import COpenBLAS

/// The one door into BLAS and the packed GEMM. Only MatMul, Gemm and the convolutions call it.
public enum BLAS {
    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major. With a `context` of several threads, a
    /// product large enough to pay for a parallel loop is split into blocks of C's columns (or rows, when
    /// it has more rows than columns), one OpenBLAS call per block on the context's threads.
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int, context: KernelContext? = nil) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS leaves C untouched for k = 0 only when beta = 1; define it for every beta.
            for row in 0..<m { for col in 0..<n { c[row * ldc + col] *= beta } }
            return
        }
        guard let context, context.options.threads > 1, 2 * m * n * k >= minimumSplitFlops else {
            return openBLASProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        if n >= m {
            context.parallelRanges((n + splitBlock - 1) / splitBlock) { _, blocks in
                let first = blocks.lowerBound * splitBlock, columns = min(n, blocks.upperBound * splitBlock) - first
                openBLASProduct(transposeA: transposeA, transposeB: transposeB, m: m, n: columns, k: k, alpha: alpha,
                                a: a, lda: lda, b: b + (transposeB ? first * ldb : first), ldb: ldb,
                                beta: beta, c: c + first, ldc: ldc)
            }
        } else {
            context.parallelRanges((m + splitBlock - 1) / splitBlock) { _, blocks in
                let first = blocks.lowerBound * splitBlock, rows = min(m, blocks.upperBound * splitBlock) - first
                openBLASProduct(transposeA: transposeA, transposeB: transposeB, m: rows, n: n, k: k, alpha: alpha,
                                a: a + (transposeA ? first : first * lda), lda: lda, b: b, ldb: ldb,
                                beta: beta, c: c + first * ldc, ldc: ldc)
            }
        }
    }

    /// Products below this many floating-point operations run on one thread (a parallel loop costs a few
    /// microseconds); blocks of columns or rows are multiples of `splitBlock`, the kernels' register width.
    private static let minimumSplitFlops = 1 << 18
    private static let splitBlock = 16

    /// OpenBLAS runs every call on its caller's thread and its own pool is stopped: Seer's executors split
    /// products over their own threads, and OpenBLAS's threads, which spin after loading and after each
    /// call, would compete with them for the cores. Every `KernelContext` touches it when it is made.
    static let openBLASOnCallingThread: Void = seer_openblas_use_calling_thread_only()

    /// One OpenBLAS call (m, n, k > 0) on the calling thread.
    private static func openBLASProduct(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = openBLASOnCallingThread
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

    /// Whether weights are small enough for `seer_direct_conv`, which re-reads them for every output
    /// row and so needs them in L2 (a convolution packs such weights even where `prefersPacked` says no).
    public static func weightsFitDirect(rows: Int, depth: Int) -> Bool {
        hasPackedKernel && rows * depth * MemoryLayout<Float>.size <= 384 << 10
    }

    /// Whether a convolution's rows × depth weights are packed for `seer_channel_conv` (16-channel panels),
    /// which vectorises across output channels and broadcasts each output pixel's input, so it wastes no
    /// columns on small outputs and never packs the image. Measured against the 6-row packed kernel on the
    /// same layers (AVX2 EPYC, one thread): 1.5-1.8x faster on age's 3x3 to 14x14 layers, 1.57x on UNet's
    /// 16-channel 256x256 layers, 1.04-1.12x on yolov3-tiny's 208x208 to 13x13 layers with depth up to 2304;
    /// deeper ones run in depth blocks of 2304 (yolov3-tiny's 384->256 at 26x26, depth 3456: 1.08-1.19x;
    /// 512->1024 at 13x13, depth 4608: 0.99-1.02x; unblocked they ran at 0.8-0.9x). Fewer than 16 rows, or counts that leave over a quarter of the panels' rows empty (20, 36), stay with
    /// the 6-row panels, and so do depths below 64 with stride 1 (first layers over 3 channels: 27
    /// multiply-adds per output leave the transposing store a large share, and the 6-row kernels read such
    /// images fast; gender's 3->32 layer: 0.8-1.0x). Strided, they gain: selfie's 3->16 stride-2 layer at
    /// 256x256 runs 2.2x faster than the 6-row kernel, which gathers every other column as it packs.
    /// DBNet's 96->24 layers at 184x184 and 92x92: 1.1-1.2x the 6-row kernel's speed.
    public static func prefersChannelPanels(rows: Int, depth: Int, strided: Bool) -> Bool {
        let panelRows = (rows + 15) / 16 * 16
        return hasPackedKernel && rows >= 16 && rows * 4 >= panelRows * 3 && (depth >= 64 || strided)
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

    /// The right operand B of a packed product.
    public enum PackedOperand {
        /// A row-major matrix with row stride `ldb`.
        case matrix(UnsafePointer<Float>, ldb: Int)
        /// A 2-D convolution's input unfolded on the fly (im2col without the buffer): column j is output
        /// pixel `firstPixel + j`. Needs `hasPackedKernel`.
        case image(seer_image_operand, firstPixel: Int)
    }

    /// C[m×n] = A·B (+ bias[row]) (then the epilogue), with A packed once by `PackedMatrix`.
    /// Rows or columns are spread over `context`'s threads; its packing scratch holds each thread's block of B.
    public static func sgemm(packed a: PackedMatrix, n: Int, b: PackedOperand,
                             c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?, epilogue: Epilogue?,
                             context: KernelContext) {
        let m = a.rows, k = a.depth
        guard m > 0, n > 0 else { return }
        guard a.isPacked else {
            guard case let .matrix(b, ldb) = b else { preconditionFailure("an image operand needs the packed kernel") }
            sgemm(m: m, n: n, k: k, a: a.storage, lda: k, b: b, ldb: ldb, c: c, ldc: ldc, context: context)
            for row in 0..<m {
                let values = c + row * ldc
                if let shift = bias?[row] { for column in 0..<n { values[column] += shift } }
                epilogue?.activation.apply(values, count: n)
            }
            return
        }
        withUnsafePointer(to: epilogue?.values ?? seer_epilogue()) { values in
            let epilogue = epilogue == nil ? nil : values
            // A whole image: the channel kernel for 16-channel panels, else the direct kernel where it pays.
            if case let .image(image, firstPixel) = b, firstPixel == 0, n % Int(image.outW) == 0 {
                let outputRows = n / Int(image.outW)
                if a.layout == .columnPanels {
                    convolveByChannels(a, image: image, outputRows: outputRows, c: c, ldc: ldc, bias: bias,
                                       epilogue: epilogue, context: context)
                    return
                }
                if prefersDirect(image, rows: m, depth: k, outputRows: outputRows) {
                    convolveDirect(a, image: image, outputRows: outputRows, c: c, ldc: ldc, bias: bias,
                                   epilogue: epilogue, context: context)
                    return
                }
            }
            precondition(a.layout == .rowPanels, "16-channel panels multiply a whole image only")
            /// C's rows × columns block (rows starting at a 6-row panel) with one thread's workspace.
            func product(rows: Range<Int>, columns: Range<Int>, workspace: UnsafeMutablePointer<Float>) {
                let (panels, out) = (a.storage + rows.lowerBound * k, c + rows.lowerBound * ldc + columns.lowerBound)
                let (m, n, rowBias) = (Int32(rows.count), Int32(columns.count), bias.map { $0 + rows.lowerBound })
                switch b {
                case let .matrix(b, ldb):
                    seer_packed_gemm(m, n, Int32(k), panels, b + columns.lowerBound, Int32(ldb), out, Int32(ldc),
                                     rowBias, epilogue, workspace)
                case let .image(image, firstPixel):
                    withUnsafePointer(to: image) { image in
                        seer_packed_conv(m, n, Int32(k), panels, image, Int32(firstPixel + columns.lowerBound), out,
                                         Int32(ldc), rowBias, epilogue, workspace)
                    }
                }
            }
            // Products under 400 000 multiply-adds run on one thread; larger ones in blocks of columns (multiples
            // of 16) or whole 6-row panels of rows, splitting the wider side, each block with its worker's workspace.
            guard context.options.threads > 1, m * n * k >= 400_000 else {
                product(rows: 0..<m, columns: 0..<n, workspace: context.packingScratch(floats: packedWorkspaceFloats))
                return
            }
            let splitColumns = n >= 64 * context.options.threads
            let unit = splitColumns ? 16 : 6
            let units = ((splitColumns ? n : m) + unit - 1) / unit
            let workspace = context.packingScratch(floats: min(context.options.threads, units) * packedWorkspaceFloats)
            context.parallelRanges(units) { worker, range in
                let start = range.lowerBound * unit, end = min(splitColumns ? n : m, range.upperBound * unit)
                product(rows: splitColumns ? 0..<m : start..<end, columns: splitColumns ? start..<end : 0..<n,
                        workspace: workspace + worker * packedWorkspaceFloats)
            }
        }
    }

    /// Whether a convolution reads B straight from a padded copy of its input (`seer_direct_conv`) rather
    /// than packing it: rows of 16 contiguous columns need strideX 1 and outputs at least 16 wide, and
    /// the weights must stay in L2. So must the padded copy, unless the kernel reads few input rows at
    /// once: on large images the copy's many strided streams (16 channels × 3 rows) made UNet 25 % slower
    /// than packing, but first layers over 3 channels (9 streams) run 1.7-1.8x faster than packed
    /// (yolov3-tiny's 3->16 at 416x416, yolo-backbone's at 192x256); gender's 32x32 layers 1.3-1.8x.
    static func prefersDirect(_ image: seer_image_operand, rows: Int, depth: Int, outputRows: Int) -> Bool {
        guard image.strideX == 1, image.outW >= 16, weightsFitDirect(rows: rows, depth: depth) else { return false }
        let channels = depth / Int(image.kH * image.kW)
        if channels * Int(image.kH) <= 12 { return true }
        return withUnsafePointer(to: image) {
            Int(seer_direct_conv_scratch_floats($0, Int32(channels), Int32(outputRows))) * MemoryLayout<Float>.size
        } <= 384 << 10
    }

    /// The whole product through `seer_direct_conv`: the padded copy filled by channel ranges and the
    /// output rows computed by row ranges, each over the context's threads.
    private static func convolveDirect(_ a: PackedMatrix, image: seer_image_operand, outputRows: Int,
                                       c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?,
                                       epilogue: UnsafePointer<seer_epilogue>?, context: KernelContext) {
        let channels = a.depth / Int(image.kH * image.kW)
        withUnsafePointer(to: image) { image in
            let scratch = paddedCopy(image, channels: channels, outputRows: outputRows, context: context)
            context.parallelRanges(outputRows) { _, range in
                seer_direct_conv(Int32(a.rows), Int32(a.depth), a.storage, image, Int32(channels), Int32(outputRows),
                                 Int32(range.lowerBound), Int32(range.upperBound), c, Int32(ldc), bias, epilogue,
                                 scratch)
            }
        }
    }

    /// The zero-padded copy of the input (and the depth steps' offsets into it) that the direct and channel
    /// kernels read, in the context's scratch, filled by channel ranges over its threads.
    private static func paddedCopy(_ image: UnsafePointer<seer_image_operand>, channels: Int, outputRows: Int,
                                   context: KernelContext) -> UnsafeMutablePointer<Float> {
        let scratch = context.scratch(floats: Int(seer_direct_conv_scratch_floats(image, Int32(channels),
                                                                                    Int32(outputRows))))
        context.parallelRanges(channels) { _, range in
            seer_direct_conv_prepare(image, Int32(range.lowerBound), Int32(range.upperBound), Int32(channels),
                                     Int32(outputRows), scratch)
        }
        return scratch
    }

    /// `seer_channel_conv` over a whole image: the padded copy filled by channel ranges, then pairs of
    /// 16-channel panels (which the kernel runs as wide tiles), cut into chunks of pixels when there are
    /// fewer pairs than twice the threads, spread over the threads.
    private static func convolveByChannels(_ a: PackedMatrix, image: seer_image_operand, outputRows: Int,
                                           c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>?,
                                           epilogue: UnsafePointer<seer_epilogue>?, context: KernelContext) {
        let channels = a.depth / Int(image.kH * image.kW)
        let panels = (a.rows + 15) / 16, pixels = outputRows * Int(image.outW)
        withUnsafePointer(to: image) { image in
            let scratch = paddedCopy(image, channels: channels, outputRows: outputRows, context: context)
            func convolve(panels: Range<Int>, pixels: Range<Int>) {
                seer_channel_conv(Int32(a.rows), Int32(a.depth), a.storage, image, Int32(channels), Int32(outputRows),
                                  Int32(panels.lowerBound), Int32(panels.upperBound), Int32(pixels.lowerBound),
                                  Int32(pixels.upperBound), c, Int32(ldc), bias, epilogue, scratch)
            }
            // Units of one pair of panels (or the last, single panel) × a run of whole strips of its pixels,
            // each unit a task of its own. Pixels are cut only when there are too few pairs to go round the
            // threads (so a thread reads the weights of one pair at a time), into about 16 units per thread:
            // the last to finish holds the others up by little, and each unit still reads its own input rows
            // (units of one strip each made UNet's 256x256 layers 6 % slower at two threads: both cores
            // fetched the same rows).
            let pairs = (panels + 1) / 2, threads = context.options.threads
            let stripPixels = Int(SEER_CHANNEL_CONV_STRIP), strips = (pixels + stripPixels - 1) / stripPixels
            let cuts = threads > 1 && pairs < 2 * threads ? min(strips, (16 * threads + pairs - 1) / pairs) : 1
            let units = pairs * cuts
            context.parallelRanges(units, rangesPerThread: (units + threads - 1) / threads) { _, units in
                for unit in units {
                    let pair = unit / cuts, cut = unit % cuts
                    let firstPixel = cut * strips / cuts * stripPixels
                    let endPixel = min(pixels, (cut + 1) * strips / cuts * stripPixels)
                    convolve(panels: pair * 2..<min(panels, pair * 2 + 2), pixels: firstPixel..<endPixel)
                }
            }
        }
    }

    /// A constant left operand (weights, rows × depth) prepared once for many products A·B:
    /// packed into the kernel's 6-row panels or, for `seer_channel_conv`, 16-row column panels, or a plain
    /// row-major copy when the CPU lacks AVX2/FMA.
    public final class PackedMatrix: @unchecked Sendable {
        public enum Layout: Sendable { case rowPanels, columnPanels }

        public let rows: Int
        public let depth: Int
        let isPacked: Bool
        let layout: Layout
        let storage: UnsafeMutablePointer<Float>

        /// Packs `a` (rows × depth, row stride `lda`); `transposed` reads it as Aᵀ (a[d·lda + r]).
        /// `.columnPanels` (for convolutions only) needs `BLAS.hasPackedKernel`.
        public init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, lda: Int, transposed: Bool = false,
                    layout: Layout = .rowPanels) {
            self.rows = rows
            self.depth = depth
            self.layout = layout
            isPacked = BLAS.hasPackedKernel
            if layout == .columnPanels {
                precondition(isPacked && !transposed, "16-channel panels need the AVX2 kernel and a row-major source")
                storage = .allocate(capacity: max(1, Int(seer_column_panels_floats(Int32(rows), Int32(depth)))))
                seer_pack_column_panels(a, Int32(lda), Int32(rows), Int32(depth), storage)
                return
            }
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
