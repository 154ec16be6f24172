// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (ONNX opsets 7-18).
//
// Spatial ranks 1-3 share one loop nest through `WindowGeometry` (padded to 3-D); 2-D float MaxPool
// without Indices and 2-D AveragePool run through the vectorised plane kernels in CKernels when the
// CPU has AVX2.

import CKernels

struct PoolKernel: Kernel {
    enum Mode { case max, average }

    let mode: Mode
    let window: WindowAttributes
    let kernelShape: [Int]
    let ceilMode: Bool
    let countIncludePad: Bool
    /// MaxPool's Indices: false = row-major (storage_order 0), true = column-major (storage_order 1).
    let columnMajorIndices: Bool
    let wantsIndices: Bool

    init(_ node: Node) throws {
        mode = node.kind == .maxPool ? .max : .average
        window = try WindowAttributes(node.attributes)
        guard let kernelShape = window.kernelShape else {
            throw KernelError.invalid("kernel_shape is required")
        }
        self.kernelShape = kernelShape
        ceilMode = try node.attributes.int("ceil_mode", default: 0) != 0
        countIncludePad = try node.attributes.int("count_include_pad", default: 0) != 0
        let storageOrder = try node.attributes.int("storage_order", default: 0)
        guard storageOrder == 0 || storageOrder == 1 else {
            throw KernelError.invalid("storage_order \(storageOrder) must be 0 or 1")
        }
        columnMajorIndices = storageOrder == 1
        if mode == .average, let dilations = window.dilations, dilations.contains(where: { $0 != 1 }) {
            throw KernelError.unsupported("AveragePool dilations \(dilations) (added in opset 19)")
        }
        wantsIndices = mode == .max && node.outputs.count > 1 && !node.outputs[1].isEmpty
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let x = inputs.first ?? nil else { throw KernelError.invalid("missing input X") }
        guard x.rank >= 3, x.rank <= 5 else {
            throw KernelError.unsupported("pooling input of shape \(x.shape): only 1-D, 2-D and 3-D pooling")
        }
        guard kernelShape.count == x.rank - 2 else {
            throw KernelError.invalid("kernel_shape \(kernelShape) does not match input shape \(x.shape)")
        }
        let geometry = try window.geometry(input: Array(x.shape[2...]), kernel: kernelShape, ceilMode: ceilMode)
        let planes = x.shape[0] * x.shape[1]
        let outputShape = Array(x.shape[0..<2]) + geometry.outputSpatial
        let y = context.allocate(x.dataType, outputShape)
        switch mode {
        case .average:
            guard x.dataType == .float32 else {
                throw KernelError.unsupported("AveragePool of \(x.dataType) (only float32)")
            }
            if geometry.rank == 2 && PoolKernel.hasPlaneKernels {
                averagePoolPlanes(UnsafePointer(x.pointer(Float.self)), y.pointer(Float.self), planes: planes,
                                  geometry: geometry, context: context)
            } else {
                averagePool(UnsafePointer(x.pointer(Float.self)), y.pointer(Float.self), planes: planes,
                            geometry: geometry, context: context)
            }
            return [y]
        case .max:
            let indices = wantsIndices ? context.allocate(.int64, outputShape) : nil
            let indexPointer = indices?.pointer(Int64.self)
            switch x.dataType {
            case .float32 where indexPointer == nil && geometry.rank == 2 && PoolKernel.hasPlaneKernels:
                maxPoolPlanes(UnsafePointer(x.pointer(Float.self)), y.pointer(Float.self), planes: planes,
                              geometry: geometry, context: context)
            case .float32 where indexPointer == nil:
                maxPool(UnsafePointer(x.pointer(Float.self)), y.pointer(Float.self), planes: planes,
                        geometry: geometry, context: context)
            case .float32:
                maxPoolWithIndices(UnsafePointer(x.pointer(Float.self)), y.pointer(Float.self), indices: indexPointer,
                                   planes: planes, geometry: geometry, lowest: -Float.infinity, context: context)
            case .int8:
                maxPoolWithIndices(UnsafePointer(x.pointer(Int8.self)), y.pointer(Int8.self), indices: indexPointer,
                                   planes: planes, geometry: geometry, lowest: Int8.min, context: context)
            case .uint8:
                maxPoolWithIndices(UnsafePointer(x.pointer(UInt8.self)), y.pointer(UInt8.self), indices: indexPointer,
                                   planes: planes, geometry: geometry, lowest: UInt8.min, context: context)
            default:
                throw KernelError.unsupported("MaxPool of \(x.dataType) (only float32, int8, uint8)")
            }
            return indices.map { [y, $0] } ?? [y]
        }
    }

    static let hasPlaneKernels = seer_pool_plane_supported() != 0

    /// A 2-D geometry's plane window for the CKernels pooling kernels.
    static func planeWindow(_ g: WindowGeometry) -> seer_pool_geometry {
        seer_pool_geometry(
            inH: Int32(g.input[1]), inW: Int32(g.input[2]), outH: Int32(g.output[1]), outW: Int32(g.output[2]),
            kH: Int32(g.kernel[1]), kW: Int32(g.kernel[2]), strideY: Int32(g.strides[1]), strideX: Int32(g.strides[2]),
            dilationY: Int32(g.dilations[1]), dilationX: Int32(g.dilations[2]),
            padTop: Int32(g.padBegin[1]), padLeft: Int32(g.padBegin[2]))
    }

    /// 2-D float max pooling one plane per `seer_max_pool_plane` call (same results as `maxPool`).
    func maxPoolPlanes(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                       geometry g: WindowGeometry, context: KernelContext) {
        let inputCount = g.inputCount, outputCount = g.outputCount
        withUnsafePointer(to: PoolKernel.planeWindow(g)) { window in
            context.parallelFor(planes) { plane in
                seer_max_pool_plane(x + plane * inputCount, y + plane * outputCount, window)
            }
        }
    }

    /// 2-D float average pooling one plane per `seer_average_pool_plane` call, dividing by the same
    /// `windowCounts` in the same order of additions as `averagePool` (same results).
    func averagePoolPlanes(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                           geometry g: WindowGeometry, context: KernelContext) {
        let inputCount = g.inputCount, outputCount = g.outputCount
        let rowCounts = windowCounts(axis: 1, geometry: g), columnCounts = windowCounts(axis: 2, geometry: g)
        withUnsafePointer(to: PoolKernel.planeWindow(g)) { window in
            rowCounts.withUnsafeBufferPointer { rowCounts in
                columnCounts.withUnsafeBufferPointer { columnCounts in
                    context.parallelFor(planes) { plane in
                        seer_average_pool_plane(x + plane * inputCount, y + plane * outputCount, window,
                                                rowCounts.baseAddress, columnCounts.baseAddress)
                    }
                }
            }
        }
    }

    /// Float max pooling a whole output row at a time: for each tap, out[x] = max(out[x], in[x·stride + offset]).
    func maxPool(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                 geometry g: WindowGeometry, context: KernelContext) {
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (outD, outH, outW) = (g.output[0], g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (dD, dH, dW) = (g.dilations[0], g.dilations[1], g.dilations[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let columnRanges = g.validOutputColumns()
        let inputCount = g.inputCount, outputCount = g.outputCount
        context.parallelFor(planes) { plane in
            let input = x + plane * inputCount
            let output = y + plane * outputCount
            for oz in 0..<outD {
                for oy in 0..<outH {
                    let out = output + (oz * outH + oy) * outW
                    out.update(repeating: -.infinity, count: outW)
                    for kd in 0..<kD {
                        let iz = oz * sD - pD + kd * dD
                        if iz < 0 || iz >= inD { continue }
                        for kh in 0..<kH {
                            let iy = oy * sH - pH + kh * dH
                            if iy < 0 || iy >= inH { continue }
                            let srcRow = input + (iz * inH + iy) * inW
                            for kw in 0..<kW {
                                let src = srcRow + (kw * dW - pW)
                                if sW == 1 {
                                    for ox in columnRanges[kw] { let v = src[ox]; out[ox] = v > out[ox] ? v : out[ox] }
                                } else {
                                    for ox in columnRanges[kw] { let v = src[ox * sW]; out[ox] = v > out[ox] ? v : out[ox] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Max pooling one output at a time, recording where each maximum came from when `indices` is given.
    /// Indices count over the whole input tensor (batch and channel included), as ONNX defines them.
    func maxPoolWithIndices<T: TensorElement & Comparable>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, indices: UnsafeMutablePointer<Int64>?,
        planes: Int, geometry g: WindowGeometry, lowest: T, context: KernelContext
    ) {
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (outD, outH, outW) = (g.output[0], g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (dD, dH, dW) = (g.dilations[0], g.dilations[1], g.dilations[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let inputCount = g.inputCount, outputCount = g.outputCount
        let columnMajor = columnMajorIndices
        context.parallelFor(planes) { plane in
            let input = x + plane * inputCount
            var out = plane * outputCount
            for oz in 0..<outD {
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        var best = lowest
                        var bestAt = (z: -1, y: 0, x: 0)
                        for kd in 0..<kD {
                            let iz = oz * sD - pD + kd * dD
                            if iz < 0 || iz >= inD { continue }
                            for kh in 0..<kH {
                                let iy = oy * sH - pH + kh * dH
                                if iy < 0 || iy >= inH { continue }
                                for kw in 0..<kW {
                                    let ix = ox * sW - pW + kw * dW
                                    if ix < 0 || ix >= inW { continue }
                                    let value = input[(iz * inH + iy) * inW + ix]
                                    if bestAt.z < 0 || value > best { best = value; bestAt = (iz, iy, ix) }
                                }
                            }
                        }
                        y[out] = best
                        if let indices {
                            let within = bestAt.z < 0 ? 0
                                : columnMajor ? (bestAt.x * inH + bestAt.y) * inD + bestAt.z
                                : (bestAt.z * inH + bestAt.y) * inW + bestAt.x
                            indices[out] = Int64(plane * inputCount + within)
                        }
                        out += 1
                    }
                }
            }
        }
    }

    /// Float average pooling a whole output row at a time, then division by each window's element count.
    func averagePool(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                     geometry g: WindowGeometry, context: KernelContext) {
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (outD, outH, outW) = (g.output[0], g.output[1], g.output[2])
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (sD, sH, sW) = (g.strides[0], g.strides[1], g.strides[2])
        let (pD, pH, pW) = (g.padBegin[0], g.padBegin[1], g.padBegin[2])
        let columnRanges = g.validOutputColumns()
        let countsD = windowCounts(axis: 0, geometry: g)
        let countsH = windowCounts(axis: 1, geometry: g)
        let countsW = windowCounts(axis: 2, geometry: g)
        let inputCount = g.inputCount, outputCount = g.outputCount
        context.parallelFor(planes) { plane in
            let input = x + plane * inputCount
            let output = y + plane * outputCount
            for oz in 0..<outD {
                for oy in 0..<outH {
                    let out = output + (oz * outH + oy) * outW
                    out.update(repeating: 0, count: outW)
                    for kd in 0..<kD {
                        let iz = oz * sD - pD + kd
                        if iz < 0 || iz >= inD { continue }
                        for kh in 0..<kH {
                            let iy = oy * sH - pH + kh
                            if iy < 0 || iy >= inH { continue }
                            let srcRow = input + (iz * inH + iy) * inW
                            for kw in 0..<kW {
                                let src = srcRow + (kw - pW)
                                if sW == 1 {
                                    for ox in columnRanges[kw] { out[ox] += src[ox] }
                                } else {
                                    for ox in columnRanges[kw] { out[ox] += src[ox * sW] }
                                }
                            }
                        }
                    }
                    let rowCount = countsD[oz] * countsH[oy]
                    countsW.withUnsafeBufferPointer { counts in
                        for ox in 0..<outW { out[ox] /= Swift.max(1, rowCount * counts[ox]) }
                    }
                }
            }
        }
    }

    /// Elements each window covers along one axis: in-input elements only, or (count_include_pad)
    /// also the explicit pads, but never the overhang that ceil_mode adds beyond them.
    func windowCounts(axis: Int, geometry g: WindowGeometry) -> [Float] {
        (0..<g.output[axis]).map { o in
            let start = o * g.strides[axis] - g.padBegin[axis]
            let end = start + g.kernel[axis]
            if countIncludePad {
                return Float(min(end, g.input[axis] + g.padEnd[axis]) - start)
            }
            return Float(max(0, min(end, g.input[axis]) - max(start, 0)))
        }
    }
}

struct GlobalPoolKernel: Kernel {
    let isMax: Bool

    init(_ node: Node) throws {
        isMax = node.kind == .globalMaxPool
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let x = inputs.first ?? nil else { throw KernelError.invalid("missing input X") }
        guard x.dataType == .float32 else {
            throw KernelError.unsupported("\(isMax ? "GlobalMaxPool" : "GlobalAveragePool") of \(x.dataType) (only float32)")
        }
        guard x.rank >= 3 else {
            throw KernelError.invalid("input shape \(x.shape) needs batch, channel and spatial dimensions")
        }
        let planes = x.shape[0] * x.shape[1]
        let size = x.shape[2...].reduce(1, *)
        guard size > 0 else { throw KernelError.invalid("input shape \(x.shape) has an empty spatial extent") }
        let y = context.allocate(.float32, Array(x.shape[0..<2]) + Array(repeating: 1, count: x.rank - 2))
        let input = UnsafePointer(x.pointer(Float.self)), output = y.pointer(Float.self)
        let isMax = self.isMax
        context.parallelFor(planes) { plane in
            let values = input + plane * size
            if isMax {
                var best = values[0]
                for i in 1..<Swift.max(1, size) where values[i] > best { best = values[i] }
                output[plane] = best
            } else {
                output[plane] = GlobalPoolKernel.sum(values, count: size) / Float(size)
            }
        }
        return [y]
    }

    /// Σ values[0..<count] in eight interleaved partial sums (a single running sum is one long chain
    /// of dependent additions, which the compiler may not reorder into vector lanes).
    static func sum(_ values: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>.zero
        var i = 0
        while i + 8 <= count {
            lanes += UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count { total += values[i]; i += 1 }
        return total
    }
}
