// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The codec's walkers touch `ByteBuffer` storage for every field; its inlined class accesses would otherwise pay a
/// dynamic exclusivity check each time (a quarter of the Metadata benchmark's time when measured). Capture analysis
/// updates its per-connection class state for every packet (6% of a frame-heavy capture's time in those checks), and
/// the CLI's report closures update the report they capture for every exchange.
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
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .target(
            name: "KafkaCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "KafkaProxy",
            dependencies: [
                "KafkaCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "KafkaProxyMetrics",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KafkaProxyMetrics",
            dependencies: [
                "KafkaCodec",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CLibPCAP",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .target(
            name: "KafkaPCAP",
            dependencies: [
                "CLibPCAP",
                "KafkaCodec",
                "KafkaProxyMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
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
                "KafkaProxy",
                "KafkaProxyMetrics",
                "KafkaPCAP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotPathSettings,
            // glibc's malloc locks the allocating thread's arena to free memory from another thread: capture
            // analysis reads facts on one thread and drops them on the other, and its two threads spent most of
            // their time waiting on that lock. mimalloc frees such memory without a shared lock.
            linkerSettings: [.linkedLibrary("mimalloc")]
        ),
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: ["KafkaCodec", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/CodecBenchmarks",
            swiftSettings: swiftSettings
        ),
        .target(name: "FuzzSupport", dependencies: ["KafkaCodec"], path: "Fuzz/FuzzSupport", swiftSettings: swiftSettings),
        .executableTarget(
            name: "KafkaCodecFuzzer",
            dependencies: ["KafkaCodec", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/KafkaCodecFuzzer",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "KafkaProxyFuzzer",
            dependencies: [
                "KafkaProxy", "KafkaProxyMetrics", "KafkaCodec", "KafkaTestSupport", "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/KafkaProxyFuzzer",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "KafkaCaptureFuzzer",
            dependencies: ["KafkaPCAP", "KafkaTestSupport", "FuzzSupport"],
            path: "Fuzz/KafkaCaptureFuzzer",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "HostileClient",
            dependencies: ["KafkaCodec", "KafkaTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/HostileClient",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        ),
        .target(
            name: "KafkaTestSupport",
            dependencies: ["KafkaCodec", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/KafkaTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaCodecTests",
            dependencies: [
                "KafkaCodec",
                "KafkaTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaProxyTests",
            dependencies: [
                "KafkaProxy",
                "KafkaTestSupport",
                "KafkaCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaProxyMetricsTests",
            dependencies: [
                "KafkaProxyMetrics",
                "KafkaTestSupport",
                "KafkaCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaPCAPTests",
            dependencies: [
                "KafkaPCAP",
                "KafkaTestSupport",
                "KafkaCodec",
                "KafkaProxyMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KafkaCodecGeneratorTests",
            dependencies: ["KafkaCodecGeneratorKit"],
            swiftSettings: swiftSettings
        ),
    ]
)
