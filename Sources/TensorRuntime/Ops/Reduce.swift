/// ReduceMean, ReduceSum and ReduceMax over a set of axes.
///
/// Axes come from the `axes` attribute (ReduceSum before opset 13, the others before 18) or
/// from the optional second input (after). Negative axes count from the end; no axes means
/// every axis, unless `noop_with_empty_axes` (input form only) makes the op an identity.
/// `keepdims` (default 1) keeps reduced axes as size 1.
struct ReduceKernel: Kernel {
    let kind: OpKind
    let keepDimensions: Bool
    let axesFromInput: Bool
    let attributeAxes: [Int]?
    let noopWithEmptyAxes: Bool

    init(_ node: Node) throws {
        kind = node.kind
        guard [.reduceMean, .reduceSum, .reduceMax].contains(node.kind) else {
            throw KernelError.invalid("ReduceKernel cannot run \(node.kind.rawValue)")
        }
        axesFromInput = node.opset >= (node.kind == .reduceSum ? 13 : 18)
        keepDimensions = try node.attributes.int("keepdims", default: 1) != 0
        if axesFromInput {
            guard !node.attributes.has("axes") else {
                throw KernelError.invalid("\(node.kind.rawValue) takes axes as an input from opset \(node.kind == .reduceSum ? 13 : 18), not as an attribute")
            }
            guard (1...2).contains(node.inputs.count) else {
                throw KernelError.invalid("\(node.kind.rawValue) takes 1 or 2 inputs (data, axes), the node has \(node.inputs.count)")
            }
            attributeAxes = nil
            noopWithEmptyAxes = try node.attributes.int("noop_with_empty_axes", default: 0) != 0
        } else {
            guard node.inputs.count == 1 else {
                throw KernelError.invalid("\(node.kind.rawValue) (opset \(node.opset)) takes 1 input, the node has \(node.inputs.count)")
            }
            attributeAxes = try node.attributes.ints("axes")
            noopWithEmptyAxes = false
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let input = inputs.first ?? nil else { throw KernelError.invalid("\(kind.rawValue) input 0 is missing") }
        var axes = attributeAxes ?? []
        if axesFromInput, inputs.count > 1, let axesTensor = inputs[1] {
            axes = try axesTensor.integers()
        }
        if axes.isEmpty {
            if noopWithEmptyAxes {
                let output = context.allocate(input.dataType, input.shape)
                output.storage.pointer.copyMemory(from: input.storage.pointer, byteCount: input.byteCount)
                return [output]
            }
            axes = Array(0..<input.rank)
        }
        let reduced = try normalizedAxes(axes, shape: input.shape)
        var keptShape = input.shape
        for axis in reduced { keptShape[axis] = 1 }
        let outputShape = keepDimensions ? keptShape : input.shape.indices.filter { !reduced.contains($0) }.map { input.shape[$0] }
        let output = context.allocate(input.dataType, outputShape)

        // Walk the input row by row; the output is read with stride 0 along reduced axes.
        var outputStrides = Tensor.strides(for: keptShape)
        for axis in reduced { outputStrides[axis] = 0 }
        let walk = BroadcastWalk(shape: input.shape, stridesA: Tensor.strides(for: input.shape), stridesB: outputStrides)
        let plan = ReductionPlan(kind: kind, walk: walk, reducedCount: reduced.reduce(1) { $0 * input.shape[$1] })

        if input.dataType == .float16 {
            let floats = Tensor(dataType: .float32, shape: input.shape)
            castElements(from: input, into: floats, context: context)
            let result = Tensor(dataType: .float32, shape: outputShape)
            plan.reduce(floats.pointer(Float.self), into: result.pointer(Float.self), outputCount: output.count)
            castElements(from: result, into: output, context: context)
        } else {
            try input.dataType.visitNumeric(what: kind.rawValue, ReduceVisitor(plan: plan, input: input, output: output))
        }
        return [output]
    }

    private func normalizedAxes(_ axes: [Int], shape: [Int]) throws -> Set<Int> {
        var result = Set<Int>()
        for axis in axes {
            guard (-shape.count..<shape.count).contains(axis) else {
                throw KernelError.invalid("\(kind.rawValue) axis \(axis) is out of range for input shape \(shape)")
            }
            guard result.insert(axis < 0 ? axis + shape.count : axis).inserted else {
                throw KernelError.invalid("\(kind.rawValue) axes \(axes) name an axis twice")
            }
        }
        return result
    }
}

private struct ReductionPlan {
    let kind: OpKind
    let walk: BroadcastWalk
    /// Input elements per output element.
    let reducedCount: Int

    func reduce<T: NumericElement>(_ input: UnsafePointer<T>, into output: UnsafeMutablePointer<T>, outputCount: Int) {
        switch kind {
        case .reduceMax:
            output.initialize(repeating: T.lowest, count: outputCount)
            accumulate(input, output) { T.maximum($0, $1) }
        default:
            output.initialize(repeating: T.zero, count: outputCount)
            accumulate(input, output) { T.adding($0, $1) }
        }
        if kind == .reduceMean {
            if reducedCount == 0 && !T.isFloatingPoint { return } // sums are 0; there is nothing to average
            let divisor = T(castingInt64: Int64(reducedCount))
            for i in 0..<outputCount { output[i] = T.dividing(output[i], divisor) }
        }
    }

    @inline(__always)
    private func accumulate<T>(_ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ combine: (T, T) -> T) {
        let (length, strideIn, strideOut) = (walk.rowLength, walk.strideA, walk.strideB)
        walk.forEachRow(0..<walk.rowCount) { _, offsetIn, offsetOut in
            let x = input + offsetIn, y = output + offsetOut
            if strideOut == 0 {
                // The innermost axis is reduced: the whole row folds into one output element.
                var value = y[0]
                for i in 0..<length { value = combine(value, x[i * strideIn]) }
                y[0] = value
            } else {
                for i in 0..<length { y[i] = combine(y[i], x[i * strideIn]) }
            }
        }
    }
}

private struct ReduceVisitor: NumericElementVisitor {
    let plan: ReductionPlan
    let input: Tensor
    let output: Tensor

    func visit<T: NumericElement>(_ type: T.Type) {
        plan.reduce(UnsafePointer(input.pointer(T.self)), into: output.pointer(T.self), outputCount: output.count)
    }
}
