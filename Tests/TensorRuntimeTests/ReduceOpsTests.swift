import Foundation
import TensorRuntime
import XCTest

/// ReduceSum, ReduceMean, ReduceMax against a per-element reference. Tolerance 1e-5
/// (absolute below 1, relative above); integer results are exact.
final class ReduceOpsTests: XCTestCase {
    typealias H = ElementwiseHarness

    /// Reduces `values` of `shape` over `axes` (already non-negative) with keepdims semantics.
    static func reference<T>(_ values: [T], shape: [Int], axes: Set<Int>, keepDims: Bool, initial: T,
                             _ combine: (T, T) -> T) -> (shape: [Int], values: [T], counts: [Int]) {
        let kept = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        var result = [T](repeating: initial, count: kept.reduce(1, *))
        var counts = [Int](repeating: 0, count: result.count)
        for flat in values.indices {
            let index = H.index(of: flat, in: shape)
            let target = H.offset(of: index.indices.map { axes.contains($0) ? 0 : index[$0] }, in: kept)
            result[target] = combine(result[target], values[flat])
            counts[target] += 1
        }
        let outputShape = keepDims ? kept : shape.indices.filter { !axes.contains($0) }.map { shape[$0] }
        return (outputShape, result, counts)
    }

    static let axisCases: [[Int]] = [[1], [0], [2], [-1], [-3], [0, 2], [1, 2], [0, 1, 2], [2, 0]]

    func testReductionsWithAxesAttributeAndKeepDims() throws {
        var random = ElementwiseRandom(seed: 30)
        let shape = [3, 4, 5]
        let values = random.floats(60, in: -5...5)
        let x = Tensor(shape: shape, floats: values)
        for axes in Self.axisCases {
            let normalized = Set(axes.map { $0 < 0 ? $0 + 3 : $0 })
            for keepDims in [true, false] {
                let attributes: [String: AttributeValue] = ["axes": .ints(axes), "keepdims": .int(keepDims ? 1 : 0)]
                let sum = Self.reference(values, shape: shape, axes: normalized, keepDims: keepDims, initial: 0, +)
                let maximum = Self.reference(values, shape: shape, axes: normalized, keepDims: keepDims, initial: -.infinity) { max($0, $1) }

                let sumOutput = try H.run(.reduceSum, opset: 11, [x], attributes: attributes)
                XCTAssertEqual(sumOutput.shape, sum.shape, "ReduceSum \(axes) keepdims \(keepDims)")
                assertElementsClose(sumOutput.floats, sum.values, "ReduceSum \(axes) keepdims \(keepDims)")

                let meanOutput = try H.run(.reduceMean, opset: 13, [x], attributes: attributes)
                XCTAssertEqual(meanOutput.shape, sum.shape)
                assertElementsClose(meanOutput.floats, zip(sum.values, sum.counts).map { $0 / Float($1) }, "ReduceMean \(axes) keepdims \(keepDims)")

                let maxOutput = try H.run(.reduceMax, opset: 13, [x], attributes: attributes)
                XCTAssertEqual(maxOutput.shape, maximum.shape)
                XCTAssertEqual(maxOutput.floats, maximum.values, "ReduceMax \(axes) keepdims \(keepDims)")
            }
        }
    }

    func testAxesAsInputFromOpset13ForSumAnd18ForTheOthers() throws {
        var random = ElementwiseRandom(seed: 31)
        let shape = [2, 3, 4]
        let values = random.floats(24)
        let x = Tensor(shape: shape, floats: values)
        let axes = Tensor(shape: [2], values: [Int64(-1), 0])
        let sum = Self.reference(values, shape: shape, axes: [2, 0], keepDims: false, initial: 0, +)
        let attributes: [String: AttributeValue] = ["keepdims": .int(0)]
        let sumOutput = try H.run(.reduceSum, opset: 13, [x, axes], attributes: attributes)
        XCTAssertEqual(sumOutput.shape, [3])
        assertElementsClose(sumOutput.floats, sum.values)
        let meanOutput = try H.run(.reduceMean, opset: 18, [x, axes], attributes: attributes)
        assertElementsClose(meanOutput.floats, sum.values.map { $0 / 8 })
        let maxOutput = try H.run(.reduceMax, opset: 18, [x, axes], attributes: attributes)
        XCTAssertEqual(maxOutput.floats, Self.reference(values, shape: shape, axes: [2, 0], keepDims: false, initial: -.infinity) { max($0, $1) }.values)
    }

    func testMissingOrEmptyAxesReduceEverythingUnlessNoop() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let x = Tensor(shape: [2, 3], floats: values)
        let empty = Tensor(dataType: .int64, shape: [0])
        for inputs in [[x], [x, nil], [x, empty]] {
            let all = try H.run(.reduceSum, opset: 13, inputs)
            XCTAssertEqual(all.shape, [1, 1])
            XCTAssertEqual(all.floats, [21])
        }
        let flat = try H.run(.reduceMean, opset: 13, [x], attributes: ["keepdims": .int(0)])
        XCTAssertEqual(flat.shape, [])
        XCTAssertEqual(flat.floats, [3.5])
        for inputs in [[x, empty], [x]] {
            let noop = try H.run(.reduceSum, opset: 13, inputs, attributes: ["noop_with_empty_axes": .int(1)])
            XCTAssertEqual(noop.shape, [2, 3])
            XCTAssertEqual(noop.floats, values)
        }
        let noopMax = try H.run(.reduceMax, opset: 18, [x, empty], attributes: ["noop_with_empty_axes": .int(1), "keepdims": .int(0)])
        XCTAssertEqual(noopMax.floats, values)
    }

    func testIntegerReductions() throws {
        var random = ElementwiseRandom(seed: 32)
        let values = (0..<24).map { _ in Int32.random(in: -1000...1000, using: &random) }
        let x = Tensor(shape: [2, 3, 4], values: values)
        let sum = Self.reference(values, shape: [2, 3, 4], axes: [1], keepDims: true, initial: 0, +)
        XCTAssertEqual(try H.run(.reduceSum, opset: 13, [x, Tensor(shape: [1], values: [Int64(1)])]).array(of: Int32.self), sum.values)
        XCTAssertEqual(try H.run(.reduceMean, opset: 13, [x], attributes: ["axes": .ints([1])]).array(of: Int32.self), sum.values.map { $0 / 3 })
        let longs = Tensor(shape: [3], values: [Int64.min, -5, 9])
        XCTAssertEqual(try H.run(.reduceMax, opset: 13, [longs]).array(of: Int64.self), [9])
    }

    func testNaNPropagatesAndEmptyReductionsGiveIdentities() throws {
        let x = Tensor(shape: [2, 2], floats: [1, .nan, 3, 4])
        let maxima = try H.run(.reduceMax, opset: 13, [x], attributes: ["axes": .ints([1]), "keepdims": .int(0)])
        assertElementsClose(maxima.floats, [.nan, 4])
        let leading = try H.run(.reduceMax, opset: 13, [Tensor(shape: [2, 2], floats: [.nan, 1, 3, 4])], attributes: ["axes": .ints([1])])
        XCTAssertTrue(leading.floats[0].isNaN)
        let sums = try H.run(.reduceSum, opset: 11, [x], attributes: ["axes": .ints([0])])
        assertElementsClose(sums.floats, [4, .nan])

        let empty = Tensor(dataType: .float32, shape: [2, 0, 3])
        let emptySum = try H.run(.reduceSum, opset: 11, [empty], attributes: ["axes": .ints([1])])
        XCTAssertEqual(emptySum.shape, [2, 1, 3])
        XCTAssertEqual(emptySum.floats, [Float](repeating: 0, count: 6))
        let emptyMax = try H.run(.reduceMax, opset: 13, [empty], attributes: ["axes": .ints([1]), "keepdims": .int(0)])
        XCTAssertEqual(emptyMax.shape, [2, 3])
        XCTAssertEqual(emptyMax.floats, [Float](repeating: -.infinity, count: 6))
        let keptEmpty = try H.run(.reduceMean, opset: 13, [empty], attributes: ["axes": .ints([2])])
        XCTAssertEqual(keptEmpty.shape, [2, 0, 1])
    }

    func testFloat16AndFloat64() throws {
        let half = Tensor(shape: [2, 2], values: [Float16(1), 2, 3, 4.5])
        let halfSum = try H.run(.reduceSum, opset: 11, [half], attributes: ["axes": .ints([1])])
        XCTAssertEqual(halfSum.dataType, .float16)
        XCTAssertEqual(halfSum.array(of: Float16.self), [3, 7.5])
        let doubles = Tensor(shape: [3], values: [0.1, 0.2, 0.3])
        XCTAssertEqual(try H.run(.reduceMean, opset: 13, [doubles]).array(of: Double.self)[0], (0.1 + 0.2 + 0.3) / 3, accuracy: 1e-15)
    }

    func testBadAxesAreRejected() {
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        XCTAssertThrowsError(try H.run(.reduceSum, opset: 11, [x], attributes: ["axes": .ints([2])])) { error in
            XCTAssertTrue("\(error)".contains("axis 2"), "\(error)")
        }
        XCTAssertThrowsError(try H.run(.reduceMean, opset: 13, [x], attributes: ["axes": .ints([1, -1])])) { error in
            XCTAssertTrue("\(error)".contains("twice"), "\(error)")
        }
        XCTAssertThrowsError(try H.run(.reduceSum, opset: 13, [x, Tensor(shape: [1], floats: [1])]))
        // From opset 18 the axes of ReduceMean are an input; an axes attribute is refused at load.
        let graph = H.graph(.reduceMean, opset: 18, inputs: [x], attributes: ["axes": .ints([0])])
        XCTAssertThrowsError(try ExecutionPlan(graph: graph)) { error in
            XCTAssertTrue("\(error)".contains("opset 18"), "\(error)")
        }
    }
}
