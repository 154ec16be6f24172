import TensorRuntime
import XCTest

/// `BLAS.sgemm(packed:)` against a Double-accumulated nested-loop reference.
/// Tolerance per element: 1e-5 · Σₖ|aᵢₖ·bₖⱼ| + 1e-6 (float32 rounding of k products, any summation order).
/// Shapes hit every edge path of the 6×16 kernel and of the narrow tiles (up to 8 last columns over pairs
/// of 6-row panels): rows 1, 5, 6, 7, 12, 13 (partial and full panels and pairs), columns 1, 8, 9, 15, 16,
/// 17, 24 and 193 (narrow and wide partial panels, and more than one 192-column block), depths 1, 7, 384
/// and 385 (one block, exactly one full block, and two blocks accumulated).
final class PackedGEMMTests: XCTestCase {
    struct Problem {
        let m: Int, n: Int, k: Int
        let lda: Int, ldb: Int, ldc: Int
    }

    func random(_ count: Int, seed: inout UInt64) -> [Float] {
        (0..<count).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2001 - 1000) / 1000
        }
    }

    func check(_ p: Problem, transposed: Bool = false, bias withBias: Bool, activation: Activation?, threads: Int,
               seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var seed = seed
        // A is rows × depth with stride lda, or stored transposed (depth × rows, stride lda).
        let aStorage = random(transposed ? p.k * p.lda : p.m * p.lda, seed: &seed)
        let b = random(p.k * p.ldb, seed: &seed)
        let bias = withBias ? random(p.m, seed: &seed) : nil
        let sentinel: Float = 12345
        var c = [Float](repeating: sentinel, count: p.m * p.ldc)
        let packed = aStorage.withUnsafeBufferPointer {
            BLAS.PackedMatrix($0.baseAddress!, rows: p.m, depth: p.k, lda: p.lda, transposed: transposed)
        }
        let context = KernelContext(options: ExecutionOptions(threads: threads))
        b.withUnsafeBufferPointer { bBuffer in
            c.withUnsafeMutableBufferPointer { cBuffer in
                let cPointer = cBuffer.baseAddress!
                let run = { (biasPointer: UnsafePointer<Float>?) in
                    BLAS.sgemm(packed: packed, n: p.n, b: .matrix(bBuffer.baseAddress!, ldb: p.ldb), c: cPointer,
                               ldc: p.ldc, bias: biasPointer, epilogue: activation.flatMap(BLAS.Epilogue.init),
                               context: context)
                }
                if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            }
        }
        for i in 0..<p.m {
            for j in 0..<p.ldc {
                let actual = c[i * p.ldc + j]
                guard j < p.n else {
                    XCTAssertEqual(actual, sentinel, "column \(j) past n=\(p.n) was written, \(p)", file: file, line: line)
                    continue
                }
                var sum = Double(bias?[i] ?? 0), magnitude = 0.0
                for d in 0..<p.k {
                    let a = Double(transposed ? aStorage[d * p.lda + i] : aStorage[i * p.lda + d])
                    sum += a * Double(b[d * p.ldb + j])
                    magnitude += abs(a * Double(b[d * p.ldb + j]))
                }
                switch activation {
                case .relu?: sum = max(sum, 0)
                case let .leakyRelu(alpha)?: sum = sum < 0 ? sum * Double(alpha) : sum
                case let .clip(low, high)?: sum = min(max(sum, Double(low)), Double(high))
                default: break
                }
                let error = abs(Double(actual) - sum)
                if error > 1e-5 * magnitude + 1e-6 {
                    XCTFail("C[\(i)][\(j)] = \(actual), expected \(sum), \(p) bias \(withBias) \(String(describing: activation)) threads \(threads)",
                            file: file, line: line)
                    return
                }
            }
        }
    }

    /// The activations the kernel applies as it stores (ReLU, LeakyReLU, Clip), and none.
    let activations: [Activation?] = [nil, .relu, .leakyRelu(alpha: 0.1), .clip(min: -0.2, max: 0.3)]

    func testEveryPanelAndBlockEdge() {
        var seed: UInt64 = 1
        for m in [1, 5, 6, 7, 12, 13] {
            for n in [1, 8, 9, 15, 16, 17, 24, 193] {
                for k in [1, 7, 384, 385] {
                    seed += 1
                    check(Problem(m: m, n: n, k: k, lda: k, ldb: n, ldc: n), bias: seed % 2 == 0,
                          activation: activations[Int(seed % 4)], threads: 1, seed: seed)
                }
            }
        }
    }

    func testStridesLargerThanTheMatrix() {
        // ldb, ldc > n: the kernel reads and writes only the first n columns of each row.
        check(Problem(m: 11, n: 37, k: 50, lda: 53, ldb: 41, ldc: 45), bias: true, activation: nil, threads: 1, seed: 7)
        check(Problem(m: 11, n: 37, k: 50, lda: 53, ldb: 41, ldc: 45), bias: false, activation: .relu, threads: 1, seed: 8)
    }

    func testTransposedWeights() {
        check(Problem(m: 19, n: 33, k: 27, lda: 21, ldb: 33, ldc: 33), transposed: true, bias: true, activation: .leakyRelu(alpha: 0.25),
              threads: 1, seed: 9)
    }

    func testTwoThreadsSplitRowsOrColumns() {
        // Wide: columns split in 16-column steps; narrow: rows split in 6-row panels.
        check(Problem(m: 10, n: 531, k: 200, lda: 200, ldb: 531, ldc: 531), bias: true, activation: .relu, threads: 2, seed: 10)
        check(Problem(m: 257, n: 9, k: 600, lda: 600, ldb: 9, ldc: 9), bias: true, activation: .clip(min: -1, max: 1), threads: 2, seed: 11)
        check(Problem(m: 3, n: 3, k: 3, lda: 3, ldb: 3, ldc: 3), bias: false, activation: nil, threads: 2, seed: 12)
    }

    func testActivationsPassNaNThrough() {
        // One NaN in B makes column 0 of every row NaN; the fused ReLU, LeakyReLU and Clip must keep it.
        let (m, n, k) = (7, 17, 5)
        var b = [Float](repeating: 0.5, count: k * n)
        b[2 * n] = .nan
        let a = [Float](repeating: 1, count: m * k)
        let packed = a.withUnsafeBufferPointer { BLAS.PackedMatrix($0.baseAddress!, rows: m, depth: k, lda: k) }
        let context = KernelContext(options: ExecutionOptions(threads: 1))
        for activation in activations.compactMap({ $0 }) {
            var c = [Float](repeating: 0, count: m * n)
            b.withUnsafeBufferPointer { bBuffer in
                c.withUnsafeMutableBufferPointer { cBuffer in
                    BLAS.sgemm(packed: packed, n: n, b: .matrix(bBuffer.baseAddress!, ldb: n), c: cBuffer.baseAddress!, ldc: n,
                               bias: nil, epilogue: BLAS.Epilogue(activation), context: context)
                }
            }
            for row in 0..<m {
                XCTAssertTrue(c[row * n].isNaN, "\(activation) row \(row)")
                XCTAssertFalse(c[row * n + 1].isNaN, "\(activation) row \(row)")
            }
        }
    }
}
