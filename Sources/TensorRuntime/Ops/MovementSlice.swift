/// Slice: starts/ends/axes attributes before opset 10; starts, ends, axes, steps inputs from 10.
/// Out-of-range starts and ends are clamped as the specification says; steps may be negative.
struct SliceKernel: Kernel {
    /// Before opset 10 the slice is fixed by attributes.
    let attributeSlice: (starts: [Int], ends: [Int], axes: [Int]?)?

    init(_ node: Node) throws {
        if node.opset < 10 {
            guard let starts = try node.attributes.ints("starts"), let ends = try node.attributes.ints("ends") else {
                throw KernelError.invalid("attributes 'starts' and 'ends' are required")
            }
            attributeSlice = (starts, ends, try node.attributes.ints("axes"))
        } else {
            guard node.inputs.count >= 3 else { throw KernelError.invalid("inputs 'starts' and 'ends' are required") }
            attributeSlice = nil
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "data")
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if let attributeSlice {
            (starts, ends, axes, steps) = (attributeSlice.starts, attributeSlice.ends, attributeSlice.axes, nil)
        } else {
            starts = try MovementSupport.integers(try MovementSupport.required(inputs, 1, "starts"), "starts")
            ends = try MovementSupport.integers(try MovementSupport.required(inputs, 2, "ends"), "ends")
            axes = try MovementSupport.optional(inputs, 3).map { try MovementSupport.integers($0, "axes") }
            steps = try MovementSupport.optional(inputs, 4).map { try MovementSupport.integers($0, "steps") }
        }
        let plan = try SliceKernel.plan(shape: data.shape, starts: starts, ends: ends, axes: axes, steps: steps)
        let output = context.allocate(data.dataType, plan.shape)
        let inputStrides = Tensor.strides(for: data.shape)
        let offset = zip(plan.starts, inputStrides).reduce(0) { $0 + $1.0 * $1.1 }
        let strides = zip(plan.steps, inputStrides).map { $0 * $1 }
        MovementSupport.stridedCopy(from: data.storage.pointer, offset: offset, strides: strides, shape: plan.shape,
                                    byteSize: data.dataType.byteSize, to: output.storage.pointer)
        return [output]
    }

    /// Per input axis: first index, step and output length.
    static func plan(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws
        -> (starts: [Int], steps: [Int], shape: [Int]) {
        let rank = shape.count
        guard starts.count == ends.count else {
            throw KernelError.invalid("starts \(starts) and ends \(ends) differ in length")
        }
        let axes = try MovementSupport.axes(axes ?? Array(0..<starts.count), rank: rank)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard axes.count == starts.count, steps.count == starts.count else {
            throw KernelError.invalid("starts, ends, axes and steps must have the same length (\(starts.count), \(ends.count), \(axes.count), \(steps.count))")
        }
        var outStarts = [Int](repeating: 0, count: rank)
        var outSteps = [Int](repeating: 1, count: rank)
        var outShape = shape
        for (index, axis) in axes.enumerated() {
            let size = shape[axis]
            guard steps[index] != 0 else { throw KernelError.invalid("steps \(steps) contain 0") }
            // A step longer than the axis takes at most one element; bounding it keeps the arithmetic in range.
            let step = min(max(steps[index], -(size + 1)), size + 1)
            var start = starts[index], end = ends[index]
            if start < 0 { start += size }
            if end < 0 { end += size }
            if step > 0 {
                start = min(max(start, 0), size)
                end = min(max(end, 0), size)
            } else {
                start = min(max(start, 0), size - 1)
                end = min(max(end, -1), size - 1)
            }
            let distance = end - start
            let count = step > 0 ? (distance + step - 1) / step : (distance + step + 1) / step
            outStarts[axis] = start
            outSteps[axis] = step
            outShape[axis] = max(count, 0)
        }
        return (outStarts, outSteps, outShape)
    }
}

/// Split: cuts `axis` into parts of the given sizes (attribute before opset 13, input from 13),
/// into `num_outputs` parts with a smaller last one (opset 18), or into equal parts.
struct SplitKernel: Kernel {
    let axis: Int
    let attributeSplit: [Int]?
    let numOutputs: Int?
    let outputCount: Int

    init(_ node: Node) throws {
        axis = try node.attributes.int("axis", default: 0)
        attributeSplit = node.opset < 13 ? try node.attributes.ints("split") : nil
        numOutputs = node.opset >= 18 ? try node.attributes.int("num_outputs") : nil
        outputCount = node.outputs.count
        guard outputCount >= 1 else { throw KernelError.invalid("needs at least one output") }
        if let numOutputs, numOutputs != outputCount {
            throw KernelError.invalid("num_outputs is \(numOutputs) but the node has \(outputCount) outputs")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "input")
        let axis = try MovementSupport.axis(self.axis, rank: data.rank)
        let size = data.shape[axis]
        let splitInput = try MovementSupport.optional(inputs, 1).map { try MovementSupport.integers($0, "split") }
        let parts = try sizes(given: attributeSplit ?? splitInput, axisSize: size)
        let byteSize = data.dataType.byteSize
        let outerCount = data.shape[..<axis].reduce(1, *)
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let inputRowBytes = size * inner * byteSize
        var outputs: [Tensor] = []
        var columnOffset = 0
        for part in parts {
            var shape = data.shape
            shape[axis] = part
            let output = context.allocate(data.dataType, shape)
            let blockBytes = part * inner * byteSize
            if blockBytes > 0 {
                for outer in 0..<outerCount {
                    (output.storage.pointer + outer * blockBytes)
                        .copyMemory(from: data.storage.pointer + outer * inputRowBytes + columnOffset, byteCount: blockBytes)
                }
            }
            columnOffset += blockBytes
            outputs.append(output)
        }
        return outputs
    }

    private func sizes(given: [Int]?, axisSize: Int) throws -> [Int] {
        if let given {
            guard given.count == outputCount, given.allSatisfy({ $0 >= 0 }), given.reduce(0, +) == axisSize else {
                throw KernelError.invalid("split \(given) must be \(outputCount) non-negative sizes summing to \(axisSize)")
            }
            return given
        }
        if numOutputs != nil {
            let chunk = (axisSize + outputCount - 1) / outputCount
            return (0..<outputCount).map { max(min(chunk, axisSize - $0 * chunk), 0) }
        }
        guard axisSize % outputCount == 0 else {
            throw KernelError.invalid("axis of size \(axisSize) cannot be split into \(outputCount) equal parts")
        }
        return [Int](repeating: axisSize / outputCount, count: outputCount)
    }
}

/// Gather: picks entries of `data` along `axis` by int32/int64 indices (negative counts from the end).
struct GatherKernel: Kernel {
    let axis: Int

    init(_ node: Node) throws {
        axis = try node.attributes.int("axis", default: 0)
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "data")
        let indicesTensor = try MovementSupport.required(inputs, 1, "indices")
        guard indicesTensor.dataType == .int64 || indicesTensor.dataType == .int32 else {
            throw KernelError.invalid("indices must be int32 or int64, got \(indicesTensor.dataType)")
        }
        let axis = try MovementSupport.axis(self.axis, rank: data.rank)
        let size = data.shape[axis]
        let indices = try indicesTensor.integers().map { index -> Int in
            let resolved = index < 0 ? index + size : index
            guard resolved >= 0 && resolved < size else {
                throw KernelError.invalid("index \(index) is out of range for axis \(axis) of size \(size)")
            }
            return resolved
        }
        let outputShape = Array(data.shape[..<axis]) + indicesTensor.shape + Array(data.shape[(axis + 1)...])
        let output = context.allocate(data.dataType, outputShape)
        let byteSize = data.dataType.byteSize
        let outerCount = data.shape[..<axis].reduce(1, *)
        let blockBytes = data.shape[(axis + 1)...].reduce(1, *) * byteSize
        guard blockBytes > 0 else { return [output] }
        let source = data.storage.pointer, destination = output.storage.pointer
        var target = 0
        for outer in 0..<outerCount {
            let rowBase = outer * size * blockBytes
            for index in indices {
                (destination + target).copyMemory(from: source + rowBase + index * blockBytes, byteCount: blockBytes)
                target += blockBytes
            }
        }
        return [output]
    }
}
