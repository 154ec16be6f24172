// PLACEHOLDER: replaced by the kernels of this family.

struct ConvKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct ConvTransposeKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}
