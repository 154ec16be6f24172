// PLACEHOLDER: replaced by the kernels of this family.

struct GemmKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}

struct MatMulKernel: Kernel {
    init(_ node: Node) throws { throw KernelError.unsupported("not implemented yet") }
    func run(_ inputs: [Tensor?], context: KernelContext) throws -> [Tensor] { [] }
}
