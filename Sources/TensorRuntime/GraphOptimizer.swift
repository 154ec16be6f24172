/// Load-time rewrites that keep results equal within float rounding:
/// 1. a BatchNormalization after a Conv is folded into the Conv's weights and bias;
/// 2. a Mul, Add or Sub by a per-channel (or scalar) constant after a Conv is folded into its weights and
///    bias (dlib-style "affine" layers: Conv → Mul(scale) → Add(offset));
/// 3. `x · clip(x + 3, 0, 6) / 6` (Add → Clip → Mul → Div or Mul by 1/6) becomes one HardSwish node;
/// 4. a pointwise activation after a Conv, ConvTranspose or Gemm becomes that node's `fusedActivation`.
/// A node is only absorbed when the value between the two nodes has that single reader and is not a
/// graph output, and folded parameters are initializers (new tensors are made; shared ones are untouched).
/// The graph must be topologically sorted; the result is too.
public enum GraphOptimizer {
    public static func optimize(_ graph: Graph) -> Graph {
        var rewriter = GraphRewriter(graph)
        rewriter.foldBatchNormalizations()
        rewriter.foldChannelAffines()
        rewriter.recognizeHardSwish()
        rewriter.fuseActivations()
        return rewriter.result()
    }
}

private struct GraphRewriter {
    var graph: Graph
    /// Node index of each value's producer.
    var producer: [String: Int] = [:]
    /// How many node inputs read each value.
    var readers: [String: Int] = [:]
    let graphOutputs: Set<String>
    let graphInputs: Set<String>
    var removed = Set<Int>()
    /// Initializers that a rewrite stopped reading: dropped at the end if nothing else reads them.
    var released = Set<String>()

    init(_ graph: Graph) {
        self.graph = graph
        graphOutputs = Set(graph.outputs.map(\.name))
        graphInputs = Set(graph.inputs.map(\.name))
        for (index, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { producer[output] = index }
            for input in node.inputs where !input.isEmpty { readers[input, default: 0] += 1 }
        }
    }

    /// The node producing `value` if `value` has exactly one reader and is not a graph output.
    func soleProducer(of value: String) -> Int? {
        guard readers[value] == 1, !graphOutputs.contains(value), let index = producer[value],
              !removed.contains(index) else { return nil }
        return index
    }

    /// A value fixed at load time: an initializer no input overrides, or a Constant node's tensor.
    func constant(_ name: String) -> Tensor? {
        guard !name.isEmpty, !graphInputs.contains(name) else { return nil }
        if let tensor = graph.initializers[name] { return tensor }
        guard let index = producer[name], graph.nodes[index].kind == .constant else { return nil }
        let attributes = graph.nodes[index].attributes
        if let tensor = try? attributes.tensor("value") { return tensor }
        if let value = try? attributes.float("value_float") { return Tensor.scalar(value) }
        return nil
    }

    /// A float32 constant with exactly `count` values.
    func floats(_ name: String, count: Int) -> [Float]? {
        guard let tensor = constant(name), tensor.dataType == .float32, tensor.count == count else { return nil }
        return tensor.floats
    }

    /// A name no value or initializer uses yet.
    func freshName(_ base: String) -> String {
        var name = base, suffix = 1
        while graph.initializers[name] != nil || producer[name] != nil || readers[name] != nil
                || graphInputs.contains(name) || graphOutputs.contains(name) {
            suffix += 1
            name = "\(base)_\(suffix)"
        }
        return name
    }

    mutating func foldBatchNormalizations() {
        for index in graph.nodes.indices where graph.nodes[index].kind == .batchNormalization {
            let norm = graph.nodes[index]
            guard norm.inputs.count == 5, let output = norm.outputs.first, !output.isEmpty,
                  norm.outputs.dropFirst().allSatisfy(\.isEmpty),
                  (try? norm.attributes.int("training_mode", default: 0)) == 0,
                  norm.opset >= 9 || (try? norm.attributes.int("spatial", default: 1)) == 1,
                  let epsilon = try? norm.attributes.float("epsilon", default: 1e-5),
                  let convIndex = soleProducer(of: norm.inputs[0]) else { continue }
            let conv = graph.nodes[convIndex]
            guard conv.kind == .conv, conv.fusedActivation == nil, conv.outputs.count == 1,
                  conv.inputs.count >= 2, let weights = constant(conv.inputs[1]), weights.dataType == .float32,
                  weights.rank >= 3, weights.count > 0 else { continue }
            let outChannels = weights.shape[0]
            let hasBias = conv.inputs.count > 2 && !conv.inputs[2].isEmpty
            guard let convBias = hasBias ? floats(conv.inputs[2], count: outChannels)
                                         : [Float](repeating: 0, count: outChannels),
                  let scale = floats(norm.inputs[1], count: outChannels),
                  let shift = floats(norm.inputs[2], count: outChannels),
                  let mean = floats(norm.inputs[3], count: outChannels),
                  let variance = floats(norm.inputs[4], count: outChannels) else { continue }

            let (a, b) = BatchNormalizationKernel.affine(scale: scale, bias: shift, mean: mean,
                                                         variance: variance, epsilon: epsilon)
            var foldedWeights = weights.floats
            let perChannel = weights.count / outChannels
            for channel in 0..<outChannels {
                for i in channel * perChannel..<(channel + 1) * perChannel { foldedWeights[i] *= a[channel] }
            }
            let foldedBias = (0..<outChannels).map { convBias[$0] * a[$0] + b[$0] }

            let stem = conv.name.isEmpty ? output : conv.name
            let weightName = freshName("\(stem)_bn_folded_W")
            graph.initializers[weightName] = Tensor(shape: weights.shape, floats: foldedWeights)
            let biasName = freshName("\(stem)_bn_folded_B")
            graph.initializers[biasName] = Tensor(shape: [outChannels], floats: foldedBias)

            released.formUnion(conv.inputs.dropFirst() + norm.inputs.dropFirst())
            graph.nodes[convIndex].inputs = [conv.inputs[0], weightName, biasName]
            graph.nodes[convIndex].outputs = [output]
            producer[output] = convIndex
            removed.insert(index)
            for name in conv.inputs.dropFirst() + norm.inputs where !name.isEmpty { readers[name, default: 1] -= 1 }
            readers[weightName] = 1
            readers[biasName] = 1
        }
    }

    /// Folds `Conv → Mul/Add/Sub(constant)` into the Conv when the constant holds one value per output channel
    /// (shape [C,1,1], [1,C,1,1], ...) or a single value. Sub folds only as `conv - constant`.
    mutating func foldChannelAffines() {
        for index in graph.nodes.indices where !removed.contains(index) {
            let node = graph.nodes[index]
            guard [.mul, .add, .sub].contains(node.kind), node.inputs.count == 2, node.outputs.count == 1,
                  let output = node.outputs.first, !output.isEmpty else { continue }
            for position in node.kind == .sub ? [0] : [0, 1] {
                let convOutput = node.inputs[position], operand = node.inputs[1 - position]
                guard let convIndex = soleProducer(of: convOutput) else { continue }
                let conv = graph.nodes[convIndex]
                guard conv.kind == .conv, conv.fusedActivation == nil, conv.outputs.count == 1, conv.inputs.count >= 2,
                      let weights = constant(conv.inputs[1]), weights.dataType == .float32, weights.rank >= 3,
                      weights.count > 0, let values = channelValues(operand, channels: weights.shape[0], rank: weights.rank)
                else { continue }
                let outChannels = weights.shape[0]
                let hasBias = conv.inputs.count > 2 && !conv.inputs[2].isEmpty
                guard var bias = hasBias ? floats(conv.inputs[2], count: outChannels)
                                         : [Float](repeating: 0, count: outChannels) else { continue }
                let stem = conv.name.isEmpty ? output : conv.name
                var weightName = conv.inputs[1]
                switch node.kind {
                case .mul:
                    var scaled = weights.floats
                    let perChannel = weights.count / outChannels
                    for channel in 0..<outChannels {
                        for i in channel * perChannel..<(channel + 1) * perChannel { scaled[i] *= values[channel] }
                        bias[channel] *= values[channel]
                    }
                    weightName = freshName("\(stem)_scaled_W")
                    graph.initializers[weightName] = Tensor(shape: weights.shape, floats: scaled)
                    readers[weightName] = 1
                    readers[conv.inputs[1], default: 1] -= 1
                    released.insert(conv.inputs[1])
                case .add:
                    for channel in 0..<outChannels { bias[channel] += values[channel] }
                default:
                    for channel in 0..<outChannels { bias[channel] -= values[channel] }
                }
                let biasName = freshName("\(stem)_affine_B")
                graph.initializers[biasName] = Tensor(shape: [outChannels], floats: bias)
                readers[biasName] = 1
                if hasBias {
                    readers[conv.inputs[2], default: 1] -= 1
                    released.insert(conv.inputs[2])
                }
                readers[operand, default: 1] -= 1
                readers[convOutput, default: 1] -= 1
                released.insert(operand)
                graph.nodes[convIndex].inputs = [conv.inputs[0], weightName, biasName]
                graph.nodes[convIndex].outputs = [output]
                producer[output] = convIndex
                removed.insert(index)
                break
            }
        }
    }

    /// Replaces `d = Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)` (or `Mul(…, 1/6)`) by `d = HardSwish(x)` when the
    /// intermediate values have no other reader. The Div/Mul node is rewritten in place, so `x` is still defined before it.
    mutating func recognizeHardSwish() {
        for index in graph.nodes.indices where !removed.contains(index) {
            let last = graph.nodes[index]
            guard last.inputs.count == 2, last.outputs.count == 1, !last.outputs[0].isEmpty,
                  let productPosition = hardSwishScaleOperand(last) else { continue }
            let product = last.inputs[productPosition]
            guard let mulIndex = soleProducer(of: product), graph.nodes[mulIndex].kind == .mul,
                  graph.nodes[mulIndex].inputs.count == 2 else { continue }
            let factors = graph.nodes[mulIndex].inputs
            for clipPosition in [0, 1] {
                let x = factors[1 - clipPosition]
                guard let clipIndex = soleProducer(of: factors[clipPosition]), graph.nodes[clipIndex].kind == .clip,
                      let bounds = clipBounds(graph.nodes[clipIndex]), bounds.min == 0, bounds.max == 6,
                      let addIndex = soleProducer(of: graph.nodes[clipIndex].inputs[0]),
                      graph.nodes[addIndex].kind == .add, graph.nodes[addIndex].inputs.count == 2 else { continue }
                let addInputs = graph.nodes[addIndex].inputs
                guard (addInputs[0] == x && floats(addInputs[1], count: 1) == [3])
                        || (addInputs[1] == x && floats(addInputs[0], count: 1) == [3]) else { continue }
                for name in last.inputs + factors + graph.nodes[clipIndex].inputs + addInputs where !name.isEmpty {
                    readers[name, default: 1] -= 1
                }
                readers[x, default: 0] += 1
                released.formUnion(graph.nodes[clipIndex].inputs.dropFirst() + addInputs + last.inputs)
                graph.nodes[index] = Node(name: last.name, kind: .hardSwish, opset: 14,
                                          inputs: [x], outputs: last.outputs)
                removed.formUnion([mulIndex, clipIndex, addIndex])
                break
            }
        }
    }

    /// The position of the non-constant operand when `node` divides by 6 or multiplies by 1/6.
    func hardSwishScaleOperand(_ node: Node) -> Int? {
        if node.kind == .div { return floats(node.inputs[1], count: 1) == [6] ? 0 : nil }
        guard node.kind == .mul else { return nil }
        for position in [0, 1] where floats(node.inputs[1 - position], count: 1).map({ abs($0[0] - 1 / 6) <= 1e-7 }) == true {
            return position
        }
        return nil
    }

    /// One float per output channel from a constant that broadcasts over a Conv output of `rank` dimensions
    /// only along the channel axis (or is a single value), or nil.
    func channelValues(_ name: String, channels: Int, rank: Int) -> [Float]? {
        guard let tensor = constant(name), tensor.dataType == .float32, tensor.rank <= rank else { return nil }
        let shape = Array(repeating: 1, count: rank - tensor.rank) + tensor.shape
        guard shape.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
        if tensor.count == 1 { return [Float](repeating: tensor.floats[0], count: channels) }
        return tensor.count == channels ? tensor.floats : nil
    }

    mutating func fuseActivations() {
        for index in graph.nodes.indices where !removed.contains(index) {
            let node = graph.nodes[index]
            guard let activation = activation(of: node), let output = node.outputs.first, !output.isEmpty,
                  node.outputs.count == 1, let input = node.inputs.first,
                  let source = soleProducer(of: input) else { continue }
            let producerNode = graph.nodes[source]
            guard [.conv, .convTranspose, .gemm].contains(producerNode.kind), producerNode.fusedActivation == nil,
                  producerNode.outputs.count == 1 else { continue }
            graph.nodes[source].fusedActivation = activation
            graph.nodes[source].outputs = [output]
            producer[output] = source
            removed.insert(index)
            for name in node.inputs where !name.isEmpty { readers[name, default: 1] -= 1 }
        }
    }

    /// The activation a node computes, when it is a fusable pointwise op with load-time parameters.
    func activation(of node: Node) -> Activation? {
        let attributes = node.attributes
        switch node.kind {
        case .relu:
            return .relu
        case .sigmoid:
            return .sigmoid
        case .tanh:
            return .tanh
        case .hardSwish:
            return .hardSwish
        case .leakyRelu:
            return (try? attributes.float("alpha", default: 0.01)).map { .leakyRelu(alpha: $0) }
        case .elu:
            return (try? attributes.float("alpha", default: 1)).map { .elu(alpha: $0) }
        case .hardSigmoid:
            guard let alpha = try? attributes.float("alpha", default: 0.2),
                  let beta = try? attributes.float("beta", default: 0.5) else { return nil }
            return .hardSigmoid(alpha: alpha, beta: beta)
        case .clip:
            return clipBounds(node).map { .clip(min: $0.min, max: $0.max) }
        default:
            return nil
        }
    }

    /// Clip's bounds: attributes before opset 11, optional constant inputs from opset 11.
    func clipBounds(_ node: Node) -> (min: Float, max: Float)? {
        let lowest = -Float.greatestFiniteMagnitude, highest = Float.greatestFiniteMagnitude
        if node.opset < 11 {
            guard let low = try? node.attributes.float("min", default: lowest),
                  let high = try? node.attributes.float("max", default: highest) else { return nil }
            return (low, high)
        }
        func bound(_ position: Int, _ fallback: Float) -> Float? {
            guard node.inputs.count > position, !node.inputs[position].isEmpty else { return fallback }
            return floats(node.inputs[position], count: 1)?.first
        }
        guard let low = bound(1, lowest), let high = bound(2, highest) else { return nil }
        return (low, high)
    }

    func result() -> Graph {
        var output = graph
        output.nodes = graph.nodes.indices.filter { !removed.contains($0) }.map { graph.nodes[$0] }
        let read = Set(output.nodes.flatMap(\.inputs))
        for name in released where !read.contains(name) && !graphInputs.contains(name) && !graphOutputs.contains(name) {
            output.initializers[name] = nil
        }
        return output
    }
}
