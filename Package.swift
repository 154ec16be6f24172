// swift-tools-version:6.0
import PackageDescription

// Hot loops are written over unsafe buffers; -Ounchecked drops the remaining
// overflow checks in release builds only.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "Seer",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "seer", targets: ["seer"]),
        // For the fuzz targets in Fuzz/ (a separate package that depends on this one by path).
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "ONNX", targets: ["ONNX"]),
        .library(name: "TensorRuntime", targets: ["TensorRuntime"]),
        .library(name: "App", targets: ["App"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries from Debian packages.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Headers only (found on the default include path): CVideoIO dlopens FFmpeg on first use.
        .systemLibrary(name: "CFFmpeg", providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),

        // The data's road: runtime, model files, media, vision pipelines, storage, HTTP, app.
        // The packed GEMM micro-kernel (AVX2/FMA per function, chosen at run time).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "TensorRuntime", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: fastMath),
        .target(name: "ONNX", dependencies: ["TensorRuntime"], swiftSettings: fastMath),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "CVideoIO", dependencies: ["CFFmpeg"]),
        .target(name: "Media", dependencies: ["CImageCodecs", "CJPEG", "CPNG", "CFFmpeg", "CVideoIO"], swiftSettings: fastMath),
        .target(name: "Vision", dependencies: ["TensorRuntime", "ONNX", "Media"], swiftSettings: fastMath),
        .target(name: "Store", dependencies: ["CSQLite"]),
        .target(name: "HTTPServer"),
        .target(name: "App", dependencies: ["TensorRuntime", "ONNX", "Media", "Vision", "Store", "HTTPServer"]),
        .target(name: "CAllocator"),
        .executableTarget(name: "seer", dependencies: [
            "App", "ONNX", "TensorRuntime", "CAllocator",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TensorRuntimeTests", dependencies: ["TensorRuntime"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "TensorRuntime"]),
        .testTarget(name: "MediaTests", dependencies: ["Media"]),
        .testTarget(name: "VisionTests", dependencies: ["Vision", "ONNX", "TensorRuntime", "Media"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"]),
        .testTarget(name: "AppTests", dependencies: ["App", "HTTPServer", "Media", "Store"]),
        .testTarget(name: "CLITests", dependencies: ["ONNX", "TensorRuntime"]),
    ],
    swiftLanguageModes: [.v5]
)
