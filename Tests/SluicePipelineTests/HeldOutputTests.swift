import Foundation
import SluiceCore
import Synchronization
import Testing

@testable import SluicePipeline

/// A source that reads everything before anyone downstream pulls (the query stage) holds its
/// batches in its spool and sends them afterwards: downstream sees them all, in order, only
/// after the source let go; the spool holds each row once.
@Suite struct HeldOutputTests {
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    final class Seen: Sendable {
        let batches = Mutex<[(ids: [Int64], afterHolding: Bool)]>([])
    }

    /// Holds `batches` batches, notes when it finished holding, then sends them.
    struct HoldingSource: Stage {
        var name = "source"
        var kind: String { "test-holding-source" }
        var parameters: Value { .object([:]) }
        var batches = 5
        var holdAfterSend = false
        let heldAll = Flag()

        func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
            for b in 0..<batches {
                let rows = (0..<10).map { i -> [Value] in [.int(Int64(b * 10 + i)), .string("row \(b * 10 + i)")] }
                try await output.hold(Batch(columns: ["id", "name"], rows: rows))
            }
            heldAll.value.store(true, ordering: .sequentiallyConsistent)
            try await output.sendHeld()
            if holdAfterSend { try await output.hold(Batch(columns: ["id", "name"], rows: [])) }
        }
    }

    /// Records, for every batch it receives, whether the source had finished holding.
    struct WatchingSink: Stage {
        var name = "sink"
        var kind: String { "test-watching-sink" }
        var parameters: Value { .object([:]) }
        let source: HoldingSource
        let seen = Seen()

        func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
            for try await batch in input! {
                let after = source.heldAll.value.load(ordering: .sequentiallyConsistent)
                seen.batches.withLock { $0.append((batch.rows.compactMap { $0[0].intValue }, after)) }
                try await output.send(batch)
            }
        }
    }

    @Test func heldBatchesReachDownstreamInOrderOnlyAfterTheSourceLetGo() async throws {
        let test = try await TestRun()
        let source = HoldingSource()
        let sink = WatchingSink(source: source)
        let result = try await test.run([StageSpec(source), StageSpec(sink, input: "source", bufferSize: 1)])
        #expect(result.manifest.status == .succeeded)
        let seen = sink.seen.batches.withLock { $0 }
        #expect(seen.count == 5)
        #expect(seen.allSatisfy { $0.afterHolding })
        #expect(seen.flatMap(\.ids) == Array(0..<50))

        let record = try #require(result.manifest.stage("source"))
        #expect(record.rowsOut == 50)
        let spool = try #require(record.spool)
        #expect(spool.rows == 50)
        let text = try await BlockingIO.runOnOwnThread {
            try String(contentsOf: artifactURL(spool.path, in: result.directory), encoding: .utf8)
        }
        let lines = text.split(separator: "\n").count
        #expect(lines == 55, "5 headers and 50 rows, each written once")
    }

    @Test func holdingAfterSendingIsRefused() async throws {
        let test = try await TestRun()
        var source = HoldingSource()
        source.holdAfterSend = true
        let result = try await test.run([StageSpec(source), StageSpec(SinkStage(), input: "source")])
        #expect(result.manifest.status == .failed)
        #expect(result.manifest.error?.message.contains("held a batch after sending one") == true)
    }
}
