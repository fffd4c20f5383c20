import Foundation
import SluiceCore
import SluicePlan
import Testing

/// Random bytes and random mutations of valid plans, fed to the loader for a bounded number of
/// rounds with a seeded generator (so a failure reproduces): the loader must never trap, and
/// every problem it reports must be located inside the text it was given.
@Suite struct FuzzTests {
    static let environment = [
        "DATABASE_URL": "postgresql://u:pw@localhost/db", "SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "s",
    ]

    /// The valid plans to mutate: the real one and the corpus' minimal one.
    static func seeds() async throws -> [[UInt8]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let files = [
            root.appendingPathComponent("plans/spotify-enrichment.yaml"),
            root.appendingPathComponent("Tests/SluicePlanTests/Corpus/valid-minimal.yaml"),
        ]
        return try await BlockingIO.runOnOwnThread { try files.map { Array(try Data(contentsOf: $0)) } }
    }

    /// Fragments YAML and plans are made of, so mutations reach deep into the checker.
    static let tokens: [String] = [
        ":", "- ", "{", "}", "[", "]", "\"", "'", "&a", "*a", "!!str", "|", ">", "#", "\n", "\t", "  ", "${", "}",
        "${X:-", "{{ stages.", " }}", "kind: ", "fetch", "chunk", "size: ", "-1", "999999999999999999999", "0.33s",
        "1e308", "null", "~", "yes", "\u{FEFF}", "\u{0}", "\u{202E}", "é", "🎉", "---\n", "...\n", "? ", "<<: *a",
    ]

    // Thousands of loads without a suspension point would hold a cooperative thread for
    // seconds (a debug build loads a mutated plan in about a millisecond, more when it is full
    // of errors); each test yields whenever it has worked 5 ms, so that time-bound tests
    // running alongside keep their timing even while another test holds the other thread.
    @Test(arguments: 0..<4)
    func mutatedPlansNeverTrapAndEveryErrorIsLocated(seed: UInt64) async throws {
        var random = SplitMix64(seed: 0x5EED_0000 &+ seed)
        let loader = PlanLoader(environment: Self.environment)
        var pause = CooperativePause()
        let seeds = try await Self.seeds()
        for round in 0..<1500 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + Int(random.next() % 6)) { Self.mutate(&bytes, &random) }
            try Self.check(loader, bytes, "seed \(seed) round \(round)")
            await pause.yieldIfDue()
        }
    }

    @Test(arguments: 0..<2)
    func randomBytesNeverTrap(seed: UInt64) async throws {
        var random = SplitMix64(seed: 0xB17E_0000 &+ seed)
        let loader = PlanLoader(environment: Self.environment)
        var pause = CooperativePause()
        for round in 0..<1000 {
            let count = Int(random.next() % 2048)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            try Self.check(loader, bytes, "seed \(seed) round \(round)")
            await pause.yieldIfDue()
        }
    }

    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
        switch random.next() % 5 {
        case 0:  // insert a token
            bytes.insert(contentsOf: Array(tokens[Int(random.next() % UInt64(tokens.count))].utf8), at: position)
        case 1:  // delete a run
            let length = min(Int(random.next() % 40), bytes.count - position)
            bytes.removeSubrange(position..<(position + length))
        case 2:  // flip a byte
            if position < bytes.count { bytes[position] ^= UInt8(truncatingIfNeeded: 1 << (random.next() % 8)) }
        case 3:  // duplicate a run (repeated keys, repeated stages)
            let length = min(Int(random.next() % 200), bytes.count - position)
            bytes.insert(contentsOf: bytes[position..<(position + length)], at: position)
        default:  // random byte
            bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
        }
    }

    /// Loads `bytes`; on failure every error must point inside the text (or be file-level).
    static func check(_ loader: PlanLoader, _ bytes: [UInt8], _ label: String) throws {
        do {
            _ = try loader.load(bytes: bytes, path: "fuzz.yaml")
        } catch {
            #expect(!error.errors.isEmpty, "a failed load reports at least one error (\(label))")
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
            for diagnostic in error.errors {
                #expect(!diagnostic.message.isEmpty, "\(label)")
                guard let location = diagnostic.location, location.source.name == "fuzz.yaml" else { continue }
                #expect(location.line >= 1 && location.line <= max(1, lines) + 1, "\(label): \(diagnostic)")
                #expect(location.column >= 1, "\(label): \(diagnostic)")
                _ = diagnostic.rendered(color: false)  // rendering the caret line must not trap either
            }
        }
    }
}
