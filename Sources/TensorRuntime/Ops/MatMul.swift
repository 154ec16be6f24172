// Gemm and MatMul (ONNX opsets 7-18), float32, through BLAS.sgemm.

struct GemmKernel: Kernel {
    let transposeA: Bool
    let transposeB: Bool
    let alpha: Float
    let beta: Float
    let activation: Activation?

    init(_ node: Node) throws {
        transposeA = try node.attributes.int("transA", default: 0) != 0
        transposeB = try node.attributes.int("transB", default: 0) != 0
        alpha = try node.attributes.float("alpha", default: 1)
        beta = try node.attributes.float("beta", default: 1)
        activation = node.fusedActivation
        guard node.inputs.count >= 2, !node.inputs[0].isEmpty, !node.inputs[1].isEmpty else {
            throw KernelError.invalid("Gemm needs inputs A and B")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count >= 2, let a = inputs[0], let b = inputs[1] else {
            throw KernelError.invalid("Gemm needs inputs A and B")
        }
        let c = inputs.count > 2 ? inputs[2] : nil
        for (name, tensor) in [("A", a), ("B", b), ("C", c)] {
            if let tensor, tensor.dataType != .float32 {
                throw KernelError.unsupported("Gemm input \(name) of type \(tensor.dataType) (only float32)")
            }
        }
        guard a.rank == 2, b.rank == 2 else {
            throw KernelError.invalid("A \(a.shape) and B \(b.shape) must be matrices")
        }
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kB, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kB else {
            throw KernelError.invalid("A \(a.shape) (transA \(transposeA)) and B \(b.shape) (transB \(transposeB)) have different inner sizes")
        }
        let y = context.allocate(.float32, [m, n])
        let output = y.pointer(Float.self)
        var gemmBeta: Float = 0
        if let c, beta != 0 {
            try fillBroadcast(c, scaledBy: beta, into: output, rows: m, columns: n)
            gemmBeta = 1
        } else if k == 0 {
            output.update(repeating: 0, count: m * n)
        }
        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                   a: a.pointer(Float.self), lda: a.shape[1], b: b.pointer(Float.self), ldb: b.shape[1],
                   beta: gemmBeta, c: output, ldc: n, context: context)
        activation?.apply(output, count: m * n)
        return [y]
    }

    /// Writes beta·C broadcast unidirectionally to [rows, columns] (C scalar, [N], [1,N], [M,1], [M,N], ...).
    func fillBroadcast(_ c: Tensor, scaledBy beta: Float, into output: UnsafeMutablePointer<Float>,
                       rows: Int, columns: Int) throws {
        guard c.rank <= 2 else { throw KernelError.invalid("C shape \(c.shape) has more than 2 dimensions") }
        let shape = Array(repeating: 1, count: 2 - c.rank) + c.shape
        guard shape[0] == 1 || shape[0] == rows, shape[1] == 1 || shape[1] == columns else {
            throw KernelError.invalid("C shape \(c.shape) does not broadcast to [\(rows), \(columns)]")
        }
        let values = UnsafePointer(c.pointer(Float.self))
        for row in 0..<rows {
            let source = values + (shape[0] == 1 ? 0 : row * shape[1])
            let destination = output + row * columns
            if shape[1] == 1 {
                destination.update(repeating: beta * source[0], count: columns)
            } else {
                for column in 0..<columns { destination[column] = beta * source[column] }
            }
        }
    }
}

struct MatMulKernel: Kernel {
    init(_ node: Node) throws {
        guard node.inputs.count == 2, !node.inputs.contains(where: \.isEmpty) else {
            throw KernelError.invalid("MatMul needs inputs A and B")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        guard inputs.count == 2, let a = inputs[0], let b = inputs[1] else {
            throw KernelError.invalid("MatMul needs inputs A and B")
        }
        for (name, tensor) in [("A", a), ("B", b)] where tensor.dataType != .float32 {
            throw KernelError.unsupported("MatMul input \(name) of type \(tensor.dataType) (only float32)")
        }
        guard a.rank >= 1, b.rank >= 1 else {
            throw KernelError.invalid("MatMul inputs must not be scalars (A \(a.shape), B \(b.shape))")
        }
        // numpy: a 1-D A is a row vector, a 1-D B a column vector; the added axis is dropped from the result.
        let aShape = a.rank == 1 ? [1] + a.shape : a.shape
        let bShape = b.rank == 1 ? b.shape + [1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
        let kB = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
        guard k == kB else {
            throw KernelError.invalid("A \(a.shape) and B \(b.shape) have different inner sizes \(k) and \(kB)")
        }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let batch = try broadcastShapes(aBatch, bBatch)
        let outputShape = batch + (a.rank == 1 ? [] : [m]) + (b.rank == 1 ? [] : [n])
        let y = context.allocate(.float32, outputShape)
        let output = y.pointer(Float.self)
        let batchCount = batch.reduce(1, *)
        if y.count == 0 { return [y] }
        if k == 0 {
            output.update(repeating: 0, count: y.count)
            return [y]
        }
        let left = UnsafePointer(a.pointer(Float.self)), right = UnsafePointer(b.pointer(Float.self))
        if bBatch.reduce(1, *) == 1 && aBatch.reduce(1, *) == batchCount {
            // B is one matrix for every batch item and A's batches are contiguous: a single GEMM.
            BLAS.sgemm(m: batchCount * m, n: n, k: k, a: left, lda: k, b: right, ldb: n, c: output, ldc: n,
                       context: context)
            return [y]
        }
        let aOffsets = batchOffsets(of: aBatch, in: batch), bOffsets = batchOffsets(of: bBatch, in: batch)
        for item in 0..<batchCount {
            BLAS.sgemm(m: m, n: n, k: k, a: left + aOffsets[item] * m * k, lda: k,
                       b: right + bOffsets[item] * k * n, ldb: n, c: output + item * m * n, ldc: n,
                       context: context)
        }
        return [y]
    }

    /// numpy broadcasting of two batch shapes.
    func broadcastShapes(_ first: [Int], _ second: [Int]) throws -> [Int] {
        let rank = max(first.count, second.count)
        let x = Array(repeating: 1, count: rank - first.count) + first
        let z = Array(repeating: 1, count: rank - second.count) + second
        return try (0..<rank).map { axis in
            if x[axis] == z[axis] || z[axis] == 1 { return x[axis] }
            if x[axis] == 1 { return z[axis] }
            throw KernelError.invalid("batch dimensions \(first) and \(second) do not broadcast")
        }
    }

    /// For each item of the broadcast batch, the index of the matrix it reads in an operand with batch shape `shape`.
    func batchOffsets(of shape: [Int], in batch: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: batch.count - shape.count) + shape
        let strides = Tensor.strides(for: padded)
        var offsets: [Int] = []
        offsets.reserveCapacity(batch.reduce(1, *))
        for item in 0..<batch.reduce(1, *) {
            var remainder = item, offset = 0
            for axis in stride(from: batch.count - 1, through: 0, by: -1) {
                let index = remainder % batch[axis]
                remainder /= batch[axis]
                if padded[axis] != 1 { offset += index * strides[axis] }
            }
            offsets.append(offset)
        }
        return offsets
    }
}
