import SluiceCore
import Testing

@testable import Sluice

@Suite struct ChunkStageTests {
    static func input(_ sizes: [Int]) -> [Batch] {
        var next = 0
        return sizes.map { size in
            defer { next += size }
            return Batch(columns: ["n"], rows: (next..<next + size).map { [.int(Int64($0))] })
        }
    }

    @Test(arguments: [1, 20, 50])
    func regroupsIntoBatchesOfSize(size: Int) async throws {
        let plan = try await TestPlans.spotify(overrides: ["chunk.size=\(size)"])
        let stage = try TestPlans.stage("chunk", of: plan)
        let harness = try await StageHarness(stage: stage)
        let out = try await harness.run(stage, input: Self.input([7, 33, 1, 60, 0, 12]))
        #expect(out.allSatisfy { $0.count <= size && !$0.isEmpty })
        #expect(out.dropLast().allSatisfy { $0.count == size })
        #expect(rows(out).map { $0["n"] } == (0..<113).map { .int(Int64($0)) })
        #expect(harness.counters["batches"] == out.count)
    }

    @Test func sizeTwentyGivesBatchesOfAtMostTwenty() async throws {
        let plan = try await TestPlans.spotify(overrides: ["chunk.size=20"])
        let stage = try TestPlans.stage("chunk", of: plan)
        let out = try await StageHarness(stage: stage).run(stage, input: Self.input([50, 50, 50]))
        #expect(out.map(\.count) == [20, 20, 20, 20, 20, 20, 20, 10])
    }

    @Test func aNewColumnListStartsANewBatch() async throws {
        let stage = try TestPlans.stage("chunk", of: try await TestPlans.spotify())
        let a = Batch(columns: ["a"], rows: [[1], [2]])
        let b = Batch(columns: ["b"], rows: [[3]])
        let out = try await StageHarness(stage: stage).run(stage, input: [a, b])
        #expect(out == [a, b])
    }
}
