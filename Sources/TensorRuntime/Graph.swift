/// One dimension of a declared input or output shape.
public enum Dimension: Sendable, Equatable, CustomStringConvertible {
    case fixed(Int)
    /// A dimension chosen at run time (ONNX `dim_param`, or left unset).
    case symbolic(String?)

    public var description: String {
        switch self {
        case let .fixed(size): return String(size)
        case let .symbolic(name): return name ?? "?"
        }
    }
}

/// A graph input or output as the model declares it.
public struct ValueInfo: Sendable {
    public var name: String
    public var dataType: DataType?
    public var shape: [Dimension]?

    public init(name: String, dataType: DataType?, shape: [Dimension]?) {
        self.name = name
        self.dataType = dataType
        self.shape = shape
    }
}

/// One attribute value of a node, as ONNX defines them.
public enum AttributeValue: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case tensor(Tensor)
    case ints([Int])
    case floats([Float])
    case strings([String])
}

/// A node's attributes with typed, defaulted accessors.
public struct Attributes: Sendable {
    public var values: [String: AttributeValue]

    public init(_ values: [String: AttributeValue] = [:]) { self.values = values }

    public func has(_ name: String) -> Bool { values[name] != nil }

    public func int(_ name: String) throws -> Int? {
        switch values[name] {
        case nil: return nil
        case let .int(value)?: return value
        default: throw KernelError.invalid("attribute '\(name)' must be an int")
        }
    }

    public func int(_ name: String, default fallback: Int) throws -> Int { try int(name) ?? fallback }

    public func float(_ name: String) throws -> Float? {
        switch values[name] {
        case nil: return nil
        case let .float(value)?: return value
        case let .int(value)?: return Float(value)
        default: throw KernelError.invalid("attribute '\(name)' must be a float")
        }
    }

    public func float(_ name: String, default fallback: Float) throws -> Float { try float(name) ?? fallback }

    public func string(_ name: String) throws -> String? {
        switch values[name] {
        case nil: return nil
        case let .string(value)?: return value
        default: throw KernelError.invalid("attribute '\(name)' must be a string")
        }
    }

    public func string(_ name: String, default fallback: String) throws -> String { try string(name) ?? fallback }

    public func ints(_ name: String) throws -> [Int]? {
        switch values[name] {
        case nil: return nil
        case let .ints(value)?: return value
        case let .int(value)?: return [value]
        default: throw KernelError.invalid("attribute '\(name)' must be a list of ints")
        }
    }

    public func floats(_ name: String) throws -> [Float]? {
        switch values[name] {
        case nil: return nil
        case let .floats(value)?: return value
        case let .float(value)?: return [value]
        default: throw KernelError.invalid("attribute '\(name)' must be a list of floats")
        }
    }

    public func strings(_ name: String) throws -> [String]? {
        switch values[name] {
        case nil: return nil
        case let .strings(value)?: return value
        case let .string(value)?: return [value]
        default: throw KernelError.invalid("attribute '\(name)' must be a list of strings")
        }
    }

    public func tensor(_ name: String) throws -> Tensor? {
        switch values[name] {
        case nil: return nil
        case let .tensor(value)?: return value
        default: throw KernelError.invalid("attribute '\(name)' must be a tensor")
        }
    }
}

/// One operator application. Inputs and outputs are value names; "" marks an omitted optional one.
public struct Node: Sendable {
    public var name: String
    public var kind: OpKind
    /// The opset version the model imports for this operator's domain.
    public var opset: Int
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: Attributes
    /// An activation applied to the output in place, set by `GraphOptimizer` (Conv, ConvTranspose, Gemm).
    public var fusedActivation: Activation?

    public init(name: String, kind: OpKind, opset: Int, inputs: [String], outputs: [String],
                attributes: Attributes = Attributes(), fusedActivation: Activation? = nil) {
        self.name = name
        self.kind = kind
        self.opset = opset
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.fusedActivation = fusedActivation
    }
}

/// A model as a list of nodes over named values, with constant initializers.
public struct Graph: Sendable {
    public var name: String
    public var nodes: [Node]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var initializers: [String: Tensor]

    public init(name: String = "graph", nodes: [Node], inputs: [ValueInfo], outputs: [ValueInfo],
                initializers: [String: Tensor] = [:]) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
    }

    /// Nodes in an order where every node comes after the producers of its inputs.
    /// Throws on cycles and on inputs that nothing produces.
    public func topologicallySorted() throws -> Graph {
        var producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if producer[output] != nil || initializers[output] != nil && !inputs.contains(where: { $0.name == output }) {
                    throw RuntimeError.invalidGraph("value '\(output)' is produced twice (node '\(node.name)')")
                }
                producer[output] = index
            }
        }
        let available = Set(inputs.map(\.name)).union(initializers.keys)
        var state = [UInt8](repeating: 0, count: nodes.count) // 0 new, 1 visiting, 2 done
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        // Iterative depth-first search, so deep graphs cannot overflow the stack.
        for root in nodes.indices where state[root] == 0 {
            var stack: [(node: Int, nextInput: Int)] = [(root, 0)]
            state[root] = 1
            while let top = stack.last {
                let node = nodes[top.node]
                if top.nextInput == node.inputs.count {
                    state[top.node] = 2
                    order.append(top.node)
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].nextInput += 1
                let input = node.inputs[top.nextInput]
                if input.isEmpty || available.contains(input) && producer[input] == nil { continue }
                guard let source = producer[input] else {
                    throw RuntimeError.invalidGraph("node '\(node.name)' (\(node.kind.rawValue)) reads '\(input)', which no node, input or initializer provides")
                }
                switch state[source] {
                case 0:
                    state[source] = 1
                    stack.append((source, 0))
                case 1:
                    throw RuntimeError.invalidGraph("cycle through node '\(nodes[source].name)' (\(nodes[source].kind.rawValue))")
                default:
                    break
                }
            }
        }
        var sorted = self
        sorted.nodes = order.map { nodes[$0] }
        return sorted
    }
}
