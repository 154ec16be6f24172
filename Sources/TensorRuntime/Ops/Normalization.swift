// BatchNormalization, inference form (ONNX opsets 7, 9, 14, 15), float32.

import Foundation

struct BatchNormalizationKernel: Kernel {
    let epsilon: Float
    /// Opset 7's `spatial = 0`: statistics per (channel, spatial position) rather than per channel.
    let perElement: Bool

    init(_ node: Node) throws {
        epsilon = try node.attributes.float("epsilon", default: 1e-5)
        guard epsilon >= 0 else { throw KernelError.invalid("epsilon \(epsilon) must not be negative") }
        if try node.attributes.int("training_mode", default: 0) != 0 {
            throw KernelError.unsupported("training_mode = 1 (only inference is implemented)")
        }
        if node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw KernelError.unsupported("running mean/variance outputs (training only; inference is implemented)")
        }
        let spatial = try node.attributes.int("spatial", default: 1)
        perElement = node.opset < 9 && spatial == 0
        guard node.inputs.count == 5, !node.inputs.contains(where: \.isEmpty) else {
            throw KernelError.invalid("BatchNormalization needs inputs X, scale, B, mean, var")
        }
    }

    /// Per-parameter scale and shift: y = x·a + b with a = scale/√(var+ε), b = B − mean·a.
    static func affine(scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float)
        -> (scale: [Float], shift: [Float]) {
        var a = [Float](repeating: 0, count: scale.count), b = a
        for i in scale.indices {
            a[i] = scale[i] / (variance[i] + epsilon).squareRoot()
            b[i] = bias[i] - mean[i] * a[i]
        }
        return (a, b)
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count == 5, let x = inputs[0], let scale = inputs[1], let bias = inputs[2],
              let mean = inputs[3], let variance = inputs[4] else {
            throw KernelError.invalid("BatchNormalization needs inputs X, scale, B, mean, var")
        }
        for (name, tensor) in [("X", x), ("scale", scale), ("B", bias), ("mean", mean), ("var", variance)]
            where tensor.dataType != .float32 {
            throw KernelError.unsupported("BatchNormalization input \(name) of type \(tensor.dataType) (only float32)")
        }
        guard x.rank >= 2 else { throw KernelError.invalid("X shape \(x.shape) needs batch and channel dimensions") }
        let channels = x.shape[1]
        let spatial = x.shape[2...].reduce(1, *)
        let parameters = perElement ? channels * spatial : channels
        for (name, tensor) in [("scale", scale), ("B", bias), ("mean", mean), ("var", variance)]
            where tensor.count != parameters {
            throw KernelError.invalid("\(name) has \(tensor.count) values, expected \(parameters) for X shape \(x.shape)")
        }
        let (a, b) = BatchNormalizationKernel.affine(scale: scale.floats, bias: bias.floats, mean: mean.floats,
                                                     variance: variance.floats, epsilon: epsilon)
        let y = context.allocate(.float32, x.shape)
        let input = UnsafePointer(x.pointer(Float.self)), output = y.pointer(Float.self)
        let perElement = self.perElement
        context.parallelFor(x.shape[0] * channels) { plane in
            let channel = plane % channels
            let src = input + plane * spatial, dst = output + plane * spatial
            if perElement {
                let base = channel * spatial
                for i in 0..<spatial { dst[i] = src[i] * a[base + i] + b[base + i] }
            } else {
                let (scale, shift) = (a[channel], b[channel])
                for i in 0..<spatial { dst[i] = src[i] * scale + shift }
            }
        }
        return [y]
    }
}
