/// Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Elu and Clip.
///
/// float32 runs `Activation.apply` (the one home of each formula); float16 runs it on a
/// float32 copy. Relu and Clip, which only compare, also run on float64 and integer types.
struct ActivationKernel: Kernel {
    let kind: OpKind
    /// The activation with its attributes; nil for Clip from opset 11, whose bounds are inputs.
    let activation: Activation?

    init(_ node: Node) throws {
        kind = node.kind
        let attributes = node.attributes
        switch node.kind {
        case .relu: activation = .relu
        case .leakyRelu: activation = .leakyRelu(alpha: try attributes.float("alpha", default: 0.01))
        case .sigmoid: activation = .sigmoid
        case .tanh: activation = .tanh
        case .hardSigmoid:
            activation = .hardSigmoid(alpha: try attributes.float("alpha", default: 0.2),
                                      beta: try attributes.float("beta", default: 0.5))
        case .hardSwish: activation = .hardSwish
        case .elu: activation = .elu(alpha: try attributes.float("alpha", default: 1))
        case .clip:
            if node.opset < 11 {
                activation = .clip(min: try attributes.float("min", default: -.greatestFiniteMagnitude),
                                   max: try attributes.float("max", default: .greatestFiniteMagnitude))
            } else {
                guard (1...3).contains(node.inputs.count) else {
                    throw KernelError.invalid("Clip takes 1 to 3 inputs (input, min, max), the node has \(node.inputs.count)")
                }
                activation = nil
            }
        default:
            throw KernelError.invalid("ActivationKernel cannot run \(node.kind.rawValue)")
        }
        if node.kind != .clip || node.opset < 11 {
            guard node.inputs.count == 1 else {
                throw KernelError.invalid("\(node.kind.rawValue) takes 1 input, the node has \(node.inputs.count)")
            }
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let input = inputs.first ?? nil else { throw KernelError.invalid("\(kind.rawValue) input 0 is missing") }
        let output = context.allocate(input.dataType, input.shape)
        let bounds = inputs.dropFirst().map { $0 }
        switch input.dataType {
        case .float32:
            output.pointer(Float.self).update(from: input.pointer(Float.self), count: input.count)
            try applyFloat(output.pointer(Float.self), count: input.count, bounds: bounds, context: context)
        case .float16 where kind != .clip && kind != .relu:
            let floats = Tensor(dataType: .float32, shape: input.shape)
            castElements(from: input, into: floats, context: context)
            try applyFloat(floats.pointer(Float.self), count: input.count, bounds: bounds, context: context)
            castElements(from: floats, into: output, context: context)
        default:
            try input.dataType.visitNumeric(what: kind.rawValue,
                                            ComparingActivationVisitor(kind: kind, activation: activation, input: input,
                                                                       bounds: bounds, output: output, context: context))
        }
        return [output]
    }

    private func applyFloat(_ values: UnsafeMutablePointer<Float>, count: Int, bounds: [Tensor?], context: KernelContext) throws {
        // Not `try a ?? b()`: throwing through that autoclosure crashed the Swift 6.3 debug build.
        let activation: Activation
        if let fixed = self.activation { activation = fixed } else { activation = try clipActivation(bounds) }
        forEachBlock(count, context: context) { range in
            activation.apply(values + range.lowerBound, count: range.count)
        }
    }
}

/// Clip from opset 11 on float32: bounds read from the optional inputs, absent ones unbounded.
private func clipActivation(_ bounds: [Tensor?]) throws -> Activation {
    let low = try clipBound(bounds, 0, Float.self)
    let high = try clipBound(bounds, 1, Float.self)
    return .clip(min: low ?? -.infinity, max: high ?? .infinity)
}

/// Clip's optional min (index 0) or max (index 1) input: a one-element tensor of the input's type.
private func clipBound<T: NumericElement>(_ bounds: [Tensor?], _ index: Int, _ type: T.Type) throws -> T? {
    guard index < bounds.count, let bound = bounds[index] else { return nil }
    let name = index == 0 ? "min" : "max"
    guard bound.dataType == T.dataType else {
        throw KernelError.invalid("Clip \(name) must have the input's type \(T.dataType), got \(bound.dataType)")
    }
    guard bound.count == 1 else { throw KernelError.invalid("Clip \(name) must be a scalar, got shape \(bound.shape)") }
    return bound.pointer(T.self)[0]
}

/// Relu and Clip on any numeric type: `min(max(x, low), high)`, NaN staying NaN. When low > high
/// every value becomes high, as ONNX defines.
private struct ComparingActivationVisitor: NumericElementVisitor {
    let kind: OpKind
    let activation: Activation?
    let input: Tensor
    let bounds: [Tensor?]
    let output: Tensor
    let context: KernelContext

    func visit<T: NumericElement>(_ type: T.Type) throws {
        let low: T, high: T
        switch (kind, activation) {
        case (.relu, _):
            (low, high) = (T.zero, T.highest)
        case let (.clip, .clip(min, max)?):
            guard T.isFloatingPoint else {
                throw KernelError.unsupported("Clip of \(T.dataType) before opset 11 is not supported (float types only)")
            }
            (low, high) = (T(castingDouble: Double(min)), T(castingDouble: Double(max)))
        case (.clip, nil):
            let (lowBound, highBound) = (try clipBound(bounds, 0, T.self), try clipBound(bounds, 1, T.self))
            (low, high) = (lowBound ?? T.lowest, highBound ?? T.highest)
        default:
            throw KernelError.unsupported("\(kind.rawValue) of \(T.dataType) tensors is not supported")
        }
        map(UnsafePointer(input.pointer(T.self)), output.pointer(T.self), input.count, context) {
            T.minimum(T.maximum($0, low), high)
        }
    }
}

/// PRelu: `x < 0 ? slope * x : x`, the slope broadcast unidirectionally to X (opset 7+),
/// e.g. slope [C,1,1] against [N,C,H,W], or [5] against [3,4,5] along the last axis.
struct PReluKernel: Kernel {
    init(_ node: Node) throws {
        guard node.inputs.count == 2 else { throw KernelError.invalid("PRelu takes 2 inputs (X, slope), the node has \(node.inputs.count)") }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count == 2, let x = inputs[0], let slope = inputs[1] else {
            throw KernelError.invalid("PRelu needs inputs X and slope")
        }
        guard x.dataType == slope.dataType else {
            throw KernelError.invalid("PRelu slope must have X's type \(x.dataType), got \(slope.dataType)")
        }
        guard Broadcast.isUnidirectional(slope.shape, to: x.shape) else {
            throw KernelError.invalid("PRelu slope shape \(slope.shape) does not broadcast to X shape \(x.shape)")
        }
        let output = context.allocate(x.dataType, x.shape)
        let walk = BroadcastWalk(shape: x.shape, stridesA: Tensor.strides(for: x.shape),
                                 stridesB: Broadcast.strides(of: slope.shape, broadcastTo: x.shape))
        try x.dataType.visitNumeric(what: "PRelu", PReluVisitor(x: x, slope: slope, output: output, walk: walk, context: context))
        return [output]
    }
}

private struct PReluVisitor: NumericElementVisitor {
    let x: Tensor
    let slope: Tensor
    let output: Tensor
    let walk: BroadcastWalk
    let context: KernelContext

    func visit<T: NumericElement>(_ type: T.Type) {
        let a = UnsafePointer(x.pointer(T.self)), b = UnsafePointer(slope.pointer(T.self)), z = output.pointer(T.self)
        let walk = self.walk
        walk.forEachSegment(context: context) { out, offsetA, offsetB, length in
            binaryRow(z + out, a + offsetA, walk.strideA, b + offsetB, walk.strideB, length) { value, slope in
                value < T.zero ? T.multiplying(value, slope) : value
            }
        }
    }
}

/// Softmax. Before opset 13 the input is viewed as 2-D at `axis` (default 1) and each row is
/// normalised; from 13 it is normalised along the single axis `axis` (default -1). The row
/// maximum is subtracted before exponentiating, so large inputs do not overflow.
struct SoftmaxKernel: Kernel {
    let axis: Int
    let flattensTrailingAxes: Bool

    init(_ node: Node) throws {
        flattensTrailingAxes = node.opset < 13
        axis = try node.attributes.int("axis", default: flattensTrailingAxes ? 1 : -1)
        guard node.inputs.count == 1 else { throw KernelError.invalid("Softmax takes 1 input, the node has \(node.inputs.count)") }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard let input = inputs.first ?? nil else { throw KernelError.invalid("Softmax input 0 is missing") }
        let rank = input.rank
        let validAxes = flattensTrailingAxes ? -rank...rank : -rank...(rank - 1)
        guard validAxes.contains(axis) else {
            throw KernelError.invalid("Softmax axis \(axis) is out of range for input shape \(input.shape)")
        }
        let normalized = axis < 0 ? axis + rank : axis
        let outer = input.shape[..<normalized].reduce(1, *)
        let (length, inner) = flattensTrailingAxes
            ? (input.shape[normalized...].reduce(1, *), 1)
            : (input.shape[normalized], input.shape[(normalized + 1)...].reduce(1, *))
        let layout = SoftmaxLayout(outer: outer, length: length, inner: inner)
        let output = context.allocate(input.dataType, input.shape)
        switch input.dataType {
        case .float32: softmax(input.pointer(Float.self), output.pointer(Float.self), layout, context)
        case .float64: softmax(input.pointer(Double.self), output.pointer(Double.self), layout, context)
        case .float16:
            let floats = Tensor(dataType: .float32, shape: input.shape)
            castElements(from: input, into: floats, context: context)
            softmax(floats.pointer(Float.self), floats.pointer(Float.self), layout, context)
            castElements(from: floats, into: output, context: context)
        default:
            throw KernelError.unsupported("Softmax of \(input.dataType) tensors is not supported (float types only)")
        }
        return [output]
    }
}

/// The input as [outer, length, inner]: softmax runs along `length` for each (outer, inner).
struct SoftmaxLayout {
    let outer: Int
    let length: Int
    let inner: Int
}

/// Softmax over `layout`; `output` may be `input`.
func softmax<T: FloatElement>(_ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<T>,
                              _ layout: SoftmaxLayout, _ context: KernelContext) {
    let (length, inner) = (layout.length, layout.inner)
    let block = length * inner
    guard block > 0 else { return }
    forEachBlock(layout.outer, context: context, minimumElementsPerTask: Swift.max(1, (1 << 15) / block)) { range in
        if inner == 1 {
            for index in range {
                let x = input + index * length, y = output + index * length
                var largest = x[0]
                for i in 1..<length { largest = T.maximum(largest, x[i]) }
                var total: T = 0
                for i in 0..<length {
                    let e = T.exponential(x[i] - largest)
                    y[i] = e
                    total += e
                }
                for i in 0..<length { y[i] /= total }
            }
            return
        }
        // Several independent rows interleaved with stride `inner`: sweep them together along contiguous memory.
        var largest = [T](repeating: 0, count: inner)
        var total = [T](repeating: 0, count: inner)
        for index in range {
            let x = input + index * block, y = output + index * block
            for k in 0..<inner { largest[k] = x[k]; total[k] = 0 }
            for i in 1..<length {
                let row = x + i * inner
                for k in 0..<inner { largest[k] = T.maximum(largest[k], row[k]) }
            }
            for i in 0..<length {
                let row = x + i * inner, out = y + i * inner
                for k in 0..<inner {
                    let e = T.exponential(row[k] - largest[k])
                    out[k] = e
                    total[k] += e
                }
            }
            for i in 0..<length {
                let out = y + i * inner
                for k in 0..<inner { out[k] /= total[k] }
            }
        }
    }
}
