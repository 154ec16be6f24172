import Foundation

/// Resize (opsets 10-18) and Upsample (7, 9).
///
/// Every output index along an axis maps to a coordinate in the input (the coordinate
/// transformation), and from there to a few input indices with weights (the interpolation
/// mode). Interpolation is separable, so the kernel resizes one axis at a time; nearest is
/// a pure gather and works on any element type. float32 has fused paths for 2-D bilinear
/// and for the 2x nearest upsample of NCHW feature maps.
struct ResizeKernel: Kernel {
    enum Mode: String { case nearest, linear, cubic }

    enum NearestRounding: String {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
        /// Opsets before 11: truncate when upsampling, round up when downsampling.
        case simple
    }

    enum CoordinateTransformation: String {
        case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners"
        case asymmetric, tfHalfPixelForNN = "tf_half_pixel_for_nn", tfCropAndResize = "tf_crop_and_resize"
    }

    enum AspectRatioPolicy: String { case stretch, notLarger = "not_larger", notSmaller = "not_smaller" }

    struct Options {
        var mode: Mode
        var nearest: NearestRounding
        var coordinates: CoordinateTransformation
        var cubicA: Double
        var excludeOutside: Bool
        var extrapolationValue: Float
        var antialias: Bool
        var axes: [Int]?
        var aspectRatioPolicy: AspectRatioPolicy
    }

    let options: Options
    /// Upsample-7 takes its scales from an attribute.
    let attributeScales: [Float]?
    /// Input positions of roi, scales and sizes for this opset (nil: the opset has no such input).
    let roiInput: Int?, scalesInput: Int?, sizesInput: Int?

    init(_ node: Node) throws {
        let attributes = node.attributes
        let isModern = node.kind == .resize && node.opset >= 11
        let modeName = try attributes.string("mode", default: "nearest")
        guard let mode = Mode(rawValue: modeName), isModern || mode != .cubic else {
            throw KernelError.unsupported("mode '\(modeName)' (supported: nearest, linear\(isModern ? ", cubic" : ""))")
        }
        var options = Options(mode: mode, nearest: .simple, coordinates: .asymmetric, cubicA: -0.75, excludeOutside: false,
                              extrapolationValue: 0, antialias: false, axes: nil, aspectRatioPolicy: .stretch)
        if isModern {
            let nearestName = try attributes.string("nearest_mode", default: "round_prefer_floor")
            guard let nearest = NearestRounding(rawValue: nearestName), nearest != .simple else {
                throw KernelError.unsupported("nearest_mode '\(nearestName)'")
            }
            let coordinateName = try attributes.string("coordinate_transformation_mode", default: "half_pixel")
            guard let coordinates = CoordinateTransformation(rawValue: coordinateName) else {
                throw KernelError.unsupported("coordinate_transformation_mode '\(coordinateName)'")
            }
            options.nearest = nearest
            options.coordinates = coordinates
            options.cubicA = Double(try attributes.float("cubic_coeff_a", default: -0.75))
            options.excludeOutside = try attributes.int("exclude_outside", default: 0) != 0
            options.extrapolationValue = try attributes.float("extrapolation_value", default: 0)
        }
        if node.kind == .resize && node.opset >= 18 {
            options.antialias = try attributes.int("antialias", default: 0) != 0
            options.axes = try attributes.ints("axes")
            let policyName = try attributes.string("keep_aspect_ratio_policy", default: "stretch")
            guard let policy = AspectRatioPolicy(rawValue: policyName) else {
                throw KernelError.unsupported("keep_aspect_ratio_policy '\(policyName)'")
            }
            options.aspectRatioPolicy = policy
        }
        self.options = options

        switch (node.kind, node.opset) {
        case (.upsample, ..<9):
            guard let scales = try attributes.floats("scales") else { throw KernelError.invalid("attribute 'scales' is required") }
            attributeScales = scales
            (roiInput, scalesInput, sizesInput) = (nil, nil, nil)
        case (.upsample, _), (.resize, ..<11):
            attributeScales = nil
            (roiInput, scalesInput, sizesInput) = (nil, 1, nil)
        default:
            attributeScales = nil
            (roiInput, scalesInput, sizesInput) = (1, 2, 3)
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "X")
        let tables = try axisTables(for: data, inputs: inputs)
        let outputShape = tables.map(\.outputSize)
        if tables.allSatisfy(\.isIdentity) { return [data] }
        let output = context.allocate(data.dataType, outputShape)
        if output.count == 0 { return [output] }
        if data.count == 0 {
            throw KernelError.invalid("cannot resize the empty tensor \(data.shape) to \(outputShape)")
        }
        if options.mode == .nearest {
            ResizeKernel.gatherNearest(data, into: output, tables: tables, extrapolation: options.extrapolationValue, context: context)
        } else {
            ResizeKernel.interpolate(data, into: output, tables: tables, extrapolation: options.extrapolationValue, context: context)
        }
        return [output]
    }
}

// MARK: - Sizes and coordinate mapping

extension ResizeKernel {
    /// How one axis is resized: for each output index, `taps` input indices and weights.
    struct AxisTable {
        let inputSize: Int
        let outputSize: Int
        let taps: Int
        var indices: [Int]
        var weights: [Float]
        /// Output indices whose coordinate falls outside the input (tf_crop_and_resize): they get the extrapolation value.
        var outside: [Bool]

        var hasOutside: Bool { outside.contains(true) }

        /// Every output index copies the input index equal to it.
        var isIdentity: Bool {
            guard inputSize == outputSize, !hasOutside else { return false }
            for index in 0..<outputSize {
                for tap in 0..<taps {
                    let weight = weights[index * taps + tap]
                    let source = indices[index * taps + tap]
                    if weight != 0 && (source != index || weight != 1) { return false }
                }
            }
            return true
        }
    }

    func axisTables(for data: Tensor, inputs: [Tensor?]) throws -> [AxisTable] {
        let rank = data.rank
        let axes = try MovementSupport.axes(options.axes ?? Array(0..<rank), rank: rank)
        let scalesTensor = scalesInput.flatMap { MovementSupport.optional(inputs, $0) }.flatMap { $0.count > 0 ? $0 : nil }
        let sizesTensor = sizesInput.flatMap { MovementSupport.optional(inputs, $0) }.flatMap { $0.count > 0 ? $0 : nil }
        let givenScales = attributeScales ?? scalesTensor?.floatValues()
        let givenSizes = try sizesTensor.map { try MovementSupport.integers($0, "sizes") }
        if givenScales != nil && givenSizes != nil { throw KernelError.invalid("scales and sizes are both given; give one") }
        if givenScales == nil && givenSizes == nil { throw KernelError.invalid("neither scales nor sizes is given") }

        // ROI as [starts..., ends...] over every axis (only tf_crop_and_resize reads it).
        var roiStarts = [Double](repeating: 0, count: rank), roiEnds = [Double](repeating: 1, count: rank)
        if options.coordinates == .tfCropAndResize, let roiIndex = roiInput, let roi = MovementSupport.optional(inputs, roiIndex), roi.count > 0 {
            let values = roi.floatValues()
            guard values.count == 2 * axes.count else {
                throw KernelError.invalid("roi has \(values.count) values, expected \(2 * axes.count)")
            }
            for (index, axis) in axes.enumerated() {
                roiStarts[axis] = Double(values[index])
                roiEnds[axis] = Double(values[axes.count + index])
            }
        }

        var scales = [Double](repeating: 1, count: rank)
        var outputSizes = data.shape
        if let given = givenScales {
            guard given.count == axes.count else {
                throw KernelError.invalid("scales has \(given.count) values for \(axes.count) axes")
            }
            for (index, axis) in axes.enumerated() {
                let scale = Double(given[index])
                guard scale > 0, scale.isFinite else { throw KernelError.invalid("scale \(given[index]) must be positive") }
                scales[axis] = scale
                let roiExtent = options.coordinates == .tfCropAndResize ? roiEnds[axis] - roiStarts[axis] : 1
                outputSizes[axis] = try ResizeKernel.outputLength(Double(data.shape[axis]) * roiExtent * scale, axis: axis)
            }
        } else if let given = givenSizes {
            guard given.count == axes.count else {
                throw KernelError.invalid("sizes has \(given.count) values for \(axes.count) axes")
            }
            guard given.allSatisfy({ $0 >= 0 }) else { throw KernelError.invalid("sizes \(given) must not be negative") }
            for (index, axis) in axes.enumerated() where data.shape[axis] > 0 {
                scales[axis] = Double(given[index]) / Double(data.shape[axis])
                outputSizes[axis] = given[index]
            }
            if options.aspectRatioPolicy != .stretch, !axes.isEmpty {
                let axisScales = axes.map { scales[$0] }
                let common = (options.aspectRatioPolicy == .notLarger ? axisScales.min() : axisScales.max()) ?? 1
                for axis in axes {
                    scales[axis] = common
                    outputSizes[axis] = try ResizeKernel.outputLength(common * Double(data.shape[axis]) + 0.5, axis: axis)
                }
            }
        }
        try MovementSupport.checkOutputSize(outputSizes)
        return (0..<rank).map { axis in
            table(inputSize: data.shape[axis], outputSize: outputSizes[axis], scale: scales[axis],
                  roi: (roiStarts[axis], roiEnds[axis]))
        }
    }

    /// floor(length) as an output dimension, rejecting values no tensor could have.
    static func outputLength(_ length: Double, axis: Int) throws -> Int {
        guard length.isFinite, length >= 0, length <= Double(MovementSupport.maximumOutputCount) else {
            throw KernelError.invalid("output length \(length) along axis \(axis) is out of range")
        }
        return Int(length.rounded(.down))
    }

    /// The input coordinate of output index `index` along one axis.
    func sourceCoordinate(_ index: Int, inputSize: Int, outputSize: Int, scale: Double, roi: (Double, Double)) -> Double {
        let x = Double(index)
        let resizedLength = scale * Double(inputSize)
        switch options.coordinates {
        case .halfPixel:
            return (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel:
            return outputSize > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .alignCorners:
            return resizedLength == 1 ? 0 : x * Double(inputSize - 1) / (resizedLength - 1)
        case .asymmetric:
            return x / scale
        case .tfHalfPixelForNN:
            return (x + 0.5) / scale
        case .tfCropAndResize:
            let span = Double(inputSize - 1)
            guard outputSize > 1 else { return 0.5 * (roi.0 + roi.1) * span }
            return roi.0 * span + x * (roi.1 - roi.0) * span / Double(outputSize - 1)
        }
    }

    func table(inputSize: Int, outputSize: Int, scale: Double, roi: (Double, Double)) -> AxisTable {
        let filterScale = options.antialias && options.mode != .nearest ? min(scale, 1) : 1
        // Taps are offsets start...(1 - start) from floor(x): 2 for linear, 4 for cubic, more when antialiasing.
        let start: Int
        switch options.mode {
        case .nearest: start = 0
        case .linear: start = Int((-1 / filterScale).rounded(.down)) + 1
        case .cubic: start = Int((-2 / filterScale).rounded(.down)) + 1
        }
        let taps = options.mode == .nearest ? 1 : 2 - 2 * start
        var result = AxisTable(inputSize: inputSize, outputSize: outputSize, taps: taps,
                               indices: [Int](repeating: 0, count: outputSize * taps),
                               weights: [Float](repeating: 0, count: outputSize * taps),
                               outside: [Bool](repeating: false, count: outputSize))
        guard inputSize > 0 else { return result }
        var coefficients = [Double](repeating: 0, count: taps)
        for index in 0..<outputSize {
            let x = sourceCoordinate(index, inputSize: inputSize, outputSize: outputSize, scale: scale, roi: roi)
            if !x.isFinite || options.coordinates == .tfCropAndResize && (x < 0 || x > Double(inputSize - 1)) {
                result.outside[index] = true
                continue
            }
            if options.mode == .nearest {
                result.indices[index] = min(max(nearestIndex(x, scale: scale), 0), inputSize - 1)
                result.weights[index] = 1
                continue
            }
            // Neighbours sit left of x by preference: an integral x counts as ratio 1 from x - 1.
            var base = Int(x.rounded(.down))
            var ratio = x - Double(base)
            if ratio == 0 { ratio = 1; base -= 1 }
            var sum = 0.0
            for tap in 0..<taps {
                let offset = start + tap
                let distance = abs((Double(offset) - ratio) * filterScale)
                var weight = options.mode == .linear ? max(0, 1 - distance) : cubicWeight(distance)
                let source = base + offset
                if options.excludeOutside && (source < 0 || source >= inputSize) { weight = 0 }
                coefficients[tap] = weight
                sum += weight
            }
            let normalize = options.antialias || options.excludeOutside
            for tap in 0..<taps {
                result.indices[index * taps + tap] = min(max(base + start + tap, 0), inputSize - 1)
                result.weights[index * taps + tap] = Float(normalize && sum != 0 ? coefficients[tap] / sum : coefficients[tap])
            }
        }
        return result
    }

    func nearestIndex(_ x: Double, scale: Double) -> Int {
        let lower = x.rounded(.down)
        let fraction = x - lower
        switch options.nearest {
        case .roundPreferFloor: return Int(fraction <= 0.5 ? lower : lower + 1)
        case .roundPreferCeil: return Int(fraction < 0.5 ? lower : lower + 1)
        case .floor: return Int(lower)
        case .ceil: return Int(x.rounded(.up))
        case .simple: return Int(scale < 1 ? x.rounded(.up) : x.rounded(.towardZero))
        }
    }

    /// Keys' cubic convolution kernel with parameter a (cubic_coeff_a).
    func cubicWeight(_ distance: Double) -> Double {
        let a = options.cubicA
        let d = distance, d2 = d * d, d3 = d2 * d
        if d <= 1 { return (a + 2) * d3 - (a + 3) * d2 + 1 }
        if d < 2 { return a * d3 - 5 * a * d2 + 8 * a * d - 4 * a }
        return 0
    }
}

// MARK: - Nearest: a gather over any element type

extension ResizeKernel {
    static func gatherNearest(_ input: Tensor, into output: Tensor, tables: [AxisTable], extrapolation: Float, context: KernelContext) {
        let byteSize = input.dataType.byteSize
        let rank = input.rank
        if rank == 0 {
            output.storage.pointer.copyMemory(from: input.storage.pointer, byteCount: byteSize)
            return
        }
        let fill = MovementSupport.elementBytes(Double(extrapolation), as: input.dataType)
        let inputStrides = Tensor.strides(for: input.shape)
        let outputShape = output.shape
        let rowLength = outputShape[rank - 1]
        let last = tables[rank - 1]
        let rowCount = outputShape.dropLast().reduce(1, *)
        let doublesRow = byteSize == 4 && !last.hasOutside && last.outputSize == 2 * last.inputSize
            && (0..<rowLength).allSatisfy { last.indices[$0] == $0 / 2 }
        let source = input.storage.pointer, destination = output.storage.pointer
        var position = [Int](repeating: 0, count: rank - 1)
        var previousSourceRow = -1
        for row in 0..<rowCount {
            let target = destination + row * rowLength * byteSize
            var sourceRow = 0
            var isOutside = false
            for axis in 0..<(rank - 1) {
                let index = position[axis]
                if tables[axis].outside[index] { isOutside = true; break }
                sourceRow += tables[axis].indices[index] * inputStrides[axis]
            }
            if isOutside {
                MovementSupport.fill(target, count: rowLength, pattern: fill)
                previousSourceRow = -1
            } else if sourceRow == previousSourceRow {
                target.copyMemory(from: target - rowLength * byteSize, byteCount: rowLength * byteSize)
            } else {
                let sourceBase = source + sourceRow * byteSize
                if doublesRow {
                    let from = sourceBase.assumingMemoryBound(to: UInt32.self)
                    let to = target.assumingMemoryBound(to: UInt32.self)
                    for column in 0..<last.inputSize {
                        let value = from[column]
                        to[2 * column] = value
                        to[2 * column + 1] = value
                    }
                } else {
                    gatherRow(from: sourceBase, table: last, byteSize: byteSize, fill: fill, to: target)
                }
                previousSourceRow = sourceRow
            }
            var axis = rank - 2
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < outputShape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
    }

    private static func gatherRow(from source: UnsafeMutableRawPointer, table: AxisTable, byteSize: Int, fill: [UInt8],
                                  to target: UnsafeMutableRawPointer) {
        func typed<T>(_: T.Type) {
            let from = source.assumingMemoryBound(to: T.self)
            let to = target.assumingMemoryBound(to: T.self)
            let fillValue = fill.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
            table.indices.withUnsafeBufferPointer { indices in
                for column in 0..<table.outputSize { to[column] = from[indices[column]] }
            }
            if table.hasOutside {
                for column in 0..<table.outputSize where table.outside[column] { to[column] = fillValue }
            }
        }
        switch byteSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        default: typed(UInt64.self)
        }
    }
}

// MARK: - Linear and cubic: separable weighted sums in float32

extension ResizeKernel {
    static func interpolate(_ input: Tensor, into output: Tensor, tables: [AxisTable], extrapolation: Float, context: KernelContext) {
        let active = tables.indices.filter { !tables[$0].isIdentity }
        let rank = input.rank
        if input.dataType == .float32, rank >= 2, active == [rank - 2, rank - 1],
           tables[rank - 2].taps == 2, tables[rank - 1].taps == 2,
           !tables[rank - 2].hasOutside, !tables[rank - 1].hasOutside {
            bilinearPlanes(input, into: output, rows: tables[rank - 2], columns: tables[rank - 1], context: context)
            return
        }
        // Downsampled axes first, so later passes have less data to read.
        let order = active.sorted { lhs, rhs in
            let lhsShrinks = tables[lhs].outputSize < tables[lhs].inputSize
            let rhsShrinks = tables[rhs].outputSize < tables[rhs].inputSize
            return lhsShrinks != rhsShrinks ? lhsShrinks : lhs > rhs
        }
        var shape = input.shape
        var current: [Float] = input.dataType == .float32 ? input.floats : input.floatValues()
        for (step, axis) in order.enumerated() {
            var nextShape = shape
            nextShape[axis] = tables[axis].outputSize
            let isLast = step == order.count - 1
            if isLast && output.dataType == .float32 {
                current.withUnsafeBufferPointer { source in
                    resizeAxis(source.baseAddress!, shape: shape, axis: axis, table: tables[axis], extrapolation: extrapolation,
                               into: output.pointer(Float.self), context: context)
                }
                return
            }
            var next = [Float](repeating: 0, count: nextShape.reduce(1, *))
            current.withUnsafeBufferPointer { source in
                next.withUnsafeMutableBufferPointer { target in
                    resizeAxis(source.baseAddress!, shape: shape, axis: axis, table: tables[axis], extrapolation: extrapolation,
                               into: target.baseAddress!, context: context)
                }
            }
            current = next
            shape = nextShape
        }
        store(current, into: output)
    }

    /// One separable pass: `axis` of a contiguous float tensor of `shape` resized by `table`.
    static func resizeAxis(_ source: UnsafePointer<Float>, shape: [Int], axis: Int, table: AxisTable, extrapolation: Float,
                           into target: UnsafeMutablePointer<Float>, context: KernelContext) {
        let outerCount = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let inputSize = table.inputSize, outputSize = table.outputSize, taps = table.taps
        table.indices.withUnsafeBufferPointer { indices in
            table.weights.withUnsafeBufferPointer { weights in
                context.parallelFor(outerCount) { outer in
                    let from = source + outer * inputSize * inner
                    let to = target + outer * outputSize * inner
                    for index in 0..<outputSize {
                        let row = to + index * inner
                        if table.outside[index] {
                            row.update(repeating: extrapolation, count: inner)
                            continue
                        }
                        if inner == 1 {
                            var sum: Float = 0
                            for tap in 0..<taps { sum += weights[index * taps + tap] * from[indices[index * taps + tap]] }
                            row[0] = sum
                            continue
                        }
                        row.update(repeating: 0, count: inner)
                        for tap in 0..<taps {
                            let weight = weights[index * taps + tap]
                            if weight == 0 { continue }
                            let sourceRow = from + indices[index * taps + tap] * inner
                            for element in 0..<inner { row[element] += weight * sourceRow[element] }
                        }
                    }
                }
            }
        }
    }

    /// float32 bilinear resize of the last two axes: per plane, every input row is resized
    /// horizontally once, then output rows blend two of those rows (a vectorisable loop).
    static func bilinearPlanes(_ input: Tensor, into output: Tensor, rows: AxisTable, columns: AxisTable, context: KernelContext) {
        let planes = input.shape.dropLast(2).reduce(1, *)
        let inputHeight = rows.inputSize, inputWidth = columns.inputSize
        let outputHeight = rows.outputSize, outputWidth = columns.outputSize
        let source = input.pointer(Float.self), target = output.pointer(Float.self)
        let stretched = context.scratch(floats: planes * inputHeight * outputWidth)
        columns.indices.withUnsafeBufferPointer { columnIndices in
            columns.weights.withUnsafeBufferPointer { columnWeights in
                rows.indices.withUnsafeBufferPointer { rowIndices in
                    rows.weights.withUnsafeBufferPointer { rowWeights in
                        context.parallelFor(planes) { plane in
                            let from = source + plane * inputHeight * inputWidth
                            let wide = stretched + plane * inputHeight * outputWidth
                            for row in 0..<inputHeight {
                                let inputRow = from + row * inputWidth, wideRow = wide + row * outputWidth
                                for column in 0..<outputWidth {
                                    wideRow[column] = columnWeights[2 * column] * inputRow[columnIndices[2 * column]]
                                        + columnWeights[2 * column + 1] * inputRow[columnIndices[2 * column + 1]]
                                }
                            }
                            let to = target + plane * outputHeight * outputWidth
                            for row in 0..<outputHeight {
                                let top = wide + rowIndices[2 * row] * outputWidth
                                let bottom = wide + rowIndices[2 * row + 1] * outputWidth
                                let topWeight = rowWeights[2 * row], bottomWeight = rowWeights[2 * row + 1]
                                let outputRow = to + row * outputWidth
                                for column in 0..<outputWidth {
                                    outputRow[column] = topWeight * top[column] + bottomWeight * bottom[column]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes floats into a tensor of another numeric type (integers truncate toward zero and saturate).
    static func store(_ values: [Float], into output: Tensor) {
        func integers<T: FixedWidthInteger & TensorElement>(_: T.Type) {
            output.withUnsafeMutableBuffer(of: T.self) { buffer in
                for (index, value) in values.enumerated() {
                    if value.isNaN { buffer[index] = 0 }
                    else if value <= Float(T.min) { buffer[index] = T.min }
                    else if value >= Float(T.max) { buffer[index] = T.max }
                    else { buffer[index] = T(value.rounded(.towardZero)) }
                }
            }
        }
        switch output.dataType {
        case .float32: output.withUnsafeMutableBuffer(of: Float.self) { _ = $0.update(from: values) }
        case .float64: output.withUnsafeMutableBuffer(of: Double.self) { for i in values.indices { $0[i] = Double(values[i]) } }
        case .float16: output.withUnsafeMutableBuffer(of: Float16.self) { for i in values.indices { $0[i] = Float16(values[i]) } }
        case .bool: output.withUnsafeMutableBuffer(of: Bool.self) { for i in values.indices { $0[i] = values[i] != 0 } }
        case .uint8: integers(UInt8.self)
        case .int8: integers(Int8.self)
        case .uint16: integers(UInt16.self)
        case .int16: integers(Int16.self)
        case .int32: integers(Int32.self)
        case .int64: integers(Int64.self)
        case .uint32: integers(UInt32.self)
        case .uint64: integers(UInt64.self)
        }
    }
}
