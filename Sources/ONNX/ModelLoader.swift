import Foundation
import TensorRuntime

/// One node's operator as the model file names it, before Seer maps it to an `OpKind`.
public struct OperatorUse: Sendable, Equatable {
    public var nodeName: String
    /// "" for the default ONNX domain ("ai.onnx" is normalised to "").
    public var domain: String
    public var opType: String
    /// The opset the model imports for `domain`, or nil if it imports none.
    public var opset: Int?

    /// Whether Seer has an operator of this name in the default domain.
    public var isSupportedOperator: Bool { domain.isEmpty && OpKind(rawValue: opType) != nil }
}

/// An ONNX model file decoded into a runtime `Graph`, plus what the file says about itself.
///
/// Loading checks everything that does not need kernels: the protobuf structure, operator
/// names and domains, element types, tensor sizes, external data paths and the graph's
/// topology (cycles, values nothing produces). Kernels are validated by `ExecutionPlan(graph:)`.
public struct ONNXModel: Sendable {
    public var graph: Graph
    public var irVersion: Int
    public var producerName: String
    public var producerVersion: String
    /// Imported opset version per domain; the default domain is "".
    public var opsets: [String: Int]
    /// Types and shapes the file declares for intermediate values.
    public var valueInfo: [ValueInfo]

    public static func load(contentsOf url: URL) throws -> Graph {
        try read(contentsOf: url).graph
    }

    /// Loads a model held in memory; tensors with external data are looked up in `baseDirectory`.
    public static func load(data: Data, baseDirectory: URL? = nil) throws -> Graph {
        try read(data: data, baseDirectory: baseDirectory).graph
    }

    /// Reads a model file. Each weight's bytes are handed back as soon as its tensor is made, so
    /// loading needs about the file's size in memory, not the file plus its weights.
    public static func read(contentsOf url: URL) throws -> ONNXModel {
        let file = try ModelFileBytes(contentsOf: url)
        return try read(data: file.data, baseDirectory: url.deletingLastPathComponent(), decoded: file.release)
    }

    public static func read(data: Data, baseDirectory: URL? = nil) throws -> ONNXModel {
        try read(data: data, baseDirectory: baseDirectory, decoded: { _ in })
    }

    /// `decoded` receives each tensor's bytes once they have been copied into a `Tensor`.
    private static func read(data: Data, baseDirectory: URL?, decoded: @escaping (Data) -> Void) throws -> ONNXModel {
        let proto = try ModelProto(data)
        let opsets = try importedOpsets(proto)
        guard let graph = proto.graph else { throw ONNXError.invalidModel("the model has no graph") }
        let converter = GraphConverter(proto: graph, opsets: opsets, baseDirectory: baseDirectory, decoded: decoded)
        return ONNXModel(graph: try converter.convert(),
                         irVersion: Int(proto.irVersion),
                         producerName: proto.producerName,
                         producerVersion: proto.producerVersion,
                         opsets: opsets,
                         valueInfo: converter.valueInfo())
    }

    /// The operators a model file uses, without converting its graph (for listing what a model needs).
    public static func operators(contentsOf url: URL) throws -> [OperatorUse] {
        try operators(data: try readFile(url))
    }

    public static func operators(data: Data) throws -> [OperatorUse] {
        let proto = try ModelProto(data)
        let opsets = try importedOpsets(proto)
        return (proto.graph?.nodes ?? []).enumerated().map { index, node in
            let domain = normalisedDomain(node.domain)
            return OperatorUse(nodeName: node.name.isEmpty ? "\(node.opType)_\(index)" : node.name,
                               domain: domain, opType: node.opType, opset: opsets[domain])
        }
    }

    private static func importedOpsets(_ proto: ModelProto) throws -> [String: Int] {
        var opsets: [String: Int] = [:]
        for entry in proto.opsetImports {
            guard entry.version > 0, entry.version < 10_000 else {
                throw ONNXError.invalidModel("opset_import for domain '\(entry.domain)' has invalid version \(entry.version)")
            }
            opsets[normalisedDomain(entry.domain)] = Int(entry.version)
        }
        return opsets
    }
}

func normalisedDomain(_ domain: String) -> String { domain == "ai.onnx" ? "" : domain }

/// Turns a decoded GraphProto into a `Graph`, naming the node behind every refusal.
private struct GraphConverter {
    let proto: GraphProto
    let opsets: [String: Int]
    let baseDirectory: URL?
    /// Told each tensor's bytes once they are copied out and never read again.
    let decoded: (Data) -> Void

    /// Index of the first node reading / writing each value.
    let consumers: [String: Int]
    let producers: [String: Int]

    init(proto: GraphProto, opsets: [String: Int], baseDirectory: URL?, decoded: @escaping (Data) -> Void) {
        self.proto = proto
        self.opsets = opsets
        self.baseDirectory = baseDirectory
        self.decoded = decoded
        var consumers: [String: Int] = [:]
        var producers: [String: Int] = [:]
        for (index, node) in proto.nodes.enumerated() {
            for input in node.inputs where consumers[input] == nil { consumers[input] = index }
            for output in node.outputs where producers[output] == nil { producers[output] = index }
        }
        self.consumers = consumers
        self.producers = producers
    }

    var defaultOpset: Int { opsets[""] ?? 0 }

    func nodeName(_ index: Int) -> String {
        let node = proto.nodes[index]
        return node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
    }

    func convert() throws -> Graph {
        guard !proto.hasSparseInitializers else {
            throw ONNXError.invalidModel("graph '\(proto.name)' has sparse initializers, which Seer does not support")
        }
        if !proto.nodes.isEmpty && opsets[""] == nil {
            throw ONNXError.invalidModel("the model imports no opset for the default ONNX domain")
        }
        guard !proto.outputs.isEmpty else {
            throw ONNXError.invalidModel("graph '\(proto.name)' declares no outputs")
        }
        let nodes = try proto.nodes.indices.map(convertNode)
        let initializers = try convertInitializers()
        let initializerNames = Set(proto.initializers.map(\.name))
        let inputs = try proto.inputs
            .filter { !initializerNames.contains($0.name) } // inputs with an initializer are constants with defaults
            .map { try convertValueInfo($0, role: "input") }
        let outputs = try proto.outputs.map { try convertValueInfo($0, role: "output") }
        let graph = Graph(name: proto.name.isEmpty ? "graph" : proto.name, nodes: nodes,
                          inputs: inputs, outputs: outputs, initializers: initializers)
        return try graph.topologicallySorted()
    }

    func valueInfo() -> [ValueInfo] {
        proto.valueInfo.compactMap { try? convertValueInfo($0, role: "value_info") }
    }

    private func convertNode(_ index: Int) throws -> Node {
        let node = proto.nodes[index]
        let name = nodeName(index)
        let domain = normalisedDomain(node.domain)
        guard domain.isEmpty else {
            throw RuntimeError.unsupported(node: name, op: node.opType, opset: opsets[domain] ?? 0,
                                           reason: "operators of domain '\(node.domain)' are not supported; Seer implements the default ONNX domain only")
        }
        guard let kind = OpKind(rawValue: node.opType) else {
            throw RuntimeError.unsupported(node: name, op: node.opType, opset: defaultOpset,
                                           reason: "Seer does not implement this operator")
        }
        var attributes: [String: AttributeValue] = [:]
        for attribute in node.attributes {
            guard attributes[attribute.name] == nil else {
                throw RuntimeError.invalidNode(node: name, op: node.opType, reason: "attribute '\(attribute.name)' is given twice")
            }
            attributes[attribute.name] = try convertAttribute(attribute, node: name, op: node.opType)
        }
        return Node(name: name, kind: kind, opset: defaultOpset, inputs: node.inputs, outputs: node.outputs,
                    attributes: Attributes(attributes))
    }

    private func convertAttribute(_ attribute: AttributeProto, node: String, op: String) throws -> AttributeValue {
        func unsupported(_ reason: String) -> RuntimeError {
            .unsupported(node: node, op: op, opset: defaultOpset, reason: "attribute '\(attribute.name)': \(reason)")
        }
        if attribute.refAttrName != nil {
            throw unsupported("references a function attribute, which only ONNX functions may use")
        }
        if let field = attribute.unsupportedFields.first {
            throw unsupported("holds a \(field), which Seer does not support")
        }
        let kind: AttributeProto.Kind
        if attribute.typeCode != 0 {
            guard let declared = AttributeProto.Kind(rawValue: attribute.typeCode) else {
                throw unsupported("unknown attribute type \(attribute.typeCode)")
            }
            kind = declared
        } else {
            kind = inferredKind(attribute)
        }
        switch kind {
        case .float:
            return .float(attribute.f ?? 0)
        case .int:
            return .int(Int(attribute.i ?? 0))
        case .string:
            return .string(String(decoding: attribute.s ?? Data(), as: UTF8.self))
        case .tensor:
            guard let tensor = attribute.t else {
                throw RuntimeError.invalidNode(node: node, op: op, reason: "attribute '\(attribute.name)' is a tensor attribute without a tensor")
            }
            return .tensor(try convertTensor(tensor, consumer: (node, op)))
        case .floats:
            return .floats(attribute.floats.map { Float(bitPattern: $0) })
        case .ints:
            return .ints(attribute.ints.map { Int(Int64(bitPattern: $0)) })
        case .strings:
            return .strings(attribute.strings.map { String(decoding: $0, as: UTF8.self) })
        case .undefined:
            throw RuntimeError.invalidNode(node: node, op: op, reason: "attribute '\(attribute.name)' has no value")
        case .tensors, .graph, .graphs, .sparseTensor, .sparseTensors, .typeProto, .typeProtos:
            throw unsupported("attributes of type \(kind) are not supported")
        }
    }

    /// Old files omit AttributeProto.type; the value field that is present says it.
    private func inferredKind(_ attribute: AttributeProto) -> AttributeProto.Kind {
        if attribute.f != nil { return .float }
        if attribute.i != nil { return .int }
        if attribute.s != nil { return .string }
        if attribute.t != nil { return .tensor }
        if !attribute.floats.isEmpty { return .floats }
        if !attribute.ints.isEmpty { return .ints }
        if !attribute.strings.isEmpty { return .strings }
        if !attribute.tensors.isEmpty { return .tensors }
        return .undefined
    }

    private func convertInitializers() throws -> [String: Tensor] {
        var initializers: [String: Tensor] = [:]
        for tensor in proto.initializers {
            guard !tensor.name.isEmpty else { throw ONNXError.invalidModel("an initializer has no name") }
            guard initializers[tensor.name] == nil else {
                throw RuntimeError.invalidGraph("initializer '\(tensor.name)' is defined twice")
            }
            let consumer = firstConsumer(of: tensor.name)
            if consumer == nil && !proto.outputs.contains(where: { $0.name == tensor.name }) {
                // Nothing reads it: do not spend memory on it, and do not refuse the model over its type.
                if let rawData = tensor.rawData { decoded(rawData) }
                continue
            }
            initializers[tensor.name] = try convertTensor(tensor, consumer: consumer)
        }
        return initializers
    }

    private func convertTensor(_ tensor: TensorProto, consumer: (node: String, op: String)?) throws -> Tensor {
        do {
            let made = try tensor.makeTensor(externalDataDirectory: baseDirectory)
            if let rawData = tensor.rawData { decoded(rawData) }
            return made
        } catch let ONNXError.unsupportedDataType(name, type) {
            guard let (node, op) = consumer else { throw ONNXError.unsupportedDataType(tensor: name, type: type) }
            throw RuntimeError.unsupported(node: node, op: op, opset: defaultOpset,
                                           reason: "tensor '\(name)' has element type \(type), which Seer does not support")
        }
    }

    private func convertValueInfo(_ info: ValueInfoProto, role: String) throws -> ValueInfo {
        guard !info.name.isEmpty || role == "value_info" else {
            throw ONNXError.invalidModel("a graph \(role) has no name")
        }
        guard info.hasType else { return ValueInfo(name: info.name, dataType: nil, shape: nil) }
        func unsupported(_ reason: String) -> Error {
            let user = role == "output" ? producer(of: info.name) : firstConsumer(of: info.name)
            guard let (node, op) = user else { return ONNXError.invalidModel("graph \(role) '\(info.name)' \(reason)") }
            return RuntimeError.unsupported(node: node, op: op, opset: defaultOpset, reason: "graph \(role) '\(info.name)' \(reason)")
        }
        guard info.isTensor else {
            throw unsupported("is not a tensor (sequences, maps and optionals are not supported)")
        }
        var dataType: DataType?
        if info.elemType != 0 {
            guard let type = DataType(rawValue: info.elemType) else {
                let typeName = onnxTypeName(info.elemType)
                if (role == "output" ? producer(of: info.name) : firstConsumer(of: info.name)) == nil {
                    throw ONNXError.unsupportedDataType(tensor: info.name, type: typeName)
                }
                throw unsupported("has element type \(typeName), which Seer does not support")
            }
            dataType = type
        }
        let shape = try info.shape?.map { dim -> TensorRuntime.Dimension in
            switch dim {
            case let .value(size):
                guard size >= 0, size <= Int64(Int32.max) else {
                    throw ONNXError.invalidModel("graph \(role) '\(info.name)' has invalid dimension \(size)")
                }
                return .fixed(Int(size))
            case let .param(name): return .symbolic(name.isEmpty ? nil : name)
            case .unknown: return .symbolic(nil)
            }
        }
        return ValueInfo(name: info.name, dataType: dataType, shape: shape)
    }

    private func firstConsumer(of value: String) -> (node: String, op: String)? {
        consumers[value].map { (nodeName($0), proto.nodes[$0].opType) }
    }

    private func producer(of value: String) -> (node: String, op: String)? {
        producers[value].map { (nodeName($0), proto.nodes[$0].opType) }
    }
}
