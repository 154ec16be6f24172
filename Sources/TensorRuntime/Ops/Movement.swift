import Foundation

// Shape and data-movement kernels. They never look at element values: they move
// `dataType.byteSize`-byte elements, so every data type works the same way.
// This file holds the shared helpers and the small kernels (Concat, Identity/Dropout,
// Shape, Constant); the others live in Movement*.swift.

/// Helpers shared by the movement, resize and recurrent kernels.
enum MovementSupport {
    /// `axis` in [-rank, rank) mapped to [0, rank).
    static func axis(_ axis: Int, rank: Int, name: String = "axis") throws -> Int {
        guard axis >= -rank && axis < rank else {
            throw KernelError.invalid("\(name) \(axis) is out of range for rank \(rank)")
        }
        return axis < 0 ? axis + rank : axis
    }

    /// Distinct axes in [-rank, rank) mapped to [0, rank).
    static func axes(_ axes: [Int], rank: Int, name: String = "axes") throws -> [Int] {
        let normalized = try axes.map { try axis($0, rank: rank, name: name) }
        guard Set(normalized).count == normalized.count else {
            throw KernelError.invalid("\(name) \(axes) repeat an axis")
        }
        return normalized
    }

    /// Largest output a shape-growing kernel (Pad, Resize) will allocate, in elements.
    static let maximumOutputCount = 1 << 30

    /// Throws unless `shape` has at most `maximumOutputCount` elements (no overflow on the way).
    static func checkOutputSize(_ shape: [Int]) throws {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= maximumOutputCount else {
                throw KernelError.invalid("output shape \(shape) exceeds \(maximumOutputCount) elements")
            }
            count = product
        }
    }

    /// The values of an integer input (shape, axes, pads, starts...).
    static func integers(_ tensor: Tensor, _ role: String) throws -> [Int] {
        switch tensor.dataType {
        case .int64, .int32, .int16, .int8, .uint8, .uint16, .uint32, .uint64:
            return try tensor.integers()
        default:
            throw KernelError.invalid("\(role) must be an integer tensor, got \(tensor.dataType)")
        }
    }

    /// The input at `index`, or an error naming it.
    static func required(_ inputs: [Tensor?], _ index: Int, _ role: String) throws -> Tensor {
        guard index < inputs.count, let tensor = inputs[index] else {
            throw KernelError.invalid("missing input \(index) (\(role))")
        }
        return tensor
    }

    /// The input at `index` if present.
    static func optional(_ inputs: [Tensor?], _ index: Int) -> Tensor? {
        index < inputs.count ? inputs[index] : nil
    }

    /// The bytes of one element of `dataType` holding `value` (rounded toward zero and
    /// clamped for integer types).
    static func elementBytes(_ value: Double, as dataType: DataType) -> [UInt8] {
        func bytes<T>(_ element: T) -> [UInt8] { withUnsafeBytes(of: element) { Array($0) } }
        func integer<T: FixedWidthInteger>(_: T.Type) -> T {
            if value.isNaN { return 0 }
            if value <= Double(T.min) { return T.min }
            if value >= Double(T.max) { return T.max }
            return T(value.rounded(.towardZero))
        }
        switch dataType {
        case .float32: return bytes(Float(value))
        case .float64: return bytes(value)
        case .float16: return bytes(Float16(value))
        case .bool: return bytes(value != 0)
        case .uint8: return bytes(integer(UInt8.self))
        case .int8: return bytes(integer(Int8.self))
        case .uint16: return bytes(integer(UInt16.self))
        case .int16: return bytes(integer(Int16.self))
        case .int32: return bytes(integer(Int32.self))
        case .int64: return bytes(integer(Int64.self))
        case .uint32: return bytes(integer(UInt32.self))
        case .uint64: return bytes(integer(UInt64.self))
        }
    }

    /// Writes `count` copies of the element `pattern` (one element's bytes) at `destination`.
    static func fill(_ destination: UnsafeMutableRawPointer, count: Int, pattern: [UInt8]) {
        guard count > 0 else { return }
        if pattern.allSatisfy({ $0 == 0 }) {
            destination.initializeMemory(as: UInt8.self, repeating: 0, count: count * pattern.count)
            return
        }
        func typed<T>(_: T.Type) {
            let value = pattern.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
            let target = destination.assumingMemoryBound(to: T.self)
            target.update(repeating: value, count: count)
        }
        switch pattern.count {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        case 8: typed(UInt64.self)
        default:
            for index in 0..<count {
                pattern.withUnsafeBytes { (destination + index * pattern.count).copyMemory(from: $0.baseAddress!, byteCount: pattern.count) }
            }
        }
    }

    /// Copies the elements of a strided view of `source` into contiguous `destination`, row-major
    /// over `shape`. `offset` and `strides` count elements; strides may be negative or zero. With a
    /// `context`, large transposes are spread over its threads.
    static func stridedCopy(from source: UnsafeRawPointer, offset: Int, strides: [Int], shape: [Int],
                            byteSize: Int, to destination: UnsafeMutableRawPointer, context: KernelContext? = nil) {
        let (shape, strides) = simplified(shape: shape, strides: strides)
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        let base = source + offset * byteSize
        guard let innerSize = shape.last, let innerStride = strides.last else {
            destination.copyMemory(from: base, byteCount: byteSize) // a scalar
            return
        }
        let outerShape = Array(shape.dropLast())
        let outerStrides = Array(strides.dropLast())
        if innerStride == 1 {
            let runBytes = innerSize * byteSize
            forEachOffset(shape: outerShape, strides: outerStrides) { row, sourceOffset in
                (destination + row * runBytes).copyMemory(from: base + sourceOffset * byteSize, byteCount: runBytes)
            }
            return
        }
        if outerShape.count >= 1, isBlockTranspose(shape: shape, strides: strides) {
            let rows = shape[shape.count - 2], columns = innerSize
            let batchShape = Array(shape.dropLast(2)), batchStrides = Array(strides.dropLast(2))
            forEachOffset(shape: batchShape, strides: batchStrides) { batch, sourceOffset in
                transposeBlock(from: base + sourceOffset * byteSize, rows: columns, columns: rows, byteSize: byteSize,
                               to: destination + batch * rows * columns * byteSize, context: context)
            }
            return
        }
        forEachOffset(shape: outerShape, strides: outerStrides) { row, sourceOffset in
            gatherRun(from: base + sourceOffset * byteSize, stride: innerStride, count: innerSize, byteSize: byteSize,
                      to: destination + row * innerSize * byteSize)
        }
    }

    /// Drops size-1 axes and merges neighbours that are contiguous with each other in the source.
    static func simplified(shape: [Int], strides: [Int]) -> (shape: [Int], strides: [Int]) {
        if shape.contains(0) { return ([0], [1]) }
        var outShape: [Int] = [], outStrides: [Int] = []
        for (size, stride) in zip(shape, strides) where size != 1 {
            if let lastStride = outStrides.last, lastStride == stride * size {
                outShape[outShape.count - 1] *= size
                outStrides[outStrides.count - 1] = stride
            } else {
                outShape.append(size)
                outStrides.append(stride)
            }
        }
        return (outShape, outStrides)
    }

    /// True when the last two axes read a contiguous [columns × rows] matrix column by column.
    private static func isBlockTranspose(shape: [Int], strides: [Int]) -> Bool {
        let rank = shape.count
        return strides[rank - 2] == 1 && strides[rank - 1] == shape[rank - 2]
    }

    /// Calls `body(index, sourceOffset)` for every position of `shape` in row-major order.
    @inline(__always)
    static func forEachOffset(shape: [Int], strides: [Int], _ body: (Int, Int) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        let rank = shape.count
        if rank == 0 { body(0, 0); return }
        var position = [Int](repeating: 0, count: rank)
        var offset = 0
        for index in 0..<count {
            body(index, offset)
            var axis = rank - 1
            while axis >= 0 {
                position[axis] += 1
                offset += strides[axis]
                if position[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                position[axis] = 0
                axis -= 1
            }
        }
    }

    /// destination[i] = source[i * stride] for i in 0..<count.
    private static func gatherRun(from source: UnsafeRawPointer, stride: Int, count: Int, byteSize: Int,
                                  to destination: UnsafeMutableRawPointer) {
        func typed<T>(_: T.Type) {
            let target = destination.assumingMemoryBound(to: T.self)
            for index in 0..<count { target[index] = source.load(fromByteOffset: index * stride * byteSize, as: T.self) }
        }
        switch byteSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        case 8: typed(UInt64.self)
        default:
            for index in 0..<count {
                (destination + index * byteSize).copyMemory(from: source + index * stride * byteSize, byteCount: byteSize)
            }
        }
    }

    /// Transposes a contiguous [rows × columns] matrix into a contiguous [columns × rows] one, in tiles;
    /// with a `context`, a large one in bands of tiles (along its longer side) on the context's threads.
    static func transposeBlock(from source: UnsafeRawPointer, rows: Int, columns: Int, byteSize: Int,
                               to destination: UnsafeMutableRawPointer, context: KernelContext? = nil) {
        func typed<T>(_: T.Type) {
            let input = source.assumingMemoryBound(to: T.self)
            let output = destination.assumingMemoryBound(to: T.self)
            let tile = 32
            let rowTiles = (rows + tile - 1) / tile, columnTiles = (columns + tile - 1) / tile
            func transpose(rowTiles: Range<Int>, columnTiles: Range<Int>) {
                for rowTile in rowTiles {
                    let rowStart = rowTile * tile, rowEnd = min(rowStart + tile, rows)
                    for columnTile in columnTiles {
                        let columnStart = columnTile * tile, columnEnd = min(columnStart + tile, columns)
                        for column in columnStart..<columnEnd {
                            let outRow = output + column * rows
                            for row in rowStart..<rowEnd { outRow[row] = input[row * columns + column] }
                        }
                    }
                }
            }
            guard let context, rows * columns >= parallelTransposeElements else {
                return transpose(rowTiles: 0..<rowTiles, columnTiles: 0..<columnTiles)
            }
            if rowTiles >= columnTiles {
                context.parallelRanges(rowTiles) { _, band in transpose(rowTiles: band, columnTiles: 0..<columnTiles) }
            } else {
                context.parallelRanges(columnTiles) { _, band in transpose(rowTiles: 0..<rowTiles, columnTiles: band) }
            }
        }
        switch byteSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: typed(UInt32.self)
        case 8: typed(UInt64.self)
        default:
            for row in 0..<rows {
                for column in 0..<columns {
                    (destination + (column * rows + row) * byteSize)
                        .copyMemory(from: source + (row * columns + column) * byteSize, byteCount: byteSize)
                }
            }
        }
    }

    /// Transposes smaller than this run on one thread (a parallel loop costs a few microseconds).
    private static let parallelTransposeElements = 1 << 15
}

// MARK: - Concat

/// Concat: joins inputs of equal shape except along `axis`.
struct ConcatKernel: Kernel {
    let axis: Int

    init(_ node: Node) throws {
        guard let axis = try node.attributes.int("axis") else {
            throw KernelError.invalid("attribute 'axis' is required")
        }
        guard !node.inputs.isEmpty else { throw KernelError.invalid("needs at least one input") }
        self.axis = axis
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let tensors = try inputs.indices.map { try MovementSupport.required(inputs, $0, "input \($0)") }
        let first = tensors[0]
        let axis = try MovementSupport.axis(self.axis, rank: first.rank)
        var outputShape = first.shape
        outputShape[axis] = 0
        for (index, tensor) in tensors.enumerated() {
            guard tensor.dataType == first.dataType else {
                throw KernelError.invalid("input \(index) is \(tensor.dataType), input 0 is \(first.dataType)")
            }
            guard tensor.rank == first.rank,
                  zip(tensor.shape, first.shape).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 }) else {
                throw KernelError.invalid("input \(index) has shape \(tensor.shape), incompatible with \(first.shape) along axis \(axis)")
            }
            outputShape[axis] += tensor.shape[axis]
        }
        if tensors.count == 1 { return [first] }
        let output = context.allocate(first.dataType, outputShape)
        let byteSize = first.dataType.byteSize
        let outerCount = outputShape[..<axis].reduce(1, *)
        let inner = outputShape[(axis + 1)...].reduce(1, *)
        let outputRowBytes = outputShape[axis] * inner * byteSize
        var columnOffset = 0
        for tensor in tensors {
            let blockBytes = tensor.shape[axis] * inner * byteSize
            if blockBytes > 0 {
                for outer in 0..<outerCount {
                    (output.storage.pointer + outer * outputRowBytes + columnOffset)
                        .copyMemory(from: tensor.storage.pointer + outer * blockBytes, byteCount: blockBytes)
                }
            }
            columnOffset += blockBytes
        }
        return [output]
    }
}

// MARK: - Identity, Dropout

/// Identity, and Dropout at inference: the output is the input; Dropout's optional mask is all true.
struct IdentityKernel: Kernel {
    let isDropout: Bool
    let opset: Int
    let wantsMask: Bool

    init(_ node: Node) throws {
        isDropout = node.kind == .dropout
        opset = node.opset
        wantsMask = isDropout && node.outputs.count > 1 && !node.outputs[1].isEmpty
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let input = try MovementSupport.required(inputs, 0, "input")
        guard isDropout else { return [input] }
        if opset >= 12, let trainingMode = MovementSupport.optional(inputs, 2), try isTraining(trainingMode) {
            let ratio = MovementSupport.optional(inputs, 1)?.floatValues().first ?? 0.5
            guard ratio == 0 else {
                throw KernelError.unsupported("training_mode=true with ratio \(ratio) (random dropout) is not implemented")
            }
        }
        guard wantsMask else { return [input] }
        // Before opset 10 the mask has the data's type; from 10 it is bool.
        let maskType: DataType = opset < 10 ? input.dataType : .bool
        let mask = context.allocate(maskType, input.shape)
        MovementSupport.fill(mask.storage.pointer, count: mask.count, pattern: MovementSupport.elementBytes(1, as: maskType))
        return [input, mask]
    }

    private func isTraining(_ tensor: Tensor) throws -> Bool {
        guard tensor.count == 1 else { throw KernelError.invalid("training_mode must hold one value, got shape \(tensor.shape)") }
        return tensor.floatValues().first != 0
    }
}

// MARK: - Shape

/// Shape: the input's dimensions as int64, optionally the slice [start, end) (opset 15).
struct ShapeKernel: Kernel {
    let start: Int
    let end: Int?

    init(_ node: Node) throws {
        if node.opset >= 15 {
            start = try node.attributes.int("start", default: 0)
            end = try node.attributes.int("end")
        } else {
            start = 0
            end = nil
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let input = try MovementSupport.required(inputs, 0, "data")
        let rank = input.rank
        func clamp(_ value: Int) -> Int { min(max(value < 0 ? value + rank : value, 0), rank) }
        let lower = clamp(start)
        let upper = max(clamp(end ?? rank), lower)
        let dims = input.shape[lower..<upper].map { Int64($0) }
        let output = context.allocate(.int64, [dims.count])
        output.withUnsafeMutableBuffer(of: Int64.self) { buffer in
            for (index, dim) in dims.enumerated() { buffer[index] = dim }
        }
        return [output]
    }
}

// MARK: - Constant

/// Constant: a tensor fixed by one attribute.
struct ConstantKernel: Kernel {
    let value: Tensor

    init(_ node: Node) throws {
        let attributes = node.attributes
        let present = ["value", "value_float", "value_floats", "value_int", "value_ints",
                       "value_string", "value_strings", "sparse_value"].filter(attributes.has)
        guard present.count == 1, let name = present.first else {
            throw KernelError.invalid("needs exactly one value attribute, got \(present.isEmpty ? "none" : present.joined(separator: ", "))")
        }
        switch name {
        case "value":
            guard let tensor = try attributes.tensor("value") else { throw KernelError.invalid("attribute 'value' is empty") }
            value = tensor
        case "value_float":
            value = Tensor.scalar(try attributes.float("value_float") ?? 0)
        case "value_floats":
            let floats = try attributes.floats("value_floats") ?? []
            value = Tensor(shape: [floats.count], values: floats)
        case "value_int":
            value = Tensor.scalar(Int64(try attributes.int("value_int") ?? 0))
        case "value_ints":
            let ints = (try attributes.ints("value_ints") ?? []).map { Int64($0) }
            value = Tensor(shape: [ints.count], values: ints)
        default:
            throw KernelError.unsupported("attribute '\(name)' (string and sparse constants are not supported)")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [value] }
}
