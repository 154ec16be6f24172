import Foundation
import ONNX
import TensorRuntime
import XCTest

final class ModelLoaderTests: XCTestCase {
    static let nodeData = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data/node")

    func nodeCase(_ name: String) throws -> URL {
        let url = ModelLoaderTests.nodeData.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("ONNX node test data missing at \(url.path): install it with `apt-get install libonnx-testdata`")
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    // MARK: Real files (references printed by the `onnx` Python package)

    func testLoadsConvNodeTestModel() throws {
        let model = try ONNXModel.read(contentsOf: try nodeCase("test_conv_with_strides_padding").appendingPathComponent("model.onnx"))
        XCTAssertEqual(model.irVersion, 6)
        XCTAssertEqual(model.producerName, "backend-test")
        XCTAssertEqual(model.opsets, ["": 11])
        let graph = model.graph
        XCTAssertEqual(graph.name, "test_conv_with_strides_padding")
        XCTAssertEqual(graph.nodes.count, 1)
        let node = graph.nodes[0]
        XCTAssertEqual(node.kind, .conv)
        XCTAssertEqual(node.name, "Conv_0", "an unnamed node is named <op_type>_<index>")
        XCTAssertEqual(node.opset, 11)
        XCTAssertEqual(node.inputs, ["x", "W"])
        XCTAssertEqual(node.outputs, ["y"])
        XCTAssertEqual(try node.attributes.ints("kernel_shape"), [3, 3])
        XCTAssertEqual(try node.attributes.ints("pads"), [1, 1, 1, 1])
        XCTAssertEqual(try node.attributes.ints("strides"), [2, 2])
        XCTAssertEqual(graph.inputs.map(\.name), ["x", "W"])
        XCTAssertEqual(graph.inputs[0].dataType, .float32)
        XCTAssertEqual(graph.inputs[0].shape, [.fixed(1), .fixed(1), .fixed(7), .fixed(5)])
        XCTAssertEqual(graph.outputs.map(\.name), ["y"])
        XCTAssertEqual(graph.outputs[0].shape, [.fixed(1), .fixed(1), .fixed(4), .fixed(3)])
    }

    func testReadsTensorProtoFiles() throws {
        let data = try nodeCase("test_conv_with_strides_padding").appendingPathComponent("test_data_set_0")
        let input = try TensorProtoFile.readNamed(contentsOf: data.appendingPathComponent("input_0.pb"))
        XCTAssertEqual(input.name, "x")
        XCTAssertEqual(input.tensor.shape, [1, 1, 7, 5])
        XCTAssertEqual(input.tensor.floats, (0..<35).map(Float.init))
        let output = try TensorProtoFile.read(contentsOf: data.appendingPathComponent("output_0.pb"))
        XCTAssertEqual(output.shape, [1, 1, 4, 3])
        XCTAssertEqual(output.floats, [12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124])

        let shape = try TensorProtoFile.read(contentsOf: try nodeCase("test_reshape_reduced_dims")
            .appendingPathComponent("test_data_set_0/input_1.pb"))
        XCTAssertEqual(shape.dataType, .int64)
        XCTAssertEqual(shape.array(of: Int64.self), [2, 12])

        let flags = try TensorProtoFile.read(contentsOf: try nodeCase("test_and2d").appendingPathComponent("test_data_set_0/input_0.pb"))
        XCTAssertEqual(flags.dataType, .bool)
        XCTAssertEqual(flags.shape, [3, 4])
        XCTAssertEqual(Array(flags.array(of: Bool.self).prefix(8)), [true, true, true, true, true, false, true, false])
    }

    func testReadsConstantTensorAttributeFromFloatData() throws {
        let graph = try ONNXModel.load(contentsOf: try nodeCase("test_constant").appendingPathComponent("model.onnx"))
        let value = try XCTUnwrap(try graph.nodes[0].attributes.tensor("value"))
        XCTAssertEqual(value.shape, [5, 5])
        XCTAssertEqual(value.floats.prefix(3), [1.76405239, 0.400157213, 0.978738])
        XCTAssertEqual(value.floats.last, 2.26975465)
    }

    /// Every tensor file of the node test data decodes, or is refused only for its element type.
    func testDecodesEveryNodeTestTensor() throws {
        let root = ModelLoaderTests.nodeData
        guard let walker = FileManager.default.enumerator(atPath: root.path) else {
            return XCTFail("ONNX node test data missing at \(root.path): install it with `apt-get install libonnx-testdata`")
        }
        var decoded = 0
        var unsupported = 0
        for case let path as String in walker where path.hasSuffix(".pb") {
            do {
                _ = try TensorProtoFile.read(contentsOf: root.appendingPathComponent(path))
                decoded += 1
            } catch ONNXError.unsupportedDataType {
                unsupported += 1
            } catch {
                // Sequence/optional test data is not a TensorProto; it must still be refused cleanly.
                let caseName = path.split(separator: "/").first.map(String.init) ?? path
                let notTensorData = ["seq", "opt"].contains { caseName.contains("_\($0)") }
                XCTAssertTrue(notTensorData, "\(path): \(error)")
            }
        }
        print("node test tensors: \(decoded) decoded, \(unsupported) refused for their element type")
        XCTAssertGreaterThan(decoded, 1500)
    }

    // MARK: Hand-built models

    /// y = Relu(x + bias), bias an initializer that is also listed as a graph input.
    func smallModel() -> Data {
        ONNXBuilder.model(
            nodes: [
                ONNXBuilder.node("Add", inputs: ["x", "bias"], outputs: ["sum"], name: "add"),
                ONNXBuilder.node("Relu", inputs: ["sum"], outputs: ["y"]),
            ],
            inputs: [ONNXBuilder.valueInfo("x", dims: [nil, 3]), ONNXBuilder.valueInfo("bias", dims: [3])],
            outputs: [ONNXBuilder.valueInfo("y", dims: [nil, 3])],
            initializers: [ONNXBuilder.floatTensor("bias", dims: [3], values: [0.5, -1, 2])])
    }

    func testLoadsHandBuiltModel() throws {
        let model = try ONNXModel.read(data: smallModel())
        XCTAssertEqual(model.producerName, "seer-tests")
        let graph = model.graph
        XCTAssertEqual(graph.nodes.map(\.kind), [.add, .relu])
        XCTAssertEqual(graph.nodes.map(\.name), ["add", "Relu_1"])
        XCTAssertEqual(graph.nodes.map(\.opset), [13, 13])
        XCTAssertEqual(graph.inputs.map(\.name), ["x"], "an input with an initializer is not a required input")
        XCTAssertEqual(graph.inputs[0].shape, [.symbolic("N"), .fixed(3)])
        XCTAssertEqual(graph.initializers["bias"]?.floats, [0.5, -1, 2])
    }

    func testDecodesEveryAttributeType() throws {
        let attributes: [(inout ProtoWriter) -> Void] = [
            { $0.string(1, "alpha"); $0.float(2, 0.25); $0.int(20, 1) },
            { $0.string(1, "axis"); $0.int(3, -1); $0.int(20, 2) },
            { $0.string(1, "mode"); $0.string(4, "nearest"); $0.int(20, 3) },
            { $0.string(1, "value"); $0.message(5, ONNXBuilder.floatTensor("t", dims: [2], values: [1, 2])); $0.int(20, 4) },
            { $0.string(1, "scales"); $0.packedFloats(7, [1, 2.5]); $0.int(20, 6) },
            { $0.string(1, "pads"); $0.int(8, 1); $0.int(8, -2); $0.int(20, 7) }, // unpacked, as proto2 writes them
            { $0.string(1, "perm"); $0.packedVarints(8, [2, 0, 1]); $0.int(20, 7) }, // packed
            { $0.string(1, "names"); $0.string(9, "a"); $0.string(9, "b"); $0.int(20, 8) },
            { $0.string(1, "legacy"); $0.int(3, 7) }, // no type field: inferred from the value present
            { $0.string(1, "nothing"); $0.int(20, 7) }, // an empty list
        ]
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Identity", inputs: ["x"], outputs: ["y"], attributes: attributes)],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        let node = try ONNXModel.load(data: data).nodes[0]
        XCTAssertEqual(try node.attributes.float("alpha"), 0.25)
        XCTAssertEqual(try node.attributes.int("axis"), -1)
        XCTAssertEqual(try node.attributes.string("mode"), "nearest")
        XCTAssertEqual(try node.attributes.tensor("value")?.floats, [1, 2])
        XCTAssertEqual(try node.attributes.floats("scales"), [1, 2.5])
        XCTAssertEqual(try node.attributes.ints("pads"), [1, -2])
        XCTAssertEqual(try node.attributes.ints("perm"), [2, 0, 1])
        XCTAssertEqual(try node.attributes.strings("names"), ["a", "b"])
        XCTAssertEqual(try node.attributes.int("legacy"), 7)
        XCTAssertEqual(try node.attributes.ints("nothing"), [])
    }

    func testGraphAttributeIsUnsupportedByName() {
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Identity", inputs: ["x"], outputs: ["y"], name: "id",
                                     attributes: [{ $0.string(1, "body"); $0.message(6) { $0.string(2, "sub") }; $0.int(20, 5) }])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            guard case let RuntimeError.unsupported(node, op, opset, reason)? = error as? RuntimeError else {
                return XCTFail("expected RuntimeError.unsupported, got \(error)")
            }
            XCTAssertEqual([node, op], ["id", "Identity"])
            XCTAssertEqual(opset, 13)
            XCTAssertTrue(reason.contains("body"), reason)
        }
    }

    func testUnknownOperatorIsNamedWithNodeAndOpset() {
        let data = ONNXBuilder.model(
            nodes: [
                ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["a"]),
                ONNXBuilder.node("FancyOp", inputs: ["a"], outputs: ["y"], name: "mystery"),
            ],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])], opset: 17)
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            XCTAssertEqual(error as? RuntimeError,
                           .unsupported(node: "mystery", op: "FancyOp", opset: 17, reason: "Seer does not implement this operator"))
            let text = "\(error)"
            for part in ["mystery", "FancyOp", "17"] { XCTAssertTrue(text.contains(part), text) }
        }
        let unnamed = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["a"]), ONNXBuilder.node("FancyOp", inputs: ["a"], outputs: ["y"])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        XCTAssertThrowsError(try ONNXModel.load(data: unnamed)) { error in
            XCTAssertTrue("\(error)".contains("'FancyOp_1'"), "\(error)")
        }
    }

    func testOperatorOfAnotherDomainIsUnsupported() {
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["y"], name: "ms", domain: "com.microsoft")],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])],
            extraOpsets: [("com.microsoft", 1)])
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            guard case let RuntimeError.unsupported(node, op, opset, reason)? = error as? RuntimeError else {
                return XCTFail("expected RuntimeError.unsupported, got \(error)")
            }
            XCTAssertEqual([node, op], ["ms", "Relu"])
            XCTAssertEqual(opset, 1)
            XCTAssertTrue(reason.contains("com.microsoft"), reason)
        }
        // "ai.onnx" is the default domain under its long name.
        let longName = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["y"], domain: "ai.onnx")],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        XCTAssertEqual(try ONNXModel.load(data: longName).nodes.first?.kind, .relu)
    }

    func testUnsupportedElementTypeNamesTheNode() {
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Add", inputs: ["x", "b"], outputs: ["y"], name: "adder")],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])],
            initializers: [ONNXBuilder.tensor("b", dims: [2], dataType: ONNXBuilder.bfloat16, raw: Data(count: 4))])
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            guard case let RuntimeError.unsupported(node, op, opset, reason)? = error as? RuntimeError else {
                return XCTFail("expected RuntimeError.unsupported, got \(error)")
            }
            XCTAssertEqual([node, op], ["adder", "Add"])
            XCTAssertEqual(opset, 13)
            XCTAssertTrue(reason.contains("BFLOAT16"), reason)
        }
    }

    func testListsOperatorsWithoutConverting() throws {
        let data = ONNXBuilder.model(
            nodes: [
                ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["a"], name: "r"),
                ONNXBuilder.node("FancyOp", inputs: ["a"], outputs: ["b"]),
                ONNXBuilder.node("Relu", inputs: ["b"], outputs: ["y"], domain: "com.example"),
            ],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])],
            opset: 12, extraOpsets: [("com.example", 3)])
        let uses = try ONNXModel.operators(data: data)
        XCTAssertEqual(uses.map(\.nodeName), ["r", "FancyOp_1", "Relu_2"])
        XCTAssertEqual(uses.map(\.domain), ["", "", "com.example"])
        XCTAssertEqual(uses.map(\.opset), [12, 12, 3])
        XCTAssertEqual(uses.map(\.isSupportedOperator), [true, false, false])
    }

    func testStructuralProblemsAreNamed() {
        var noOpset = ProtoWriter()
        noOpset.message(7) { graph in
            graph.message(1, ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["y"]))
            graph.message(11, ONNXBuilder.valueInfo("x", dims: [2]))
            graph.message(12, ONNXBuilder.valueInfo("y", dims: [2]))
        }
        XCTAssertThrowsError(try ONNXModel.load(data: noOpset.data)) { error in
            XCTAssertTrue("\(error)".contains("imports no opset"), "\(error)")
        }
        let noOutputs = ONNXBuilder.model(nodes: [ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["y"])],
                                          inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [])
        XCTAssertThrowsError(try ONNXModel.load(data: noOutputs)) { error in
            XCTAssertTrue("\(error)".contains("declares no outputs"), "\(error)")
        }
        let twice = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Relu", inputs: ["x"], outputs: ["y"], name: "r",
                                     attributes: [{ $0.string(1, "a"); $0.int(3, 1) }, { $0.string(1, "a"); $0.int(3, 2) }])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        XCTAssertThrowsError(try ONNXModel.load(data: twice)) { error in
            XCTAssertEqual(error as? RuntimeError, .invalidNode(node: "r", op: "Relu", reason: "attribute 'a' is given twice"))
        }
    }

    func testCyclicGraphIsInvalid() {
        let data = ONNXBuilder.model(
            nodes: [
                ONNXBuilder.node("Add", inputs: ["x", "b"], outputs: ["a"], name: "first"),
                ONNXBuilder.node("Relu", inputs: ["a"], outputs: ["b"], name: "second"),
            ],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("b", dims: [2])])
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            guard case let RuntimeError.invalidGraph(reason)? = error as? RuntimeError else {
                return XCTFail("expected RuntimeError.invalidGraph, got \(error)")
            }
            XCTAssertTrue(reason.contains("cycle"), reason)
        }
    }

    func testValueNothingProducesIsInvalid() {
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Relu", inputs: ["ghost"], outputs: ["y"])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])])
        XCTAssertThrowsError(try ONNXModel.load(data: data)) { error in
            XCTAssertTrue("\(error)".contains("ghost"), "\(error)")
        }
    }

    // MARK: Damaged bytes

    func testEmptyFileIsRefused() {
        XCTAssertThrowsError(try ONNXModel.load(data: Data())) { error in
            XCTAssertTrue("\(error)".contains("no graph"), "\(error)")
        }
    }

    func testEveryTruncationIsAnError() throws {
        let model = smallModel()
        XCTAssertNoThrow(try ONNXModel.load(data: model))
        for length in 0..<model.count {
            XCTAssertThrowsError(try ONNXModel.load(data: model.prefix(length)), "prefix of \(length) of \(model.count) bytes")
        }
    }

    func testRandomGarbageIsAnError() {
        var generator = SeededRandom(seed: 0x5EE2)
        for trial in 0..<300 {
            let length = Int(generator.next() % 600)
            let bytes = Data((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            XCTAssertThrowsError(try ONNXModel.load(data: bytes), "trial \(trial)")
            XCTAssertThrowsError(try TensorProtoFile.decode(bytes + Data([0x08, 0x80])), "trial \(trial)")
        }
    }

    /// Flipped bytes in a valid model: loading either succeeds or throws, and never traps.
    func testCorruptedModelsNeverCrash() {
        let model = smallModel()
        var generator = SeededRandom(seed: 7)
        var refused = 0
        for _ in 0..<2000 {
            var corrupted = model
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(corrupted.count))
                corrupted[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            do { _ = try ONNXModel.load(data: corrupted) } catch { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 0)
    }

    func testHugeClaimedLengthsAreRefusedWithoutAllocating() {
        // raw_data claiming 2^31 bytes with 4 present.
        var claim = ProtoWriter()
        claim.int(1, 536_870_912)
        claim.int(2, 1)
        claim.key(9, 2)
        claim.varint(1 << 31)
        claim.data.append(Data(count: 4))
        XCTAssertThrowsError(try TensorProtoFile.decode(claim.data)) { error in
            XCTAssertTrue(error is ProtobufError, "\(error)")
            XCTAssertTrue("\(error)".contains("2147483648"), "\(error)")
        }
        // A shape of 2^31 floats with 4 bytes of data.
        var shape = ProtoWriter()
        ONNXBuilder.tensor("big", dims: [1 << 31], dataType: ONNXBuilder.float, raw: Data(count: 4))(&shape)
        XCTAssertThrowsError(try TensorProtoFile.decode(shape.data)) { error in
            XCTAssertTrue("\(error)".contains("needs 8589934592 bytes"), "\(error)")
        }
        // A shape whose element count overflows, and a negative dimension.
        for dims: [Int64] in [[1 << 40, 1 << 40], [-3, 2]] {
            var writer = ProtoWriter()
            ONNXBuilder.tensor("bad", dims: dims, dataType: ONNXBuilder.float, raw: Data())(&writer)
            XCTAssertThrowsError(try TensorProtoFile.decode(writer.data)) { error in
                XCTAssertTrue(error is ONNXError, "\(error)")
            }
        }
        // The same claims inside a model.
        let model = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Add", inputs: ["x", "w"], outputs: ["y"])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [2])], outputs: [ONNXBuilder.valueInfo("y", dims: [2])],
            initializers: [ONNXBuilder.tensor("w", dims: [1 << 31], dataType: ONNXBuilder.float, raw: Data(count: 4))])
        XCTAssertThrowsError(try ONNXModel.load(data: model))
    }

    func testWireFormatEdgeCases() throws {
        // A 10-byte varint (-1 as int64) decodes; an 11-byte one is refused.
        var minusOne = ProtoWriter()
        minusOne.int(1, -1)
        var reader = try ProtobufReader(minusOne.data)
        XCTAssertEqual(try reader.nextField()?.number, 1)
        XCTAssertEqual(try reader.readInt64(), -1)
        var overlong = try ProtobufReader(Data(repeating: 0xFF, count: 10) + Data([0x01]))
        XCTAssertThrowsError(try overlong.readVarint())
        // Unknown fields of every wire type are skipped.
        var unknown = ProtoWriter()
        unknown.int(99, 5)
        unknown.float(98, 1)
        unknown.key(97, 1)
        unknown.data.append(Data(count: 8))
        unknown.string(96, "skip me")
        ONNXBuilder.floatTensor("t", dims: [1], values: [4])(&unknown)
        XCTAssertEqual(try TensorProtoFile.decode(unknown.data).floats, [4])
        // Groups (wire types 3 and 4) are refused.
        XCTAssertThrowsError(try TensorProtoFile.decode(Data([0x0B, 0x0C])))
        // Field number 0 is invalid.
        XCTAssertThrowsError(try TensorProtoFile.decode(Data([0x00, 0x01])))
        // A known field with the wrong wire type is refused by name.
        XCTAssertThrowsError(try TensorProtoFile.decode(Data([0x15, 0, 0, 0, 0]))) { error in
            XCTAssertTrue("\(error)".contains("data_type"), "\(error)")
        }
    }

    func testNestingDeeperThanTheLimitIsRefused() throws {
        var nested = Data([0x08, 0x01])
        for _ in 0..<100 {
            var writer = ProtoWriter()
            writer.bytes(1, nested)
            nested = writer.data
        }
        var reader = try ProtobufReader(nested)
        var levels = 0
        XCTAssertThrowsError(try {
            while true {
                _ = try reader.nextField()
                reader = try reader.readMessage("level")
                levels += 1
            }
        }()) { error in
            XCTAssertTrue("\(error)".contains("nested deeper"), "\(error)")
        }
        XCTAssertEqual(levels, ProtobufReader.maximumDepth)
    }

    func testTypedDataFields() throws {
        // int32_data carries int8/uint16/bool/float16 bits; int64_data, double_data and uint64_data their own types.
        func decode(_ dataType: Int64, _ build: (inout ProtoWriter) -> Void) throws -> Tensor {
            var writer = ProtoWriter()
            writer.int(1, 3)
            writer.int(2, dataType)
            build(&writer)
            return try TensorProtoFile.decode(writer.data)
        }
        XCTAssertEqual(try decode(3) { $0.packedVarints(5, [-5, 0, 127]) }.array(of: Int8.self), [-5, 0, 127])
        XCTAssertEqual(try decode(4) { $0.packedVarints(5, [65535, 1, 2]) }.array(of: UInt16.self), [65535, 1, 2])
        XCTAssertEqual(try decode(9) { $0.packedVarints(5, [1, 0, 1]) }.array(of: Bool.self), [true, false, true])
        XCTAssertEqual(try decode(10) { $0.packedVarints(5, [0x3C00, 0xC000, 0x7C00]) }.array(of: Float16.self),
                       [1, -2, .infinity])
        XCTAssertEqual(try decode(7) { $0.packedVarints(7, [-1, 1 << 40, 3]) }.array(of: Int64.self), [-1, 1 << 40, 3])
        XCTAssertEqual(try decode(4) { $0.int(5, 7); $0.int(5, 8); $0.int(5, 9) }.array(of: UInt16.self), [7, 8, 9])
        XCTAssertEqual(try decode(1) { $0.packedFloats(4, [1, .nan, -.infinity]) }.floats.map { $0.isNaN ? 99 : $0 },
                       [1, 99, -.infinity])
        XCTAssertEqual(try decode(13) { $0.packedVarints(11, [-1, 0, 5]) }.array(of: UInt64.self), [UInt64.max, 0, 5])
        let doubles = try decode(11) { writer in
            var inner = ProtoWriter()
            for value in [0.5, -1.0, 1e300] {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { inner.data.append(contentsOf: $0) }
            }
            writer.bytes(10, inner.data)
        }
        XCTAssertEqual(doubles.array(of: Double.self), [0.5, -1, 1e300])
        // A raw_data bool byte other than 0/1 reads as true.
        XCTAssertEqual(try decode(9) { $0.bytes(9, Data([0, 7, 1])) }.array(of: Bool.self), [false, true, true])
        // Too few values is an error naming the counts.
        XCTAssertThrowsError(try decode(1) { $0.packedFloats(4, [1, 2]) }) { error in
            XCTAssertTrue("\(error)".contains("has 2 values, expected 3"), "\(error)")
        }
        // Element types Seer does not support are named.
        XCTAssertThrowsError(try decode(8) { $0.string(6, "a") }) { error in
            XCTAssertEqual(error as? ONNXError, .unsupportedDataType(tensor: "(unnamed)", type: "STRING"))
        }
    }

    // MARK: External data

    func testExternalDataInsideTheFolderLoads() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights: [Float] = [9, 8, 7, 6]
        var file = Data(count: 16) // 16 bytes of padding before the tensor
        file.append(weights.withUnsafeBytes { Data($0) })
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        try file.write(to: folder.appendingPathComponent("data/weights.bin"))
        let model = externalModel(location: "data/weights.bin", offset: "16", length: "16")
        try model.write(to: folder.appendingPathComponent("model.onnx"))
        let graph = try ONNXModel.load(contentsOf: folder.appendingPathComponent("model.onnx"))
        XCTAssertEqual(graph.initializers["w"]?.floats, weights)
        XCTAssertEqual(try ONNXModel.load(data: model, baseDirectory: folder).initializers["w"]?.floats, weights)
    }

    func testExternalDataEscapingTheFolderIsRefused() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(count: 16).write(to: root.appendingPathComponent("secret.bin"))
        try Data(count: 16).write(to: folder.appendingPathComponent("ok.bin"))
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("link.bin").path,
                                                   withDestinationPath: root.appendingPathComponent("secret.bin").path)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("dirlink").path, withDestinationPath: root.path)

        let refusals: [(location: String, offset: String, length: String, expected: String)] = [
            ("../secret.bin", "0", "16", "leaves the model's folder"),
            ("sub/../../secret.bin", "0", "16", "leaves the model's folder"),
            (root.appendingPathComponent("secret.bin").path, "0", "16", "relative path"),
            ("link.bin", "0", "16", "outside the model's folder"),
            ("dirlink/secret.bin", "0", "16", "outside the model's folder"),
            ("missing.bin", "0", "16", "does not exist"),
            ("ok.bin", "8", "16", "run past the end"),
            ("ok.bin", "0", "12", "does not match"),
            ("ok.bin", "-4", "16", "non-negative"),
            ("sub", "0", "16", "not a regular file"),
            (".", "0", "16", "outside the model's folder"),
        ]
        for refusal in refusals {
            let model = externalModel(location: refusal.location, offset: refusal.offset, length: refusal.length)
            XCTAssertThrowsError(try ONNXModel.load(data: model, baseDirectory: folder), refusal.location) { error in
                guard case ONNXError.externalData? = error as? ONNXError else {
                    return XCTFail("\(refusal.location): expected ONNXError.externalData, got \(error)")
                }
                XCTAssertTrue("\(error)".contains(refusal.expected), "\(refusal.location): \(error)")
            }
        }
        XCTAssertThrowsError(try ONNXModel.load(data: externalModel(location: "ok.bin", offset: "0", length: "16"))) { error in
            XCTAssertTrue("\(error)".contains("base directory"), "\(error)")
        }
    }

    private func externalModel(location: String, offset: String, length: String) -> Data {
        ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Add", inputs: ["x", "w"], outputs: ["y"])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [4])], outputs: [ONNXBuilder.valueInfo("y", dims: [4])],
            initializers: [ONNXBuilder.tensor("w", dims: [4], dataType: ONNXBuilder.float,
                                              external: [("location", location), ("offset", offset), ("length", length)])])
    }

    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: Running loaded graphs

    /// A graph with no nodes whose output is its input: the executor's own checks, without any kernel.
    func passThroughExecutor() throws -> Executor {
        let data = ONNXBuilder.model(nodes: [], inputs: [ONNXBuilder.valueInfo("x", dims: [nil, 3])],
                                     outputs: [ONNXBuilder.valueInfo("x", dims: [nil, 3])])
        return Executor(plan: try ExecutionPlan(graph: try ONNXModel.load(data: data)))
    }

    func testExecutorRejectsWrongInputs() throws {
        let executor = try passThroughExecutor()
        XCTAssertEqual(try executor.run(["x": Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])])["x"]?.floats, [1, 2, 3, 4, 5, 6])
        let cases: [([String: Tensor], String)] = [
            (["y": Tensor(shape: [1, 3], floats: [1, 2, 3])], "no input named 'y'"),
            ([:], "missing input 'x'"),
            (["x": Tensor(shape: [1, 3], values: [Int64(1), 2, 3])], "must be float32, got int64"),
            (["x": Tensor(shape: [1, 4], floats: [1, 2, 3, 4])], "dimension 1 must be 3"),
            (["x": Tensor(shape: [3], floats: [1, 2, 3])], "must have rank 2"),
        ]
        for (feeds, expected) in cases {
            XCTAssertThrowsError(try executor.run(feeds)) { error in
                guard case RuntimeError.invalidInput? = error as? RuntimeError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }

    func testNaNAndInfinityPropagate() throws {
        let data = ONNXBuilder.model(
            nodes: [ONNXBuilder.node("Add", inputs: ["x", "bias"], outputs: ["y"])],
            inputs: [ONNXBuilder.valueInfo("x", dims: [4])], outputs: [ONNXBuilder.valueInfo("y", dims: [4])],
            initializers: [ONNXBuilder.floatTensor("bias", dims: [4], values: [1, 1, 1, 1])])
        let plan: ExecutionPlan
        do {
            plan = try ExecutionPlan(graph: try ONNXModel.load(data: data))
        } catch let RuntimeError.unsupported(_, _, _, reason) where reason == "not implemented yet" {
            throw XCTSkip("the Add kernel is still a placeholder on this branch")
        }
        let y = try Executor(plan: plan).run(["x": Tensor(shape: [4], floats: [.nan, .infinity, -.infinity, 2])])["y"]
        let values = try XCTUnwrap(y).floats
        XCTAssertTrue(values[0].isNaN)
        XCTAssertEqual(Array(values[1...]), [.infinity, -.infinity, 3])
    }
}
