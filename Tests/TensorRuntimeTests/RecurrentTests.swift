import Foundation
import TensorRuntime
import XCTest

private typealias H = MovementHarness

/// LSTM against a plain reference loop (no BLAS, one scalar at a time).
final class RecurrentTests: XCTestCase {
    struct Setup {
        var sequence = 5, batch = 3, input = 4, hidden = 6
        var direction = "forward"
        var batchFirst = false
        var bias = true, peepholes = false, initialState = false
        var lengths: [Int]? = nil
        var clip: Float? = nil
        var inputForget = false
        var activations: [String]? = nil
        var alphas: [Float]? = nil, betas: [Float]? = nil
        var directions: Int { direction == "bidirectional" ? 2 : 1 }
    }

    struct Inputs {
        let x, w, r, b, p, h0, c0: Tensor
    }

    private func makeInputs(_ s: Setup, seed: UInt64) -> Inputs {
        let d = s.directions, g = 4 * s.hidden
        let xShape = s.batchFirst ? [s.batch, s.sequence, s.input] : [s.sequence, s.batch, s.input]
        let stateShape = s.batchFirst ? [s.batch, d, s.hidden] : [d, s.batch, s.hidden]
        return Inputs(x: H.random(xShape, seed: seed), w: H.random([d, g, s.input], seed: seed + 1),
                      r: H.random([d, g, s.hidden], seed: seed + 2), b: H.random([d, 2 * g], seed: seed + 3),
                      p: H.random([d, 3 * s.hidden], seed: seed + 4), h0: H.random(stateShape, seed: seed + 5),
                      c0: H.random(stateShape, seed: seed + 6))
    }

    private func activation(_ name: String, alpha: Float?, beta: Float?) -> (Float) -> Float {
        switch name {
        case "Sigmoid": return { 1 / (1 + exp(-$0)) }
        case "Tanh": return { tanh($0) }
        case "Relu": return { max($0, 0) }
        case "HardSigmoid": let a = alpha ?? 0.2, b = beta ?? 0.5; return { min(max(a * $0 + b, 0), 1) }
        case "LeakyRelu": let a = alpha ?? 0.01; return { $0 < 0 ? a * $0 : $0 }
        case "ScaledTanh": let a = alpha ?? 1, b = beta ?? 1; return { a * tanh(b * $0) }
        case "Softsign": return { $0 / (1 + abs($0)) }
        default: fatalError("no reference for \(name)")
        }
    }

    /// The ONNX equations, written per scalar. Returns Y, Y_h, Y_c in the node's layout.
    private func reference(_ s: Setup, _ v: Inputs) -> (y: [Float], yH: [Float], yC: [Float]) {
        let H = s.hidden, d = s.directions, g = 4 * H
        let x = v.x.floats, w = v.w.floats, r = v.r.floats, b = v.b.floats, p = v.p.floats
        let names = s.activations ?? Array(repeating: ["Sigmoid", "Tanh", "Tanh"], count: d).flatMap { $0 }
        var alphas = s.alphas ?? [], betas = s.betas ?? []
        let functions = names.map { name -> (Float) -> Float in
            let usesAlpha = ["HardSigmoid", "LeakyRelu", "ScaledTanh"].contains(name)
            let usesBeta = ["HardSigmoid", "ScaledTanh"].contains(name)
            let alpha = usesAlpha && !alphas.isEmpty ? alphas.removeFirst() : nil
            let beta = usesBeta && !betas.isEmpty ? betas.removeFirst() : nil
            return activation(name, alpha: alpha, beta: beta)
        }
        func clip(_ value: Float) -> Float { s.clip.map { min(max(value, -$0), $0) } ?? value }
        func xAt(_ t: Int, _ n: Int, _ k: Int) -> Float { x[(s.batchFirst ? n * s.sequence + t : t * s.batch + n) * s.input + k] }
        func stateIndex(_ dir: Int, _ n: Int, _ j: Int) -> Int { (s.batchFirst ? n * d + dir : dir * s.batch + n) * H + j }
        func yIndex(_ t: Int, _ dir: Int, _ n: Int, _ j: Int) -> Int {
            (s.batchFirst ? (n * s.sequence + t) * d + dir : (t * d + dir) * s.batch + n) * H + j
        }
        var y = [Float](repeating: 0, count: s.sequence * d * s.batch * H)
        var yH = [Float](repeating: 0, count: d * s.batch * H), yC = yH
        for dir in 0..<d {
            let f = functions[3 * dir], gFunction = functions[3 * dir + 1], hFunction = functions[3 * dir + 2]
            let reverse = s.direction == "reverse" || dir == 1
            for n in 0..<s.batch {
                let length = s.lengths?[n] ?? s.sequence
                var h = (0..<H).map { s.initialState ? v.h0.floats[stateIndex(dir, n, $0)] : 0 }
                var c = (0..<H).map { s.initialState ? v.c0.floats[stateIndex(dir, n, $0)] : 0 }
                for step in 0..<length {
                    let t = reverse ? length - 1 - step : step
                    func preactivation(_ gate: Int, _ j: Int) -> Float {
                        let row = gate * H + j
                        var sum: Float = 0
                        for k in 0..<s.input { sum += xAt(t, n, k) * w[(dir * g + row) * s.input + k] }
                        for k in 0..<H { sum += h[k] * r[(dir * g + row) * H + k] }
                        if s.bias { sum += b[dir * 2 * g + row] + b[dir * 2 * g + g + row] }
                        return sum
                    }
                    var newC = [Float](repeating: 0, count: H), newH = newC
                    for j in 0..<H {
                        let peep = { (k: Int) -> Float in s.peepholes ? p[dir * 3 * H + k * H + j] : 0 }
                        let i = f(clip(preactivation(0, j) + peep(0) * c[j]))
                        let forget = s.inputForget ? 1 - i : f(clip(preactivation(2, j) + peep(2) * c[j]))
                        let cell = gFunction(clip(preactivation(3, j)))
                        newC[j] = forget * c[j] + i * cell
                        let o = f(clip(preactivation(1, j) + peep(1) * newC[j]))
                        newH[j] = o * hFunction(newC[j])
                    }
                    h = newH
                    c = newC
                    for j in 0..<H { y[yIndex(t, dir, n, j)] = h[j] }
                }
                for j in 0..<H {
                    yH[stateIndex(dir, n, j)] = h[j]
                    yC[stateIndex(dir, n, j)] = c[j]
                }
            }
        }
        return (y, yH, yC)
    }

    private func runLSTM(_ s: Setup, _ v: Inputs, opset: Int = 14) throws -> [Tensor] {
        var attributes: [String: AttributeValue] = ["hidden_size": .int(s.hidden), "direction": .string(s.direction)]
        if s.batchFirst { attributes["layout"] = .int(1) }
        if let clip = s.clip { attributes["clip"] = .float(clip) }
        if s.inputForget { attributes["input_forget"] = .int(1) }
        if let activations = s.activations { attributes["activations"] = .strings(activations) }
        if let alphas = s.alphas { attributes["activation_alpha"] = .floats(alphas) }
        if let betas = s.betas { attributes["activation_beta"] = .floats(betas) }
        let lengths = s.lengths.map { Tensor(shape: [$0.count], values: $0.map { Int32($0) }) }
        let inputs: [Tensor?] = [v.x, v.w, v.r, s.bias ? v.b : nil, lengths,
                                 s.initialState ? v.h0 : nil, s.initialState ? v.c0 : nil, s.peepholes ? v.p : nil]
        return try H.run(.lstm, opset: opset, inputs, attributes: attributes, outputs: 3)
    }

    private func check(_ s: Setup, seed: UInt64, opset: Int = 14, file: StaticString = #filePath, line: UInt = #line) throws {
        let v = makeInputs(s, seed: seed)
        let outputs = try runLSTM(s, v, opset: opset)
        let expected = reference(s, v)
        let d = s.directions
        XCTAssertEqual(outputs[0].shape, s.batchFirst ? [s.batch, s.sequence, d, s.hidden] : [s.sequence, d, s.batch, s.hidden], file: file, line: line)
        XCTAssertEqual(outputs[1].shape, s.batchFirst ? [s.batch, d, s.hidden] : [d, s.batch, s.hidden], file: file, line: line)
        for (name, actual, want) in [("Y", outputs[0].floats, expected.y), ("Y_h", outputs[1].floats, expected.yH), ("Y_c", outputs[2].floats, expected.yC)] {
            XCTAssertEqual(actual.count, want.count, name, file: file, line: line)
            let worst = zip(actual, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5, "\(name) differs from the reference by \(worst)", file: file, line: line)
        }
    }

    func testForwardDefaults() throws {
        try check(Setup(bias: false), seed: 100, opset: 7)
        try check(Setup(), seed: 110)
    }

    func testReverseWithSequenceLengthsInitialStateAndPeepholes() throws {
        try check(Setup(direction: "reverse", peepholes: true, initialState: true, lengths: [5, 2, 0]), seed: 120)
        try check(Setup(direction: "forward", peepholes: true, initialState: true, lengths: [3, 5, 1]), seed: 130)
    }

    func testBidirectionalBatchFirstWithClipAndInputForget() throws {
        try check(Setup(direction: "bidirectional", batchFirst: true, initialState: true, lengths: [4, 5, 2], clip: 0.7, inputForget: true), seed: 140)
        try check(Setup(sequence: 1, batch: 1, input: 3, hidden: 2, direction: "bidirectional"), seed: 150, opset: 7)
    }

    func testOtherActivationsWithAlphaAndBeta() throws {
        try check(Setup(direction: "bidirectional", activations: ["HardSigmoid", "ScaledTanh", "Relu", "Sigmoid", "LeakyRelu", "Softsign"],
                        alphas: [0.3, 0.9, 0.2], betas: [0.4, 1.1]), seed: 160)
    }

    func testOnlyHiddenStateOutputNamed() throws {
        let s = Setup()
        let v = makeInputs(s, seed: 170)
        let outputs = try H.run(.lstm, opset: 14, [v.x, v.w, v.r, v.b], attributes: ["hidden_size": .int(s.hidden)],
                                outputs: 2, omittedOutputs: [0])
        let expected = reference(s, v)
        XCTAssertEqual(outputs[1].shape, [1, s.batch, s.hidden])
        XCTAssertLessThan(zip(outputs[1].floats, expected.yH).map { abs($0 - $1) }.max() ?? 1, 1e-5)
    }

    func testRejectsBadShapesAndAttributes() {
        let s = Setup()
        let v = makeInputs(s, seed: 180)
        H.assertThrows("W must have shape") {
            _ = try H.run(.lstm, opset: 14, [v.x, v.r, v.r], attributes: ["hidden_size": .int(s.hidden)], outputs: 3)
        }
        H.assertThrows("sequence_lens") {
            _ = try H.run(.lstm, opset: 14, [v.x, v.w, v.r, nil, Tensor(shape: [3], values: [Int32(6), 1, 1])],
                          attributes: ["hidden_size": .int(s.hidden)], outputs: 3)
        }
        H.assertThrows("direction") {
            _ = try H.run(.lstm, opset: 14, [v.x, v.w, v.r], attributes: ["direction": .string("sideways")], outputs: 3)
        }
        H.assertThrows("activation 'Gelu'") {
            _ = try H.run(.lstm, opset: 14, [v.x, v.w, v.r], attributes: ["activations": .strings(["Gelu", "Tanh", "Tanh"])], outputs: 3)
        }
    }
}
