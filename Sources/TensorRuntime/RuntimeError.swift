/// Everything the runtime can reject, each naming what is wrong.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    /// An operator, opset, attribute value or data type this runtime does not implement.
    case unsupported(node: String, op: String, opset: Int, reason: String)
    /// A node whose attributes or inputs break the operator's definition.
    case invalidNode(node: String, op: String, reason: String)
    /// The graph itself is malformed (cycle, missing value, duplicate output).
    case invalidGraph(String)
    /// A caller-supplied input with the wrong name, type or shape.
    case invalidInput(String)
    /// A tensor whose contents cannot be used as asked.
    case invalidTensor(String)
    /// A kernel failed while running a node (shape mismatch at run time, out-of-range index).
    case executionFailed(node: String, op: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupported(node, op, opset, reason):
            return "unsupported operator \(op) (opset \(opset)) at node '\(node)': \(reason)"
        case let .invalidNode(node, op, reason):
            return "invalid \(op) node '\(node)': \(reason)"
        case let .invalidGraph(reason):
            return "invalid graph: \(reason)"
        case let .invalidInput(reason):
            return "invalid input: \(reason)"
        case let .invalidTensor(reason):
            return "invalid tensor: \(reason)"
        case let .executionFailed(node, op, reason):
            return "\(op) node '\(node)' failed: \(reason)"
        }
    }
}
