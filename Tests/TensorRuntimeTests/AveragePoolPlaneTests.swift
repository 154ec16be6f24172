import TensorRuntime
import XCTest

/// 2-D float AveragePool (the vectorised plane kernel) against the same window run as a 3-D AveragePool
/// of depth 1 (the generic loop nest), compared bit for bit: the kernel adds a window's taps in the
/// generic loop's order and divides by the same count, so only NaN payloads may differ (any NaN
/// matches any NaN). Inputs span many magnitudes, so a different order of additions shows in the bits.
final class AveragePoolPlaneTests: XCTestCase {
    typealias Window = PoolPlaneWindow

    /// Uniform values scaled by 2^-20 … 2^20, with zeros of both signs and a few NaNs and infinities.
    static func input(_ rng: inout ConvTestRandom, _ shape: [Int], specials: Bool) -> Tensor {
        let count = shape.reduce(1, *)
        let values: [Float] = (0..<count).map { _ in
            switch rng.int(0...39) {
            case 0: return 0
            case 1: return -0.0
            case 2 where specials: return .nan
            case 3 where specials: return .infinity
            case 4 where specials: return -.infinity
            default: return rng.float() * Float(sign: .plus, exponent: rng.int(-20...20), significand: 1)
            }
        }
        return Tensor(shape: shape, floats: values)
    }

    func check(_ w: Window, rng: inout ConvTestRandom, threads: Int, specials: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let x = AveragePoolPlaneTests.input(&rng, [w.batch, w.channels, w.height, w.width], specials: specials)
        try w.assertPlaneKernelMatchesGenericLoop(x, threads: threads, file: file, line: line)
    }

    func testRandomWindowsMatchTheGenericLoopBitForBit() throws {
        var rng = ConvTestRandom(seed: 51)
        var checked = 0
        while checked < 500 {
            let w = PoolPlaneWindow.random(.averagePool, &rng)
            guard w.fits else { continue }
            try check(w, rng: &rng, threads: checked % 2 + 1, specials: checked % 5 == 0)
            checked += 1
        }
    }

    func testModelWindowsMatchTheGenericLoopBitForBit() throws {
        var rng = ConvTestRandom(seed: 52)
        var windows: [Window] = []
        // gender and age: 2x2 stride 2 on 32, 16, 14 and 7 wide planes (the last drops a column).
        for (channels, size) in [(32, 32), (64, 16), (64, 14), (128, 7)] {
            windows.append(Window(kind: .averagePool, channels: channels, height: size, width: size, kernel: (2, 2),
                                  strides: (2, 2)))
        }
        // Inception-style 3x3 stride 1 padded 1, with and without the pads counted.
        for countIncludePad in [false, true] {
            windows.append(Window(kind: .averagePool, channels: 3, height: 17, width: 17, kernel: (3, 3),
                                  pads: (1, 1, 1, 1), countIncludePad: countIncludePad))
        }
        // ceil_mode windows running past the input, and a large stride-3 window.
        windows.append(Window(kind: .averagePool, batch: 2, channels: 3, height: 23, width: 23, kernel: (3, 3),
                              strides: (2, 2), ceilMode: true))
        windows.append(Window(kind: .averagePool, channels: 2, height: 10, width: 41, kernel: (2, 2), strides: (2, 2),
                              pads: (0, 1, 0, 1), ceilMode: true, countIncludePad: true))
        windows.append(Window(kind: .averagePool, channels: 2, height: 19, width: 50, kernel: (5, 5), strides: (3, 3),
                              pads: (2, 2, 2, 2)))
        for w in windows {
            for threads in [1, 2] { try check(w, rng: &rng, threads: threads) }
        }
    }

    /// 1x1x3x3 of 1 … 9, kernel 3x3 stride 2 padded 1 all round: four windows of 2x2 inputs each.
    func testCornerWindowsDivideByTheirCounts() throws {
        let x = Tensor(shape: [1, 1, 3, 3], floats: (1...9).map(Float.init))
        var w = Window(kind: .averagePool, height: 3, width: 3, kernel: (3, 3), strides: (2, 2), pads: (1, 1, 1, 1))
        let inputsOnly = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
        XCTAssertEqual(inputsOnly.shape, [1, 1, 2, 2])
        let windowSums: [Float] = [12, 16, 24, 28]
        XCTAssertEqual(inputsOnly.floats, windowSums.map { $0 / 4 })
        w.countIncludePad = true
        let withPads = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
        XCTAssertEqual(withPads.floats, windowSums.map { $0 / 9 })
    }

    /// 1x1x1x28 of 0 … 27, kernel 1x3 stride 3, ceil_mode: ten outputs (more than a vector); the last
    /// window holds only the last column (divided by 1, the ceil_mode overhang never counted).
    func testCeilModeOverhangIsNotCounted() throws {
        let x = Tensor(shape: [1, 1, 1, 28], floats: (0..<28).map(Float.init))
        for countIncludePad in [false, true] {
            let w = Window(kind: .averagePool, height: 1, width: 28, kernel: (1, 3), strides: (1, 3), ceilMode: true,
                           countIncludePad: countIncludePad)
            let y = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
            XCTAssertEqual(y.floats, (0..<9).map { Float(3 * $0 + 1) } + [27], "count_include_pad \(countIncludePad)")
        }
    }

    /// 1x1x2x20 ramp, kernel 2x2 stride 2 padded 2 on the left: the first output's window lies wholly in
    /// the padding (0 without the pads counted, 0 / 4 with them), every input column is used once.
    func testWindowsInThePaddingAndEveryColumnOfAWideRow() throws {
        let x = Tensor(shape: [1, 1, 2, 20], floats: (0..<40).map(Float.init))
        let ramp = (0..<10).map { i -> Float in
            let column = Float(2 * i)
            let sum: Float = column + (column + 1) + (column + 20) + (column + 21)
            return sum / 4
        }
        for countIncludePad in [false, true] {
            let w = Window(kind: .averagePool, height: 2, width: 20, kernel: (2, 2), strides: (2, 2), pads: (0, 2, 0, 0),
                           countIncludePad: countIncludePad)
            let y = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
            XCTAssertEqual(y.shape, [1, 1, 1, 11])
            XCTAssertEqual(y.floats, [0] + ramp, "count_include_pad \(countIncludePad)")
        }
    }
}
