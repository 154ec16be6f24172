import TensorRuntime
import XCTest

private typealias H = MovementHarness

/// Concat, Reshape family, Identity/Dropout, Shape, Constant.
final class MovementTests: XCTestCase {
    // MARK: Concat

    /// Reference: output[i] = input k at i with the axis coordinate shifted by the sizes before k.
    private func referenceConcat(_ tensors: [Tensor], axis: Int) -> (shape: [Int], values: [Int64]) {
        var shape = tensors[0].shape
        shape[axis] = tensors.map { $0.shape[axis] }.reduce(0, +)
        let count = shape.reduce(1, *)
        var values = [Int64](repeating: 0, count: count)
        for flat in 0..<count {
            var index = H.index(flat, in: shape)
            var k = 0
            while index[axis] >= tensors[k].shape[axis] { index[axis] -= tensors[k].shape[axis]; k += 1 }
            values[flat] = tensors[k].array(of: Int64.self)[H.flat(index, in: tensors[k].shape)]
        }
        return (shape, values)
    }

    func testConcatAlongEveryAxisIncludingNegative() throws {
        for (axis, opsetAxis) in [(0, 0), (1, 1), (2, 2), (2, -1), (0, -3)] {
            var shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
            for k in 0..<3 { shapes[k][axis] = k + 1 }
            let inputs = shapes.enumerated().map { H.randomInt64($0.element, seed: UInt64(10 + $0.offset)) }
            let output = try H.run1(.concat, opset: 13, inputs, attributes: ["axis": .int(opsetAxis)])
            let expected = referenceConcat(inputs, axis: axis)
            XCTAssertEqual(output.shape, expected.shape, "axis \(opsetAxis)")
            XCTAssertEqual(output.array(of: Int64.self), expected.values, "axis \(opsetAxis)")
        }
    }

    func testConcatFloatAndEmptyInput() throws {
        let a = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        let empty = Tensor(dataType: .float32, shape: [2, 0])
        let b = Tensor(shape: [2, 1], floats: [5, 6])
        let output = try H.run1(.concat, opset: 11, [a, empty, b], attributes: ["axis": .int(1)])
        XCTAssertEqual(output.shape, [2, 3])
        XCTAssertEqual(output.floats, [1, 2, 5, 3, 4, 6])
    }

    func testConcatRejectsMismatchedShapesAndMissingAxis() {
        let a = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        let b = Tensor(shape: [3, 1], floats: [5, 6, 7])
        H.assertThrows("incompatible") { _ = try H.run1(.concat, opset: 13, [a, b], attributes: ["axis": .int(1)]) }
        H.assertThrows("axis") { _ = try H.run1(.concat, opset: 13, [a, a]) }
    }

    // MARK: Reshape, Flatten, Squeeze, Unsqueeze

    func testReshapeCopiesZeroInfersMinusOneAndReturnsAView() throws {
        let data = H.random([2, 3, 4], seed: 1)
        let output = try H.run1(.reshape, opset: 13, [data, H.int64s([0, -1, 2])])
        XCTAssertEqual(output.shape, [2, 6, 2])
        XCTAssertEqual(output.floats, data.floats)
        XCTAssertTrue(output.storage === data.storage, "Reshape must return a view of the input")
    }

    func testReshapeAllowZeroKeepsZeroDimensions() throws {
        let data = Tensor(dataType: .float32, shape: [0, 3, 4])
        let output = try H.run1(.reshape, opset: 14, [data, H.int64s([3, 4, 0])], attributes: ["allowzero": .int(1)])
        XCTAssertEqual(output.shape, [3, 4, 0])
        // Without allowzero (and before opset 14) 0 copies the input dimension.
        let copied = try H.run1(.reshape, opset: 14, [H.random([2, 3, 4], seed: 2), H.int64s([0, 12])])
        XCTAssertEqual(copied.shape, [2, 12])
        let old = try H.run1(.reshape, opset: 13, [H.random([2, 3, 4], seed: 2), H.int64s([0, 12])], attributes: ["allowzero": .int(1)])
        XCTAssertEqual(old.shape, [2, 12])
    }

    func testReshapeRejectsBadShapes() {
        let data = H.random([2, 3, 4], seed: 3)
        H.assertThrows("more than one -1") { _ = try H.run1(.reshape, opset: 13, [data, H.int64s([-1, -1])]) }
        H.assertThrows("cannot reshape") { _ = try H.run1(.reshape, opset: 13, [data, H.int64s([5, 5])]) }
        H.assertThrows("cannot reshape") { _ = try H.run1(.reshape, opset: 13, [data, H.int64s([7, -1])]) }
    }

    func testFlattenAxes() throws {
        let data = H.random([2, 3, 4, 5], seed: 4)
        for (axis, expected) in [(0, [1, 120]), (1, [2, 60]), (3, [24, 5]), (4, [120, 1]), (-1, [24, 5]), (-4, [1, 120])] {
            let output = try H.run1(.flatten, opset: 13, [data], attributes: ["axis": .int(axis)])
            XCTAssertEqual(output.shape, expected, "axis \(axis)")
            XCTAssertTrue(output.storage === data.storage)
        }
        XCTAssertEqual(try H.run1(.flatten, opset: 9, [data]).shape, [2, 60])
        H.assertThrows("out of range") { _ = try H.run1(.flatten, opset: 13, [data], attributes: ["axis": .int(5)]) }
    }

    func testSqueezeAttributeInputAndDefault() throws {
        let data = H.random([1, 3, 1, 4, 1], seed: 5)
        XCTAssertEqual(try H.run1(.squeeze, opset: 11, [data], attributes: ["axes": .ints([0, -1])]).shape, [3, 1, 4])
        XCTAssertEqual(try H.run1(.squeeze, opset: 13, [data, H.int64s([-3])]).shape, [1, 3, 4, 1])
        XCTAssertEqual(try H.run1(.squeeze, opset: 13, [data]).shape, [3, 4])
        XCTAssertEqual(try H.run1(.squeeze, opset: 7, [data]).shape, [3, 4])
        let view = try H.run1(.squeeze, opset: 13, [data])
        XCTAssertTrue(view.storage === data.storage)
        XCTAssertEqual(view.floats, data.floats)
        H.assertThrows("not 1") { _ = try H.run1(.squeeze, opset: 13, [data, H.int64s([1])]) }
    }

    func testUnsqueezeAttributeAndInputWithNegativeAndUnsortedAxes() throws {
        let data = H.random([3, 4], seed: 6)
        XCTAssertEqual(try H.run1(.unsqueeze, opset: 11, [data], attributes: ["axes": .ints([0, 3])]).shape, [1, 3, 4, 1])
        XCTAssertEqual(try H.run1(.unsqueeze, opset: 13, [data, H.int64s([-1])]).shape, [3, 4, 1])
        XCTAssertEqual(try H.run1(.unsqueeze, opset: 13, [data, H.int64s([4, 1, 0])]).shape, [1, 1, 3, 4, 1])
        let view = try H.run1(.unsqueeze, opset: 13, [data, H.int64s([0])])
        XCTAssertTrue(view.storage === data.storage)
        H.assertThrows("repeat") { _ = try H.run1(.unsqueeze, opset: 13, [data, H.int64s([0, 0])]) }
        H.assertThrows("out of range") { _ = try H.run1(.unsqueeze, opset: 13, [data, H.int64s([3])]) }
    }

    // MARK: Identity, Dropout

    func testIdentityPassesInt64Through() throws {
        let data = H.randomInt64([3, 2], seed: 7)
        let output = try H.run1(.identity, opset: 16, [data])
        XCTAssertEqual(output.array(of: Int64.self), data.array(of: Int64.self))
    }

    func testDropoutAtInferenceWithMasks() throws {
        let data = H.random([2, 5], seed: 8)
        // Opset 7: mask of the data's type, all ones.
        let old = try H.run(.dropout, opset: 7, [data], attributes: ["ratio": .float(0.3)], outputs: 2)
        XCTAssertEqual(old[0].floats, data.floats)
        XCTAssertEqual(old[1].dataType, .float32)
        XCTAssertEqual(old[1].floats, [Float](repeating: 1, count: 10))
        // Opset 12: ratio and training_mode inputs, bool mask.
        let ratio = Tensor.scalar(Float(0.5))
        let modern = try H.run(.dropout, opset: 13, [data, ratio, Tensor.scalar(false)], outputs: 2)
        XCTAssertEqual(modern[0].floats, data.floats)
        XCTAssertEqual(modern[1].array(of: Bool.self), [Bool](repeating: true, count: 10))
        XCTAssertEqual(try H.run1(.dropout, opset: 12, [data]).floats, data.floats)
        // Training with ratio 0 drops nothing; with a positive ratio it is random, which is not implemented.
        XCTAssertEqual(try H.run1(.dropout, opset: 12, [data, Tensor.scalar(Float(0)), Tensor.scalar(true)]).floats, data.floats)
        H.assertThrows("training_mode") { _ = try H.run1(.dropout, opset: 12, [data, ratio, Tensor.scalar(true)]) }
    }

    // MARK: Shape

    func testShapeWithStartAndEnd() throws {
        let data = Tensor(dataType: .uint8, shape: [2, 3, 4, 5])
        XCTAssertEqual(try H.run1(.shape, opset: 13, [data]).array(of: Int64.self), [2, 3, 4, 5])
        let cases: [(Int?, Int?, [Int64])] = [(1, nil, [3, 4, 5]), (nil, -1, [2, 3, 4]), (1, 3, [3, 4]),
                                              (-10, 10, [2, 3, 4, 5]), (3, 1, []), (-2, nil, [4, 5])]
        for (start, end, expected) in cases {
            var attributes: [String: AttributeValue] = [:]
            if let start { attributes["start"] = .int(start) }
            if let end { attributes["end"] = .int(end) }
            let output = try H.run1(.shape, opset: 15, [data], attributes: attributes)
            XCTAssertEqual(output.dataType, .int64)
            XCTAssertEqual(output.array(of: Int64.self), expected, "start \(String(describing: start)) end \(String(describing: end))")
        }
        // Before opset 15 start/end do not exist.
        XCTAssertEqual(try H.run1(.shape, opset: 13, [data], attributes: ["start": .int(2)]).count, 4)
    }

    // MARK: Constant

    func testConstantValueAttributes() throws {
        let tensor = Tensor(shape: [2], values: [Int32(7), -3])
        let cases: [(String, AttributeValue, DataType, [Int], [Double])] = [
            ("value", .tensor(tensor), .int32, [2], [7, -3]),
            ("value_float", .float(2.5), .float32, [], [2.5]),
            ("value_floats", .floats([1, 2, 3]), .float32, [3], [1, 2, 3]),
            ("value_int", .int(-9), .int64, [], [-9]),
            ("value_ints", .ints([4, 5]), .int64, [2], [4, 5]),
        ]
        for (name, value, type, shape, values) in cases {
            let output = try H.run1(.constant, opset: 13, [], attributes: [name: value])
            XCTAssertEqual(output.dataType, type, name)
            XCTAssertEqual(output.shape, shape, name)
            XCTAssertEqual(output.floatValues().map(Double.init), values, name)
        }
    }

    func testConstantRejectsStringsAtLoad() {
        let node = Node(name: "c", kind: .constant, opset: 13, inputs: [], outputs: ["y"],
                        attributes: Attributes(["value_string": .string("hello")]))
        let graph = Graph(nodes: [node], inputs: [], outputs: [ValueInfo(name: "y", dataType: nil, shape: nil)])
        XCTAssertThrowsError(try ExecutionPlan(graph: graph)) { error in
            guard case RuntimeError.unsupported = error else { return XCTFail("expected unsupported, got \(error)") }
        }
        let empty = Node(name: "c", kind: .constant, opset: 13, inputs: [], outputs: ["y"])
        XCTAssertThrowsError(try ExecutionPlan(graph: Graph(nodes: [empty], inputs: [], outputs: graph.outputs)))
    }
}
