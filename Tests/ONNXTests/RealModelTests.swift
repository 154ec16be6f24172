import Foundation
import ONNX
import TensorRuntime
import XCTest

/// The bundled real models against onnxruntime on real inputs: every reference case under
/// Tests/Fixtures/reference/*/ (runtime.json from scripts/make-runtime-references.py,
/// runtime-reference.json from scripts/make-detection-references.py). Elementwise
/// |seer − onnxruntime| ≤ atol + rtol·|onnxruntime| with each case's stated tolerance.
final class RealModelTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Case {
        let name: String
        let model: URL
        let inputs: [String: URL]
        let transforms: [String: String]
        let outputs: [String: URL]
        let atol: Float
        let rtol: Float
    }

    func cases() throws -> [Case] {
        let reference = Self.repository.appendingPathComponent("Tests/Fixtures/reference")
        var found: [Case] = []
        for folder in try FileManager.default.contentsOfDirectory(at: reference, includingPropertiesForKeys: nil).sorted(by: { $0.path < $1.path }) {
            let multi = folder.appendingPathComponent("runtime.json")
            let single = folder.appendingPathComponent("runtime-reference.json")
            if let data = try? Data(contentsOf: multi) {
                let index = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
                for entry in try XCTUnwrap(index["cases"] as? [[String: Any]]) {
                    found.append(try makeCase(entry, folder: folder, name: "\(folder.lastPathComponent)/\(entry["name"] ?? "?")",
                                              model: try XCTUnwrap(entry["model_file"] as? String)))
                }
            } else if let data = try? Data(contentsOf: single) {
                let entry = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
                found.append(try makeCase(entry, folder: folder, name: folder.lastPathComponent, model: try XCTUnwrap(entry["graph"] as? String)))
            }
        }
        return found
    }

    func makeCase(_ entry: [String: Any], folder: URL, name: String, model: String) throws -> Case {
        let tolerance = try XCTUnwrap(entry["tolerance"] as? [String: Double])
        return Case(name: name, model: Self.repository.appendingPathComponent(model),
                    inputs: try XCTUnwrap(entry["inputs"] as? [String: String]).mapValues { folder.appendingPathComponent($0) },
                    transforms: entry["input_transform"] as? [String: String] ?? [:],
                    outputs: try XCTUnwrap(entry["outputs"] as? [String: String]).mapValues { folder.appendingPathComponent($0) },
                    atol: Float(try XCTUnwrap(tolerance["atol"])), rtol: Float(try XCTUnwrap(tolerance["rtol"])))
    }

    /// Inputs stored as bytes to keep fixtures small, turned back into the float tensor the reference ran.
    func input(_ url: URL, transform: String?) throws -> Tensor {
        let stored = try NPY.read(contentsOf: url)
        guard let transform else { return stored }
        let bytes = stored.array(of: UInt8.self).map(Float.init)
        switch transform {
        case "float32(u8) / 255": return Tensor(shape: stored.shape, floats: bytes.map { $0 / 255 })
        case "(float32(u8) / 255 - 0.5) / 0.5": return Tensor(shape: stored.shape, floats: bytes.map { ($0 / 255 - 0.5) / 0.5 })
        default:
            XCTFail("unknown input transform '\(transform)'")
            return stored
        }
    }

    func testBundledModelsMatchOnnxruntime() throws {
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 6, "reference cases found: \(all.map(\.name))")
        var plans: [URL: ExecutionPlan] = [:]
        for testCase in all {
            let plan = try plans[testCase.model] ?? ExecutionPlan(graph: ONNXModel.load(contentsOf: testCase.model))
            plans[testCase.model] = plan
            let executor = Executor(plan: plan)
            var feeds: [String: Tensor] = [:]
            for (name, url) in testCase.inputs { feeds[name] = try input(url, transform: testCase.transforms[name]) }
            let outputs = try executor.run(feeds)
            for (name, url) in testCase.outputs {
                let expected = try NPY.read(contentsOf: url)
                let actual = try XCTUnwrap(outputs[name], "\(testCase.name): no output '\(name)'")
                XCTAssertEqual(actual.shape, expected.shape, "\(testCase.name)/\(name)")
                guard actual.shape == expected.shape else { continue }
                let ours = actual.floatValues(), theirs = expected.floatValues()
                var worst: Float = 0, violations = 0
                for (a, b) in zip(ours, theirs) {
                    let error = abs(a - b)
                    worst = max(worst, error)
                    if !(error <= testCase.atol + testCase.rtol * abs(b)) { violations += 1 }
                }
                XCTAssertEqual(violations, 0, "\(testCase.name)/\(name): \(violations) of \(ours.count) values outside atol \(testCase.atol) + rtol \(testCase.rtol); max abs error \(worst)")
                print("real model \(testCase.name)/\(name): max abs error \(worst) over \(ours.count) values")
            }
        }
    }
}
