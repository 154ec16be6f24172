import TensorRuntime
import XCTest

/// Gemm and MatMul against triple loops in Double. Tolerance 1e-4 relative to max(1, |expected|).
final class MatMulTests: XCTestCase {
    /// Row-major [m, k] · [k, n] in Double.
    static func product(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += Double(a[i * k + p]) * Double(b[p * n + j]) } } }
        return c
    }

    static func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        (0..<columns * rows).map { values[($0 % rows) * columns + $0 / rows] }
    }

    func testGemmTransposesAlphaBetaAndBroadcastBias() throws {
        var rng = ConvTestRandom(seed: 31)
        for transA in [false, true] {
            for transB in [false, true] {
                for biasShape in [nil, [], [1], [5], [1, 5], [4, 1], [4, 5], [1, 1]] as [[Int]?] {
                    let (m, k, n) = (4, 3, 5)
                    let alpha = Float(rng.int(1...4)) / 2, beta = Float(rng.int(0...4)) / 2
                    let a = rng.tensor(transA ? [k, m] : [m, k])
                    let b = rng.tensor(transB ? [n, k] : [k, n])
                    let c = biasShape.map { rng.tensor($0) }
                    let node = Node(name: "gemm", kind: .gemm, opset: 13, inputs: ["A", "B"] + (c == nil ? [] : ["C"]),
                                    outputs: ["Y"],
                                    attributes: Attributes(["transA": .int(transA ? 1 : 0), "transB": .int(transB ? 1 : 0),
                                                            "alpha": .float(alpha), "beta": .float(beta)]))
                    var feeds = ["A": a, "B": b]
                    if let c { feeds["C"] = c }
                    let y = try ConvTestSupport.run(node, feeds: feeds)[0]
                    let plainA = transA ? MatMulTests.transposed(a.floats, rows: k, columns: m) : a.floats
                    let plainB = transB ? MatMulTests.transposed(b.floats, rows: n, columns: k) : b.floats
                    let ab = MatMulTests.product(plainA, plainB, m: m, k: k, n: n)
                    let expected = (0..<m * n).map { index -> Float in
                        var value = Double(alpha) * ab[index]
                        if let c, let shape = biasShape {
                            let padded = Array(repeating: 1, count: 2 - shape.count) + shape
                            let row = padded[0] == 1 ? 0 : index / n, column = padded[1] == 1 ? 0 : index % n
                            value += Double(beta) * Double(c.floats[row * padded[1] + column])
                        }
                        return Float(value)
                    }
                    XCTAssertEqual(y.shape, [m, n])
                    ConvTestSupport.assertClose(y.floats, expected, "transA \(transA) transB \(transB) C \(String(describing: biasShape))")
                }
            }
        }
    }

    func testGemmFusedActivation() throws {
        var rng = ConvTestRandom(seed: 32)
        let a = rng.tensor([6, 7]), b = rng.tensor([8, 7]), c = rng.tensor([8])
        let node = Node(name: "fc", kind: .gemm, opset: 11, inputs: ["A", "B", "C"], outputs: ["Y"],
                        attributes: Attributes(["transB": .int(1)]), fusedActivation: .leakyRelu(alpha: 0.1))
        let y = try ConvTestSupport.run(node, feeds: ["A": a], initializers: ["B": b, "C": c])[0]
        let ab = MatMulTests.product(a.floats, MatMulTests.transposed(b.floats, rows: 8, columns: 7), m: 6, k: 7, n: 8)
        let expected = ab.indices.map { ConvTestSupport.reference(.leakyRelu(alpha: 0.1), Float(ab[$0] + Double(c.floats[$0 % 8]))) }
        ConvTestSupport.assertClose(y.floats, expected)
    }

    func testGemmRejectsBiasThatDoesNotBroadcast() {
        let node = Node(name: "gemm", kind: .gemm, opset: 13, inputs: ["A", "B", "C"], outputs: ["Y"])
        let feeds = ["A": Tensor(shape: [2, 3], floats: Array(repeating: 1, count: 6)),
                     "B": Tensor(shape: [3, 4], floats: Array(repeating: 1, count: 12)),
                     "C": Tensor(shape: [3], floats: [1, 2, 3])]
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: feeds)) { error in
            XCTAssertTrue("\(error)".contains("does not broadcast"), "\(error)")
        }
    }

    /// numpy matmul on random operands of the given shapes, compared with a reference that walks the broadcast batch.
    func checkMatMul(_ aShape: [Int], _ bShape: [Int], expectedShape: [Int], rng: inout ConvTestRandom,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let a = rng.tensor(aShape), b = rng.tensor(bShape)
        let node = Node(name: "mm", kind: .matMul, opset: 13, inputs: ["A", "B"], outputs: ["Y"])
        let y = try ConvTestSupport.run(node, feeds: ["A": a, "B": b])[0]
        XCTAssertEqual(y.shape, expectedShape, "\(aShape) x \(bShape)", file: file, line: line)

        let a2 = aShape.count == 1 ? [1] + aShape : aShape, b2 = bShape.count == 1 ? bShape + [1] : bShape
        let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
        let rank = max(a2.count, b2.count)
        let aBatch = Array(repeating: 1, count: rank - a2.count) + a2.dropLast(2)
        let bBatch = Array(repeating: 1, count: rank - b2.count) + b2.dropLast(2)
        let batch = zip(aBatch, bBatch).map { max($0, $1) }
        var expected: [Float] = []
        for index in ConvTestSupport.indices(batch) {
            let aIndex = zip(index, aBatch).map { $1 == 1 ? 0 : $0 }, bIndex = zip(index, bBatch).map { $1 == 1 ? 0 : $0 }
            let aStart = ConvTestSupport.flat(aIndex, aBatch) * m * k, bStart = ConvTestSupport.flat(bIndex, bBatch) * k * n
            let product = MatMulTests.product(Array(a.floats[aStart..<aStart + m * k]), Array(b.floats[bStart..<bStart + k * n]),
                                              m: m, k: k, n: n)
            expected += product.map { Float($0) }
        }
        ConvTestSupport.assertClose(y.floats, expected, "\(aShape) x \(bShape)", file: file, line: line)
    }

    func testMatMulShapesAndBroadcasting() throws {
        var rng = ConvTestRandom(seed: 33)
        try checkMatMul([5], [5], expectedShape: [], rng: &rng)
        try checkMatMul([5], [5, 3], expectedShape: [3], rng: &rng)
        try checkMatMul([4, 5], [5], expectedShape: [4], rng: &rng)
        try checkMatMul([3], [2, 3, 4], expectedShape: [2, 4], rng: &rng)
        try checkMatMul([2, 4, 3], [3], expectedShape: [2, 4], rng: &rng)
        try checkMatMul([4, 5], [5, 6], expectedShape: [4, 6], rng: &rng)
        try checkMatMul([3, 4, 5], [5, 6], expectedShape: [3, 4, 6], rng: &rng)
        try checkMatMul([4, 5], [3, 5, 6], expectedShape: [3, 4, 6], rng: &rng)
        try checkMatMul([2, 1, 4, 5], [1, 3, 5, 6], expectedShape: [2, 3, 4, 6], rng: &rng)
        try checkMatMul([2, 3, 4, 5], [3, 5, 2], expectedShape: [2, 3, 4, 2], rng: &rng)
        try checkMatMul([1, 1, 4, 5], [2, 5, 6], expectedShape: [1, 2, 4, 6], rng: &rng)
        try checkMatMul([3, 0], [0, 2], expectedShape: [3, 2], rng: &rng)
        try checkMatMul([0, 3], [3, 2], expectedShape: [0, 2], rng: &rng)
    }

    func testMatMulErrors() {
        let node = Node(name: "mm", kind: .matMul, opset: 13, inputs: ["A", "B"], outputs: ["Y"])
        let inner = ["A": Tensor(shape: [2, 3], floats: Array(repeating: 1, count: 6)),
                     "B": Tensor(shape: [4, 2], floats: Array(repeating: 1, count: 8))]
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: inner)) { error in
            XCTAssertTrue("\(error)".contains("inner sizes"), "\(error)")
        }
        let batch = ["A": Tensor(shape: [2, 1, 3], floats: Array(repeating: 1, count: 6)),
                     "B": Tensor(shape: [3, 3, 1], floats: Array(repeating: 1, count: 9))]
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: batch)) { error in
            XCTAssertTrue("\(error)".contains("broadcast"), "\(error)")
        }
        let integers = ["A": Tensor(shape: [1, 2], values: [Int32(1), 2]), "B": Tensor(shape: [2, 1], values: [Int32(1), 2])]
        XCTAssertThrowsError(try ConvTestSupport.run(node, feeds: integers)) { error in
            XCTAssertTrue("\(error)".contains("int32"), "\(error)")
        }
    }
}
