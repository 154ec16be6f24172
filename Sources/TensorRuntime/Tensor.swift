import Foundation

/// Heap bytes behind a tensor: 64-byte aligned, zero-initialised unless asked otherwise, freed with the
/// last reference.
public final class TensorStorage: @unchecked Sendable {
    public let byteCount: Int
    public let pointer: UnsafeMutableRawPointer

    /// With `zeroed: false` the contents are undefined: for a kernel's output, which the kernel writes
    /// whole (a graph's outputs are new storage on every run; zeroing a segmentation map costs a pass).
    public init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    deinit { pointer.deallocate() }
}

/// A dense, row-major (C order) n-dimensional array.
///
/// A tensor shares its storage when copied or reshaped. Kernels write only into
/// tensors they have just allocated; everything else treats tensors as immutable.
public struct Tensor: @unchecked Sendable {
    public let dataType: DataType
    public let shape: [Int]
    public let storage: TensorStorage

    /// Number of elements (1 for a scalar, 0 if any dimension is 0).
    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var byteCount: Int { count * dataType.byteSize }

    /// A zero-filled tensor.
    public init(dataType: DataType, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.dataType = dataType
        self.shape = shape
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dataType.byteSize)
    }

    /// Wraps existing storage; `storage` must hold at least `count` elements.
    public init(dataType: DataType, shape: [Int], storage: TensorStorage) {
        precondition(storage.byteCount >= shape.reduce(1, *) * dataType.byteSize, "storage too small for \(shape)")
        self.dataType = dataType
        self.shape = shape
        self.storage = storage
    }

    public init<T: TensorElement>(shape: [Int], values: [T]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(dataType: T.dataType, shape: shape)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, values: floats) }

    public static func scalar<T: TensorElement>(_ value: T) -> Tensor { Tensor(shape: [], values: [value]) }

    /// Same storage, new shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(dataType: dataType, shape: newShape, storage: storage)
    }

    public func withUnsafeBuffer<T: TensorElement, R>(of type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dataType == dataType, "tensor holds \(dataType), not \(T.dataType)")
        return try body(UnsafeBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    public func withUnsafeMutableBuffer<T: TensorElement, R>(of type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(T.dataType == dataType, "tensor holds \(dataType), not \(T.dataType)")
        return try body(UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// Typed pointer to the first element, for kernels.
    public func pointer<T: TensorElement>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        precondition(T.dataType == dataType, "tensor holds \(dataType), not \(T.dataType)")
        return storage.pointer.assumingMemoryBound(to: T.self)
    }

    public func array<T: TensorElement>(of type: T.Type) -> [T] {
        withUnsafeBuffer(of: type) { Array($0) }
    }

    public var floats: [Float] { array(of: Float.self) }

    /// Values as Int64 whatever the integer type (shapes, axes, indices).
    public func integers() throws -> [Int] {
        switch dataType {
        case .int64: return array(of: Int64.self).map { Int($0) }
        case .int32: return array(of: Int32.self).map { Int($0) }
        case .int8: return array(of: Int8.self).map { Int($0) }
        case .uint8: return array(of: UInt8.self).map { Int($0) }
        case .int16: return array(of: Int16.self).map { Int($0) }
        case .uint16: return array(of: UInt16.self).map { Int($0) }
        case .uint32: return array(of: UInt32.self).map { Int($0) }
        case .uint64: return array(of: UInt64.self).map { Int(truncatingIfNeeded: $0) }
        default: throw RuntimeError.invalidTensor("expected an integer tensor, got \(dataType)")
        }
    }

    /// Values converted to Float whatever the numeric type.
    public func floatValues() -> [Float] {
        switch dataType {
        case .float32: return floats
        case .float64: return array(of: Double.self).map { Float($0) }
        case .float16: return array(of: Float16.self).map { Float($0) }
        case .bool: return array(of: Bool.self).map { $0 ? 1 : 0 }
        default: return (try? integers().map { Float($0) }) ?? []
        }
    }

    /// Element-wise strides of a contiguous row-major layout.
    public static func strides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor<\(dataType)>\(shape)" }
}
