// Conv and ConvTranspose (ONNX opsets 7-18), float32.
//
// Every spatial rank (1-D, 2-D, 3-D) is handled as 3-D with leading size-1 dimensions,
// so one im2col / col2im / depthwise loop nest serves all of them. The innermost loops run
// over output x, contiguous when the stride is 1.

import CKernels

/// How ONNX chooses the padding of a sliding window.
enum AutoPad: String {
    case notSet = "NOTSET"
    case sameUpper = "SAME_UPPER"
    case sameLower = "SAME_LOWER"
    case valid = "VALID"

    init(_ attributes: Attributes) throws {
        let text = try attributes.string("auto_pad", default: "NOTSET")
        guard let value = text.isEmpty ? .notSet : AutoPad(rawValue: text) else {
            throw KernelError.invalid("auto_pad '\(text)' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        self = value
    }
}

/// The window attributes shared by Conv, ConvTranspose, MaxPool and AveragePool, as read at load time.
struct WindowAttributes {
    var kernelShape: [Int]?
    var strides: [Int]?
    var dilations: [Int]?
    var pads: [Int]?
    var autoPad: AutoPad

    init(_ attributes: Attributes) throws {
        kernelShape = try attributes.ints("kernel_shape")
        strides = try attributes.ints("strides")
        dilations = try attributes.ints("dilations")
        pads = try attributes.ints("pads")
        autoPad = try AutoPad(attributes)
        if let kernelShape, kernelShape.contains(where: { $0 < 1 }) {
            throw KernelError.invalid("kernel_shape \(kernelShape) must be positive")
        }
        if let strides, strides.contains(where: { $0 < 1 }) {
            throw KernelError.invalid("strides \(strides) must be positive")
        }
        if let dilations, dilations.contains(where: { $0 < 1 }) {
            throw KernelError.invalid("dilations \(dilations) must be positive")
        }
        if let pads, pads.contains(where: { $0 < 0 }) {
            throw KernelError.invalid("pads \(pads) must not be negative")
        }
    }

    /// Strides, dilations and pads for `rank` spatial axes, defaults filled in, lengths checked.
    func resolved(rank: Int) throws -> (strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]) {
        let strides = self.strides ?? Array(repeating: 1, count: rank)
        let dilations = self.dilations ?? Array(repeating: 1, count: rank)
        let pads = self.pads ?? Array(repeating: 0, count: 2 * rank)
        guard strides.count == rank else { throw KernelError.invalid("strides \(strides) need \(rank) values") }
        guard dilations.count == rank else { throw KernelError.invalid("dilations \(dilations) need \(rank) values") }
        guard pads.count == 2 * rank else { throw KernelError.invalid("pads \(pads) need \(2 * rank) values") }
        return (strides, dilations, Array(pads[0..<rank]), Array(pads[rank...]))
    }

    /// The output geometry of a forward window (Conv, pools) over `input` spatial sizes.
    func geometry(input: [Int], kernel: [Int], ceilMode: Bool = false) throws -> WindowGeometry {
        let rank = input.count
        guard kernel.count == rank else {
            throw KernelError.invalid("kernel shape \(kernel) does not match \(rank) spatial dimensions")
        }
        if let kernelShape, kernelShape != kernel {
            throw KernelError.invalid("kernel_shape \(kernelShape) does not match the weights' kernel \(kernel)")
        }
        var (strides, dilations, padBegin, padEnd) = try resolved(rank: rank)
        var output: [Int] = []
        for axis in 0..<rank {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            let size: Int
            switch autoPad {
            case .notSet:
                let span = input[axis] + padBegin[axis] + padEnd[axis] - extent
                guard span >= 0 else {
                    throw KernelError.invalid("window \(extent) is larger than padded input \(input[axis] + padBegin[axis] + padEnd[axis]) on spatial axis \(axis)")
                }
                if ceilMode {
                    var ceiled = ceilDivide(span, strides[axis]) + 1
                    // The last window must start inside the input or its leading pad.
                    if (ceiled - 1) * strides[axis] >= input[axis] + padBegin[axis] { ceiled -= 1 }
                    size = ceiled
                } else {
                    size = span / strides[axis] + 1
                }
            case .valid:
                guard input[axis] >= extent else {
                    throw KernelError.invalid("window \(extent) is larger than input \(input[axis]) on spatial axis \(axis)")
                }
                padBegin[axis] = 0
                padEnd[axis] = 0
                size = (input[axis] - extent) / strides[axis] + 1
            case .sameUpper, .sameLower:
                size = ceilDivide(input[axis], strides[axis])
                let total = max(0, (size - 1) * strides[axis] + extent - input[axis])
                let small = total / 2
                padBegin[axis] = autoPad == .sameUpper ? small : total - small
                padEnd[axis] = total - padBegin[axis]
            }
            output.append(size)
        }
        return WindowGeometry(rank: rank, input: input, output: output, kernel: kernel, strides: strides,
                              dilations: dilations, padBegin: padBegin, padEnd: padEnd)
    }
}

@inline(__always) func ceilDivide(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? (a + b - 1) / b : -((-a) / b)
}

/// A sliding window's sizes, padded to three spatial axes (depth, height, width) with leading 1s.
struct WindowGeometry {
    let rank: Int
    let input: [Int]
    let output: [Int]
    let kernel: [Int]
    let strides: [Int]
    let dilations: [Int]
    let padBegin: [Int]
    let padEnd: [Int]

    init(rank: Int, input: [Int], output: [Int], kernel: [Int], strides: [Int], dilations: [Int],
         padBegin: [Int], padEnd: [Int]) {
        func lift(_ values: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: 3 - rank) + values }
        self.rank = rank
        self.input = lift(input, 1)
        self.output = lift(output, 1)
        self.kernel = lift(kernel, 1)
        self.strides = lift(strides, 1)
        self.dilations = lift(dilations, 1)
        self.padBegin = lift(padBegin, 0)
        self.padEnd = lift(padEnd, 0)
    }

    var outputSpatial: [Int] { Array(output.suffix(rank)) }
    var inputCount: Int { input[0] * input[1] * input[2] }
    var outputCount: Int { output[0] * output[1] * output[2] }
    var kernelCount: Int { kernel[0] * kernel[1] * kernel[2] }

    /// For each kernel x offset, the output x range whose input x = ox·stride − pad + kx·dilation lies inside the input.
    func validOutputColumns() -> [Range<Int>] {
        (0..<kernel[2]).map { kx in
            let offset = kx * dilations[2] - padBegin[2]
            let start = min(output[2], max(0, ceilDivide(-offset, strides[2])))
            let end = max(start, min(output[2], ceilDivide(input[2] - offset, strides[2])))
            return start..<end
        }
    }
}

/// Floats per im2col / col2im tile: the unfolded tile stays in a 1 MiB L2 while GEMM reads it.
private let im2colTileFloats = 1 << 17

struct ConvKernel: ConstantSpecializable {
    let window: WindowAttributes
    let group: Int
    let activation: Activation?
    /// Per group, the constant weights packed for `BLAS.sgemm(packed:)` at load (the plan then drops W
    /// unless the BLAS path may still need it), and W's shape; nil when W is read at run time.
    private(set) var packedWeights: (shape: [Int], groups: [BLAS.PackedMatrix])?

    init(_ node: Node) throws {
        window = try WindowAttributes(node.attributes)
        group = try node.attributes.int("group", default: 1)
        guard group >= 1 else { throw KernelError.invalid("group \(group) must be positive") }
        activation = node.fusedActivation
        guard node.inputs.count >= 2, !node.inputs[0].isEmpty, !node.inputs[1].isEmpty else {
            throw KernelError.invalid("Conv needs inputs X and W")
        }
    }

    /// Packs constant float weights per group: into 16-channel panels for `seer_channel_conv` where
    /// `BLAS.prefersChannelPanels` says so and the window is 1-D or 2-D and never pointwise, else into
    /// 6-row panels where `BLAS.prefersPacked` says so or a direct convolution may run; depthwise
    /// convolutions (which run without GEMM) keep W as it is.
    func specialized(constants: [Tensor?]) throws -> (kernel: Kernel, absorbed: Set<Int>) {
        guard constants.count >= 2, let w = constants[1], w.dataType == .float32, w.rank >= 3, w.count > 0,
              w.shape[0] % group == 0, !(w.shape[1] == 1 && w.shape[0] == group) else { return (self, []) }
        let groupOutChannels = w.shape[0] / group
        let depth = w.count / w.shape[0]
        // A 1-D or 2-D window that is never pointwise always reads the image through `unfoldedWindow`.
        let strided = (window.strides ?? []).contains { $0 > 1 }
        let unfoldsImage = w.rank <= 4 && (w.shape[2...].contains { $0 > 1 } || strided)
        let channelPanels = unfoldsImage
            && BLAS.prefersChannelPanels(rows: groupOutChannels, depth: depth, strided: strided)
        // A window with column stride 1 may run as a direct convolution (decided per run, from the image
        // size); W stays for the BLAS path when the packed kernel is not otherwise preferred.
        let packed = channelPanels || BLAS.prefersPacked(rows: groupOutChannels, depth: depth)
        let direct = unfoldsImage && (window.strides?.last ?? 1) == 1 && w.shape[2...].contains { $0 > 1 }
            && BLAS.weightsFitDirect(rows: groupOutChannels, depth: depth)
        guard packed || direct else { return (self, []) }
        var kernel = self
        kernel.packedWeights = (w.shape, (0..<group).map { g in
            BLAS.PackedMatrix(w.pointer(Float.self) + g * groupOutChannels * depth, rows: groupOutChannels,
                              depth: depth, lda: depth, layout: channelPanels ? .columnPanels : .rowPanels)
        })
        return (kernel, packed ? [1] : [])
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count >= 2, let x = inputs[0], let weightShape = inputs[1]?.shape ?? packedWeights?.shape else {
            throw KernelError.invalid("Conv needs inputs X and W")
        }
        let w = inputs[1]
        let bias = inputs.count > 2 ? inputs[2] : nil
        for (name, tensor) in [("X", x), ("W", w), ("B", bias)] {
            if let tensor, tensor.dataType != .float32 {
                throw KernelError.unsupported("Conv input \(name) of type \(tensor.dataType) (only float32)")
            }
        }
        guard x.rank >= 3, x.rank <= 5 else {
            throw KernelError.unsupported("Conv input X of shape \(x.shape): only 1-D, 2-D and 3-D convolutions")
        }
        guard weightShape.count == x.rank else {
            throw KernelError.invalid("W shape \(weightShape) must have the rank of X \(x.shape)")
        }
        let batch = x.shape[0], channels = x.shape[1], outChannels = weightShape[0]
        guard channels % group == 0, outChannels % group == 0, weightShape[1] * group == channels else {
            throw KernelError.invalid("X channels \(channels), W shape \(weightShape) and group \(group) do not agree")
        }
        if let bias, bias.count != outChannels {
            throw KernelError.invalid("B has \(bias.count) values, W has \(outChannels) output channels")
        }
        let geometry = try window.geometry(input: Array(x.shape[2...]), kernel: Array(weightShape[2...]))
        let y = context.allocate(.float32, [batch, outChannels] + geometry.outputSpatial)
        if y.count == 0 { return [y] }
        let problem = ConvProblem(x: x.pointer(Float.self), w: w?.pointer(Float.self), bias: bias?.pointer(Float.self),
                                  y: y.pointer(Float.self), batch: batch, channels: channels, outChannels: outChannels,
                                  group: group, geometry: geometry, activation: activation,
                                  packedWeights: packedWeights?.groups)
        if group == channels && outChannels == channels {
            problem.runDepthwise(context: context)
        } else {
            problem.runGEMM(context: context)
        }
        return [y]
    }
}

/// One Conv call's pointers and sizes.
private struct ConvProblem {
    let x: UnsafePointer<Float>
    /// The weights as W's layout, or nil when only `packedWeights` holds them.
    let w: UnsafePointer<Float>?
    let bias: UnsafePointer<Float>?
    let y: UnsafeMutablePointer<Float>
    let batch: Int, channels: Int, outChannels: Int, group: Int
    let geometry: WindowGeometry
    let activation: Activation?
    let packedWeights: [BLAS.PackedMatrix]?

    init(x: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>?, bias: UnsafeMutablePointer<Float>?,
         y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, outChannels: Int, group: Int,
         geometry: WindowGeometry, activation: Activation?, packedWeights: [BLAS.PackedMatrix]?) {
        self.packedWeights = packedWeights
        self.x = UnsafePointer(x)
        self.w = w.map { UnsafePointer($0) }
        self.bias = bias.map { UnsafePointer($0) }
        self.y = y
        self.batch = batch
        self.channels = channels
        self.outChannels = outChannels
        self.group = group
        self.geometry = geometry
        self.activation = activation
    }

    var isPointwise: Bool {
        geometry.kernel == [1, 1, 1] && geometry.strides == [1, 1, 1]
            && geometry.padBegin == [0, 0, 0] && geometry.padEnd == [0, 0, 0]
    }

    /// im2col (skipped for pointwise kernels) and one GEMM per batch item, group and tile of output rows.
    func runGEMM(context: KernelContext) {
        let groupChannels = channels / group, groupOutChannels = outChannels / group
        let inputCount = geometry.inputCount, outputCount = geometry.outputCount
        let depth = groupChannels * geometry.kernelCount
        let outputRows = geometry.output[0] * geometry.output[1], outputWidth = geometry.output[2]
        if let packedWeights, let window = unfoldedWindow(),
           w == nil || BLAS.prefersDirect(window, rows: groupOutChannels, depth: depth, outputRows: geometry.output[1]) {
            // Packed weights and a 2-D window: the kernel reads the input directly or unfolds it as it
            // packs it, no im2col buffer.
            let epilogue = activation.flatMap(BLAS.Epilogue.init)
            for item in 0..<batch {
                for g in 0..<group {
                    var image = window
                    image.input = x + (item * channels + g * groupChannels) * inputCount
                    let output = y + (item * outChannels + g * groupOutChannels) * outputCount
                    BLAS.sgemm(packed: packedWeights[g], n: outputCount, b: .image(image, firstPixel: 0), c: output,
                               ldc: outputCount, bias: bias.map { $0 + g * groupOutChannels }, epilogue: epilogue,
                               context: context)
                    if epilogue == nil {
                        finish(output, channels: groupOutChannels, stride: outputCount, columns: outputCount, bias: nil,
                               context: context)
                    }
                }
            }
            return
        }
        // Every tile re-reads all the weights: a tile at least as large as they are keeps that traffic
        // below the tile's own (yolov3-tiny's 512→1024 3×3 layer had run in 7 tiles of 26 columns).
        let tileFloats = max(im2colTileFloats, groupOutChannels * depth)
        let rowsPerTile = max(1, min(outputRows, tileFloats / max(1, depth * outputWidth)))
        let col = isPointwise ? nil : context.scratch(floats: depth * rowsPerTile * outputWidth)
        let columnRanges = geometry.validOutputColumns()
        for item in 0..<batch {
            for g in 0..<group {
                let weights = w.map { $0 + g * groupOutChannels * depth }
                let input = x + (item * channels + g * groupChannels) * inputCount
                let output = y + (item * outChannels + g * groupOutChannels) * outputCount
                let groupBias = bias.map { $0 + g * groupOutChannels }
                guard let col else {
                    product(group: g, weights: weights, depth: groupChannels, columns: outputCount,
                            b: input, ldb: outputCount, output: output, bias: groupBias, context: context)
                    continue
                }
                for rowStart in stride(from: 0, to: outputRows, by: rowsPerTile) {
                    let rowEnd = min(outputRows, rowStart + rowsPerTile)
                    let columns = (rowEnd - rowStart) * outputWidth
                    im2col(input, channels: groupChannels, rows: rowStart..<rowEnd, columnRanges: columnRanges,
                           into: col, context: context)
                    product(group: g, weights: weights, depth: depth, columns: columns,
                            b: col, ldb: columns, output: output + rowStart * outputWidth, bias: groupBias,
                            context: context)
                }
            }
        }
    }

    /// The window as the packed kernel's image operand (input pointer still to set), for 1-D and 2-D
    /// windows that are not pointwise; nil otherwise (3-D windows unfold through `im2col`).
    func unfoldedWindow() -> seer_image_operand? {
        let g = geometry
        guard !isPointwise, g.input[0] == 1, g.kernel[0] == 1, g.output[0] == 1, g.padBegin[0] == 0 else { return nil }
        return seer_image_operand(input: x, inH: Int32(g.input[1]), inW: Int32(g.input[2]), outW: Int32(g.output[2]),
                                  kH: Int32(g.kernel[1]), kW: Int32(g.kernel[2]),
                                  strideY: Int32(g.strides[1]), strideX: Int32(g.strides[2]),
                                  dilationY: Int32(g.dilations[1]), dilationX: Int32(g.dilations[2]),
                                  padTop: Int32(g.padBegin[1]), padLeft: Int32(g.padBegin[2]))
    }

    /// output[channel][0..<columns] = weights · b + bias, then the activation: packed weights when
    /// the plan prepared them (bias and ReLU, LeakyReLU or Clip fused into the kernel), else BLAS and `finish`.
    func product(group g: Int, weights: UnsafePointer<Float>?, depth: Int, columns: Int,
                 b: UnsafePointer<Float>, ldb: Int, output: UnsafeMutablePointer<Float>,
                 bias: UnsafePointer<Float>?, context: KernelContext) {
        let outputCount = geometry.outputCount, groupOutChannels = outChannels / group
        guard let weights else {
            let epilogue = activation.flatMap(BLAS.Epilogue.init)
            BLAS.sgemm(packed: packedWeights![g], n: columns, b: .matrix(b, ldb: ldb), c: output, ldc: outputCount,
                       bias: bias, epilogue: epilogue, context: context)
            if epilogue == nil {
                finish(output, channels: groupOutChannels, stride: outputCount, columns: columns, bias: nil,
                       context: context)
            }
            return
        }
        BLAS.sgemm(m: groupOutChannels, n: columns, k: depth, a: weights, lda: depth,
                   b: b, ldb: ldb, c: output, ldc: outputCount, context: context)
        finish(output, channels: groupOutChannels, stride: outputCount, columns: columns, bias: bias,
               context: context)
    }

    /// Bias and fused activation, in place, over `columns` values of each channel row.
    func finish(_ output: UnsafeMutablePointer<Float>, channels: Int, stride: Int, columns: Int,
                bias: UnsafePointer<Float>?, context: KernelContext) {
        guard bias != nil || activation != nil else { return }
        context.parallelFor(channels) { channel in
            let row = output + channel * stride
            if let bias {
                let value = bias[channel]
                for i in 0..<columns { row[i] += value }
            }
            activation?.apply(row, count: columns)
        }
    }

    /// Writes rows (channel, kd, kh, kw) × columns (output rows `rows`, each `output width` wide) of the unfolded input.
    func im2col(_ input: UnsafePointer<Float>, channels: Int, rows: Range<Int>, columnRanges: [Range<Int>],
                into col: UnsafeMutablePointer<Float>, context: KernelContext) {
        let g = geometry
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (outH, outW) = (g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (dD, dH, dW) = (g.dilations[0], g.dilations[1], g.dilations[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let columns = rows.count * outW
        let planeSize = inD * inH * inW
        context.parallelFor(channels) { channel in
            let plane = input + channel * planeSize
            var colRow = col + channel * kD * kH * kW * columns
            for kd in 0..<kD {
                for kh in 0..<kH {
                    for kw in 0..<kW {
                        let range = columnRanges[kw]
                        let offset = kw * dW - pW
                        var dst = colRow
                        for row in rows {
                            let iz = (row / outH) * sD - pD + kd * dD
                            let iy = (row % outH) * sH - pH + kh * dH
                            if iz < 0 || iz >= inD || iy < 0 || iy >= inH {
                                dst.update(repeating: 0, count: outW)
                            } else {
                                let src = plane + (iz * inH + iy) * inW + offset
                                if range.lowerBound > 0 { dst.update(repeating: 0, count: range.lowerBound) }
                                if sW == 1 {
                                    for ox in range { dst[ox] = src[ox] }
                                } else {
                                    for ox in range { dst[ox] = src[ox * sW] }
                                }
                                if range.upperBound < outW {
                                    (dst + range.upperBound).update(repeating: 0, count: outW - range.upperBound)
                                }
                            }
                            dst += outW
                        }
                        colRow += columns
                    }
                }
            }
        }
    }

    /// Depthwise convolution (one input and one output channel per group): the vectorised plane
    /// kernel for 1-D and 2-D windows on CPUs with AVX2/FMA, else direct loops.
    func runDepthwise(context: KernelContext) {
        if runVectorizedDepthwise(context: context) { return }
        let g = geometry
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (outD, outH, outW) = (g.output[0], g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (dD, dH, dW) = (g.dilations[0], g.dilations[1], g.dilations[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let columnRanges = g.validOutputColumns()
        let inputCount = g.inputCount, outputCount = g.outputCount, kernelCount = g.kernelCount
        // Output columns whose three 3x3 taps all lie inside the input row.
        let interior = columnRanges.count == 3
            ? columnRanges.map(\.lowerBound).max()!..<max(columnRanges.map(\.lowerBound).max()!, columnRanges.map(\.upperBound).min()!)
            : 0..<0
        let fast3x3 = kD == 1 && kH == 3 && kW == 3 && !interior.isEmpty
        let w = self.w! // depthwise weights are never packed (ConvKernel.specialized)
        context.parallelFor(batch * channels) { plane in
            let channel = plane % channels
            let input = x + plane * inputCount
            let output = y + plane * outputCount
            let weights = w + channel * kernelCount
            let start = bias?[channel] ?? 0
            for oz in 0..<outD {
                for oy in 0..<outH {
                    let out = output + (oz * outH + oy) * outW
                    let iz = oz * sD - pD, iy = oy * sH - pH
                    if fast3x3 && iz >= 0 && iz < inD && iy >= 0 && iy + 2 * dH < inH {
                        // All three input rows exist: one pass of nine taps over the interior columns.
                        let row = input + (iz * inH + iy) * inW - pW
                        ConvProblem.depthwise3x3Row(out, row, rowStride: dH * inW, weights: weights, bias: start,
                                                    columns: interior, stride: sW, dilation: dW)
                        var ox = 0
                        while ox < outW {
                            if ox == interior.lowerBound { ox = interior.upperBound; continue }
                            var sum = start
                            for kh in 0..<3 {
                                for kw in 0..<3 {
                                    let ix = ox * sW - pW + kw * dW
                                    if ix >= 0 && ix < inW { sum += weights[kh * 3 + kw] * row[kh * dH * inW + ix + pW] }
                                }
                            }
                            out[ox] = sum
                            ox += 1
                        }
                        continue
                    }
                    out.update(repeating: start, count: outW)
                    for kd in 0..<kD {
                        let iz = oz * sD - pD + kd * dD
                        if iz < 0 || iz >= inD { continue }
                        for kh in 0..<kH {
                            let iy = oy * sH - pH + kh * dH
                            if iy < 0 || iy >= inH { continue }
                            let srcRow = input + (iz * inH + iy) * inW
                            let taps = weights + (kd * kH + kh) * kW
                            for kw in 0..<kW {
                                let weight = taps[kw]
                                let src = srcRow + (kw * dW - pW)
                                let range = columnRanges[kw]
                                if sW == 1 {
                                    for ox in range { out[ox] += weight * src[ox] }
                                } else {
                                    for ox in range { out[ox] += weight * src[ox * sW] }
                                }
                            }
                        }
                    }
                }
            }
            activation?.apply(output, count: outputCount)
        }
    }

    /// Every plane through the AVX2 kernels: eight channels at a time through `seer_depthwise_channels`,
    /// the channels left over (fewer than eight) one plane at a time through `seer_depthwise_plane`. ReLU
    /// and Clip are applied as the kernels store, other activations afterwards. False, having done nothing,
    /// for 3-D windows or CPUs without AVX2/FMA.
    private func runVectorizedDepthwise(context: KernelContext) -> Bool {
        let g = geometry
        guard g.input[0] == 1, g.kernel[0] == 1, g.output[0] == 1, g.padBegin[0] == 0,
              seer_depthwise_supported(Int32(g.kernel[1]), Int32(g.kernel[2]), Int32(g.strides[2])) != 0 else {
            return false
        }
        let (low, high, after): (Float, Float, Activation?) = switch activation {
        case .relu: (0, .infinity, nil)
        case let .clip(min, max): (min, max, nil)
        case nil: (-.infinity, .infinity, nil)
        case let other?: (-.infinity, .infinity, other)
        }
        let blocks = channels / DepthwiseWindow.channelsPerBlock
        let window = DepthwiseWindow(g, low: low, high: high)
        if blocks > 0 { runDepthwiseChannelBlocks(blocks, window: window, after: after, context: context) }
        if channels % DepthwiseWindow.channelsPerBlock != 0 {
            runDepthwisePlanes(from: blocks * DepthwiseWindow.channelsPerBlock, window: window, after: after,
                               context: context)
        }
        return true
    }

    /// Channels 0..<blocks·8 of every image through `seer_depthwise_channels`, in tasks of one block and
    /// one strip of output rows (strips keep its scratch under `DepthwiseWindow.stripScratchFloats` and give
    /// every thread work).
    private func runDepthwiseChannelBlocks(_ blocks: Int, window d: DepthwiseWindow, after: Activation?,
                                           context: KernelContext) {
        let perBlock = DepthwiseWindow.channelsPerBlock
        let threads = context.options.threads
        let outH = Int(d.outH)
        var strips = 1
        while strips < outH && d.channelsScratchFloats(stripRows: (outH + strips - 1) / strips) > DepthwiseWindow.stripScratchFloats {
            strips *= 2
        }
        strips = max(strips, min(outH, (2 * threads + batch * blocks - 1) / (batch * blocks)))
        let stripRows = (outH + strips - 1) / strips
        strips = (outH + stripRows - 1) / stripRows
        let scratchFloats = d.channelsScratchFloats(stripRows: stripRows)
        let tasks = batch * blocks * strips
        let scratch = context.scratch(floats: min(threads, tasks) * scratchFloats)
        let inputCount = geometry.inputCount, outputCount = geometry.outputCount, kernelCount = geometry.kernelCount
        let w = self.w! // depthwise weights are never packed (ConvKernel.specialized)
        context.parallelRanges(tasks) { worker, range in
            for task in range {
                let (strip, channel, image) = (task % strips, task / strips % blocks * perBlock, task / strips / blocks)
                let rows = strip * stripRows..<min(outH, (strip + 1) * stripRows)
                let plane = image * channels + channel
                let output = y + plane * outputCount
                seer_depthwise_channels(x + plane * inputCount, d.inH, d.inW, w + channel * kernelCount,
                                        bias.map { $0 + channel }, d.kH, d.kW, d.sH, d.sW, d.dH, d.dW,
                                        d.padTop, d.padLeft, d.low, d.high, output, d.outH, d.outW,
                                        Int32(rows.lowerBound), Int32(rows.upperBound),
                                        scratch + worker * scratchFloats)
                guard let after else { continue }
                let rowFloats = Int(d.outW)
                for planeInBlock in 0..<perBlock {
                    after.apply(output + planeInBlock * outputCount + rows.lowerBound * rowFloats,
                                count: rows.count * rowFloats)
                }
            }
        }
    }

    /// Channels firstChannel..<channels of every image, one plane at a time through `seer_depthwise_plane`.
    private func runDepthwisePlanes(from firstChannel: Int, window d: DepthwiseWindow, after: Activation?,
                                    context: KernelContext) {
        let perImage = channels - firstChannel, planes = batch * perImage
        let scratchFloats = Int(seer_depthwise_scratch_floats(d.outH, d.outW, d.kH, d.kW, d.sH, d.sW, d.dH, d.dW))
        // Zeroed once per layer: a plane writes only where input values go, so the borders stay zero.
        let scratchForAll = min(context.options.threads, planes) * scratchFloats
        let scratch = context.scratch(floats: scratchForAll)
        scratch.update(repeating: 0, count: scratchForAll)
        let inputCount = geometry.inputCount, outputCount = geometry.outputCount, kernelCount = geometry.kernelCount
        let w = self.w! // depthwise weights are never packed (ConvKernel.specialized)
        context.parallelRanges(planes) { worker, range in
            let planeScratch = scratch + worker * scratchFloats
            for index in range {
                let channel = firstChannel + index % perImage
                let plane = index / perImage * channels + channel
                let output = y + plane * outputCount
                seer_depthwise_plane(x + plane * inputCount, d.inH, d.inW, w + channel * kernelCount, d.kH, d.kW,
                                     d.sH, d.sW, d.dH, d.dW, d.padTop, d.padLeft, bias?[channel] ?? 0, d.low, d.high,
                                     output, d.outH, d.outW, planeScratch)
                after?.apply(output, count: outputCount)
            }
        }
    }

    /// out[ox] = bias + Σ w[kh][kw] · row[kh·rowStride + ox·stride + kw·dilation] for ox in `columns`.
    @inline(__always)
    static func depthwise3x3Row(_ out: UnsafeMutablePointer<Float>, _ row: UnsafePointer<Float>, rowStride: Int,
                                weights w: UnsafePointer<Float>, bias: Float, columns: Range<Int>,
                                stride: Int, dilation d: Int) {
        let r0 = row, r1 = row + rowStride, r2 = row + 2 * rowStride
        let (w0, w1, w2, w3, w4, w5, w6, w7, w8) = (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8])
        if stride == 1 && d == 1 {
            for ox in columns {
                var sum = bias + w0 * r0[ox] + w1 * r0[ox + 1] + w2 * r0[ox + 2]
                sum += w3 * r1[ox] + w4 * r1[ox + 1] + w5 * r1[ox + 2]
                sum += w6 * r2[ox] + w7 * r2[ox + 1] + w8 * r2[ox + 2]
                out[ox] = sum
            }
        } else if stride == 2 && d == 1 {
            // Split each row into even and odd elements first, so the nine taps read contiguous memory.
            let (first, end) = (columns.lowerBound, columns.upperBound)
            let span = end - first + 1
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * span) { buffer in
                let base = buffer.baseAddress!
                for k in 0..<3 {
                    let source = row + k * rowStride
                    let even = base + 2 * k * span - first, odd = even + span
                    for j in first...end { even[j] = source[2 * j] }
                    for j in first..<end { odd[j] = source[2 * j + 1] }
                }
                let (e0, e1, e2) = (UnsafePointer(base - first), UnsafePointer(base + 2 * span - first), UnsafePointer(base + 4 * span - first))
                let (o0, o1, o2) = (e0 + span, e1 + span, e2 + span)
                for ox in columns {
                    var sum = bias + w0 * e0[ox] + w1 * o0[ox] + w2 * e0[ox + 1]
                    sum += w3 * e1[ox] + w4 * o1[ox] + w5 * e1[ox + 1]
                    sum += w6 * e2[ox] + w7 * o2[ox] + w8 * e2[ox + 1]
                    out[ox] = sum
                }
            }
        } else {
            for ox in columns {
                let i = ox * stride
                var sum = bias + w0 * r0[i] + w1 * r0[i + d] + w2 * r0[i + 2 * d]
                sum += w3 * r1[i] + w4 * r1[i + d] + w5 * r1[i + 2 * d]
                sum += w6 * r2[i] + w7 * r2[i + d] + w8 * r2[i + 2 * d]
                out[ox] = sum
            }
        }
    }
}

struct ConvTransposeKernel: ConstantSpecializable {
    let window: WindowAttributes
    let group: Int
    let outputPadding: [Int]?
    let outputShape: [Int]?
    let activation: Activation?
    /// Per group, the constant weights' transpose (col rows × input channels) packed for
    /// `BLAS.sgemm(packed:)` at load, and W's shape; nil when W is read at run time.
    private(set) var packedWeights: (shape: [Int], groups: [BLAS.PackedMatrix])?

    init(_ node: Node) throws {
        window = try WindowAttributes(node.attributes)
        group = try node.attributes.int("group", default: 1)
        guard group >= 1 else { throw KernelError.invalid("group \(group) must be positive") }
        outputPadding = try node.attributes.ints("output_padding")
        outputShape = try node.attributes.ints("output_shape")
        if let outputPadding, outputPadding.contains(where: { $0 < 0 }) {
            throw KernelError.invalid("output_padding \(outputPadding) must not be negative")
        }
        activation = node.fusedActivation
        guard node.inputs.count >= 2, !node.inputs[0].isEmpty, !node.inputs[1].isEmpty else {
            throw KernelError.invalid("ConvTranspose needs inputs X and W")
        }
    }

    /// Packs constant float weights per group, Wᵀ (kernel taps × output channels by input channels), where
    /// `BLAS.prefersPacked` says so; the plan then drops W.
    func specialized(constants: [Tensor?]) throws -> (kernel: Kernel, absorbed: Set<Int>) {
        guard BLAS.hasPackedKernel, constants.count >= 2, let w = constants[1], w.dataType == .float32, w.rank >= 3,
              w.count > 0, w.shape[0] % group == 0 else { return (self, []) }
        let groupChannels = w.shape[0] / group, depth = w.count / w.shape[0]
        guard BLAS.prefersPacked(rows: depth, depth: groupChannels) else { return (self, []) }
        var kernel = self
        kernel.packedWeights = (w.shape, (0..<group).map { g in
            BLAS.PackedMatrix(w.pointer(Float.self) + g * groupChannels * depth, rows: depth, depth: groupChannels,
                              lda: depth, transposed: true)
        })
        return (kernel, [1])
    }

    /// Output sizes and the pads that produce them, per the ONNX ConvTranspose formulas.
    func geometry(input: [Int], kernel: [Int]) throws -> WindowGeometry {
        let rank = input.count
        guard kernel.count == rank else {
            throw KernelError.invalid("kernel shape \(kernel) does not match \(rank) spatial dimensions")
        }
        if let kernelShape = window.kernelShape, kernelShape != kernel {
            throw KernelError.invalid("kernel_shape \(kernelShape) does not match the weights' kernel \(kernel)")
        }
        var (strides, dilations, padBegin, padEnd) = try window.resolved(rank: rank)
        let adjust = outputPadding ?? Array(repeating: 0, count: rank)
        guard adjust.count == rank else {
            throw KernelError.invalid("output_padding \(adjust) needs \(rank) values")
        }
        var requested: [Int]?
        if let outputShape {
            guard outputShape.count == rank || outputShape.count == rank + 2 else {
                throw KernelError.invalid("output_shape \(outputShape) needs \(rank) spatial sizes")
            }
            requested = Array(outputShape.suffix(rank))
        } else if window.autoPad == .sameUpper || window.autoPad == .sameLower {
            requested = zip(input, strides).map { $0 * $1 }
        }
        var output: [Int] = []
        for axis in 0..<rank {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            let full = strides[axis] * (input[axis] - 1) + adjust[axis] + extent
            if let requested {
                guard requested[axis] > 0 else {
                    throw KernelError.invalid("output_shape \(requested) must be positive")
                }
                // A requested size beyond the full output adds positions that only the bias reaches (as onnxruntime does).
                let total = max(0, full - requested[axis])
                let small = total / 2
                padBegin[axis] = window.autoPad == .sameUpper ? small : total - small
                padEnd[axis] = total - padBegin[axis]
                output.append(requested[axis])
            } else {
                if window.autoPad == .valid { padBegin[axis] = 0; padEnd[axis] = 0 }
                let size = full - padBegin[axis] - padEnd[axis]
                guard size > 0 else {
                    throw KernelError.invalid("pads \(padBegin[axis]),\(padEnd[axis]) leave no output on spatial axis \(axis)")
                }
                output.append(size)
            }
        }
        return WindowGeometry(rank: rank, input: input, output: output, kernel: kernel, strides: strides,
                              dilations: dilations, padBegin: padBegin, padEnd: padEnd)
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count >= 2, let x = inputs[0], let weightShape = inputs[1]?.shape ?? packedWeights?.shape else {
            throw KernelError.invalid("ConvTranspose needs inputs X and W")
        }
        let w = inputs[1]
        let bias = inputs.count > 2 ? inputs[2] : nil
        for (name, tensor) in [("X", x), ("W", w), ("B", bias)] {
            if let tensor, tensor.dataType != .float32 {
                throw KernelError.unsupported("ConvTranspose input \(name) of type \(tensor.dataType) (only float32)")
            }
        }
        guard x.rank >= 3, x.rank <= 5 else {
            throw KernelError.unsupported("ConvTranspose input X of shape \(x.shape): only 1-D, 2-D and 3-D")
        }
        guard weightShape.count == x.rank else {
            throw KernelError.invalid("W shape \(weightShape) must have the rank of X \(x.shape)")
        }
        let batch = x.shape[0], channels = x.shape[1]
        guard channels % group == 0, weightShape[0] == channels else {
            throw KernelError.invalid("X channels \(channels), W shape \(weightShape) and group \(group) do not agree")
        }
        let groupOutChannels = weightShape[1], outChannels = groupOutChannels * group
        if let bias, bias.count != outChannels {
            throw KernelError.invalid("B has \(bias.count) values, the output has \(outChannels) channels")
        }
        let geometry = try geometry(input: Array(x.shape[2...]), kernel: Array(weightShape[2...]))
        let y = context.allocate(.float32, [batch, outChannels] + geometry.outputSpatial)
        if y.count == 0 { return [y] }
        let problem = ConvTransposeProblem(
            x: UnsafePointer(x.pointer(Float.self)), w: w.map { UnsafePointer($0.pointer(Float.self)) },
            packedWeights: packedWeights?.groups, bias: bias.map { UnsafePointer($0.pointer(Float.self)) },
            y: y.pointer(Float.self), batch: batch, channels: channels, outChannels: outChannels, group: group,
            geometry: geometry)
        problem.run(activation: activation, context: context)
        return [y]
    }
}

private struct ConvTransposeProblem {
    let x: UnsafePointer<Float>
    /// W as given, or nil when its transpose was packed at load.
    let w: UnsafePointer<Float>?
    let packedWeights: [BLAS.PackedMatrix]?
    let bias: UnsafePointer<Float>?
    let y: UnsafeMutablePointer<Float>
    let batch: Int, channels: Int, outChannels: Int, group: Int
    let geometry: WindowGeometry

    /// Per batch item and group: col = Wᵀ·X over tiles of input rows (the product spread over the threads),
    /// then col2im adds col into Y: spread over output channels or, where no two input rows reach the same
    /// output row (windows no taller or deeper than the stride, as in 2× upsampling), over input rows.
    func run(activation: Activation?, context: KernelContext) {
        let groupChannels = channels / group, groupOutChannels = outChannels / group
        let inputCount = geometry.inputCount, outputCount = geometry.outputCount
        let depth = groupOutChannels * geometry.kernelCount
        let inputRows = geometry.input[0] * geometry.input[1], inputWidth = geometry.input[2]
        let rowsPerTile = max(1, min(inputRows, im2colTileFloats / max(1, depth * inputWidth)))
        let rowsIndependent = (0..<2).allSatisfy { axis in
            (geometry.kernel[axis] - 1) * geometry.dilations[axis] + 1 <= geometry.strides[axis]
        }
        let col = context.scratch(floats: depth * rowsPerTile * inputWidth)
        for item in 0..<batch {
            for g in 0..<group {
                let input = x + (item * channels + g * groupChannels) * inputCount
                let output = y + (item * outChannels + g * groupOutChannels) * outputCount
                context.parallelFor(groupOutChannels) { channel in
                    (output + channel * outputCount).update(repeating: bias?[g * groupOutChannels + channel] ?? 0,
                                                            count: outputCount)
                }
                for rowStart in stride(from: 0, to: inputRows, by: rowsPerTile) {
                    let tile = rowStart..<min(inputRows, rowStart + rowsPerTile)
                    let columns = tile.count * inputWidth, b = input + rowStart * inputWidth
                    if let w {
                        BLAS.sgemm(transposeA: true, m: depth, n: columns, k: groupChannels,
                                   a: w + g * groupChannels * depth, lda: depth, b: b, ldb: inputCount, c: col,
                                   ldc: columns, context: context)
                    } else {
                        BLAS.sgemm(packed: packedWeights![g], n: columns, b: .matrix(b, ldb: inputCount), c: col,
                                   ldc: columns, bias: nil, epilogue: nil, context: context)
                    }
                    if rowsIndependent {
                        context.parallelRanges(tile.count) { _, part in
                            col2im(col, tile: tile, rows: part.lowerBound + rowStart..<part.upperBound + rowStart,
                                   into: output, channels: groupOutChannels, context: context)
                        }
                    } else {
                        col2im(col, tile: tile, rows: tile, into: output, channels: groupOutChannels, context: context)
                    }
                }
                if let activation {
                    context.parallelRanges(groupOutChannels * outputCount) { _, range in
                        activation.apply(output + range.lowerBound, count: range.count)
                    }
                }
            }
        }
    }

    /// Adds rows (channel, kd, kh, kw) × columns (input rows `rows`, part of the tile `tile` that `col` holds)
    /// of `col` into the output planes, spread over the channels (inside a parallel loop, on its thread).
    func col2im(_ col: UnsafeMutablePointer<Float>, tile: Range<Int>, rows: Range<Int>,
                into output: UnsafeMutablePointer<Float>, channels: Int, context: KernelContext) {
        let g = geometry
        let (inH, inW) = (g.input[1], g.input[2])
        let (outD, outH, outW) = (g.output[0], g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (dD, dH, dW) = (g.dilations[0], g.dilations[1], g.dilations[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let columns = tile.count * inW
        let outputCount = g.outputCount
        // For each kx, the input x range whose output x = ix·stride − pad + kx·dilation lies inside the output.
        let inputRanges: [Range<Int>] = (0..<kW).map { kw in
            let offset = kw * dW - pW
            let start = min(inW, max(0, ceilDivide(-offset, sW)))
            return start..<max(start, min(inW, ceilDivide(outW - offset, sW)))
        }
        context.parallelFor(channels) { channel in
            let plane = output + channel * outputCount
            var colRow = UnsafePointer(col) + channel * kD * kH * kW * columns
            for kd in 0..<kD {
                for kh in 0..<kH {
                    for kw in 0..<kW {
                        let range = inputRanges[kw]
                        let offset = kw * dW - pW
                        var src = colRow + (rows.lowerBound - tile.lowerBound) * inW
                        for row in rows {
                            let oz = (row / inH) * sD - pD + kd * dD
                            let oy = (row % inH) * sH - pH + kh * dH
                            if oz >= 0 && oz < outD && oy >= 0 && oy < outH {
                                let dst = plane + (oz * outH + oy) * outW + offset
                                if sW == 1 {
                                    for ix in range { dst[ix] += src[ix] }
                                } else {
                                    for ix in range { dst[ix * sW] += src[ix] }
                                }
                            }
                            src += inW
                        }
                        colRow += columns
                    }
                }
            }
        }
    }
}

/// A 2-D depthwise window as the C kernels take it, with the clamp they apply as they store.
private struct DepthwiseWindow {
    /// Channels one `seer_depthwise_channels` call covers (one AVX2 vector).
    static let channelsPerBlock = 8
    /// Scratch floats a strip of `seer_depthwise_channels` should stay under: 128 KiB, a quarter of the L2
    /// of the EPYC it was tuned on. Whole planes are faster where they fit (no rows read twice), strips of
    /// 16 rows cost 3 % on a 112x112 plane.
    static let stripScratchFloats = 32 << 10

    let inH, inW, outH, outW, kH, kW, sH, sW, dH, dW, padTop, padLeft: Int32
    let low, high: Float

    init(_ g: WindowGeometry, low: Float, high: Float) {
        (inH, inW, outH, outW) = (Int32(g.input[1]), Int32(g.input[2]), Int32(g.output[1]), Int32(g.output[2]))
        (kH, kW, sH, sW) = (Int32(g.kernel[1]), Int32(g.kernel[2]), Int32(g.strides[1]), Int32(g.strides[2]))
        (dH, dW, padTop, padLeft) = (Int32(g.dilations[1]), Int32(g.dilations[2]), Int32(g.padBegin[1]), Int32(g.padBegin[2]))
        (self.low, self.high) = (low, high)
    }

    func channelsScratchFloats(stripRows: Int) -> Int {
        Int(seer_depthwise_channels_scratch_floats(Int32(stripRows), outW, kH, kW, sH, sW, dH, dW))
    }
}
