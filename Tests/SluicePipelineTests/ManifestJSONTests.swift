import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// The manifest goes through SluiceCore's JSON codec: numbers keep their kind, the bytes are
/// deterministic, and a damaged manifest is refused naming the field.
@Suite struct ManifestJSONTests {
    static func manifest() -> Manifest {
        var manifest = Manifest(
            runID: "20261202-120000-abcdef", toolVersion: "test",
            plan: .init(path: "plan.yaml", sha256: "00", name: "demo"),
            resolvedPlan: .object(["size": .int(7), "delay": .double(7), "ratio": .double(0.5)]), overrides: [],
            startedAt: Manifest.milliseconds(Date(timeIntervalSince1970: 1_790_000_000.123)),
            stages: [
                .init(name: "fetch", kind: "fetch", parameters: .object(["timeout": .double(30)]), input: nil)
            ])
        manifest.stages[0].counters = ["requests": 3]
        return manifest
    }

    @Test func integersAndDoublesStayApartAndTheBytesAreStable() throws {
        let manifest = Self.manifest()
        let bytes = manifest.encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"delay\": 7.0"))
        #expect(text.contains("\"size\": 7"))
        #expect(text.contains("\"timeout\": 30.0"))
        #expect(text.contains("\"finished_at\": null"), "optional fields are written as null")
        let decoded = try Manifest.decode(Data(bytes))
        #expect(decoded == manifest)
        #expect(decoded.resolvedPlan == .object(["size": .int(7), "delay": .double(7), "ratio": .double(0.5)]))
        #expect(decoded.encoded() == bytes)
    }

    /// A run continues another when it replays it from where it stopped (or earlier), not
    /// from a later stage, and not when it replays only one stage.
    @Test func aReplayContinuesARunOnlyFromWhereItStopped() {
        var original = Self.manifest()
        original.stages = ["query", "fetch", "verify"].map {
            .init(name: $0, kind: $0, parameters: .object([:]), input: nil)
        }
        original.stages[0].status = .succeeded
        original.stages[1].status = .failed
        func replay(_ stage: String, _ mode: Manifest.ReplayMode, of run: String? = nil) -> Manifest {
            var later = Self.manifest()
            later.runID = "20261202-130000-zzzzzz"
            later.replayOf = .init(runID: run ?? original.runID, path: "/runs/x", stage: stage, mode: mode)
            return later
        }
        #expect(replay("query", .from).continues(original))
        #expect(replay("fetch", .from).continues(original))
        #expect(!replay("verify", .from).continues(original), "fetch never finished")
        #expect(!replay("fetch", .stage).continues(original), "one stage, not the rest")
        #expect(!replay("query", .from, of: "20261202-110000-other1").continues(original))
        #expect(!Self.manifest().continues(original), "not a replay")
        // A dry run changes nothing, also one that failed before its apply (no dry_run counter).
        var dry = replay("query", .from)
        dry.dryRun = true
        #expect(dry.isDryRun && !dry.continues(original))
    }

    /// `dry_run` is recorded and read back; a manifest from before it reads as no dry run.
    @Test func aDryRunIsRecordedAndAnOlderManifestIsNone() throws {
        var manifest = Self.manifest()
        manifest.dryRun = true
        let text = String(decoding: manifest.encoded(), as: UTF8.self)
        #expect(text.contains("\"dry_run\": true"), "\(text)")
        #expect(try Manifest.decode(Data(text.utf8)) == manifest)
        let older = text.replacingOccurrences(of: "\"dry_run\"", with: "\"unknown_field\"")
        #expect(try Manifest.decode(Data(older.utf8)).dryRun == false)
    }

    /// An undo is recorded with its figures and read back; a manifest from before the field
    /// existed reads as never undone.
    @Test func undosRoundTripAndAnOlderManifestHasNone() throws {
        var manifest = Self.manifest()
        manifest.undos = [
            .init(
                stage: "apply", undoneAt: Manifest.milliseconds(Date(timeIntervalSince1970: 1_790_000_100.5)),
                restored: 3, deleted: 1, changedSince: 2)
        ]
        let bytes = manifest.encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"undone_at\": \"2026-09-21T14:15:00.500Z\""), "\(text)")
        #expect(try Manifest.decode(Data(bytes)) == manifest)
        let older = text.replacingOccurrences(of: "\"undos\"", with: "\"unknown_field\"")
        #expect(try Manifest.decode(Data(older.utf8)).undos.isEmpty)
    }

    @Test func aDamagedManifestNamesTheField() throws {
        var text = String(decoding: Self.manifest().encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"status\": \"pending\"", with: "\"status\": 3")
        let error = try #require(throws: ManifestFormatError.self) { try Manifest.decode(Data(text.utf8)) }
        #expect(error.description == "manifest field 'stages[0].status': expected a string")
    }
}
