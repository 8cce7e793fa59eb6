// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The codec's walkers touch `ByteBuffer` storage for every field; its inlined class accesses would otherwise pay a
/// dynamic exclusivity check each time (a quarter of the Metadata benchmark's time when measured).
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "kafkascope",
    products: [
        .executable(name: "kafkascope", targets: ["KafkascopeCLI"]),
        .executable(name: "kafka-codec-generator", targets: ["KafkaCodecGenerator"]),
        .library(name: "KafkaCodec", targets: ["KafkaCodec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "KafkaCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPathSettings
        ),
        .target(name: "KafkaCodecGeneratorKit", swiftSettings: swiftSettings),
        .executableTarget(
            name: "KafkaCodecGenerator",
            dependencies: ["KafkaCodecGeneratorKit"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "KafkascopeCLI",
            dependencies: [
                "KafkaCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: ["KafkaCodec", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/CodecBenchmarks",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "KafkaCodecFuzzer",
            dependencies: ["KafkaCodec", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/KafkaCodecFuzzer",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .testTarget(
            name: "KafkaCodecTests",
            dependencies: [
                "KafkaCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaCodecGeneratorTests",
            dependencies: ["KafkaCodecGeneratorKit"],
            swiftSettings: swiftSettings
        ),
    ]
)
