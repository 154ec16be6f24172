// PLACEHOLDER: replaced by the kernels of this family.

struct ConcatKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct ReshapeKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct IdentityKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct TransposeKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct PadKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct SliceKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct SplitKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct GatherKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct ShapeKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct ConstantKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}
