/// Pad: modes constant, reflect and edge. Negative pads crop (applied before padding).
/// Pads come from the attribute before opset 11 and from input 1 after; opset 18 adds axes.
struct PadKernel: Kernel {
    enum Mode: String { case constant, reflect, edge }

    let mode: Mode
    /// Before opset 11: pads and constant value are attributes.
    let attributePads: [Int]?
    let attributeValue: Float
    let opset: Int

    init(_ node: Node) throws {
        let modeName = try node.attributes.string("mode", default: "constant")
        guard let mode = Mode(rawValue: modeName) else {
            throw KernelError.unsupported("mode '\(modeName)' (supported: constant, reflect, edge)")
        }
        self.mode = mode
        opset = node.opset
        if node.opset < 11 {
            guard let pads = try node.attributes.ints("pads") else { throw KernelError.invalid("attribute 'pads' is required") }
            attributePads = pads
            attributeValue = try node.attributes.float("value", default: 0)
        } else {
            guard node.inputs.count >= 2, !node.inputs[1].isEmpty else { throw KernelError.invalid("input 'pads' is required") }
            attributePads = nil
            attributeValue = 0
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "data")
        let rank = data.rank
        let pads = try self.pads(inputs, rank: rank)
        let begins = Array(pads[..<rank]), ends = Array(pads[rank...])
        let outputShape = try (0..<rank).map { axis -> Int in
            let (grown, overflowBegin) = data.shape[axis].addingReportingOverflow(begins[axis])
            let (size, overflowEnd) = grown.addingReportingOverflow(ends[axis])
            guard !overflowBegin, !overflowEnd, size <= MovementSupport.maximumOutputCount else {
                throw KernelError.invalid("pads \(pads) make axis \(axis) of shape \(data.shape) too large")
            }
            guard size >= 0 else {
                throw KernelError.invalid("pads \(pads) crop axis \(axis) of shape \(data.shape) below zero")
            }
            return size
        }
        try MovementSupport.checkOutputSize(outputShape)
        let fillBytes = try constantBytes(inputs, dataType: data.dataType)
        let maps = try (0..<rank).map { axis in
            try PadKernel.sourceIndices(size: data.shape[axis], begin: begins[axis], end: ends[axis], mode: mode, axis: axis)
        }
        let output = context.allocate(data.dataType, outputShape)
        PadKernel.copy(data, into: output, maps: maps, fill: fillBytes)
        return [output]
    }

    /// Pads as [begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}] over every axis.
    private func pads(_ inputs: [Tensor?], rank: Int) throws -> [Int] {
        let given = try attributePads ?? MovementSupport.integers(try MovementSupport.required(inputs, 1, "pads"), "pads")
        var axes = Array(0..<rank)
        if opset >= 18, let axesTensor = MovementSupport.optional(inputs, 3) {
            axes = try MovementSupport.axes(try MovementSupport.integers(axesTensor, "axes"), rank: rank)
        }
        guard given.count == 2 * axes.count else {
            throw KernelError.invalid("pads \(given) must hold \(2 * axes.count) values (begin and end for each of \(axes.count) axes)")
        }
        var pads = [Int](repeating: 0, count: 2 * rank)
        for (index, axis) in axes.enumerated() {
            pads[axis] = given[index]
            pads[rank + axis] = given[axes.count + index]
        }
        return pads
    }

    private func constantBytes(_ inputs: [Tensor?], dataType: DataType) throws -> [UInt8] {
        guard mode == .constant else { return MovementSupport.elementBytes(0, as: dataType) }
        guard opset >= 11, let value = MovementSupport.optional(inputs, 2) else {
            return MovementSupport.elementBytes(Double(attributeValue), as: dataType)
        }
        guard value.dataType == dataType else {
            throw KernelError.invalid("constant_value is \(value.dataType), the data is \(dataType)")
        }
        guard value.count >= 1 else { return MovementSupport.elementBytes(0, as: dataType) }
        return Array(UnsafeRawBufferPointer(start: value.storage.pointer, count: dataType.byteSize))
    }

    /// For each output index along one axis, the input index it copies, or -1 for the constant.
    static func sourceIndices(size: Int, begin: Int, end: Int, mode: Mode, axis: Int) throws -> [Int] {
        // Crop first (negative pads), then pad the remaining [first, first + kept).
        let first = max(-begin, 0)
        let kept = size - first - max(-end, 0)
        let before = max(begin, 0), after = max(end, 0)
        let outputSize = max(kept, 0) + before + after
        if kept <= 0 {
            guard mode == .constant || before + after == 0 else {
                throw KernelError.invalid("\(mode.rawValue) padding needs data along axis \(axis), which is empty after cropping")
            }
            return [Int](repeating: -1, count: outputSize)
        }
        return (0..<outputSize).map { index in
            let position = index - before
            if position >= 0 && position < kept { return first + position }
            switch mode {
            case .constant: return -1
            case .edge: return first + min(max(position, 0), kept - 1)
            case .reflect: return first + reflected(position, count: kept)
            }
        }
    }

    /// Mirror index without repeating the edge element, periodic for pads larger than the data.
    private static func reflected(_ position: Int, count: Int) -> Int {
        guard count > 1 else { return 0 }
        let period = 2 * (count - 1)
        var folded = position % period
        if folded < 0 { folded += period }
        return folded < count ? folded : period - folded
    }

    /// Writes `output` row by row: rows whose outer index is padding get the constant; the others
    /// copy their middle run in one block and map their border elements one by one.
    static func copy(_ input: Tensor, into output: Tensor, maps: [[Int]], fill: [UInt8]) {
        let byteSize = input.dataType.byteSize
        let rank = input.rank
        if rank == 0 {
            output.storage.pointer.copyMemory(from: input.storage.pointer, byteCount: byteSize)
            return
        }
        let rowLength = output.shape[rank - 1]
        guard rowLength > 0 else { return }
        let innerMap = maps[rank - 1]
        // The longest stretch of the last axis that copies consecutive input elements.
        let runStart = innerMap.firstIndex(where: { $0 >= 0 }) ?? rowLength
        var runEnd = runStart
        while runEnd < rowLength, innerMap[runEnd] >= 0, innerMap[runEnd] == innerMap[runStart] + (runEnd - runStart) { runEnd += 1 }
        let border = (0..<rowLength).filter { $0 < runStart || $0 >= runEnd }.map { (column: $0, source: innerMap[$0]) }
        // Source element offset of every output row, -1 for rows of padding.
        let inputStrides = Tensor.strides(for: input.shape)
        var rowSources = [0]
        for axis in 0..<(rank - 1) {
            var next: [Int] = []
            next.reserveCapacity(rowSources.count * maps[axis].count)
            for base in rowSources {
                for index in maps[axis] { next.append(base < 0 || index < 0 ? -1 : base + index * inputStrides[axis]) }
            }
            rowSources = next
        }
        func typed<T>(_: T.Type) {
            let from = input.storage.pointer.assumingMemoryBound(to: T.self)
            let to = output.storage.pointer.assumingMemoryBound(to: T.self)
            let fillValue = fill.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
            for (row, sourceRow) in rowSources.enumerated() {
                let target = to + row * rowLength
                if sourceRow < 0 {
                    target.update(repeating: fillValue, count: rowLength)
                    continue
                }
                let base = from + sourceRow
                if runEnd > runStart { (target + runStart).update(from: base + innerMap[runStart], count: runEnd - runStart) }
                for (column, source) in border { target[column] = source < 0 ? fillValue : base[source] }
            }
        }
        switch byteSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        default: typed(UInt64.self)
        }
    }
}
