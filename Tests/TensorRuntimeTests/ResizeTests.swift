import TensorRuntime
import XCTest

private typealias H = MovementHarness

/// Resize and Upsample against hand-computed examples and a plain bilinear/nearest reference.
final class ResizeTests: XCTestCase {
    private let empty = Tensor(dataType: .float32, shape: [0])

    private func resize(_ input: Tensor, scales: [Float]? = nil, sizes: [Int]? = nil, roi: [Float]? = nil, opset: Int = 13,
                        _ attributes: [String: AttributeValue]) throws -> Tensor {
        let scalesTensor = scales.map { Tensor(shape: [$0.count], floats: $0) }
        let roiTensor = roi.map { Tensor(shape: [$0.count], floats: $0) }
        var inputs: [Tensor?] = [input, roiTensor, scalesTensor, sizes.map(H.int64s)]
        if opset < 13 { inputs[1] = roiTensor ?? empty; inputs[2] = scalesTensor ?? empty }
        return try H.run1(.resize, opset: opset, inputs, attributes: attributes)
    }

    private func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "element count", file: file, line: line)
        for (index, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > tolerance * max(1, abs(e)) {
            XCTFail("element \(index): \(a) vs expected \(e)", file: file, line: line)
            return
        }
    }

    private let square = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
    private let ramp = Tensor(shape: [1, 1, 1, 4], floats: [1, 2, 3, 4])

    // MARK: Linear

    func testBilinearHalfPixel2x2To4x4() throws {
        // x_in = (x_out + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to the edges.
        let expected: [Float] = [1.00, 1.25, 1.75, 2.00,
                                 1.50, 1.75, 2.25, 2.50,
                                 2.50, 2.75, 3.25, 3.50,
                                 3.00, 3.25, 3.75, 4.00]
        let viaScales = try resize(square, scales: [1, 1, 2, 2], ["mode": .string("linear")])
        XCTAssertEqual(viaScales.shape, [1, 1, 4, 4])
        assertClose(viaScales.floats, expected)
        let viaSizes = try resize(square, sizes: [1, 1, 4, 4], opset: 11, ["mode": .string("linear")])
        assertClose(viaSizes.floats, expected)
    }

    func testBilinearAlignCornersAndAsymmetric() throws {
        let aligned = try resize(square, sizes: [1, 1, 3, 3], ["mode": .string("linear"),
                                                                 "coordinate_transformation_mode": .string("align_corners")])
        assertClose(aligned.floats, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4])
        // Asymmetric: x_in = x_out / 2 = 0, 0.5, 1, 1.5 (the last clamps to the edge).
        let asymmetric = try resize(square, scales: [1, 1, 2, 2], ["mode": .string("linear"),
                                                                    "coordinate_transformation_mode": .string("asymmetric")])
        assertClose(asymmetric.floats, [1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4])
    }

    func testSingleOutputPixelDiffersBetweenHalfPixelAndPytorchHalfPixel() throws {
        // half_pixel: x_in = 0.5 / 0.25 - 0.5 = 1.5; pytorch_half_pixel: x_in = 0 when the output has one pixel.
        let half = try resize(ramp, sizes: [1, 1, 1, 1], ["mode": .string("linear")])
        XCTAssertEqual(half.floats, [2.5])
        let pytorch = try resize(ramp, sizes: [1, 1, 1, 1], ["mode": .string("linear"),
                                                              "coordinate_transformation_mode": .string("pytorch_half_pixel")])
        XCTAssertEqual(pytorch.floats, [1])
    }

    func testTrilinearMatchesSeparableHandValues() throws {
        // 2x2x2 cube with value = 4z + 2y + x + 1, upsampled by 2 in every axis with align_corners:
        // a linear function is reproduced exactly, so output = 4z' + 2y' + x' + 1 at z' = z_out / 3 etc.
        let cube = Tensor(shape: [1, 2, 2, 2], floats: (0..<8).map { Float($0 + 1) })
        let output = try resize(cube, sizes: [1, 4, 4, 4], ["mode": .string("linear"),
                                                             "coordinate_transformation_mode": .string("align_corners")])
        let expected = (0..<64).map { flat -> Float in
            let index = H.index(flat, in: [4, 4, 4])
            return 4 * Float(index[0]) / 3 + 2 * Float(index[1]) / 3 + Float(index[2]) / 3 + 1
        }
        assertClose(output.floats, expected)
    }

    /// Reference bilinear resize of the last two axes, written out directly.
    private func referenceBilinear(_ input: Tensor, height: Int, width: Int, alignCorners: Bool) -> [Float] {
        let shape = input.shape, planes = shape[0] * shape[1], inH = shape[2], inW = shape[3]
        let values = input.floats
        func source(_ index: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Float) {
            var x: Float
            if alignCorners {
                x = outSize == 1 ? 0 : Float(index) * Float(inSize - 1) / Float(outSize - 1)
            } else {
                x = (Float(index) + 0.5) * Float(inSize) / Float(outSize) - 0.5
            }
            x = min(max(x, 0), Float(inSize - 1))
            let low = Int(x.rounded(.down))
            return (low, min(low + 1, inSize - 1), x - Float(low))
        }
        var output: [Float] = []
        for plane in 0..<planes {
            for y in 0..<height {
                let (y0, y1, fy) = source(y, inH, height)
                for x in 0..<width {
                    let (x0, x1, fx) = source(x, inW, width)
                    func at(_ row: Int, _ column: Int) -> Float { values[plane * inH * inW + row * inW + column] }
                    let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
                    let bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
                    output.append(top * (1 - fy) + bottom * fy)
                }
            }
        }
        return output
    }

    func testBilinearFastPathMatchesReferenceOnRandomData() throws {
        let input = H.random([2, 3, 7, 5], seed: 70)
        for (height, width) in [(13, 11), (4, 3), (7, 16), (1, 1)] {
            for alignCorners in [false, true] {
                let output = try resize(input, sizes: [2, 3, height, width], opset: 18, [
                    "mode": .string("linear"),
                    "coordinate_transformation_mode": .string(alignCorners ? "align_corners" : "half_pixel"),
                ])
                XCTAssertEqual(output.shape, [2, 3, height, width])
                assertClose(output.floats, referenceBilinear(input, height: height, width: width, alignCorners: alignCorners), tolerance: 1e-5)
            }
        }
    }

    func testLinearOnOtherTypesAndOneAxisMatchesFloat32() throws {
        let input = H.random([2, 3, 6, 5], seed: 71)
        let doubles = Tensor(shape: input.shape, values: input.floats.map(Double.init))
        let expected = try resize(input, sizes: [2, 3, 9, 5], ["mode": .string("linear")])
        let output = try resize(doubles, sizes: [2, 3, 9, 5], ["mode": .string("linear")])
        XCTAssertEqual(output.dataType, .float64)
        assertClose(output.array(of: Double.self).map(Float.init), expected.floats)
        // float16 goes through float32 arithmetic: equal up to half precision.
        let halves = Tensor(shape: input.shape, values: input.floats.map { Float16($0) })
        let halfOutput = try resize(halves, sizes: [2, 3, 9, 5], ["mode": .string("linear")])
        XCTAssertEqual(halfOutput.dataType, .float16)
        assertClose(halfOutput.array(of: Float16.self).map(Float.init), expected.floats, tolerance: 2e-3)
        // Nearest on 2-byte elements is a plain gather.
        let nearestHalves = try resize(halves, scales: [1, 1, 2, 2], ["nearest_mode": .string("floor"),
                                                                      "coordinate_transformation_mode": .string("asymmetric")])
        XCTAssertEqual(nearestHalves.array(of: Float16.self)[0..<2].map(Float.init), [Float(halves.array(of: Float16.self)[0]), Float(halves.array(of: Float16.self)[0])])
        XCTAssertEqual(nearestHalves.array(of: Float16.self)[2], halves.array(of: Float16.self)[1])
        // Only H resized: reference with the same width.
        assertClose(expected.floats, referenceBilinear(input, height: 9, width: 5, alignCorners: false))
    }

    // MARK: Nearest

    func testNearestModesOnAThreeTimesUpsample() throws {
        // Asymmetric x_in = x_out / 3: 0, 0.33, 0.67, 1, 1.33, 1.67, 2, 2.33, 2.67, 3, 3.33, 3.67
        let cases: [(String, [Float])] = [
            ("round_prefer_floor", [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4]),
            ("round_prefer_ceil", [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4]),
            ("floor", [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]),
            ("ceil", [1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4]),
        ]
        for (mode, expected) in cases {
            let output = try resize(ramp, scales: [1, 1, 1, 3], ["nearest_mode": .string(mode),
                                                                  "coordinate_transformation_mode": .string("asymmetric")])
            XCTAssertEqual(output.floats, expected, mode)
        }
        // Ties (x_in = 0.5, 1.5, ...) separate the two round modes.
        let floorTies = try resize(ramp, scales: [1, 1, 1, 2], ["coordinate_transformation_mode": .string("asymmetric")])
        XCTAssertEqual(floorTies.floats, [1, 1, 2, 2, 3, 3, 4, 4])
        let ceilTies = try resize(ramp, scales: [1, 1, 1, 2], ["coordinate_transformation_mode": .string("asymmetric"),
                                                                "nearest_mode": .string("round_prefer_ceil")])
        XCTAssertEqual(ceilTies.floats, [1, 2, 2, 3, 3, 4, 4, 4])
    }

    func testNearestCoordinateModesWhenDownsampling() throws {
        // tf_half_pixel_for_nn: x_in = (x_out + 0.5) / 0.5 = 1, 3. half_pixel: 0.5, 2.5 -> prefer floor 0, 2.
        let tf = try resize(ramp, sizes: [1, 1, 1, 2], opset: 11, ["coordinate_transformation_mode": .string("tf_half_pixel_for_nn")])
        XCTAssertEqual(tf.floats, [2, 4])
        let half = try resize(ramp, sizes: [1, 1, 1, 2], opset: 11, [:])
        XCTAssertEqual(half.floats, [1, 3])
    }

    func testNearestTwoTimesUpsampleOfNCHWMatchesReference() throws {
        let input = H.random([1, 5, 13, 13], seed: 72)
        let output = try resize(input, scales: [1, 1, 2, 2], opset: 11, ["coordinate_transformation_mode": .string("asymmetric"),
                                                                            "nearest_mode": .string("floor")])
        let values = input.floats
        let expected = (0..<output.count).map { flat -> Float in
            let i = H.index(flat, in: [1, 5, 26, 26])
            return values[H.flat([0, i[1], i[2] / 2, i[3] / 2], in: input.shape)]
        }
        XCTAssertEqual(output.shape, [1, 5, 26, 26])
        XCTAssertEqual(output.floats, expected)
        // Upsample (opset 9, scales input) and Upsample-7 (scales attribute) give the same.
        let upsample9 = try H.run1(.upsample, opset: 9, [input, Tensor(shape: [4], floats: [1, 1, 2, 2])])
        XCTAssertEqual(upsample9.floats, expected)
        let upsample7 = try H.run1(.upsample, opset: 7, [input], attributes: ["scales": .floats([1, 1, 2, 2]), "mode": .string("nearest")])
        XCTAssertEqual(upsample7.floats, expected)
    }

    func testNearestWorksOnIntegerData() throws {
        let input = H.randomInt64([1, 2, 3, 3], seed: 73)
        let output = try resize(input, sizes: [1, 2, 5, 2], ["nearest_mode": .string("floor"),
                                                              "coordinate_transformation_mode": .string("asymmetric")])
        let values = input.array(of: Int64.self)
        let expected = (0..<output.count).map { flat -> Int64 in
            let i = H.index(flat, in: [1, 2, 5, 2])
            let y = Int((Float(i[2]) * 3 / 5).rounded(.down)), x = Int((Float(i[3]) * 3 / 2).rounded(.down))
            return values[H.flat([0, i[1], y, x], in: input.shape)]
        }
        XCTAssertEqual(output.array(of: Int64.self), expected)
    }

    func testOpset10AndUpsampleUseAsymmetricSimpleRounding() throws {
        // x_in = x_out / 0.75 = 0, 1.33, 2.67: downsampling rounds up -> 0, 2, 3.
        let resize10 = try H.run1(.resize, opset: 10, [ramp, Tensor(shape: [4], floats: [1, 1, 1, 0.75])])
        XCTAssertEqual(resize10.floats, [1, 3, 4])
        // Upsampling truncates: x_in = 0, 0.67, 1.33, 2, 2.67, 3.33 -> 0, 0, 1, 2, 2, 3.
        let up = try H.run1(.upsample, opset: 9, [ramp, Tensor(shape: [4], floats: [1, 1, 1, 1.5])])
        XCTAssertEqual(up.floats, [1, 1, 2, 3, 3, 4])
        let linear = try H.run1(.upsample, opset: 9, [ramp, Tensor(shape: [4], floats: [1, 1, 1, 2])], attributes: ["mode": .string("linear")])
        XCTAssertEqual(linear.floats, [1, 1.5, 2, 2.5, 3, 3.5, 4, 4])
        H.assertThrows("cubic") { _ = try H.run1(.resize, opset: 10, [ramp, Tensor(shape: [4], floats: [1, 1, 1, 2])], attributes: ["mode": .string("cubic")]) }
    }

    // MARK: Cubic

    func testCubicHandValuesAndExcludeOutside() throws {
        let input = Tensor(shape: [1, 4], floats: [1, 2, 4, 8])
        let output = try resize(input, scales: [1, 2], ["mode": .string("cubic"), "coordinate_transformation_mode": .string("asymmetric")])
        // x_in = 1 -> exactly 2; x_in = 1.5 -> weights (-0.09375, 0.59375, 0.59375, -0.09375) on 1, 2, 4, 8.
        XCTAssertEqual(output.floats[2], 2, accuracy: 1e-6)
        XCTAssertEqual(output.floats[3], 2.71875, accuracy: 1e-6)
        // x_in = 0.5 reads index -1, clamped to the edge value 1: -0.09375 + 0.59375 + 1.1875 - 0.375.
        XCTAssertEqual(output.floats[1], 1.3125, accuracy: 1e-6)
        // exclude_outside drops index -1 and renormalises the other three weights (sum 1.09375).
        let excluded = try resize(input, scales: [1, 2], ["mode": .string("cubic"), "exclude_outside": .int(1),
                                                          "coordinate_transformation_mode": .string("asymmetric")])
        XCTAssertEqual(excluded.floats[1], (0.59375 * 1 + 0.59375 * 2 - 0.09375 * 4) / 1.09375, accuracy: 1e-6)
        // cubic_coeff_a = -0.5 at ratio 0.5: weights (-0.0625, 0.5625, 0.5625, -0.0625).
        let keys = try resize(input, scales: [1, 2], ["mode": .string("cubic"), "cubic_coeff_a": .float(-0.5),
                                                      "coordinate_transformation_mode": .string("asymmetric")])
        XCTAssertEqual(keys.floats[3], -0.0625 * 1 + 0.5625 * 2 + 0.5625 * 4 - 0.0625 * 8, accuracy: 1e-6)
    }

    func testCubicReproducesLinearRampsInTheInterior() throws {
        let ramp = Tensor(shape: [1, 1, 10, 10], floats: (0..<100).map { Float(($0 / 10) * 3 + ($0 % 10)) })
        // Keys' kernel reproduces linear functions only for a = -0.5.
        let output = try resize(ramp, scales: [1, 1, 2, 2], ["mode": .string("cubic"), "cubic_coeff_a": .float(-0.5)])
        for y in 4..<16 {
            for x in 4..<16 {
                let sy = (Float(y) + 0.5) / 2 - 0.5, sx = (Float(x) + 0.5) / 2 - 0.5
                XCTAssertEqual(output.floats[y * 20 + x], 3 * sy + sx, accuracy: 1e-4)
            }
        }
    }

    // MARK: tf_crop_and_resize, antialias, opset 18

    func testCropAndResizeExtrapolates() throws {
        // x_in = 0.5·3 + x_out·(1.5 - 0.5)·3 / 2 = 1.5, 3, 4.5 (outside -> extrapolation_value).
        let output = try resize(ramp, sizes: [1, 1, 1, 3], roi: [0, 0, 0, 0.5, 1, 1, 1, 1.5], [
            "mode": .string("linear"), "coordinate_transformation_mode": .string("tf_crop_and_resize"),
            "extrapolation_value": .float(10),
        ])
        XCTAssertEqual(output.floats, [2.5, 4, 10])
        let nearest = try resize(ramp, sizes: [1, 1, 1, 3], roi: [0, 0, 0, 0.5, 1, 1, 1, 1.5], [
            "coordinate_transformation_mode": .string("tf_crop_and_resize"), "extrapolation_value": .float(-1),
        ])
        XCTAssertEqual(nearest.floats, [2, 4, -1])
        // A NaN region of interest extrapolates instead of failing.
        let undefined = try resize(ramp, sizes: [1, 1, 1, 2], roi: [0, 0, 0, .nan, 1, 1, 1, 1], [
            "mode": .string("linear"), "coordinate_transformation_mode": .string("tf_crop_and_resize"),
            "extrapolation_value": .float(7),
        ])
        XCTAssertEqual(undefined.floats, [7, 7])
    }

    func testAntialiasLinearDownsample() throws {
        // Scale 0.5 stretches the triangle filter to 4 taps: weights (1, 3, 3, 1) / 8 around x_in = 2i + 0.5.
        let input = Tensor(shape: [1, 8], floats: (1...8).map(Float.init))
        let output = try resize(input, scales: [1, 0.5], opset: 18, ["mode": .string("linear"), "antialias": .int(1)])
        assertClose(output.floats, [1.625, 3.5, 5.5, 7.375])
        let plain = try resize(input, scales: [1, 0.5], opset: 18, ["mode": .string("linear")])
        assertClose(plain.floats, [1.5, 3.5, 5.5, 7.5])
    }

    func testOpset18AxesAndAspectRatioPolicies() throws {
        let input = H.random([1, 2, 4, 6], seed: 74)
        let lastAxis = try resize(input, scales: [2], opset: 18, ["axes": .ints([-1]), "mode": .string("linear")])
        XCTAssertEqual(lastAxis.shape, [1, 2, 4, 12])
        let full = try resize(input, scales: [1, 1, 1, 2], opset: 18, ["mode": .string("linear")])
        XCTAssertEqual(lastAxis.floats, full.floats)
        // not_larger: scale min(8/4, 8/6) = 4/3 -> [5, 8]; not_smaller: scale 2 -> [8, 12].
        let notLarger = try resize(input, sizes: [8, 8], opset: 18, ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_larger")])
        XCTAssertEqual(notLarger.shape, [1, 2, 5, 8])
        let notSmaller = try resize(input, sizes: [8, 8], opset: 18, ["axes": .ints([2, 3]), "keep_aspect_ratio_policy": .string("not_smaller")])
        XCTAssertEqual(notSmaller.shape, [1, 2, 8, 12])
        let stretch = try resize(input, sizes: [8, 8], opset: 18, ["axes": .ints([2, 3])])
        XCTAssertEqual(stretch.shape, [1, 2, 8, 8])
    }

    func testIdentityResizeReturnsTheInput() throws {
        let input = H.random([1, 2, 3, 3], seed: 75)
        XCTAssertEqual(try resize(input, scales: [1, 1, 1, 1], ["mode": .string("linear")]).floats, input.floats)
    }

    func testResizeRejectsBadArguments() {
        H.assertThrows("both") { _ = try self.resize(self.square, scales: [1, 1, 2, 2], sizes: [1, 1, 4, 4], [:]) }
        H.assertThrows("neither") { _ = try self.resize(self.square, [:]) }
        H.assertThrows("scales has") { _ = try self.resize(self.square, scales: [2, 2], [:]) }
        H.assertThrows("positive") { _ = try self.resize(self.square, scales: [1, 1, 0, 2], [:]) }
        H.assertThrows("out of range") { _ = try self.resize(self.square, scales: [1, 1, 1e30, 1], [:]) }
        H.assertThrows("exceeds") { _ = try self.resize(self.square, sizes: [1, 1, 1 << 20, 1 << 20], [:]) }
        H.assertThrows("mode 'area'") { _ = try self.resize(self.square, scales: [1, 1, 2, 2], ["mode": .string("area")]) }
        H.assertThrows("coordinate_transformation_mode") {
            _ = try self.resize(self.square, scales: [1, 1, 2, 2], ["coordinate_transformation_mode": .string("diagonal")])
        }
    }
}
