import Foundation
import TensorRuntime
import XCTest

/// `Activation.apply` for Sigmoid, Tanh and Elu (vectorised on AVX2/FMA CPUs, scalar elsewhere) against
/// double-precision references. Tolerance: 3e-7 relative (about 2.5 ulp; the AVX2 kernels measure at most
/// 2.3 ulp over every float), which a wrong polynomial coefficient or range-reduction constant exceeds.
/// Sigmoid is 0 (or at most sigmoid(−87)) below x = −87, where exp(−|x|) is taken as 0.
final class VectorActivationTests: XCTestCase {
    static let relativeTolerance = 3e-7
    static let alpha: Float = 1.5

    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

    /// (name, activation, reference) for each kernel under test.
    static let kernels: [(String, Activation, (Double) -> Double)] = [
        ("sigmoid", .sigmoid, { sigmoid($0) }),
        ("tanh", .tanh, { Foundation.tanh($0) }),
        ("elu", .elu(alpha: alpha), { $0 < 0 ? Double(alpha) * expm1($0) : $0 }),
    ]

    /// Applies `activation` to `inputs` starting `offset` floats into a buffer fenced by sentinels, checks the
    /// sentinels stay untouched, and returns the results.
    func applied(_ activation: Activation, to inputs: [Float], offset: Int = 0,
                 file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        let sentinel: Float = 12345.5
        var buffer = [Float](repeating: sentinel, count: inputs.count + offset + 16)
        buffer.withUnsafeMutableBufferPointer { all in
            let start = all.baseAddress! + offset
            for (i, x) in inputs.enumerated() { start[i] = x }
            activation.apply(start, count: inputs.count)
        }
        for i in 0..<offset where buffer[i] != sentinel {
            XCTFail("\(activation) wrote before its start at \(i)", file: file, line: line)
        }
        for i in (offset + inputs.count)..<buffer.count where buffer[i] != sentinel {
            XCTFail("\(activation) wrote past \(inputs.count) values at \(i - offset)", file: file, line: line)
        }
        return Array(buffer[offset..<(offset + inputs.count)])
    }

    /// Whether `got` is within tolerance of the double reference for input `x`.
    func isClose(_ name: String, x: Float, got: Float, reference: Double) -> Bool {
        if name == "sigmoid" && x < -87 { return got >= 0 && got <= 1.7e-38 }
        if reference.isInfinite { return Double(got) == reference }
        let error = abs(Double(got) - reference)
        // Elu's scalar fallback (expf(x) − 1) loses relative precision near 0: allow one float ulp of 1·alpha.
        let absoluteAllowance = name == "elu" ? 1.2e-7 * Double(Self.alpha) : 0
        return error <= Self.relativeTolerance * abs(reference) + absoluteAllowance
    }

    func assertMatchesReference(_ inputs: [Float], offset: Int = 0, _ context: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        for (name, activation, reference) in Self.kernels {
            let outputs = applied(activation, to: inputs, offset: offset, file: file, line: line)
            var failures = 0
            for (x, got) in zip(inputs, outputs) where !isClose(name, x: x, got: got, reference: reference(Double(x))) {
                failures += 1
                if failures <= 5 {
                    let error = abs(Double(got) - reference(Double(x))) / abs(reference(Double(x)))
                    XCTFail("\(name)(\(x)) = \(got), reference \(reference(Double(x))), relative error \(error) (\(context))",
                            file: file, line: line)
                }
            }
            if failures > 5 { XCTFail("\(name): \(failures) values out of tolerance (\(context))", file: file, line: line) }
        }
    }

    func testDenseSweepOverMinusHundredToHundred() {
        let sweep = (-6400...6400).map { Float($0) / 64 }
        assertMatchesReference(sweep, "every 1/64 over [-100, 100]")
    }

    func testDenseSweepNearZeroKeepsRelativePrecision() {
        // Tanh's small-argument polynomial and its switch to the exp form at |x| = 0.625, Elu's expm1 near 0.
        let grid: [Float] = (-4096...4096).map { Float($0) / 4096 }
        let powers: [Float] = (1...200).map { k in Float(pow(2.0, -Double(k) / 4)) }
        assertMatchesReference(grid + powers + powers.map { -$0 }, "near 0")
    }

    func testRandomValuesAcrossTheFloatRange() {
        var state: UInt64 = 0x5EED_5EED_1234_5678
        var values: [Float] = []
        while values.count < 200_000 {
            // SplitMix64: every bit pattern equally likely, so every exponent is hit.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: z))
            if !x.isNaN { values.append(x) }
        }
        assertMatchesReference(values, "random bit patterns")
        let moderate = values.map { x in
            x.isFinite && x != 0 ? Float(sign: x.sign, exponent: Int(x.exponent) % 8, significand: x.significand) : x
        }
        assertMatchesReference(moderate, "random values with |x| below 256")
    }

    func testCountsThatEndInPartialVectorsAtUnalignedStarts() {
        let pool = (0..<1000).map { Float($0 % 97) * 0.37 - 18 }
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 1000] {
            for offset in 0..<4 {
                assertMatchesReference(Array(pool.prefix(count)), offset: offset, "count \(count), offset \(offset)")
            }
        }
    }

    func testSameInputGivesSameResultAtEveryPosition() {
        let x: Float = -2.345678
        for (_, activation, _) in Self.kernels {
            let outputs = applied(activation, to: [Float](repeating: x, count: 13), offset: 3)
            XCTAssertEqual(Set(outputs.map(\.bitPattern)).count, 1, "\(activation) of one value differs by position: \(outputs)")
        }
    }

    func testSigmoidSpecialValues() {
        let inputs: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 88, -88, 87.5, -87.5, 87, -87,
                               .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               -.leastNonzeroMagnitude, .leastNormalMagnitude / 64, -.leastNormalMagnitude / 64]
        let got = applied(.sigmoid, to: inputs)
        XCTAssertEqual(got[0], 0.5)
        XCTAssertEqual(got[1], 0.5)
        XCTAssertEqual(got[2], 1)
        XCTAssertEqual(got[3].bitPattern, Float(0).bitPattern, "sigmoid(-inf) should be +0")
        XCTAssertTrue(got[4].isNaN)
        XCTAssertEqual(got[5], 1)
        XCTAssertTrue(got[6] >= 0 && got[6] < 1e-37, "sigmoid(-88) = \(got[6])")
        XCTAssertEqual(got[7], 1)
        XCTAssertTrue(got[8] >= 0 && got[8] < 1e-37, "sigmoid(-87.5) = \(got[8])")
        XCTAssertEqual(got[9], 1)
        XCTAssertEqual(Double(got[10]), Self.sigmoid(-87), accuracy: 3e-7 * Self.sigmoid(-87))
        XCTAssertEqual(got[11], 1)
        XCTAssertEqual(got[12], 0)
        for i in 13...16 { XCTAssertEqual(got[i], 0.5, "sigmoid(\(inputs[i]))") }
    }

    func testTanhSpecialValuesAndOddness() {
        let inputs: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 88, -88, 9, -9,
                               .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude / 64, -.leastNormalMagnitude / 64, 1e-30, -3e-8]
        let got = applied(.tanh, to: inputs)
        XCTAssertEqual(got[0].bitPattern, Float(0).bitPattern, "tanh(+0) should be +0")
        XCTAssertEqual(got[1].bitPattern, Float(-0.0).bitPattern, "tanh(-0) should be -0")
        XCTAssertEqual(got[2], 1)
        XCTAssertEqual(got[3], -1)
        XCTAssertTrue(got[4].isNaN)
        XCTAssertEqual(got[5], 1)
        XCTAssertEqual(got[6], -1)
        XCTAssertEqual(Double(got[7]), Foundation.tanh(9), accuracy: 1e-7)
        XCTAssertEqual(got[8], -got[7])
        for i in 9...14 { XCTAssertEqual(got[i], inputs[i], "tanh of tiny \(inputs[i]) should be itself") }

        let positive = (1...4000).map { Float($0) / 256 }
        XCTAssertEqual(applied(.tanh, to: positive.map { -$0 }), applied(.tanh, to: positive).map { -$0 }, "tanh should be odd")
    }

    func testEluSpecialValues() {
        let inputs: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 88, -88, -200, 3, .leastNonzeroMagnitude, -1e-30]
        let got = applied(.elu(alpha: 2), to: inputs)
        XCTAssertEqual(got[0].bitPattern, Float(0).bitPattern)
        XCTAssertEqual(got[1].bitPattern, Float(-0.0).bitPattern, "elu(-0) should be -0")
        XCTAssertEqual(got[2], .infinity)
        XCTAssertEqual(got[3], -2)
        XCTAssertTrue(got[4].isNaN)
        XCTAssertEqual(got[5], 88)
        XCTAssertEqual(got[6], -2)
        XCTAssertEqual(got[7], -2)
        XCTAssertEqual(got[8], 3)
        XCTAssertEqual(got[9], .leastNonzeroMagnitude)
        XCTAssertTrue(got[10] <= 0 && got[10] >= -2.000001e-30, "elu(-1e-30) = \(got[10])")
    }

    func testScalarFunctionsAgreeWithApply() {
        let sweep = (-2000...2000).map { Float($0) / 20 }
        let sigmoids = applied(.sigmoid, to: sweep), tanhs = applied(.tanh, to: sweep)
        for (i, x) in sweep.enumerated() {
            let scalarSigmoid = Activation.sigmoid(x), scalarTanh = Activation.tanh(x)
            XCTAssertLessThanOrEqual(abs(Double(sigmoids[i]) - Double(scalarSigmoid)), 6e-7 * Double(abs(scalarSigmoid)), "sigmoid(\(x))")
            XCTAssertLessThanOrEqual(abs(Double(tanhs[i]) - Double(scalarTanh)), 6e-7 * Double(abs(scalarTanh)), "tanh(\(x))")
        }
    }
}
