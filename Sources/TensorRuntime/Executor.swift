import Dispatch

/// A model compiled once: nodes sorted, rewritten by `GraphOptimizer`, kernels built,
/// constant subgraphs evaluated, value lifetimes computed. Immutable, so every
/// worker shares one plan (and its weights) read-only.
public final class ExecutionPlan: @unchecked Sendable {
    struct Step {
        let node: Node
        let kernel: Kernel
        let inputSlots: [Int?]
        let outputSlots: [Int?]
        /// Slots whose last reader is this step: recycled right after it.
        let releases: [Int]
    }

    public let graph: Graph
    let steps: [Step]
    let slotCount: Int
    let slotOfName: [String: Int]
    let constants: [(slot: Int, tensor: Tensor)]
    let inputSlots: [(info: ValueInfo, slot: Int)]
    let outputSlots: [(name: String, slot: Int)]

    /// Compiles `graph`. Every unsupported operator, opset or attribute is reported here, by node name.
    /// Pass the graph as a temporary (or its last use) so that weights a kernel packs at load are freed
    /// one by one as they are packed, instead of all packed and unpacked weights being held at once.
    public init(graph source: consuming Graph, optimize: Bool = true) throws {
        var graph = try source.topologicallySorted()
        _ = consume source
        if optimize { graph = GraphOptimizer.optimize(graph) }
        for output in graph.outputs where output.name.isEmpty {
            throw RuntimeError.invalidGraph("a graph output has no name")
        }

        // Kernels, built before any folding so every node is validated.
        var kernels: [Kernel] = []
        kernels.reserveCapacity(graph.nodes.count)
        for node in graph.nodes { kernels.append(try makeKernel(for: node)) }

        // Fold nodes whose inputs are all constants (weights reshaped or transposed at export time, Constant nodes).
        var constantValues = graph.initializers
        for input in graph.inputs { constantValues[input.name] = nil } // an input overrides a default initializer
        var remaining: [(Node, Kernel)] = []
        var absorbedNames: Set<String> = []
        let foldingContext = KernelContext(options: ExecutionOptions(threads: 1))
        let graphOutputNames = Set(graph.outputs.map(\.name))
        var readers = ExecutionPlan.readerCounts(in: graph)
        for (node, kernel) in zip(graph.nodes, kernels) {
            let inputsConstant = node.inputs.allSatisfy { $0.isEmpty || constantValues[$0] != nil }
            if inputsConstant && !node.outputs.contains(where: graphOutputNames.contains) {
                let inputs = node.inputs.map { $0.isEmpty ? nil : constantValues[$0] }
                let outputs = try ExecutionPlan.run(kernel, node: node, inputs: inputs, context: foldingContext)
                for (name, value) in zip(node.outputs, outputs) where !name.isEmpty {
                    // Fresh storage: folded constants must never return to a pool.
                    let copy = Tensor(dataType: value.dataType, shape: value.shape)
                    copy.storage.pointer.copyMemory(from: value.storage.pointer, byteCount: value.byteCount)
                    constantValues[name] = copy
                }
            } else if let specializable = kernel as? ConstantSpecializable {
                let constants = node.inputs.map { $0.isEmpty ? nil : constantValues[$0] }
                let (specialized, absorbed) = try ExecutionPlan.specialize(specializable, node: node, constants: constants)
                var reading = node
                for index in absorbed where index < reading.inputs.count && !reading.inputs[index].isEmpty {
                    let name = reading.inputs[index]
                    absorbedNames.insert(name)
                    reading.inputs[index] = ""
                    readers[name, default: 1] -= 1
                    if readers[name] == 0 {
                        // Packed and read by nothing else: free the unpacked weights now, before the next kernel packs.
                        constantValues[name] = nil
                        graph.initializers[name] = nil
                    }
                }
                remaining.append((reading, specialized))
            } else {
                remaining.append((node, kernel))
            }
        }

        // Slots: one per value name.
        var slotOfName: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let existing = slotOfName[name] { return existing }
            slotOfName[name] = slotOfName.count
            return slotOfName.count - 1
        }
        let inputSlots = graph.inputs.map { (info: $0, slot: slot($0.name)) }
        var usedConstants: [(slot: Int, tensor: Tensor)] = []
        var lastUse: [Int: Int] = [:]
        for (stepIndex, (node, _)) in remaining.enumerated() {
            for input in node.inputs where !input.isEmpty {
                let isNew = slotOfName[input] == nil
                let inputSlot = slot(input)
                if isNew, let constant = constantValues[input] { usedConstants.append((inputSlot, constant)) }
                lastUse[inputSlot] = stepIndex
            }
            for output in node.outputs where !output.isEmpty { _ = slot(output) }
        }
        var outputSlots: [(name: String, slot: Int)] = []
        for output in graph.outputs {
            let isNew = slotOfName[output.name] == nil
            let outputSlot = slot(output.name)
            if isNew {
                guard let constant = constantValues[output.name] else {
                    throw RuntimeError.invalidGraph("graph output '\(output.name)' is produced by no node")
                }
                usedConstants.append((outputSlot, constant))
            }
            outputSlots.append((output.name, outputSlot))
        }
        let keep = Set(outputSlots.map(\.slot)).union(usedConstants.map(\.slot))
        var releasesAt: [Int: [Int]] = [:]
        for (slot, step) in lastUse where !keep.contains(slot) { releasesAt[step, default: []].append(slot) }
        // Outputs nobody reads are released right after they are made.
        for (stepIndex, (node, _)) in remaining.enumerated() {
            for output in node.outputs where !output.isEmpty {
                let outputSlot = slotOfName[output]!
                if lastUse[outputSlot] == nil && !keep.contains(outputSlot) { releasesAt[stepIndex, default: []].append(outputSlot) }
            }
        }

        // Absorbed weights that a folded node also read, and nothing reads at run time, go too.
        for name in absorbedNames where slotOfName[name] == nil { graph.initializers[name] = nil }
        self.graph = graph
        self.steps = remaining.enumerated().map { index, pair in
            Step(node: pair.0, kernel: pair.1,
                 inputSlots: pair.0.inputs.map { $0.isEmpty ? nil : slotOfName[$0] },
                 outputSlots: pair.0.outputs.map { $0.isEmpty ? nil : slotOfName[$0] },
                 releases: releasesAt[index] ?? [])
        }
        self.slotCount = slotOfName.count
        self.slotOfName = slotOfName
        self.constants = usedConstants
        self.inputSlots = inputSlots.filter { !($0.info.name.isEmpty) }
        self.outputSlots = outputSlots
    }

    /// Per value name, how many node inputs read it, plus one if it is a graph output.
    static func readerCounts(in graph: Graph) -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty { counts[input, default: 0] += 1 }
        }
        for output in graph.outputs { counts[output.name, default: 0] += 1 }
        return counts
    }

    /// Number of nodes left to run per inference after folding.
    public var stepCount: Int { steps.count }

    /// Specializes a kernel to its constant inputs, naming the node if they are invalid.
    static func specialize(_ kernel: ConstantSpecializable, node: Node,
                           constants: [Tensor?]) throws -> (kernel: Kernel, absorbed: Set<Int>) {
        do {
            return try kernel.specialized(constants: constants)
        } catch let error as KernelError {
            switch error {
            case let .unsupported(reason), let .invalid(reason):
                throw RuntimeError.invalidNode(node: node.name, op: node.kind.rawValue, reason: reason)
            }
        }
    }

    /// Runs one kernel and turns its failures into errors naming the node.
    static func run(_ kernel: Kernel, node: Node, inputs: [Tensor?], context: KernelContext) throws -> [Tensor] {
        let outputs: [Tensor]
        do {
            outputs = try kernel.run(inputs, context: context)
        } catch let error as KernelError {
            switch error {
            case let .unsupported(reason), let .invalid(reason):
                throw RuntimeError.executionFailed(node: node.name, op: node.kind.rawValue, reason: reason)
            }
        }
        let named = node.outputs.lastIndex(where: { !$0.isEmpty }).map { $0 + 1 } ?? 0
        guard outputs.count >= named else {
            throw RuntimeError.executionFailed(node: node.name, op: node.kind.rawValue,
                                               reason: "kernel produced \(outputs.count) outputs, node names \(named)")
        }
        return outputs
    }
}

/// Runs a plan. One executor per worker: it owns the buffer pool and scratch
/// memory, so it must not run two inferences at once.
public final class Executor {
    public let plan: ExecutionPlan
    public let options: ExecutionOptions
    private let context: KernelContext
    private var slots: [Tensor?]

    public init(plan: ExecutionPlan, options: ExecutionOptions = ExecutionOptions()) {
        self.plan = plan
        self.options = options
        context = KernelContext(options: options)
        slots = Array(repeating: nil, count: plan.slotCount)
    }

    /// The graph's declared inputs (names, types, shapes).
    public var inputs: [ValueInfo] { plan.inputSlots.map(\.info) }
    public var outputNames: [String] { plan.outputSlots.map(\.name) }

    /// Bytes of intermediate buffers kept for reuse by later runs.
    public var pooledBytes: Int { context.pooledBytes }

    /// Milliseconds spent per operator, first input's and first output's shape, summed over runs, while non-nil.
    /// Set it to `[:]` to start profiling.
    public var profile: [ProfileKey: Double]?

    public struct ProfileKey: Hashable, Sendable {
        public let op: String
        public let shape: String
    }

    /// Runs the graph on `feeds` (input name → tensor) and returns every graph output by name.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        for name in feeds.keys where !plan.inputSlots.contains(where: { $0.info.name == name }) {
            let known = plan.inputSlots.map(\.info.name).joined(separator: ", ")
            throw RuntimeError.invalidInput("the model has no input named '\(name)' (inputs: \(known))")
        }
        defer { for index in slots.indices { slots[index] = nil } }
        for (slot, tensor) in plan.constants { slots[slot] = tensor }
        for (info, slot) in plan.inputSlots {
            if let tensor = feeds[info.name] {
                try Executor.check(tensor, against: info)
                slots[slot] = tensor
            } else if slots[slot] == nil {
                throw RuntimeError.invalidInput("missing input '\(info.name)'")
            }
        }
        for step in plan.steps {
            var inputs: [Tensor?] = []
            inputs.reserveCapacity(step.inputSlots.count)
            for slot in step.inputSlots { inputs.append(slot.flatMap { slots[$0] }) }
            let started = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let outputs = try ExecutionPlan.run(step.kernel, node: step.node, inputs: inputs, context: context)
            if profile != nil {
                let dims = { (shape: [Int]) in shape.map(String.init).joined(separator: "x") }
                let from = (inputs.first??.shape).map(dims) ?? "", to = outputs.first.map { dims($0.shape) } ?? ""
                let shape = from + " -> " + to
                profile![ProfileKey(op: step.node.kind.rawValue, shape: shape), default: 0] += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            }
            inputs.removeAll()
            for (slot, tensor) in zip(step.outputSlots, outputs) {
                if let slot { slots[slot] = tensor }
            }
            for slot in step.releases { release(slot) }
        }
        var results: [String: Tensor] = [:]
        for (name, slot) in plan.outputSlots { results[name] = takeOutput(slot) }
        return results
    }

    /// Takes a graph output out of its slot. An output in a pooled buffer larger than it needs leaves as an
    /// exact-size copy and the buffer goes back to the pool: otherwise a small output carries off a large
    /// buffer every run, the next run allocates it again, and the process grows run after run.
    private func takeOutput(_ slot: Int) -> Tensor? {
        guard let dataType = slots[slot]?.dataType, let shape = slots[slot]?.shape,
              var storage = slots[slot]?.storage else { return nil }
        let byteCount = shape.reduce(1, *) * dataType.byteSize
        guard storage.byteCount > byteCount else { return slots[slot] }
        slots[slot] = nil
        guard isKnownUniquelyReferenced(&storage) else { return Tensor(dataType: dataType, shape: shape, storage: storage) }
        let copy = Tensor(dataType: dataType, shape: shape, storage: TensorStorage(byteCount: byteCount, zeroed: false))
        copy.storage.pointer.copyMemory(from: storage.pointer, byteCount: byteCount)
        context.recycle(storage)
        return copy
    }

    /// Drops a value at its last use and recycles its storage unless something else still holds it
    /// (a reshaped view, a graph output, a constant).
    private func release(_ slot: Int) {
        guard var storage = slots[slot]?.storage else { return }
        slots[slot] = nil
        if isKnownUniquelyReferenced(&storage) { context.recycle(storage) }
    }

    static func check(_ tensor: Tensor, against info: ValueInfo) throws {
        if let expected = info.dataType, expected != tensor.dataType {
            throw RuntimeError.invalidInput("input '\(info.name)' must be \(expected), got \(tensor.dataType)")
        }
        guard let dims = info.shape else { return }
        guard dims.count == tensor.rank else {
            throw RuntimeError.invalidInput("input '\(info.name)' must have rank \(dims.count) \(dims), got shape \(tensor.shape)")
        }
        for (axis, (dim, size)) in zip(dims, tensor.shape).enumerated() {
            if case let .fixed(expected) = dim, expected != size {
                throw RuntimeError.invalidInput("input '\(info.name)' dimension \(axis) must be \(expected), got shape \(tensor.shape)")
            }
        }
    }
}
