/// Every operator the runtime implements. Raw values are ONNX operator names
/// (default domain). Adding a case makes `makeKernel` fail to build until the
/// kernel exists: one op, one case, one kernel, one test.
public enum OpKind: String, Sendable, CaseIterable {
    // Ops/Conv.swift, Ops/Pool.swift, Ops/Normalization.swift, Ops/MatMul.swift
    case conv = "Conv"
    case convTranspose = "ConvTranspose"
    case maxPool = "MaxPool"
    case averagePool = "AveragePool"
    case globalAveragePool = "GlobalAveragePool"
    case globalMaxPool = "GlobalMaxPool"
    case batchNormalization = "BatchNormalization"
    case gemm = "Gemm"
    case matMul = "MatMul"
    // Ops/Elementwise.swift
    case add = "Add"
    case sub = "Sub"
    case mul = "Mul"
    case div = "Div"
    case pow = "Pow"
    case max = "Max"
    case min = "Min"
    case sum = "Sum"
    case mean = "Mean"
    case sqrt = "Sqrt"
    case exp = "Exp"
    case log = "Log"
    case abs = "Abs"
    case neg = "Neg"
    case reciprocal = "Reciprocal"
    case floor = "Floor"
    case ceil = "Ceil"
    // Ops/ActivationOps.swift
    case relu = "Relu"
    case leakyRelu = "LeakyRelu"
    case prelu = "PRelu"
    case sigmoid = "Sigmoid"
    case tanh = "Tanh"
    case hardSigmoid = "HardSigmoid"
    case hardSwish = "HardSwish"
    case elu = "Elu"
    case clip = "Clip"
    case softmax = "Softmax"
    // Ops/Reduce.swift
    case reduceMean = "ReduceMean"
    case reduceSum = "ReduceSum"
    case reduceMax = "ReduceMax"
    // Ops/Cast.swift
    case cast = "Cast"
    // Ops/Movement.swift
    case concat = "Concat"
    case reshape = "Reshape"
    case flatten = "Flatten"
    case squeeze = "Squeeze"
    case unsqueeze = "Unsqueeze"
    case transpose = "Transpose"
    case pad = "Pad"
    case slice = "Slice"
    case split = "Split"
    case gather = "Gather"
    case shape = "Shape"
    case constant = "Constant"
    case identity = "Identity"
    case dropout = "Dropout"
    // Ops/Resize.swift
    case resize = "Resize"
    case upsample = "Upsample"
    // Ops/Recurrent.swift
    case lstm = "LSTM"

    /// The ONNX opset versions whose semantics this runtime implements for the operator.
    public var supportedOpsets: ClosedRange<Int> {
        switch self {
        case .hardSwish: return 14...21
        // Unchanged since opset 6 (the ONNX node tests still use 6).
        case .elu, .hardSigmoid: return 6...18
        // Unchanged since opset 1: older imports mean the same operator.
        case .globalAveragePool, .globalMaxPool: return 1...18
        case .upsample: return 7...9
        default: return 7...18
        }
    }
}

/// Builds the kernel for a node, or throws naming the node, op and opset.
public func makeKernel(for node: Node) throws -> Kernel {
    guard node.kind.supportedOpsets.contains(node.opset) else {
        throw RuntimeError.unsupported(node: node.name, op: node.kind.rawValue, opset: node.opset,
                                       reason: "supported opsets are \(node.kind.supportedOpsets.lowerBound)-\(node.kind.supportedOpsets.upperBound)")
    }
    do {
        switch node.kind {
        case .conv: return try ConvKernel(node)
        case .convTranspose: return try ConvTransposeKernel(node)
        case .maxPool, .averagePool: return try PoolKernel(node)
        case .globalAveragePool, .globalMaxPool: return try GlobalPoolKernel(node)
        case .batchNormalization: return try BatchNormalizationKernel(node)
        case .gemm: return try GemmKernel(node)
        case .matMul: return try MatMulKernel(node)
        case .add, .sub, .mul, .div, .pow, .max, .min, .sum, .mean: return try ElementwiseKernel(node)
        case .sqrt, .exp, .log, .abs, .neg, .reciprocal, .floor, .ceil: return try UnaryMathKernel(node)
        case .relu, .leakyRelu, .sigmoid, .tanh, .hardSigmoid, .hardSwish, .elu, .clip: return try ActivationKernel(node)
        case .prelu: return try PReluKernel(node)
        case .softmax: return try SoftmaxKernel(node)
        case .reduceMean, .reduceSum, .reduceMax: return try ReduceKernel(node)
        case .cast: return try CastKernel(node)
        case .concat: return try ConcatKernel(node)
        case .reshape, .flatten, .squeeze, .unsqueeze: return try ReshapeKernel(node)
        case .identity, .dropout: return try IdentityKernel(node)
        case .transpose: return try TransposeKernel(node)
        case .pad: return try PadKernel(node)
        case .slice: return try SliceKernel(node)
        case .split: return try SplitKernel(node)
        case .gather: return try GatherKernel(node)
        case .shape: return try ShapeKernel(node)
        case .constant: return try ConstantKernel(node)
        case .resize, .upsample: return try ResizeKernel(node)
        case .lstm: return try LSTMKernel(node)
        }
    } catch let error as KernelError {
        switch error {
        case let .unsupported(reason):
            throw RuntimeError.unsupported(node: node.name, op: node.kind.rawValue, opset: node.opset, reason: reason)
        case let .invalid(reason):
            throw RuntimeError.invalidNode(node: node.name, op: node.kind.rawValue, reason: reason)
        }
    }
}
