/// Reshape, Flatten, Squeeze and Unsqueeze: a new shape over the same storage (a view, no copy).
struct ReshapeKernel: Kernel {
    enum Variant {
        case reshape(allowZero: Bool)
        case flatten(axis: Int)
        /// Axes from an attribute (before opset 13), or nil to read the optional axes input.
        case squeeze(axes: [Int]?)
        case unsqueeze(axes: [Int]?)
    }

    let variant: Variant

    init(_ node: Node) throws {
        let attributes = node.attributes
        switch node.kind {
        case .reshape:
            let allowZero = node.opset >= 14 ? try attributes.int("allowzero", default: 0) : 0
            variant = .reshape(allowZero: allowZero != 0)
        case .flatten:
            variant = .flatten(axis: try attributes.int("axis", default: 1))
        case .squeeze:
            variant = .squeeze(axes: node.opset < 13 ? try attributes.ints("axes") : nil)
        case .unsqueeze:
            if node.opset < 13 {
                guard let axes = try attributes.ints("axes") else { throw KernelError.invalid("attribute 'axes' is required") }
                variant = .unsqueeze(axes: axes)
            } else {
                guard node.inputs.count >= 2, !node.inputs[1].isEmpty else { throw KernelError.invalid("input 'axes' is required") }
                variant = .unsqueeze(axes: nil)
            }
        default:
            throw KernelError.invalid("ReshapeKernel cannot run \(node.kind.rawValue)")
        }
    }

    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let data = try MovementSupport.required(inputs, 0, "data")
        let shape: [Int]
        switch variant {
        case let .reshape(allowZero):
            let requested = try MovementSupport.integers(try MovementSupport.required(inputs, 1, "shape"), "shape")
            shape = try ReshapeKernel.reshaped(data.shape, to: requested, allowZero: allowZero)
        case let .flatten(axis):
            guard axis >= -data.rank && axis <= data.rank else {
                throw KernelError.invalid("axis \(axis) is out of range for rank \(data.rank)")
            }
            let split = axis < 0 ? axis + data.rank : axis
            shape = [data.shape[..<split].reduce(1, *), data.shape[split...].reduce(1, *)]
        case let .squeeze(attributeAxes):
            let axes = try attributeAxes ?? MovementSupport.optional(inputs, 1).map { try MovementSupport.integers($0, "axes") }
            shape = try ReshapeKernel.squeezed(data.shape, axes: axes)
        case let .unsqueeze(attributeAxes):
            let axes = try attributeAxes ?? MovementSupport.integers(try MovementSupport.required(inputs, 1, "axes"), "axes")
            shape = try ReshapeKernel.unsqueezed(data.shape, axes: axes)
        }
        return [data.reshaped(shape)]
    }

    /// Reshape's target: 0 copies the input dimension (unless allowzero), one -1 is inferred.
    static func reshaped(_ input: [Int], to requested: [Int], allowZero: Bool) throws -> [Int] {
        var shape = requested
        var inferred: Int?
        for (index, dim) in requested.enumerated() {
            switch dim {
            case -1:
                guard inferred == nil else { throw KernelError.invalid("shape \(requested) has more than one -1") }
                inferred = index
            case 0 where !allowZero:
                guard index < input.count else {
                    throw KernelError.invalid("shape \(requested) copies dimension \(index) (0), but the input \(input) has rank \(input.count)")
                }
                shape[index] = input[index]
            case ..<0:
                throw KernelError.invalid("shape \(requested) has a negative dimension")
            default:
                break
            }
        }
        let total = input.reduce(1, *)
        if let inferred {
            let known = shape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            guard known > 0, total % known == 0 else {
                throw KernelError.invalid("cannot reshape \(input) to \(requested): -1 cannot be inferred")
            }
            shape[inferred] = total / known
        }
        guard shape.reduce(1, *) == total else {
            throw KernelError.invalid("cannot reshape \(input) (\(total) elements) to \(requested)")
        }
        return shape
    }

    /// Squeeze: drops the listed axes (each of size 1), or every size-1 axis when `axes` is nil.
    static func squeezed(_ input: [Int], axes: [Int]?) throws -> [Int] {
        guard let axes else { return input.filter { $0 != 1 } }
        let dropped = Set(try MovementSupport.axes(axes, rank: input.count))
        for axis in dropped where input[axis] != 1 {
            throw KernelError.invalid("cannot squeeze axis \(axis) of shape \(input): its size is not 1")
        }
        return input.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
    }

    /// Unsqueeze: inserts size-1 axes at the listed positions of the output.
    static func unsqueezed(_ input: [Int], axes: [Int]) throws -> [Int] {
        let rank = input.count + axes.count
        let inserted = Set(try MovementSupport.axes(axes, rank: rank))
        var shape: [Int] = []
        var nextInput = 0
        for axis in 0..<rank {
            if inserted.contains(axis) {
                shape.append(1)
            } else {
                shape.append(input[nextInput])
                nextInput += 1
            }
        }
        return shape
    }
}
