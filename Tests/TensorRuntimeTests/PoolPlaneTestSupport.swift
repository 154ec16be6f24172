import TensorRuntime
import XCTest

/// A 2-D pooling window for the plane-kernel tests (MaxPoolPlaneTests, AveragePoolPlaneTests): run as a
/// 2-D pool it takes the vectorised plane kernel, run as the same pool over a depth-1 3-D input it takes
/// the generic loop nest, and the two must agree bit for bit.
struct PoolPlaneWindow: CustomStringConvertible {
    var kind: OpKind = .maxPool
    var batch = 1, channels = 1
    var height = 1, width = 1
    var kernel = (1, 1), strides = (1, 1), dilations = (1, 1)
    var pads = (top: 0, left: 0, bottom: 0, right: 0)
    var ceilMode = false
    /// AveragePool only.
    var countIncludePad = false

    var description: String {
        let counting = kind == .averagePool ? " count_include_pad \(countIncludePad)" : ""
        return "\(kind.rawValue) \(batch)x\(channels)x\(height)x\(width) kernel \(kernel) strides \(strides) "
            + "dilations \(dilations) pads \(pads) ceil \(ceilMode)\(counting)"
    }

    /// The window as a 2-D pool, or as the same pool over a depth-1 3-D input.
    func node(asVolume: Bool) -> Node {
        let p = pads
        let depth = asVolume ? [1] : []
        var attributes: [String: AttributeValue] = [
            "kernel_shape": .ints(depth + [kernel.0, kernel.1]), "strides": .ints(depth + [strides.0, strides.1]),
            "pads": .ints(asVolume ? [0, p.top, p.left, 0, p.bottom, p.right] : [p.top, p.left, p.bottom, p.right]),
            "ceil_mode": .int(ceilMode ? 1 : 0),
        ]
        switch kind {
        case .averagePool: attributes["count_include_pad"] = .int(countIncludePad ? 1 : 0)
        default: attributes["dilations"] = .ints(depth + [dilations.0, dilations.1])
        }
        return Node(name: "pool", kind: kind, opset: kind == .averagePool ? 11 : 12, inputs: ["X"], outputs: ["Y"],
                    attributes: Attributes(attributes))
    }

    /// Whether ONNX accepts it: each window extent fits the padded input.
    var fits: Bool {
        (kernel.0 - 1) * dilations.0 + 1 <= height + pads.top + pads.bottom
            && (kernel.1 - 1) * dilations.1 + 1 <= width + pads.left + pads.right
    }

    /// A random window of up to 2x3 planes of up to 12x40, kernels up to 5x5, strides up to 3, pads below
    /// the kernel, ceil_mode either way; MaxPool windows are dilated one time in four, AveragePool ones
    /// count the pads or not. It may not fit (see `fits`).
    static func random(_ kind: OpKind, _ rng: inout ConvTestRandom) -> PoolPlaneWindow {
        var w = PoolPlaneWindow(kind: kind)
        w.batch = rng.int(1...2)
        w.channels = rng.int(1...3)
        w.height = rng.int(1...12)
        w.width = rng.bool() ? rng.int(1...7) : rng.int(8...40)
        w.kernel = (rng.int(1...5), rng.int(1...5))
        w.strides = (rng.int(1...3), rng.int(1...3))
        if kind == .maxPool { w.dilations = rng.int(0...3) == 0 ? (rng.int(1...2), rng.int(1...2)) : (1, 1) }
        w.pads = (rng.int(0...(w.kernel.0 - 1)), rng.int(0...(w.kernel.1 - 1)),
                  rng.int(0...(w.kernel.0 - 1)), rng.int(0...(w.kernel.1 - 1)))
        w.ceilMode = rng.bool()
        if kind == .averagePool { w.countIncludePad = rng.bool() }
        return w
    }

    /// Runs the window over `x` both ways and fails at the first output whose bits differ. AveragePool's
    /// NaNs may differ in payload (any NaN matches any NaN); MaxPool's must be the very same bits.
    func assertPlaneKernelMatchesGenericLoop(_ x: Tensor, threads: Int, file: StaticString = #filePath,
                                             line: UInt = #line) throws {
        let volume = x.reshaped([batch, channels, 1, height, width])
        let plane = try ConvTestSupport.run(node(asVolume: false), feeds: ["X": x], threads: threads)[0]
        let generic = try ConvTestSupport.run(node(asVolume: true), feeds: ["X": volume], threads: threads)[0]
        XCTAssertEqual(plane.shape, [generic.shape[0], generic.shape[1]] + generic.shape[3...], "\(self)",
                       file: file, line: line)
        let (fast, slow) = (plane.floats, generic.floats)
        XCTAssertEqual(fast.count, slow.count, "\(self)", file: file, line: line)
        let anyNaNMatches = kind == .averagePool
        let differs = { (i: Int) in
            anyNaNMatches && fast[i].isNaN ? !slow[i].isNaN : fast[i].bitPattern != slow[i].bitPattern
        }
        if let i = fast.indices.first(where: differs) {
            XCTFail("output \(i): \(fast[i]) (bits \(fast[i].bitPattern)) vs generic \(slow[i]) "
                        + "(bits \(slow[i].bitPattern)); \(self)", file: file, line: line)
        }
    }
}
