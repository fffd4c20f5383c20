import Foundation
import SluiceCore
import Synchronization
import Testing

@testable import SluicePipeline

/// Approval gates: a gated stage starts only once everything before it succeeded and the
/// run's approval says so, and then reads its input back from the upstream spool.
@Suite struct RunnerApprovalTests {
    @Test func aDeniedGateStopsTheRunAwaitingApproval() async throws {
        let test = try TestRun()
        let sink = SinkStage()
        let stages = chain(batches: 4, sink: sink, gated: true) + [StageSpec(SinkStage(name: "after"), input: "sink")]
        let result = try await test.run(stages, approval: .denied)
        let manifest = result.manifest

        #expect(manifest.status == .awaitingApproval)
        #expect(manifest.resumeCommand == "continue \(result.directory.path) sink")
        #expect(manifest.error == nil)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.stages.map(\.status) == [.succeeded, .succeeded, .awaitingApproval, .pending])
        #expect(manifest.stage("sink")?.requiresApproval == true)
        #expect(manifest.stage("map")?.spool?.rows == 400)
        #expect(sink.received.value == 0)
        #expect(try Manifest.load(from: result.directory) == manifest)
    }

    @Test(arguments: [true, false])
    func anAskedGateRunsOnlyWhenTheAnswerIsYes(answer: Bool) async throws {
        let test = try TestRun()
        let sink = SinkStage()
        let asked = Mutex<[String]>([])
        let result = try await test.run(
            chain(batches: 4, sink: sink, gated: true),
            approval: .ask { stage in
                asked.withLock { $0.append(stage) }
                return answer
            })
        #expect(asked.withLock { $0 } == ["sink"])
        #expect(result.manifest.status == (answer ? .succeeded : .awaitingApproval))
        #expect(result.manifest.stage("sink")?.status == (answer ? .succeeded : .awaitingApproval))
        #expect(sink.rows.all.count == (answer ? 400 : 0))
    }

    @Test func aGrantedGateReadsItsInputFromTheUpstreamSpool() async throws {
        let test = try TestRun()
        let sink = SinkStage()
        let result = try await test.run(chain(batches: 4, sink: sink, gated: true), approval: .granted)
        let manifest = result.manifest
        #expect(manifest.status == .succeeded)
        #expect(manifest.resumeCommand == nil)
        let mapSpool = try #require(manifest.stage("map")?.spool)
        #expect(manifest.stage("sink")?.inputs == [mapSpool])
        #expect(manifest.stage("sink")?.rowsIn == 400)
        #expect(manifest.stage("sink")?.spool?.sha256 == mapSpool.sha256)
        #expect(sink.rows.all.first == [.int(0), .string("row 0"), .double(0), .int(0)])
    }

    @Test func aGateIsNotReachedWhenAnEarlierStageFails() async throws {
        let test = try TestRun()
        let asked = Mutex(false)
        let result = try await test.run(
            [
                StageSpec(SourceStage(batches: 5, rowsPerBatch: 10)),
                StageSpec(FailingStage(after: 1), input: "source"),
                StageSpec(SinkStage(), input: "fail", requiresApproval: true),
            ],
            approval: .ask { _ in
                asked.withLock { $0 = true }
                return true
            })
        #expect(result.manifest.status == .failed)
        #expect(asked.withLock { $0 } == false)
        #expect(result.manifest.stage("sink")?.status == .pending)
    }
}
