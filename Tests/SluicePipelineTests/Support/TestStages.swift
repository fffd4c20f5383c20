import Dispatch
import SluiceCore
import Synchronization

@testable import SluicePipeline

/// Emits `batches` batches of `rowsPerBatch` rows `[id, name, score]` (forever when `nil`),
/// counting each send it starts in `attempts` (before the send, which may suspend); with a
/// `delay`, only after it (its downstream stages wait).
struct SourceStage: Stage {
    var name = "source"
    var kind: String { "test-source" }
    var parameters: Value { .object(["batches": batches.map { .int(Int64($0)) } ?? .null]) }
    var batches: Int?
    var rowsPerBatch = 100
    var attempts = Counter()
    var delay: Duration?

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        if let delay { try await Task.sleep(for: delay) }
        if let batches { context.expectTotal(rows: batches * rowsPerBatch) }
        var index = 0
        while batches.map({ index < $0 }) ?? true {
            let rows = (0..<rowsPerBatch).map { i -> [Value] in
                let id = index * rowsPerBatch + i
                return [.int(Int64(id)), .string("row \(id)"), .double(Double(id) / 4)]
            }
            attempts.increment()
            try await output.send(Batch(columns: ["id", "name", "score"], rows: rows))
            context.counters.add("emitted", rows.count)
            index += 1
        }
    }
}

/// Adds a column `double = id * 2`; optionally records what `finishedStage(lookup)` says; with
/// a `delay`, reads its input only after it.
struct MapStage: Stage {
    var name = "map"
    var kind: String { "test-map" }
    var parameters: Value { .object(["factor": .int(2)]) }
    var lookup: String? = nil
    var delay: Duration? = nil

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        if let delay { try await Task.sleep(for: delay) }
        if let lookup, let record = context.finishedStage(lookup) {
            context.counters.set("seen_rows_out", record.rowsOut)
            context.counters.set("seen_emitted", record.counters["emitted"] ?? -1)
        }
        for try await batch in input! {
            let rows = batch.rows.map { row in row + [.int((row[0].intValue ?? 0) * 2)] }
            try await output.send(Batch(columns: batch.columns + ["double"], rows: rows))
        }
    }
}

/// Reads everything, passes it on and keeps the rows for the test; with a `gate`, waits at
/// it after receiving its first batch (a blocked consumer). `received` counts batches taken.
struct SinkStage: Stage {
    var name = "sink"
    var kind: String { "test-sink" }
    var parameters: Value { .object([:]) }
    var gate: Gate? = nil
    var received = Counter()
    /// Stop reading after this many batches (a consumer that ends early).
    var stopAfter: Int? = nil
    var rows = RowStore()

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        var count = 0
        for try await batch in input! {
            received.increment()
            count += 1
            if count == 1, let gate { try await gate.wait() }
            rows.append(batch.rows)
            try await output.send(batch)
            if let stopAfter, count >= stopAfter { return }
        }
    }
}

/// Passes `after` batches on, then throws `error`.
struct FailingStage: Stage {
    var name = "fail"
    var kind: String { "test-fail" }
    var parameters: Value { .object(["after": .int(Int64(after))]) }
    var after = 3
    var error: any Error & Sendable = TestFailure(message: "boom")

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        var count = 0
        for try await batch in input! {
            if count == after { throw error }
            count += 1
            try await output.send(batch)
        }
        throw error
    }
}

/// Reads its input; when it ends in an error, takes 300 ms (whatever the cancellation) to end.
struct SlowToEndStage: Stage {
    var name = "slow"
    var kind: String { "test-slow-to-end" }
    var parameters: Value { .object([:]) }

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        do {
            for try await batch in input! { try await output.send(batch) }
        } catch {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { continuation.resume() }
            }
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible, CustomDebugStringConvertible {
    var message: String
    var description: String { message }
    var debugDescription: String { "TestFailure(\(message))" }
}

struct RateLimited: ResumableError, CustomStringConvertible {
    var isResumable: Bool { true }
    var description: String { "rate limited for 3600 s" }
}

/// The rows a sink received, readable by the test.
final class RowStore: Sendable {
    private let storage = Mutex<[[Value]]>([])
    func append(_ rows: [[Value]]) { storage.withLock { $0.append(contentsOf: rows) } }
    var all: [[Value]] { storage.withLock { $0 } }
}
