/// Transpose: output axis i is input axis perm[i] (default: reversed axes).
///
/// Axes of size 1 are dropped and axes that stay neighbours are merged first, so an
/// order-preserving permutation becomes a view, and 2-D, NCHW→NHWC and NHWC→NCHW
/// become (batched) tiled 2-D transposes; anything else is a strided copy.
struct TransposeKernel: Kernel {
    let perm: [Int]?

    init(_ node: Node) throws {
        if let perm = try node.attributes.ints("perm") {
            guard perm.sorted() == Array(0..<perm.count) else {
                throw KernelError.invalid("perm \(perm) is not a permutation of 0..<\(perm.count)")
            }
            self.perm = perm
        } else {
            perm = nil
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let input = try MovementSupport.required(inputs, 0, "data")
        let perm = self.perm ?? Array((0..<input.rank).reversed())
        guard perm.count == input.rank else {
            throw KernelError.invalid("perm \(perm) has \(perm.count) axes, the input \(input.shape) has \(input.rank)")
        }
        let outputShape = perm.map { input.shape[$0] }
        let inputStrides = Tensor.strides(for: input.shape)
        let sourceStrides = perm.map { inputStrides[$0] }
        let kept = perm.filter { input.shape[$0] != 1 }
        if kept == kept.sorted() { return [input.reshaped(outputShape)] }
        let output = context.allocate(input.dataType, outputShape)
        MovementSupport.stridedCopy(from: input.storage.pointer, offset: 0, strides: sourceStrides, shape: outputShape,
                                    byteSize: input.dataType.byteSize, to: output.storage.pointer, context: context)
        return [output]
    }
}
