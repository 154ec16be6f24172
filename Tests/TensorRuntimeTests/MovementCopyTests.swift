import TensorRuntime
import XCTest

private typealias H = MovementHarness

/// Transpose, Pad, Slice, Split, Gather against plainly written references.
final class MovementCopyTests: XCTestCase {
    // MARK: Transpose

    /// Reference: output[i_0, ..., i_{r-1}] = input[j] with j[perm[k]] = i_k.
    private func referenceTranspose<T: TensorElement>(_ input: Tensor, _ perm: [Int], as type: T.Type) -> [T] {
        let values = input.array(of: type)
        let outputShape = perm.map { input.shape[$0] }
        return (0..<input.count).map { flat in
            let index = H.index(flat, in: outputShape)
            var source = [Int](repeating: 0, count: perm.count)
            for (k, axis) in perm.enumerated() { source[axis] = index[k] }
            return values[H.flat(source, in: input.shape)]
        }
    }

    private func permutations(_ n: Int) -> [[Int]] {
        guard n > 0 else { return [[]] }
        return permutations(n - 1).flatMap { rest in (0...rest.count).map { position in
            var perm = rest
            perm.insert(n - 1, at: position)
            return perm
        } }
    }

    func testTransposeEveryPermutationOfRank4() throws {
        let input = H.random([2, 3, 4, 5], seed: 20)
        for perm in permutations(4) {
            let output = try H.run1(.transpose, opset: 13, [input], attributes: ["perm": .ints(perm)])
            XCTAssertEqual(output.shape, perm.map { input.shape[$0] }, "perm \(perm)")
            XCTAssertEqual(output.floats, referenceTranspose(input, perm, as: Float.self), "perm \(perm)")
        }
    }

    func testTransposeDefaultReversesAxes() throws {
        let input = H.random([2, 3, 4], seed: 21)
        let output = try H.run1(.transpose, opset: 7, [input])
        XCTAssertEqual(output.shape, [4, 3, 2])
        XCTAssertEqual(output.floats, referenceTranspose(input, [2, 1, 0], as: Float.self))
    }

    func testTransposeFastPathsAcrossTileEdges() throws {
        // 2-D and the NCHW <-> NHWC layouts take the tiled path; sizes cross the 32-element tiles.
        let matrix = H.random([67, 45], seed: 22)
        XCTAssertEqual(try H.run1(.transpose, opset: 13, [matrix]).floats, referenceTranspose(matrix, [1, 0], as: Float.self))
        let nchw = H.random([2, 35, 9, 7], seed: 23)
        let nhwc = try H.run1(.transpose, opset: 13, [nchw], attributes: ["perm": .ints([0, 2, 3, 1])])
        XCTAssertEqual(nhwc.shape, [2, 9, 7, 35])
        XCTAssertEqual(nhwc.floats, referenceTranspose(nchw, [0, 2, 3, 1], as: Float.self))
        let back = try H.run1(.transpose, opset: 13, [nhwc], attributes: ["perm": .ints([0, 3, 1, 2])])
        XCTAssertEqual(back.shape, nchw.shape)
        XCTAssertEqual(back.floats, nchw.floats)
    }

    func testLargeTransposesSplitOverThreads() throws {
        // Large enough to be split: bands of tiles along the longer side, tall (an NHWC image) and wide.
        let nhwc = H.random([1, 96, 130, 3], seed: 25)
        let wide = H.random([70, 600], seed: 26)
        for threads in [2, 3] {
            let nchw = try H.run1(.transpose, opset: 13, [nhwc], attributes: ["perm": .ints([0, 3, 1, 2])], threads: threads)
            XCTAssertEqual(nchw.floats, referenceTranspose(nhwc, [0, 3, 1, 2], as: Float.self), "\(threads) threads")
            XCTAssertEqual(try H.run1(.transpose, opset: 13, [wide], threads: threads).floats,
                           referenceTranspose(wide, [1, 0], as: Float.self), "\(threads) threads")
        }
    }

    func testTransposeOtherElementSizes() throws {
        let int64 = H.randomInt64([3, 4, 5], seed: 24)
        XCTAssertEqual(try H.run1(.transpose, opset: 13, [int64], attributes: ["perm": .ints([2, 0, 1])]).array(of: Int64.self),
                       referenceTranspose(int64, [2, 0, 1], as: Int64.self))
        let bytes = Tensor(shape: [3, 4, 5], values: (0..<60).map { UInt8($0 * 3 % 256) })
        XCTAssertEqual(try H.run1(.transpose, opset: 13, [bytes], attributes: ["perm": .ints([1, 2, 0])]).array(of: UInt8.self),
                       referenceTranspose(bytes, [1, 2, 0], as: UInt8.self))
        let halves = Tensor(shape: [4, 6], values: (0..<24).map { Float16(Float($0) * 0.5) })
        XCTAssertEqual(try H.run1(.transpose, opset: 13, [halves]).array(of: Float16.self),
                       referenceTranspose(halves, [1, 0], as: Float16.self))
    }

    func testTransposeMovingOnlySizeOneAxesIsAView() throws {
        let input = H.random([1, 3, 1, 4], seed: 25)
        let output = try H.run1(.transpose, opset: 13, [input], attributes: ["perm": .ints([2, 1, 0, 3])])
        XCTAssertEqual(output.shape, [1, 3, 1, 4])
        XCTAssertTrue(output.storage === input.storage)
        H.assertThrows("permutation") { _ = try H.run1(.transpose, opset: 13, [input], attributes: ["perm": .ints([0, 0, 1, 2])]) }
        H.assertThrows("axes") { _ = try H.run1(.transpose, opset: 13, [input], attributes: ["perm": .ints([1, 0])]) }
    }

    // MARK: Pad

    func testPadConstantAllOpsetForms() throws {
        let input = H.random([2, 3, 4], seed: 30)
        let pads = [1, 0, 2, 0, 3, 1] // begins then ends
        // Reference: the input placed at offset `begins` in a tensor filled with the value.
        let outputShape = [3, 6, 7]
        var expected = [Float](repeating: 1.5, count: outputShape.reduce(1, *))
        for flat in 0..<input.count {
            let index = H.index(flat, in: input.shape)
            expected[H.flat([index[0] + 1, index[1], index[2] + 2], in: outputShape)] = input.floats[flat]
        }
        let old = try H.run1(.pad, opset: 7, [input], attributes: ["pads": .ints(pads), "value": .float(1.5)])
        XCTAssertEqual(old.shape, outputShape)
        XCTAssertEqual(old.floats, expected)
        let modern = try H.run1(.pad, opset: 13, [input, H.int64s(pads), Tensor.scalar(Float(1.5))])
        XCTAssertEqual(modern.floats, expected)
        // Opset 18: pads for the listed axes only.
        let withAxes = try H.run1(.pad, opset: 18, [input, H.int64s([2, 1, 0, 1, 0, 3]), Tensor.scalar(Float(1.5)), H.int64s([-1, 0, 1])])
        XCTAssertEqual(withAxes.floats, expected)
        // Default constant 0, int64 data.
        let integers = H.randomInt64([2, 2], seed: 31)
        let padded = try H.run1(.pad, opset: 11, [integers, H.int64s([0, 1, 0, 0])])
        let v = integers.array(of: Int64.self)
        XCTAssertEqual(padded.array(of: Int64.self), [0, v[0], v[1], 0, v[2], v[3]])
    }

    func testPadReflectAndEdge() throws {
        // The ONNX specification's example.
        let input = Tensor(shape: [3, 2], floats: [1.0, 1.2, 2.3, 3.4, 4.5, 5.7])
        let pads = H.int64s([0, 2, 0, 0])
        let reflect = try H.run1(.pad, opset: 13, [input, pads], attributes: ["mode": .string("reflect")])
        XCTAssertEqual(reflect.floats, [1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7])
        let edge = try H.run1(.pad, opset: 13, [input, pads], attributes: ["mode": .string("edge")])
        XCTAssertEqual(edge.floats, [1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7])
        // Reflect on both sides of both axes.
        let row = Tensor(shape: [1, 4], floats: [1, 2, 3, 4])
        let both = try H.run1(.pad, opset: 13, [row, H.int64s([0, 3, 0, 2])], attributes: ["mode": .string("reflect")])
        XCTAssertEqual(both.floats, [4, 3, 2, 1, 2, 3, 4, 3, 2])
        let column = try H.run1(.pad, opset: 13, [input, H.int64s([2, 0, 1, 0])], attributes: ["mode": .string("reflect")])
        XCTAssertEqual(column.floats, [4.5, 5.7, 2.3, 3.4, 1.0, 1.2, 2.3, 3.4, 4.5, 5.7, 2.3, 3.4])
    }

    func testPadNegativePadsCrop() throws {
        let input = Tensor(shape: [3, 4], floats: (0..<12).map(Float.init))
        // Crop one column on the left, pad one row of 9s at the bottom.
        let output = try H.run1(.pad, opset: 13, [input, H.int64s([0, -1, 1, 0]), Tensor.scalar(Float(9))])
        XCTAssertEqual(output.shape, [4, 3])
        XCTAssertEqual(output.floats, [1, 2, 3, 5, 6, 7, 9, 10, 11, 9, 9, 9])
        // Edge mode pads from the cropped data.
        let edge = try H.run1(.pad, opset: 13, [input, H.int64s([0, -2, 0, 1])], attributes: ["mode": .string("edge")])
        XCTAssertEqual(edge.floats, [2, 3, 3, 6, 7, 7, 10, 11, 11])
        H.assertThrows("below zero") { _ = try H.run1(.pad, opset: 13, [input, H.int64s([0, -3, 0, -2])]) }
        H.assertThrows("pads") { _ = try H.run1(.pad, opset: 13, [input, H.int64s([1, 1])]) }
        H.assertThrows("too large") { _ = try H.run1(.pad, opset: 13, [input, H.int64s([0, Int(Int64.max), 0, 1])]) }
        H.assertThrows("exceeds") { _ = try H.run1(.pad, opset: 13, [input, H.int64s([1 << 16, 1 << 16, 1 << 16, 1 << 16])]) }
    }

    // MARK: Slice

    /// Reference: Python slicing semantics written out per axis.
    private func referenceSlice(_ input: Tensor, starts: [Int], ends: [Int], axes: [Int], steps: [Int]) -> (shape: [Int], values: [Float]) {
        var picks = input.shape.map { Array(0..<$0) }
        for (k, givenAxis) in axes.enumerated() {
            let axis = givenAxis < 0 ? givenAxis + input.rank : givenAxis
            let size = input.shape[axis], step = steps[k]
            var start = starts[k] < 0 ? starts[k] + size : starts[k]
            var end = ends[k] < 0 ? ends[k] + size : ends[k]
            var chosen: [Int] = []
            if step > 0 {
                start = min(max(start, 0), size); end = min(max(end, 0), size)
                var i = start
                while i < end { chosen.append(i); i += step }
            } else {
                start = min(max(start, 0), size - 1); end = min(max(end, -1), size - 1)
                var i = start
                while i > end { chosen.append(i); i += step }
            }
            picks[axis] = chosen
        }
        let shape = picks.map(\.count)
        let values = input.floats
        let result = (0..<shape.reduce(1, *)).map { flat -> Float in
            let index = H.index(flat, in: shape)
            return values[H.flat(index.enumerated().map { picks[$0.offset][$0.element] }, in: input.shape)]
        }
        return (shape, result)
    }

    func testSliceInputsWithStepsNegativeAxesAndClamping() throws {
        let input = H.random([5, 6, 7], seed: 40)
        let cases: [(starts: [Int], ends: [Int], axes: [Int], steps: [Int])] = [
            ([1, 0], [3, 6], [0, 1], [1, 2]),
            ([0], [-1], [-1], [1]),
            ([-1, 5], [-1000, 0], [1, 2], [-1, -2]),
            ([-100, 2], [100, 1000], [0, -2], [2, 1]),
            ([4], [10], [0], [3]),
            ([3], [3], [2], [1]),
            ([10], [-10], [1], [-4]),
            ([2, 0, 6], [3, 6, -8], [0, 1, 2], [1, 5, -3]),
        ]
        for c in cases {
            let output = try H.run1(.slice, opset: 13, [input, H.int64s(c.starts), H.int64s(c.ends), H.int64s(c.axes), H.int64s(c.steps)])
            let expected = referenceSlice(input, starts: c.starts, ends: c.ends, axes: c.axes, steps: c.steps)
            XCTAssertEqual(output.shape, expected.shape, "\(c)")
            XCTAssertEqual(output.floats, expected.values, "\(c)")
        }
    }

    func testSliceDefaultsAndAttributeForm() throws {
        let input = Tensor(shape: [2, 4], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        // The ONNX specification's examples.
        let stepped = try H.run1(.slice, opset: 10, [input, H.int64s([1, 0]), H.int64s([2, 3]), H.int64s([0, 1]), H.int64s([1, 2])])
        XCTAssertEqual(stepped.floats, [5, 7])
        let defaults = try H.run1(.slice, opset: 13, [input, H.int64s([0, 1]), H.int64s([-1, 1000])])
        XCTAssertEqual(defaults.floats, [2, 3, 4])
        let int32Inputs = try H.run1(.slice, opset: 13, [input, Tensor(shape: [1], values: [Int32(1)]), Tensor(shape: [1], values: [Int32(3)]),
                                                         Tensor(shape: [1], values: [Int32(-1)])])
        XCTAssertEqual(int32Inputs.floats, [2, 3, 6, 7])
        let attributes = try H.run1(.slice, opset: 9, [input],
                                    attributes: ["starts": .ints([0, 1]), "ends": .ints([-1, 1000]), "axes": .ints([0, 1])])
        XCTAssertEqual(attributes.floats, [2, 3, 4])
        let noAxes = try H.run1(.slice, opset: 7, [input], attributes: ["starts": .ints([1]), "ends": .ints([2])])
        XCTAssertEqual(noAxes.floats, [5, 6, 7, 8])
        H.assertThrows("0") { _ = try H.run1(.slice, opset: 13, [input, H.int64s([0]), H.int64s([1]), H.int64s([0]), H.int64s([0])]) }
    }

    func testSliceInt64DataAndHugeSteps() throws {
        let input = H.randomInt64([4, 3], seed: 41)
        let output = try H.run1(.slice, opset: 13, [input, H.int64s([-1]), H.int64s([Int(Int64.min)]), H.int64s([0]),
                                                    H.int64s([Int(Int64.min)])])
        XCTAssertEqual(output.shape, [1, 3])
        XCTAssertEqual(output.array(of: Int64.self), Array(input.array(of: Int64.self)[9...]))
    }

    // MARK: Split

    func testSplitForms() throws {
        let input = H.random([3, 7], seed: 50)
        let values = input.floats
        func columns(_ range: Range<Int>) -> [Float] { (0..<3).flatMap { row in range.map { values[row * 7 + $0] } } }
        // Opset 11 attribute, negative axis.
        let parts = try H.run(.split, opset: 11, [input], attributes: ["axis": .int(-1), "split": .ints([2, 5])], outputs: 2)
        XCTAssertEqual(parts.map(\.shape), [[3, 2], [3, 5]])
        XCTAssertEqual(parts[0].floats, columns(0..<2))
        XCTAssertEqual(parts[1].floats, columns(2..<7))
        // Opset 13 input, with a zero-size part.
        let fromInput = try H.run(.split, opset: 13, [input, H.int64s([4, 0, 3])], attributes: ["axis": .int(1)], outputs: 3)
        XCTAssertEqual(fromInput.map(\.shape), [[3, 4], [3, 0], [3, 3]])
        XCTAssertEqual(fromInput[2].floats, columns(4..<7))
        // Opset 18 num_outputs: ceil(7/3) = 3, last part smaller.
        let uneven = try H.run(.split, opset: 18, [input], attributes: ["axis": .int(1), "num_outputs": .int(3)], outputs: 3)
        XCTAssertEqual(uneven.map(\.shape), [[3, 3], [3, 3], [3, 1]])
        XCTAssertEqual(uneven[1].floats, columns(3..<6))
        // Equal split along axis 0 (the default).
        let rows = try H.run(.split, opset: 13, [input], outputs: 3)
        XCTAssertEqual(rows.map(\.floats), [Array(values[0..<7]), Array(values[7..<14]), Array(values[14..<21])])
        H.assertThrows("equal parts") { _ = try H.run(.split, opset: 13, [input], attributes: ["axis": .int(1)], outputs: 2) }
        H.assertThrows("summing") { _ = try H.run(.split, opset: 13, [input, H.int64s([3, 3])], attributes: ["axis": .int(1)], outputs: 2) }
    }

    // MARK: Gather

    func testGatherAxesNegativeIndicesAndIndexTypes() throws {
        let data = H.randomInt64([4, 3, 2], seed: 60)
        let values = data.array(of: Int64.self)
        for axis in [0, 1, 2, -1] {
            let normalized = axis < 0 ? axis + 3 : axis
            let size = data.shape[normalized]
            let indices: [Int] = [0, size - 1, -1, -size, 1 % size, 0]
            for indexTensor in [Tensor(shape: [2, 3], values: indices.map { Int64($0) }),
                                Tensor(shape: [2, 3], values: indices.map { Int32($0) })] {
                let output = try H.run1(.gather, opset: 13, [data, indexTensor], attributes: ["axis": .int(axis)])
                var shape = data.shape
                shape.replaceSubrange(normalized...normalized, with: [2, 3])
                XCTAssertEqual(output.shape, shape)
                let expected = (0..<output.count).map { flat -> Int64 in
                    let index = H.index(flat, in: shape)
                    let picked = indices[index[normalized] * 3 + index[normalized + 1]]
                    var source = Array(index[..<normalized]) + [picked < 0 ? picked + size : picked]
                    source += index[(normalized + 2)...]
                    return values[H.flat(source, in: data.shape)]
                }
                XCTAssertEqual(output.array(of: Int64.self), expected, "axis \(axis) \(indexTensor.dataType)")
            }
        }
    }

    func testGatherScalarIndexAndOutOfRange() throws {
        let data = Tensor(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])
        let row = try H.run1(.gather, opset: 13, [data, Tensor.scalar(Int64(-2))])
        XCTAssertEqual(row.shape, [2])
        XCTAssertEqual(row.floats, [3, 4])
        H.assertThrows("out of range") { _ = try H.run1(.gather, opset: 13, [data, H.int64s([3])]) }
        H.assertThrows("out of range") { _ = try H.run1(.gather, opset: 13, [data, H.int64s([-4])]) }
        H.assertThrows("int32 or int64") { _ = try H.run1(.gather, opset: 13, [data, Tensor(shape: [1], floats: [0])]) }
    }
}
