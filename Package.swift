// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .unsafeFlags(["-warnings-as-errors"]),
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]
// Swift Testing's macros expand to code that warns on this toolchain (@section/@const), so test
// targets keep Swift 6 mode but not warnings-as-errors.
let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Spool",
    products: [
        .executable(name: "spoold", targets: ["spoold"]),
        .executable(name: "spool", targets: ["spool"]),
        .library(name: "SpoolClient", targets: ["SpoolClient"]),
        .library(name: "SpoolStorage", targets: ["SpoolStorage"]),
        .library(name: "SpoolProtocol", targets: ["SpoolProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, linked through pkg-config; Debian packages provide them.
        .systemLibrary(
            name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(
            name: "CWiredTiger", pkgConfig: "wiredtiger", providers: [.apt(["libwiredtiger-dev"])]),
        // Password digests, random passwords, and TLS.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // The server's allocator (Redis's too): many small allocations freed on other threads.
        .systemLibrary(
            name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),

        // Pure Swift, no I/O: entry ids, stream names, limits.
        .target(name: "SpoolCore", swiftSettings: strict),
        // RESP2/RESP3 values, decoder, encoder.
        .target(
            name: "SpoolProtocol", dependencies: ["SpoolCore"], swiftSettings: strict,
            // Double formatting rounds with libm's trunc.
            linkerSettings: [.linkedLibrary("m")]),
        // WiredTiger log store, merged cursor, storage and flush threads (group commit).
        .target(
            name: "SpoolStorage",
            dependencies: [
                "SpoolCore", "CWiredTiger",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // The replication core: pure state machines (leader recovery, quorum commit, epochs), no I/O.
        .target(name: "SpoolReplication", swiftSettings: strict),
        // etcd v3 JSON-gateway client and the cluster coordinator: node registration, shard leader
        // campaigns, epochs (REPLICATION.md 5.2 and 6). Callback entry points for the broker's threads.
        .target(
            name: "SpoolCluster",
            dependencies: [
                "SpoolTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // TLS over OpenSSL memory BIOs: the loop (client connections) and the cluster bus (NIO)
        // both keep their own socket I/O and hand ciphertext through.
        .target(name: "SpoolTLS", dependencies: ["COpenSSL"], swiftSettings: strict),
        // libuv event loop, connections, command execution.
        .target(
            name: "SpoolServer",
            dependencies: [
                "SpoolCore", "SpoolProtocol", "SpoolStorage", "SpoolReplication", "SpoolCluster", "SpoolTLS", "CLibUV", "CJemalloc", "COpenSSL",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // async/await client over RESP: its own socket I/O thread per connection, no event loop.
        .target(
            name: "SpoolClient",
            dependencies: [
                "SpoolCore", "SpoolProtocol", "SpoolTLS",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "spoold",
            dependencies: [
                "SpoolServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "spool",
            dependencies: [
                "SpoolClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "spool-store-bench",
            dependencies: [
                "SpoolStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "spool-protocol-bench", dependencies: ["SpoolProtocol"], swiftSettings: strict),
        .executableTarget(
            name: "spool-crash-writer",
            dependencies: ["SpoolStorage"],
            swiftSettings: strict),

        .testTarget(name: "SpoolCoreTests", dependencies: ["SpoolCore"], swiftSettings: testSettings),
        .testTarget(
            name: "SpoolProtocolTests", dependencies: ["SpoolProtocol"], swiftSettings: testSettings),
        .testTarget(
            name: "SpoolStorageTests", dependencies: ["SpoolStorage", "SpoolCore"],
            swiftSettings: testSettings),
        .testTarget(
            name: "SpoolClientTests", dependencies: ["SpoolClient", "SpoolCore"],
            swiftSettings: testSettings),
        .testTarget(
            name: "SpoolReplicationTests", dependencies: ["SpoolReplication"], swiftSettings: testSettings),
        // Starts a real etcd (/usr/bin/etcd) on free loopback ports for each test.
        .testTarget(
            name: "SpoolClusterTests", dependencies: ["SpoolCluster"], swiftSettings: testSettings),
        .testTarget(
            name: "SpoolServerTests", dependencies: ["SpoolServer", "SpoolStorage", "SpoolProtocol", "SpoolCore", "SpoolTLS"],
            swiftSettings: testSettings),
    ]
)
