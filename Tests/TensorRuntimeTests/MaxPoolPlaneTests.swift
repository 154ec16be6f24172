import TensorRuntime
import XCTest

/// 2-D float MaxPool without Indices (the vectorised plane kernel) against the same window run as a
/// 3-D MaxPool of depth 1 (the generic loop nest), compared bit for bit: same maxima, same zero signs,
/// same handling of NaN (skipped) and infinities.
final class MaxPoolPlaneTests: XCTestCase {
    typealias Window = PoolPlaneWindow

    /// Mostly uniform values, with ties of +0 and -0, NaNs and infinities mixed in.
    static func input(_ rng: inout ConvTestRandom, _ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let values: [Float] = (0..<count).map { _ in
            switch rng.int(0...19) {
            case 0, 1: return 0
            case 2, 3: return -0.0
            case 4: return .nan
            case 5: return -.infinity
            case 6: return .infinity
            default: return rng.float()
            }
        }
        return Tensor(shape: shape, floats: values)
    }

    func check(_ w: Window, rng: inout ConvTestRandom, threads: Int,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let x = MaxPoolPlaneTests.input(&rng, [w.batch, w.channels, w.height, w.width])
        try w.assertPlaneKernelMatchesGenericLoop(x, threads: threads, file: file, line: line)
    }

    func testRandomWindowsMatchTheGenericLoopBitForBit() throws {
        var rng = ConvTestRandom(seed: 41)
        var checked = 0
        while checked < 400 {
            let w = PoolPlaneWindow.random(.maxPool, &rng)
            guard w.fits else { continue }
            try check(w, rng: &rng, threads: checked % 2 + 1)
            checked += 1
        }
    }

    func testModelWindowsMatchTheGenericLoopBitForBit() throws {
        var rng = ConvTestRandom(seed: 42)
        var windows: [Window] = []
        // yolov3-tiny: 2x2 stride 2, and darknet's 2x2 stride 1 padded only at the end.
        windows.append(Window(channels: 4, height: 52, width: 52, kernel: (2, 2), strides: (2, 2)))
        windows.append(Window(channels: 8, height: 13, width: 13, kernel: (2, 2), pads: (0, 0, 1, 1)))
        // MTCNN and age: 3x3 stride 2 with ceil_mode on odd and even sizes.
        windows.append(Window(batch: 2, channels: 3, height: 23, width: 23, kernel: (3, 3), strides: (2, 2), ceilMode: true))
        windows.append(Window(channels: 3, height: 29, width: 29, kernel: (3, 3), strides: (2, 2), ceilMode: true))
        windows.append(Window(channels: 3, height: 10, width: 10, kernel: (2, 2), strides: (2, 2), ceilMode: true))
        // Symmetric pads as in ResNet-style stems, and a large stride-1 window (SPP).
        windows.append(Window(channels: 2, height: 33, width: 40, kernel: (3, 3), strides: (2, 2), pads: (1, 1, 1, 1)))
        windows.append(Window(channels: 2, height: 19, width: 19, kernel: (5, 5), pads: (2, 2, 2, 2)))
        for w in windows {
            for threads in [1, 2] { try check(w, rng: &rng, threads: threads) }
        }
    }

    func testNaNIsSkippedAndAnAllNaNWindowGivesMinusInfinity() throws {
        // 1x1x2x4, kernel 2x2 stride 2: the left window has one number among NaNs, the right only NaNs.
        let nan = Float.nan
        let x = Tensor(shape: [1, 1, 2, 4], floats: [nan, 3, nan, nan,
                                                     nan, -7, nan, nan])
        let w = Window(height: 2, width: 4, kernel: (2, 2), strides: (2, 2))
        let y = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
        XCTAssertEqual(y.shape, [1, 1, 1, 2])
        XCTAssertEqual(y.floats, [3, -.infinity])
    }

    func testEqualZerosKeepTheFirstInWindowOrder() throws {
        // Window rows, then columns: -0 comes first in the left window, +0 in the right one.
        let x = Tensor(shape: [1, 1, 2, 4], floats: [-0.0, 0, 0, -0.0,
                                                     0, 0, -0.0, -0.0])
        let w = Window(height: 2, width: 4, kernel: (2, 2), strides: (2, 2))
        let y = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
        XCTAssertEqual(y.floats.map(\.sign), [.minus, .plus])
    }

    func testWideRowsUseEveryColumn() throws {
        // 1x1x1x40 ramp, kernel 1x2 stride 2: each output is the right element of its pair.
        let x = Tensor(shape: [1, 1, 1, 40], floats: (0..<40).map { Float($0) })
        let w = Window(height: 1, width: 40, kernel: (1, 2), strides: (1, 2))
        let y = try ConvTestSupport.run(w.node(asVolume: false), feeds: ["X": x])[0]
        XCTAssertEqual(y.floats, (0..<20).map { Float(2 * $0 + 1) })
    }
}
