import Foundation

/// A gate activation of the recurrent operators, named as in the ONNX RNN family.
enum RecurrentActivation: Equatable {
    case shared(Activation)
    case affine(alpha: Float, beta: Float)
    case thresholdedRelu(alpha: Float)
    case scaledTanh(alpha: Float, beta: Float)
    case softsign
    case softplus

    /// Parses `name`, taking alpha/beta from the front of the given lists when the function has them.
    static func parse(_ name: String, alphas: inout ArraySlice<Float>, betas: inout ArraySlice<Float>) throws -> RecurrentActivation {
        func alpha(_ fallback: Float) -> Float { alphas.popFirst() ?? fallback }
        func beta(_ fallback: Float) -> Float { betas.popFirst() ?? fallback }
        switch name.lowercased() {
        case "sigmoid": return .shared(.sigmoid)
        case "tanh": return .shared(.tanh)
        case "relu": return .shared(.relu)
        case "leakyrelu": return .shared(.leakyRelu(alpha: alpha(0.01)))
        case "hardsigmoid":
            let a = alpha(0.2)
            return .shared(.hardSigmoid(alpha: a, beta: beta(0.5)))
        case "elu": return .shared(.elu(alpha: alpha(1)))
        case "affine":
            let a = alpha(1)
            return .affine(alpha: a, beta: beta(0))
        case "thresholdedrelu": return .thresholdedRelu(alpha: alpha(1))
        case "scaledtanh":
            let a = alpha(1)
            return .scaledTanh(alpha: a, beta: beta(1))
        case "softsign": return .softsign
        case "softplus": return .softplus
        default: throw KernelError.unsupported("activation '\(name)'")
        }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case let .shared(activation): activation.apply(values, count: count)
        case let .affine(alpha, beta): for i in 0..<count { values[i] = alpha * values[i] + beta }
        case let .thresholdedRelu(alpha): for i in 0..<count { values[i] = values[i] > alpha ? values[i] : 0 }
        case let .scaledTanh(alpha, beta): for i in 0..<count { values[i] = alpha * tanhf(beta * values[i]) }
        case .softsign: for i in 0..<count { values[i] = values[i] / (1 + abs(values[i])) }
        case .softplus: for i in 0..<count { let x = values[i]; values[i] = x > 20 ? x : log1pf(expf(x)) }
        }
    }
}

/// LSTM (opsets 7-18): forward, reverse or bidirectional; optional bias, sequence lengths,
/// initial states and peepholes; clip, input_forget and layout (opset 14). Gate order is
/// i, o, f, c as in ONNX. The input and recurrent products go through `BLAS.sgemm`.
struct LSTMKernel: Kernel {
    enum Direction: String { case forward, reverse, bidirectional }

    /// f (gates), g (cell input), h (cell output) for one direction.
    struct GateFunctions { let f, g, h: RecurrentActivation }

    let direction: Direction
    let hiddenSize: Int?
    let clip: Float?
    let inputForget: Bool
    let batchFirst: Bool
    let functions: [GateFunctions]

    var directions: Int { direction == .bidirectional ? 2 : 1 }

    init(_ node: Node) throws {
        let attributes = node.attributes
        let directionName = try attributes.string("direction", default: "forward")
        guard let direction = Direction(rawValue: directionName) else {
            throw KernelError.invalid("direction '\(directionName)' (expected forward, reverse or bidirectional)")
        }
        self.direction = direction
        hiddenSize = try attributes.int("hidden_size")
        if let hiddenSize, hiddenSize <= 0 { throw KernelError.invalid("hidden_size \(hiddenSize) must be positive") }
        clip = try attributes.float("clip")
        if let clip, !(clip > 0) { throw KernelError.invalid("clip \(clip) must be positive") }
        inputForget = try attributes.int("input_forget", default: 0) != 0
        let layout = node.opset >= 14 ? try attributes.int("layout", default: 0) : 0
        guard layout == 0 || layout == 1 else { throw KernelError.invalid("layout \(layout) must be 0 or 1") }
        batchFirst = layout == 1

        let directionCount = direction == .bidirectional ? 2 : 1
        let names = try attributes.strings("activations") ?? Array(repeating: ["Sigmoid", "Tanh", "Tanh"], count: directionCount).flatMap { $0 }
        guard names.count == 3 * directionCount else {
            throw KernelError.invalid("activations lists \(names.count) functions, expected \(3 * directionCount)")
        }
        var alphas = ArraySlice(try attributes.floats("activation_alpha") ?? [])
        var betas = ArraySlice(try attributes.floats("activation_beta") ?? [])
        let parsed = try names.map { try RecurrentActivation.parse($0, alphas: &alphas, betas: &betas) }
        functions = (0..<directionCount).map { GateFunctions(f: parsed[3 * $0], g: parsed[3 * $0 + 1], h: parsed[3 * $0 + 2]) }
    }

    /// Validated input shapes of one run.
    struct Dimensions {
        let sequence, batch, input, hidden, directions: Int
        let batchFirst: Bool

        /// Row of X (and of the input projection) holding time `t` of batch entry `b`.
        func inputRow(time t: Int, batch b: Int) -> Int { batchFirst ? b * sequence + t : t * batch + b }
        /// Offset of Y[t, d, b, :] in elements.
        func outputOffset(time t: Int, direction d: Int, batch b: Int) -> Int {
            (batchFirst ? (b * sequence + t) * directions + d : (t * directions + d) * batch + b) * hidden
        }
        /// Offset of Y_h[d, b, :] (also initial_h, initial_c, Y_c) in elements.
        func stateOffset(direction d: Int, batch b: Int) -> Int {
            (batchFirst ? b * directions + d : d * batch + b) * hidden
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let x = try MovementSupport.required(inputs, 0, "X")
        let w = try MovementSupport.required(inputs, 1, "W")
        let r = try MovementSupport.required(inputs, 2, "R")
        for (name, tensor) in [("X", x), ("W", w), ("R", r)] where tensor.dataType != .float32 {
            throw KernelError.unsupported("\(name) is \(tensor.dataType); only float32 is implemented")
        }
        guard x.rank == 3 else { throw KernelError.invalid("X must have rank 3, got \(x.shape)") }
        let hidden = hiddenSize ?? (r.rank == 3 ? r.shape[2] : 0)
        let dims = Dimensions(sequence: batchFirst ? x.shape[1] : x.shape[0], batch: batchFirst ? x.shape[0] : x.shape[1],
                              input: x.shape[2], hidden: hidden, directions: directions, batchFirst: batchFirst)
        try expect(w, "W", [directions, 4 * hidden, dims.input])
        try expect(r, "R", [directions, 4 * hidden, hidden])
        let bias = try floatInput(inputs, 3, "B", [directions, 8 * hidden])
        let lengths = try sequenceLengths(inputs, dims)
        let stateShape = batchFirst ? [dims.batch, directions, hidden] : [directions, dims.batch, hidden]
        let initialH = try floatInput(inputs, 5, "initial_h", stateShape)
        let initialC = try floatInput(inputs, 6, "initial_c", stateShape)
        let peepholes = try floatInput(inputs, 7, "P", [directions, 3 * hidden])

        let outputShape = batchFirst ? [dims.batch, dims.sequence, directions, hidden] : [dims.sequence, directions, dims.batch, hidden]
        let y = context.allocateZeroed(.float32, outputShape)
        let yH = context.allocate(.float32, stateShape)
        let yC = context.allocate(.float32, stateShape)

        let gateWidth = 4 * hidden
        let projectionCount = dims.sequence * dims.batch * gateWidth
        let scratch = context.scratch(floats: projectionCount + dims.batch * gateWidth + 2 * dims.batch * hidden + hidden)
        let buffers = Buffers(projection: scratch, gates: scratch + projectionCount,
                              hidden: scratch + projectionCount + dims.batch * gateWidth,
                              cell: scratch + projectionCount + dims.batch * gateWidth + dims.batch * hidden,
                              temporary: scratch + projectionCount + dims.batch * gateWidth + 2 * dims.batch * hidden)
        for d in 0..<directions {
            let reverse = direction == .reverse || d == 1
            runDirection(d, reverse: reverse, dims: dims, x: x, w: w, r: r, bias: bias, peepholes: peepholes,
                         initialH: initialH, initialC: initialC, lengths: lengths, buffers: buffers, y: y)
            for b in 0..<dims.batch {
                let offset = dims.stateOffset(direction: d, batch: b)
                (yH.pointer(Float.self) + offset).update(from: buffers.hidden + b * hidden, count: hidden)
                (yC.pointer(Float.self) + offset).update(from: buffers.cell + b * hidden, count: hidden)
            }
        }
        return [y, yH, yC]
    }

    struct Buffers {
        let projection, gates, hidden, cell, temporary: UnsafeMutablePointer<Float>
    }

    private func runDirection(_ d: Int, reverse: Bool, dims: Dimensions, x: Tensor, w: Tensor, r: Tensor, bias: Tensor?,
                              peepholes: Tensor?, initialH: Tensor?, initialC: Tensor?, lengths: [Int],
                              buffers: Buffers, y: Tensor) {
        let hidden = dims.hidden, gateWidth = 4 * hidden, batch = dims.batch
        // Input projection for every time step at once: [seq·batch, 4H] = X · Wᵀ (+ Wb + Rb).
        BLAS.sgemm(transposeB: true, m: dims.sequence * batch, n: gateWidth, k: dims.input,
                   a: x.pointer(Float.self), lda: dims.input,
                   b: w.pointer(Float.self) + d * gateWidth * dims.input, ldb: dims.input,
                   c: buffers.projection, ldc: gateWidth)
        if let bias {
            let wb = bias.pointer(Float.self) + d * 2 * gateWidth, rb = wb + gateWidth
            for row in 0..<(dims.sequence * batch) {
                let target = buffers.projection + row * gateWidth
                for j in 0..<gateWidth { target[j] += wb[j] + rb[j] }
            }
        }
        for b in 0..<batch {
            let offset = dims.stateOffset(direction: d, batch: b)
            if let initialH { (buffers.hidden + b * hidden).update(from: initialH.pointer(Float.self) + offset, count: hidden) }
            else { (buffers.hidden + b * hidden).update(repeating: 0, count: hidden) }
            if let initialC { (buffers.cell + b * hidden).update(from: initialC.pointer(Float.self) + offset, count: hidden) }
            else { (buffers.cell + b * hidden).update(repeating: 0, count: hidden) }
        }
        let recurrent = r.pointer(Float.self) + d * gateWidth * hidden
        let peephole = peepholes.map { $0.pointer(Float.self) + d * 3 * hidden }
        for step in 0..<dims.sequence {
            for b in 0..<batch {
                let gates = buffers.gates + b * gateWidth
                if step < lengths[b] {
                    let t = reverse ? lengths[b] - 1 - step : step
                    gates.update(from: buffers.projection + dims.inputRow(time: t, batch: b) * gateWidth, count: gateWidth)
                } else {
                    gates.update(repeating: 0, count: gateWidth)
                }
            }
            // gates += H_{t-1} · Rᵀ
            BLAS.sgemm(transposeB: true, m: batch, n: gateWidth, k: hidden, a: buffers.hidden, lda: hidden,
                       b: recurrent, ldb: hidden, beta: 1, c: buffers.gates, ldc: gateWidth)
            for b in 0..<batch where step < lengths[b] {
                let t = reverse ? lengths[b] - 1 - step : step
                updateCell(gates: buffers.gates + b * gateWidth, hidden: buffers.hidden + b * hidden,
                           cell: buffers.cell + b * hidden, temporary: buffers.temporary,
                           peephole: peephole, functions: functions[d], size: hidden)
                (y.pointer(Float.self) + dims.outputOffset(time: t, direction: d, batch: b))
                    .update(from: buffers.hidden + b * hidden, count: hidden)
            }
        }
    }

    /// One time step of one batch entry: gate pre-activations in `gates` (i, o, f, c), state updated in place.
    private func updateCell(gates: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>,
                            cell: UnsafeMutablePointer<Float>, temporary: UnsafeMutablePointer<Float>,
                            peephole: UnsafeMutablePointer<Float>?, functions: GateFunctions, size: Int) {
        let inputGate = gates, outputGate = gates + size, forgetGate = gates + 2 * size, cellGate = gates + 3 * size
        if let peephole {
            for j in 0..<size { inputGate[j] += peephole[j] * cell[j] }
        }
        clipValues(inputGate, size)
        functions.f.apply(inputGate, count: size)
        if inputForget {
            for j in 0..<size { forgetGate[j] = 1 - inputGate[j] }
        } else {
            if let peephole {
                for j in 0..<size { forgetGate[j] += peephole[2 * size + j] * cell[j] }
            }
            clipValues(forgetGate, size)
            functions.f.apply(forgetGate, count: size)
        }
        clipValues(cellGate, size)
        functions.g.apply(cellGate, count: size)
        for j in 0..<size { cell[j] = forgetGate[j] * cell[j] + inputGate[j] * cellGate[j] }
        if let peephole {
            for j in 0..<size { outputGate[j] += peephole[size + j] * cell[j] }
        }
        clipValues(outputGate, size)
        functions.f.apply(outputGate, count: size)
        temporary.update(from: cell, count: size)
        functions.h.apply(temporary, count: size)
        for j in 0..<size { hidden[j] = outputGate[j] * temporary[j] }
    }

    private func clipValues(_ values: UnsafeMutablePointer<Float>, _ count: Int) {
        guard let clip else { return }
        for j in 0..<count { values[j] = min(max(values[j], -clip), clip) }
    }

    private func expect(_ tensor: Tensor, _ name: String, _ shape: [Int]) throws {
        guard tensor.shape == shape else { throw KernelError.invalid("\(name) must have shape \(shape), got \(tensor.shape)") }
    }

    private func floatInput(_ inputs: [Tensor?], _ index: Int, _ name: String, _ shape: [Int]) throws -> Tensor? {
        guard let tensor = MovementSupport.optional(inputs, index) else { return nil }
        guard tensor.dataType == .float32 else { throw KernelError.unsupported("\(name) is \(tensor.dataType); only float32 is implemented") }
        try expect(tensor, name, shape)
        return tensor
    }

    private func sequenceLengths(_ inputs: [Tensor?], _ dims: Dimensions) throws -> [Int] {
        guard let tensor = MovementSupport.optional(inputs, 4) else {
            return [Int](repeating: dims.sequence, count: dims.batch)
        }
        let lengths = try MovementSupport.integers(tensor, "sequence_lens")
        guard lengths.count == dims.batch, lengths.allSatisfy({ $0 >= 0 && $0 <= dims.sequence }) else {
            throw KernelError.invalid("sequence_lens \(lengths) must hold \(dims.batch) lengths in 0...\(dims.sequence)")
        }
        return lengths
    }
}
