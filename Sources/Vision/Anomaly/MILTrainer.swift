import Foundation
import ONNX
import TensorRuntime

/// Sultani, Chen and Shah (CVPR 2018), "Real-world anomaly detection in surveillance videos":
/// a video is a bag of segments; a small network scores each segment; it is trained from
/// video-level labels only, with the multiple-instance ranking loss
///   max(0, 1 − max_i s(a_i) + max_i s(n_i)) + λ1 Σ_i (s(a_i) − s(a_{i+1}))² + λ2 Σ_i s(a_i)
/// for pairs of an anomalous bag a and a normal bag n. The network is the paper's:
/// FC 512 (ReLU) → dropout 0.6 → FC 32 (linear, as in the authors' code) → dropout 0.6 → FC 1 (sigmoid);
/// the optimiser is Adagrad (lr 0.01), with the authors' L2 weight penalty 0.001. Inputs are standardised per dimension (the statistics are
/// folded into the first layer on export).
public struct MILTrainingOptions: Sendable {
    public var iterations = 300
    /// Anomalous/normal bag pairs per iteration (the paper: 30 of each).
    public var pairsPerBatch = 30
    public var learningRate: Float = 0.01
    public var smoothness: Float = 8e-5
    public var sparsity: Float = 8e-5
    public var dropout: Float = 0.6
    public var hidden1 = 512
    public var hidden2 = 32
    public var seed: UInt64 = 1
    public var adagradEpsilon: Float = 1e-8
    /// L2 penalty on the weights (the authors' code: Keras W_regularizer l2(0.001) on every layer).
    public var weightDecay: Float = 0.001
    public init() {}
}

/// The trained scorer: weights as row-major [out, in] matrices, and the input standardisation.
public struct MILScorer: Sendable {
    public var inputMean: [Float]
    public var inputStd: [Float]
    public var w1: [Float], b1: [Float]
    public var w2: [Float], b2: [Float]
    public var w3: [Float], b3: [Float]
    public var inputDim: Int { inputMean.count }
    public var hidden1: Int { b1.count }
    public var hidden2: Int { b2.count }

    /// Scores of segment vectors (inference: no dropout).
    public func scores(_ segments: [[Float]]) -> [Float] {
        guard !segments.isEmpty else { return [] }
        let network = MILNetwork(self)
        let x = segments.flatMap { network.standardise($0) }
        return network.pass(x, rows: segments.count, dropout: nil).scores
    }

    /// The scorer as an ONNX graph: features [N, D] → scores [N, 1] (Gemm, Relu, Gemm, Gemm, Sigmoid).
    public func onnxModel() -> ONNXModelWriter {
        // Fold (x − mean) / std into the first layer: W1' = W1 · diag(1/std), b1' = b1 − W1' · mean.
        var folded = w1
        var bias = b1
        for row in 0..<hidden1 {
            for column in 0..<inputDim {
                folded[row * inputDim + column] = w1[row * inputDim + column] / inputStd[column]
                bias[row] -= folded[row * inputDim + column] * inputMean[column]
            }
        }
        var writer = ONNXModelWriter(graphName: "mil_ranking_scorer")
        writer.docString = "Sultani et al. MIL ranking segment scorer (FC \(hidden1)-\(hidden2)-1), trained by Seer"
        writer.initializers = [
            .init(name: "fc1_weight", dims: [hidden1, inputDim], values: folded), .init(name: "fc1_bias", dims: [hidden1], values: bias),
            .init(name: "fc2_weight", dims: [hidden2, hidden1], values: w2), .init(name: "fc2_bias", dims: [hidden2], values: b2),
            .init(name: "fc3_weight", dims: [1, hidden2], values: w3), .init(name: "fc3_bias", dims: [1], values: b3),
        ]
        writer.nodes = [
            .init("Gemm", inputs: ["features", "fc1_weight", "fc1_bias"], outputs: ["fc1"], name: "fc1", attributes: [("transB", .int(1))]),
            .init("Relu", inputs: ["fc1"], outputs: ["relu1"], name: "relu1"),
            .init("Gemm", inputs: ["relu1", "fc2_weight", "fc2_bias"], outputs: ["fc2"], name: "fc2", attributes: [("transB", .int(1))]),
            .init("Gemm", inputs: ["fc2", "fc3_weight", "fc3_bias"], outputs: ["fc3"], name: "fc3", attributes: [("transB", .int(1))]),
            .init("Sigmoid", inputs: ["fc3"], outputs: ["scores"], name: "score"),
        ]
        writer.inputs = [.init(name: "features", dims: [.symbolic("N"), .fixed(inputDim)])]
        writer.outputs = [.init(name: "scores", dims: [.symbolic("N"), .fixed(1)])]
        return writer
    }
}

public struct MILTrainingResult: Sendable {
    public var scorer: MILScorer
    /// Objective (ranking + smoothness + sparsity, dropout on) of every iteration's batch.
    public var losses: [Float]
}

public enum MILTrainer {
    /// Trains on bags of segment vectors (each bag: one clip's segments, in time order).
    public static func train(anomalous: [[[Float]]], normal: [[[Float]]],
                             options: MILTrainingOptions = MILTrainingOptions()) throws -> MILTrainingResult {
        guard !anomalous.isEmpty, !normal.isEmpty else {
            throw VisionError.invalidParameter("MIL training needs at least one anomalous and one normal clip")
        }
        let bags = anomalous + normal
        guard let dimension = bags.first?.first?.count, dimension > 0,
              bags.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.count == dimension } }) else {
            throw VisionError.invalidParameter("every bag needs segments of one and the same dimension")
        }
        guard options.iterations >= 1, options.pairsPerBatch >= 1, (0..<1).contains(options.dropout) else {
            throw VisionError.invalidParameter("iterations and pairs per batch must be positive, dropout in [0, 1)")
        }
        var random = SeededRandom(seed: options.seed)
        let (mean, std) = standardisation(bags.flatMap { $0 })
        var network = MILNetwork(inputDim: dimension, hidden1: options.hidden1, hidden2: options.hidden2,
                                 mean: mean, std: std, random: &random)
        let standardisedAnomalous = anomalous.map { $0.map { network.standardise($0) } }
        let standardisedNormal = normal.map { $0.map { network.standardise($0) } }
        var optimiser = Adagrad(network: network, learningRate: options.learningRate, epsilon: options.adagradEpsilon)
        var losses: [Float] = []
        for _ in 0..<options.iterations {
            let pairs = (0..<options.pairsPerBatch).map { _ in
                (random.index(standardisedAnomalous.count), random.index(standardisedNormal.count))
            }
            let loss = network.step(pairs: pairs, anomalous: standardisedAnomalous, normal: standardisedNormal,
                                    options: options, random: &random, optimiser: &optimiser)
            losses.append(loss)
        }
        return MILTrainingResult(scorer: network.scorer, losses: losses)
    }

    /// The objective of `scorer` on the given (anomalous, normal) bag pairs with dropout off, and its
    /// gradient as a scorer of the same shapes (w1 holds dObjective/dW1, and so on); for checking
    /// the backward pass against finite differences.
    public static func objectiveAndGradient(_ scorer: MILScorer, anomalous: [[[Float]]], normal: [[[Float]]], pairs: [(Int, Int)],
                                            options: MILTrainingOptions = MILTrainingOptions()) -> (Float, MILScorer) {
        let network = MILNetwork(scorer)
        let (loss, gradients) = network.objective(pairs: pairs, anomalous: anomalous.map { $0.map(network.standardise) },
                                                  normal: normal.map { $0.map(network.standardise) }, options: options, dropout: nil)
        var gradient = scorer
        (gradient.w1, gradient.b1, gradient.w2, gradient.b2, gradient.w3, gradient.b3) =
            (gradients[0], gradients[1], gradients[2], gradients[3], gradients[4], gradients[5])
        return (loss, gradient)
    }

    static func standardisation(_ rows: [[Float]]) -> ([Float], [Float]) {
        let dimension = rows[0].count
        var mean = [Double](repeating: 0, count: dimension), variance = mean
        for row in rows { for j in 0..<dimension { mean[j] += Double(row[j]) } }
        mean = mean.map { $0 / Double(rows.count) }
        for row in rows { for j in 0..<dimension { let d = Double(row[j]) - mean[j]; variance[j] += d * d } }
        let std = variance.map { ($0 / Double(rows.count)).squareRoot() }
        let floor = max(Double(medianOf(std.map { Float($0) })) * 0.1, 1e-6)
        return (mean.map { Float($0) }, std.map { Float(max($0, floor)) })
    }

    /// Bag-of-segments objective without dropout, for reporting (mean over all anomalous x normal pairs).
    public static func objective(_ scorer: MILScorer, anomalous: [[[Float]]], normal: [[[Float]]],
                                 options: MILTrainingOptions = MILTrainingOptions()) -> Float {
        let anomalousScores = anomalous.map { scorer.scores($0) }
        let normalScores = normal.map { scorer.scores($0) }
        var total: Float = 0
        for a in anomalousScores {
            for n in normalScores { total += max(0, 1 - (a.max() ?? 0) + (n.max() ?? 0)) }
        }
        total /= Float(anomalousScores.count * normalScores.count)
        for a in anomalousScores {
            total += options.sparsity * a.reduce(0, +) / Float(anomalousScores.count)
            for i in 0..<max(0, a.count - 1) { total += options.smoothness * (a[i] - a[i + 1]) * (a[i] - a[i + 1]) / Float(anomalousScores.count) }
        }
        return total
    }
}

/// The network's parameters and the forward/backward passes (GEMMs through BLAS.sgemm).
struct MILNetwork {
    var mean: [Float], std: [Float]
    var inputDim: Int, hidden1: Int, hidden2: Int
    var w1: [Float], b1: [Float], w2: [Float], b2: [Float], w3: [Float], b3: [Float]

    init(inputDim: Int, hidden1: Int, hidden2: Int, mean: [Float], std: [Float], random: inout SeededRandom) {
        self.inputDim = inputDim
        self.hidden1 = hidden1
        self.hidden2 = hidden2
        self.mean = mean
        self.std = std
        // Glorot (Xavier) uniform initialisation, zero biases.
        func glorot(_ fanOut: Int, _ fanIn: Int) -> [Float] {
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            return (0..<(fanOut * fanIn)).map { _ in (random.unit() * 2 - 1) * limit }
        }
        w1 = glorot(hidden1, inputDim); b1 = [Float](repeating: 0, count: hidden1)
        w2 = glorot(hidden2, hidden1); b2 = [Float](repeating: 0, count: hidden2)
        w3 = glorot(1, hidden2); b3 = [0]
    }

    init(_ scorer: MILScorer) {
        mean = scorer.inputMean; std = scorer.inputStd
        inputDim = scorer.inputDim; hidden1 = scorer.hidden1; hidden2 = scorer.hidden2
        w1 = scorer.w1; b1 = scorer.b1; w2 = scorer.w2; b2 = scorer.b2; w3 = scorer.w3; b3 = scorer.b3
    }

    var scorer: MILScorer { MILScorer(inputMean: mean, inputStd: std, w1: w1, b1: b1, w2: w2, b2: b2, w3: w3, b3: b3) }

    func standardise(_ vector: [Float]) -> [Float] {
        (0..<inputDim).map { (vector[$0] - mean[$0]) / std[$0] }
    }

    /// Activations of one pass; masks hold 0 or 1/(1 − p) (inverted dropout).
    struct Pass {
        var z1: [Float], a1: [Float], z2: [Float], a2: [Float], scores: [Float]
        var mask1: [Float]?, mask2: [Float]?
    }

    /// y[rows, out] = x[rows, in] · wᵀ + b.
    static func dense(_ x: [Float], rows: Int, _ w: [Float], _ b: [Float], inputs: Int, outputs: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for row in 0..<rows { for column in 0..<outputs { y[row * outputs + column] = b[column] } }
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    BLAS.sgemm(transposeB: true, m: rows, n: outputs, k: inputs, a: xp.baseAddress!, lda: inputs,
                               b: wp.baseAddress!, ldb: inputs, beta: 1, c: yp.baseAddress!, ldc: outputs)
                }
            }
        }
        return y
    }

    func pass(_ x: [Float], rows: Int, dropout: (Float, UnsafeMutablePointer<SeededRandom>)?) -> Pass {
        let z1 = MILNetwork.dense(x, rows: rows, w1, b1, inputs: inputDim, outputs: hidden1)
        var a1 = z1.map { max(0, $0) }
        var mask1: [Float]?, mask2: [Float]?
        if let (rate, random) = dropout {
            let keep = 1 / (1 - rate)
            mask1 = a1.indices.map { _ in random.pointee.unit() < rate ? 0 : keep }
            for index in a1.indices { a1[index] *= mask1![index] }
        }
        let z2 = MILNetwork.dense(a1, rows: rows, w2, b2, inputs: hidden1, outputs: hidden2)
        var a2 = z2
        if let (rate, random) = dropout {
            let keep = 1 / (1 - rate)
            mask2 = a2.indices.map { _ in random.pointee.unit() < rate ? 0 : keep }
            for index in a2.indices { a2[index] *= mask2![index] }
        }
        let z3 = MILNetwork.dense(a2, rows: rows, w3, b3, inputs: hidden2, outputs: 1)
        return Pass(z1: z1, a1: a1, z2: z2, a2: a2, scores: z3.map(sigmoid), mask1: mask1, mask2: mask2)
    }

    /// One Adagrad step on a batch of (anomalous bag, normal bag) pairs; returns the batch objective.
    mutating func step(pairs: [(Int, Int)], anomalous: [[[Float]]], normal: [[[Float]]], options: MILTrainingOptions,
                       random: inout SeededRandom, optimiser: inout Adagrad) -> Float {
        let (loss, gradients) = withUnsafeMutablePointer(to: &random) {
            objective(pairs: pairs, anomalous: anomalous, normal: normal, options: options, dropout: (options.dropout, $0))
        }
        optimiser.update(&self, gradients)
        return loss
    }

    /// The batch objective and its gradient [dW1, db1, dW2, db2, dW3, db3] (inputs already standardised).
    func objective(pairs: [(Int, Int)], anomalous: [[[Float]]], normal: [[[Float]]], options: MILTrainingOptions,
                   dropout: (Float, UnsafeMutablePointer<SeededRandom>)?) -> (Float, [[Float]]) {
        // Rows: every pair's anomalous bag, then its normal bag.
        var x: [Float] = []
        var ranges: [(anomalous: Range<Int>, normal: Range<Int>)] = []
        var rows = 0
        for (a, n) in pairs {
            let start = rows
            for segment in anomalous[a] { x += segment }
            rows += anomalous[a].count
            let middle = rows
            for segment in normal[n] { x += segment }
            rows += normal[n].count
            ranges.append((start..<middle, middle..<rows))
        }
        let activations = pass(x, rows: rows, dropout: dropout)
        let s = activations.scores
        var gradient = [Float](repeating: 0, count: rows) // dObjective / dScore
        var loss: Float = 0
        let pairWeight = 1 / Float(pairs.count)
        for range in ranges {
            guard let topAnomalous = range.anomalous.max(by: { s[$0] < s[$1] }),
                  let topNormal = range.normal.max(by: { s[$0] < s[$1] }) else { continue }
            let hinge = 1 - s[topAnomalous] + s[topNormal]
            if hinge > 0 {
                loss += hinge * pairWeight
                gradient[topAnomalous] -= pairWeight
                gradient[topNormal] += pairWeight
            }
            let bag = Array(range.anomalous)
            for (offset, row) in bag.enumerated() {
                loss += options.sparsity * s[row]
                gradient[row] += options.sparsity
                if offset + 1 < bag.count {
                    let difference = s[row] - s[bag[offset + 1]]
                    loss += options.smoothness * difference * difference
                    gradient[row] += 2 * options.smoothness * difference
                    gradient[bag[offset + 1]] -= 2 * options.smoothness * difference
                }
            }
        }
        // Back through sigmoid, FC3, dropout 2, FC2 (linear), dropout 1, ReLU, FC1.
        let dz3 = (0..<rows).map { gradient[$0] * s[$0] * (1 - s[$0]) }
        var (dw3, db3, da2) = MILNetwork.denseBackward(dz3, input: activations.a2, rows: rows, w3, inputs: hidden2, outputs: 1)
        var dz2 = da2
        if let mask = activations.mask2 { for index in dz2.indices { dz2[index] *= mask[index] } }
        var (dw2, db2, da1) = MILNetwork.denseBackward(dz2, input: activations.a1, rows: rows, w2, inputs: hidden1, outputs: hidden2)
        var dz1 = da1
        for index in dz1.indices {
            dz1[index] *= (activations.z1[index] > 0 ? 1 : 0) * (activations.mask1?[index] ?? 1)
        }
        var (dw1, db1, _) = MILNetwork.denseBackward(dz1, input: x, rows: rows, w1, inputs: inputDim, outputs: hidden1, wantInput: false)
        // L2 weight penalty (biases are not penalised, as in Keras's W_regularizer).
        func decay(_ weights: [Float], _ gradients: inout [Float]) {
            for position in weights.indices {
                loss += options.weightDecay * weights[position] * weights[position]
                gradients[position] += 2 * options.weightDecay * weights[position]
            }
        }
        if options.weightDecay > 0 {
            decay(w1, &dw1)
            decay(w2, &dw2)
            decay(w3, &dw3)
        }
        return (loss, [dw1, db1, dw2, db2, dw3, db3])
    }

    /// Gradients of y = x · wᵀ + b: (dW [out, in], db [out], dx [rows, in]).
    static func denseBackward(_ dy: [Float], input x: [Float], rows: Int, _ w: [Float], inputs: Int, outputs: Int,
                              wantInput: Bool = true) -> ([Float], [Float], [Float]) {
        var dw = [Float](repeating: 0, count: outputs * inputs)
        var db = [Float](repeating: 0, count: outputs)
        for row in 0..<rows { for column in 0..<outputs { db[column] += dy[row * outputs + column] } }
        var dx = [Float](repeating: 0, count: wantInput ? rows * inputs : 0)
        dy.withUnsafeBufferPointer { dyp in
            x.withUnsafeBufferPointer { xp in
                dw.withUnsafeMutableBufferPointer { dwp in
                    BLAS.sgemm(transposeA: true, m: outputs, n: inputs, k: rows, a: dyp.baseAddress!, lda: outputs,
                               b: xp.baseAddress!, ldb: inputs, c: dwp.baseAddress!, ldc: inputs)
                }
            }
            if wantInput {
                w.withUnsafeBufferPointer { wp in
                    dx.withUnsafeMutableBufferPointer { dxp in
                        BLAS.sgemm(m: rows, n: inputs, k: outputs, a: dyp.baseAddress!, lda: outputs,
                                   b: wp.baseAddress!, ldb: inputs, c: dxp.baseAddress!, ldc: inputs)
                    }
                }
            }
        }
        return (dw, db, dx)
    }
}

/// Adagrad: accumulate squared gradients, step by lr · g / (√G + ε) (Keras's formulation).
struct Adagrad {
    var accumulators: [[Float]]
    let learningRate: Float
    let epsilon: Float

    init(network: MILNetwork, learningRate: Float, epsilon: Float) {
        accumulators = [network.w1, network.b1, network.w2, network.b2, network.w3, network.b3].map { [Float](repeating: 0, count: $0.count) }
        self.learningRate = learningRate
        self.epsilon = epsilon
    }

    mutating func update(_ network: inout MILNetwork, _ gradients: [[Float]]) {
        func apply(_ parameters: inout [Float], _ gradient: [Float], _ slot: Int) {
            accumulators[slot].withUnsafeMutableBufferPointer { accumulator in
                for index in parameters.indices {
                    let g = gradient[index]
                    accumulator[index] += g * g
                    parameters[index] -= learningRate * g / (accumulator[index].squareRoot() + epsilon)
                }
            }
        }
        apply(&network.w1, gradients[0], 0)
        apply(&network.b1, gradients[1], 1)
        apply(&network.w2, gradients[2], 2)
        apply(&network.b2, gradients[3], 3)
        apply(&network.w3, gradients[4], 4)
        apply(&network.b3, gradients[5], 5)
    }
}

extension SeededRandom {
    /// Uniform in [0, 1).
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }

    mutating func index(_ count: Int) -> Int { Int(next() % UInt64(count)) }
}
