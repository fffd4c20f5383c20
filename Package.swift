// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["SluiceCLI"]),
        .executable(name: "sluice-spotify-sim", targets: ["SpotifySimulatorCLI"]),
        .executable(name: "sluice-bench", targets: ["SluiceBench"]),
        .library(name: "Sluice", targets: ["Sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through async-http-client; named so fetch can tell a certificate
        // that failed verification (permanent) from a dropped connection (worth a retry).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        // Already in the graph through async-http-client, which decompresses answers with it: named
        // so a body that expands past the limit is told apart from a dropped connection.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Already in the graph through async-http-client and hummingbird: NIOThreadPool runs
        // blocking file I/O and process waits off the cooperative pool (BlockingIO); Crypto's
        // SHA-256 fingerprints every spool and CSV.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // C libraries, each behind its own system-library target.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // zlib's deflate, for the fixture server's compressed answers (async-http-client's
        // decompression links zlib already).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Linux's sync_file_range(2), which Swift's Glibc module does not declare (no library).
        .systemLibrary(name: "CFileIO"),

        // Values, rows, batches, SHA-256, the blocking-I/O threads: shared by everything.
        .target(
            name: "SluiceCore",
            dependencies: [
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // YAML (libyaml) -> node tree with marks -> validated, typed Plan (a database URL read by
        // libpq's own parser, through SluicePostgres).
        .target(name: "SluicePlan", dependencies: ["SluiceCore", "CYAML", "SluicePostgres"]),
        // libpq on a per-connection serial executor: statements, streaming, COPY, quoting.
        .target(
            name: "SluicePostgres",
            dependencies: ["SluiceCore", "CLibPQ", .product(name: "Logging", package: "swift-log")]
        ),
        // The apply engine: a keyed bulk UPDATE (or upsert, or INSERT) in one transaction, undoable.
        .target(
            name: "SluiceApply",
            dependencies: ["SluiceCore", "SluicePostgres", .product(name: "Logging", package: "swift-log")]
        ),
        // The staged async engine: bounded channels, runner, manifest, spools, replay.
        .target(
            name: "SluicePipeline",
            dependencies: ["SluiceCore", "CFileIO", .product(name: "Logging", package: "swift-log")]
        ),
        // HTTP for the fetch stage: OAuth2 client credentials, pacing, retries, batch narrowing.
        .target(
            name: "SluiceHTTP",
            dependencies: [
                "SluiceCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
            ]
        ),
        // The eight stage kinds, built from a Plan.
        .target(
            name: "Sluice",
            dependencies: [
                "SluiceCore", "SluicePlan", "SluicePostgres", "SluiceApply", "SluicePipeline", "SluiceHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "SluiceCLI",
            dependencies: [
                "Sluice", "SluiceCore", "SluicePlan", "SluicePipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A faithful local Spotify Web API for tests, the demo and users trying a plan.
        .target(
            name: "SpotifySimulator",
            dependencies: ["SluiceCore", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        // A generic local REST API for other request shapes (per item, batch keyed by id, POST
        // lookups), answering recorded items and enforcing the real API's rules.
        .target(
            name: "APIFixtureServer",
            dependencies: ["SluiceCore", "CZlib", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(
            name: "SpotifySimulatorCLI",
            dependencies: [
                "SpotifySimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "SluiceBench",
            dependencies: [
                "Sluice", "SluiceCore", "SluicePlan", "SluicePipeline", "SluicePostgres", "SluiceApply",
                "SluiceTestSupport", "SpotifySimulator", "APIFixtureServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // The raw-client baseline of the fetch benchmark.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // Throwaway PostgreSQL servers and simulator processes for tests and benchmarks.
        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluicePostgres", "SluiceCore", .product(name: "Logging", package: "swift-log")]),

        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceTestSupport"]),
        .testTarget(name: "SluicePlanTests", dependencies: ["SluicePlan", "SluiceCore"], resources: [.copy("Corpus")]),
        .testTarget(name: "SluicePostgresTests", dependencies: ["SluicePostgres", "SluiceTestSupport"]),
        .testTarget(name: "SluiceApplyTests", dependencies: ["SluiceApply", "SluicePostgres", "SluiceTestSupport"]),
        .testTarget(
            name: "SluicePipelineTests",
            dependencies: ["SluicePipeline", "SluiceCore", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "SluiceHTTPTests",
            dependencies: [
                "SluiceHTTP", "SpotifySimulator", "SluiceTestSupport", "APIFixtureServer",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "SpotifySimulatorTests",
            dependencies: [
                "SpotifySimulator", "SluiceCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The real plan, run by the real binary against a throwaway PostgreSQL and the simulator.
        .testTarget(
            name: "SluiceEndToEndTests",
            dependencies: [
                "CFileIO", "SluicePipeline", "SluicePlan", "SluiceCore", "SluiceTestSupport", "SpotifySimulator",
                "APIFixtureServer",
            ]
        ),
        .testTarget(
            name: "SluiceTests",
            dependencies: [
                "Sluice", "SluicePlan", "SluicePipeline", "SluiceApply", "SluiceTestSupport", "SpotifySimulator",
                "APIFixtureServer",
            ],
            resources: [.copy("Corpus-CSV")]
        ),
    ]
)
