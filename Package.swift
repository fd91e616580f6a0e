// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "prefloss-server",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PreferenceLoss", targets: ["PreferenceLoss"]),
        .executable(name: "prefloss-server", targets: ["prefloss-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // The loss mathematics: no HTTP, no I/O.
        .target(name: "PreferenceLoss", dependencies: ["CLossKernel"]),
        // The loss's per-token passes (masked row sums, gradient fills) over the tensors' own
        // element types, in C that the compiler vectorises at SwiftPM's release -O2 (no unsafe
        // flags, so that packages can depend on PreferenceLoss).
        .target(name: "CLossKernel", dependencies: ["CHalfPrecision"]),
        // IEEE binary16 and bfloat16 read exactly, inline (shared by the kernel and the safetensors reader),
        // and doubles narrowed to float32 for answers, with their overflow.
        .target(name: "CHalfPrecision"),
        // A thin C interface to Debian's simdjson (libsimdjson-dev).
        .target(name: "CSimdjson", linkerSettings: [.linkedLibrary("simdjson")]),
        // Shortest round-trip double formatting (std::to_chars).
        .target(name: "CNumberFormat"),
        // Generic fast JSON: simdjson parsing with precise syntax errors, and a writer.
        .target(name: "FastJSON", dependencies: ["CSimdjson", "CNumberFormat"]),
        // zlib (Debian's zlib1g-dev): bounded gzip/zlib inflation, gzip compression.
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),
        // Swift over CZlib: inflation that asks before every allocation, gzip.
        .target(name: "ZlibCoding", dependencies: ["CZlib"]),
        // RFC 9110 header grammars (media types, weighted lists, codings, Bearer credentials); no HTTP.
        .target(name: "HeaderGrammar"),
        // The safetensors container: checked parsing and writing, no HTTP.
        .target(name: "Safetensors", dependencies: ["FastJSON", "CHalfPrecision"]),
        // The wire formats of /v1/loss: JSON and safetensors requests decoded and validated
        // into loss inputs, results encoded; no HTTP.
        .target(name: "PreferenceLossCodec", dependencies: ["PreferenceLoss", "FastJSON", "Safetensors"]),
        // The HTTP service: routes, reading and inflating bodies (the codec decodes them), problems, metrics, readiness.
        .target(
            name: "PreferenceLossServer",
            dependencies: [
                "PreferenceLoss",
                "PreferenceLossCodec",
                "FastJSON",
                "Safetensors",
                "ZlibCoding",
                "HeaderGrammar",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("openapi.yaml")]
        ),
        .executableTarget(
            name: "prefloss-server",
            dependencies: [
                "PreferenceLossServer",
                "PreferenceLoss",
                "FastJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "prefloss-benchmarks",
            dependencies: ["PreferenceLoss", "PreferenceLossCodec", "FastJSON", "Safetensors"],
            path: "Benchmarks/prefloss-benchmarks"),
        // Hummingbird alone serving prefloss-server's /health answer: the floor `make profile-health` measures.
        .executableTarget(
            name: "minimal-hummingbird",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/minimal-hummingbird"),
        // libFuzzer's driver when linked with -sanitize=fuzzer, nothing otherwise.
        .target(name: "CFuzzDriver"),
        // The request decoders under libFuzzer (`make fuzz`), or a replay of saved inputs.
        .executableTarget(
            name: "prefloss-fuzz",
            dependencies: [
                "PreferenceLossCodec", "PreferenceLoss", "FastJSON", "CFuzzDriver", "HeaderGrammar", "ZlibCoding",
            ], path: "Fuzz/prefloss-fuzz"),
        // A seeded random generator shared by the test targets.
        .target(name: "SeededRandom", path: "Tests/SeededRandom"),
        .testTarget(
            name: "PreferenceLossTests", dependencies: ["PreferenceLoss", "PreferenceLossCodec", "SeededRandom"]),
        .testTarget(
            name: "PreferenceLossCodecTests", dependencies: ["PreferenceLossCodec", "PreferenceLoss", "FastJSON"]),
        .testTarget(name: "FastJSONTests", dependencies: ["FastJSON", "SeededRandom"]),
        .testTarget(name: "HeaderGrammarTests", dependencies: ["HeaderGrammar"]),
        .testTarget(name: "ZlibCodingTests", dependencies: ["ZlibCoding"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors", "FastJSON"]),
        .testTarget(
            name: "PreferenceLossServerTests",
            dependencies: [
                "PreferenceLossServer",
                "PreferenceLossCodec",
                "PreferenceLoss",
                "FastJSON",
                "Safetensors",
                "ZlibCoding",
                "SeededRandom",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6],
    // CSimdjson and CNumberFormat (std::to_chars for doubles) need C++17.
    cxxLanguageStandard: .cxx17
)
