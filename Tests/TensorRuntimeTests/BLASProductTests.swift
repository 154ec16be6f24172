import TensorRuntime
import XCTest

/// `BLAS.sgemm` (OpenBLAS) on one thread and split over a context's threads, against a Double-accumulated
/// reference. Tolerance per element: 1e-5 · Σₖ|alpha·aᵢₖ·bₖⱼ| + 1e-5·|beta·cᵢⱼ| + 1e-6. Shapes cover both
/// splits (more columns than rows, more rows than columns), a row and a column (matrix-vector products),
/// both transposes, strides wider than the matrices (C's padding must stay untouched), alpha and beta.
final class BLASProductTests: XCTestCase {
    struct Product: CustomStringConvertible {
        let m: Int, n: Int, k: Int
        let transposeA: Bool, transposeB: Bool
        var alpha: Float = 1, beta: Float = 0
        var padding = 3     // extra floats per row of A, B and C

        var lda: Int { (transposeA ? m : k) + padding }
        var ldb: Int { (transposeB ? k : n) + padding }
        var ldc: Int { n + padding }
        var description: String { "\(m)x\(n)x\(k) transA \(transposeA) transB \(transposeB) alpha \(alpha) beta \(beta)" }
    }

    func random(_ count: Int, seed: inout UInt64) -> [Float] {
        (0..<count).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2001 - 1000) / 1000
        }
    }

    func check(_ p: Product, threads: Int, file: StaticString = #filePath, line: UInt = #line) {
        var seed = UInt64(p.m * 1_000_003 + p.n * 1009 + p.k)
        let a = random((p.transposeA ? p.k : p.m) * p.lda, seed: &seed)
        let b = random((p.transposeB ? p.n : p.k) * p.ldb, seed: &seed)
        let original = random(p.m * p.ldc, seed: &seed)
        var c = original
        let context = KernelContext(options: ExecutionOptions(threads: threads))
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n, k: p.k,
                               alpha: p.alpha, a: a.baseAddress!, lda: p.lda, b: b.baseAddress!, ldb: p.ldb,
                               beta: p.beta, c: c.baseAddress!, ldc: p.ldc, context: context)
                }
            }
        }
        var worst = 0.0
        for i in 0..<p.m {
            for j in 0..<p.ldc {
                let actual = c[i * p.ldc + j]
                guard j < p.n else {
                    XCTAssertEqual(actual, original[i * p.ldc + j], "padding column \(j) written, \(p)", file: file, line: line)
                    continue
                }
                let before = Double(p.beta) * Double(original[i * p.ldc + j])
                var sum = before, magnitude = 0.0
                for d in 0..<p.k {
                    let left = Double(p.transposeA ? a[d * p.lda + i] : a[i * p.lda + d])
                    let right = Double(p.transposeB ? b[j * p.ldb + d] : b[d * p.ldb + j])
                    sum += Double(p.alpha) * left * right
                    magnitude += abs(Double(p.alpha) * left * right)
                }
                let error = abs(Double(actual) - sum) / (1e-5 * magnitude + 1e-5 * abs(before) + 1e-6)
                worst = max(worst, error)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, "\(p), \(threads) threads: error beyond tolerance", file: file, line: line)
    }

    func testProductsOnOneAndSeveralThreadsMatchTheReference() {
        var products: [Product] = []
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                products += [
                    Product(m: 24, n: 1000, k: 72, transposeA: transposeA, transposeB: transposeB),   // columns split
                    Product(m: 700, n: 40, k: 64, transposeA: transposeA, transposeB: transposeB),    // rows split
                    Product(m: 1, n: 4000, k: 512, transposeA: transposeA, transposeB: transposeB),   // a row
                    Product(m: 3000, n: 1, k: 300, transposeA: transposeA, transposeB: transposeB),   // a column
                    Product(m: 5, n: 7, k: 3, transposeA: transposeA, transposeB: transposeB),        // too small to split
                ]
            }
        }
        products.append(Product(m: 33, n: 517, k: 129, transposeA: false, transposeB: true, alpha: 0.5, beta: 2))
        products.append(Product(m: 517, n: 33, k: 129, transposeA: true, transposeB: false, alpha: -1, beta: 1))
        for product in products {
            for threads in [1, 2, 3] { check(product, threads: threads) }
        }
    }
}
