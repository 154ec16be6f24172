// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for Seer's parsers and decoders. Separate from the main package so
// that its build and CI are untouched; `scripts/fuzz` builds and runs them with
// `--sanitize fuzzer --sanitize address`.

let targets: [(name: String, products: [String], local: [Target.Dependency])] = [
    ("fuzz-http-request", ["HTTPServer"], []),
    ("fuzz-multipart", ["HTTPServer"], []),
    ("fuzz-jpeg", ["Media"], ["ImageFuzzing"]),
    ("fuzz-png", ["Media"], ["ImageFuzzing"]),
    ("fuzz-onnx", ["ONNX", "TensorRuntime"], []),
    ("fuzz-video", ["Media"], []),
    ("fuzz-oip-json", ["App"], []),
]

let package = Package(
    name: "SeerFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Seer", path: "..")],
    targets: [
        // The JPEG and PNG targets' shared body (decode, check the result, classify the error).
        .target(name: "ImageFuzzing", dependencies: [.product(name: "Media", package: "Seer")], path: "Sources/ImageFuzzing"),
    ] + targets.map { target in
        .executableTarget(
            name: target.name,
            dependencies: target.products.map { .product(name: $0, package: "Seer") } + target.local,
            path: "Sources/\(target.name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    },
    swiftLanguageModes: [.v5]
)
