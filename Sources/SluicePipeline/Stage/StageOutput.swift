import Foundation
import SluiceCore
import Synchronization

/// Where a stage sends its batches: the stage's spool, then every consumer's channel.
///
/// ``send(_:)`` writes the batch to the spool (buffered, large writes) and then hands it to
/// each downstream channel in turn, suspending while one is full: the stage runs at most
/// a buffer ahead of its slowest consumer. Calls to `send` must not overlap; a stage with
/// concurrent work funnels its results through one task (which also keeps the order
/// deterministic, as replays need).
public final class StageOutput: Sendable {
    let stageName: String
    private let spool: SpoolSlot
    private let channels: [BoundedChannel<Batch>]
    private let progress: StageProgress?
    /// Set for ``collecting(stageName:)`` outputs, which keep batches in `collector`.
    private let isCollector: Bool
    private let collector = Mutex<[Batch]>([])
    private let sending = Atomic<Bool>(false)
    /// Whether ``send(_:)`` has run; ``hold(_:)`` must come before it.
    private let sent = Atomic<Bool>(false)

    init(
        stageName: String, spool: sending SpoolWriter?, channels: [BoundedChannel<Batch>], progress: StageProgress
    ) {
        self.stageName = stageName
        self.spool = SpoolSlot(spool)
        self.channels = channels
        self.progress = progress
        self.isCollector = false
    }

    private init(collectingFor stageName: String) {
        self.stageName = stageName
        self.spool = SpoolSlot(nil)
        self.channels = []
        self.progress = nil
        self.isCollector = true
    }

    /// An output that keeps every batch in memory: for testing a stage on its own.
    public static func collecting(stageName: String = "test") -> StageOutput {
        StageOutput(collectingFor: stageName)
    }

    /// The batches a collecting output received (empty for a pipeline output).
    public var collected: [Batch] {
        collector.withLock { $0 }
    }

    /// Sends a batch downstream, suspending while a consumer's buffer is full.
    /// - Throws: `CancellationError` when the run is cancelled; ``FileError`` when the spool
    ///   cannot be written; ``ConcurrentSendError`` when called while another send is running.
    public func send(_ batch: Batch) async throws {
        try await exclusively {
            try Task.checkCancellation()
            if isCollector {
                collector.withLock { $0.append(batch) }
                return
            }
            sent.store(true, ordering: .relaxed)
            try await spool.writer?.append(batch)
            try await forward(batch)
        }
    }

    /// Writes a batch to the stage's spool without sending it on: for a source that must read
    /// everything (and let go of what it reads from) before anyone downstream pulls. The rows
    /// are written once; ``sendHeld()`` sends them, read back from the spool. A stage holds
    /// before it sends anything.
    /// - Throws: ``HoldAfterSendError`` after a ``send(_:)``; the errors of ``send(_:)``.
    public func hold(_ batch: Batch) async throws {
        try await exclusively {
            guard !sent.load(ordering: .relaxed) else { throw HoldAfterSendError(stage: stageName) }
            try Task.checkCancellation()
            if isCollector {
                collector.withLock { $0.append(batch) }
                return
            }
            // The runner gives every stage a spool until the stage has returned; without one the
            // batch would have nowhere to wait.
            guard let writer = spool.writer else { throw HoldAfterSendError(stage: stageName) }
            try await writer.append(batch)
        }
    }

    /// Sends every batch given to ``hold(_:)``, in order, as ``send(_:)`` would (suspending
    /// while a consumer's buffer is full), reading them back from the spool one at a time.
    public func sendHeld() async throws {
        try await exclusively {
            guard !sent.exchange(true, ordering: .relaxed), !isCollector, let writer = spool.writer else { return }
            try await writer.flush()
            let reader = try SpoolReader(url: writer.url)
            while let batch = try await reader.next() {
                try Task.checkCancellation()
                try await forward(batch)
            }
        }
    }

    /// Runs `body` as the only call of ``send(_:)``, ``hold(_:)`` or ``sendHeld()`` in progress.
    /// - Throws: ``ConcurrentSendError`` when another is running; what `body` throws.
    private func exclusively(_ body: () async throws -> Void) async throws {
        guard !sending.exchange(true, ordering: .acquiring) else { throw ConcurrentSendError(stage: stageName) }
        defer { sending.store(false, ordering: .releasing) }
        try await body()
    }

    private func forward(_ batch: Batch) async throws {
        progress?.addRowsOut(batch.count)
        for channel in channels { try await channel.send(batch) }
    }

    /// Closes the spool, then ends every channel (so a consumer that sees the end can rely
    /// on the spool being complete). Returns the spool's summary.
    func finish(failure: (any Error)?) async throws -> (summary: PrivateFileWriter.Summary, rows: Int)? {
        defer { finishChannels(failure: failure) }
        return try await closeSpool()
    }

    /// Closes the spool and returns its summary; consumers are not told yet. Called once the
    /// stage has returned, or has said it sends nothing more (``StageContext/recordCommitted()``),
    /// so no ``send(_:)`` runs meanwhile. Called again, gives the first call's answer.
    func closeSpool() async throws -> (summary: PrivateFileWriter.Summary, rows: Int)? {
        if let closed = spool.closed { return try closed.get() }
        let writer = spool.writer
        spool.writer = nil
        let closed: Result<(summary: PrivateFileWriter.Summary, rows: Int)?, any Error>
        do {
            closed = .success(try await writer?.close())
        } catch {
            closed = .failure(error)
        }
        spool.closed = closed
        return try closed.get()
    }

    /// Ends every consumer's channel: with `failure`, or as the end of the input.
    func finishChannels(failure: (any Error)?) {
        for channel in channels { channel.finish(throwing: failure) }
    }
}

/// The spool writer of one ``StageOutput``.
///
/// `@unchecked Sendable`, safe because it is only touched by ``StageOutput/send(_:)``, which
/// refuses to run twice at once (its `sending` flag), and by ``StageOutput/closeSpool()``, which
/// the stage's execution calls after the stage returned (or the stage's own task, once it sends
/// nothing more, then the execution after it returned: one after the other). A `Mutex` cannot be
/// held across the `await` of a spool write that runs on a thread of its own (``PrivateFileWriter``).
final class SpoolSlot: @unchecked Sendable {
    var writer: SpoolWriter?
    /// What closing the spool gave, once it was closed.
    var closed: Result<(summary: PrivateFileWriter.Summary, rows: Int)?, any Error>?
    init(_ writer: sending SpoolWriter?) { self.writer = writer }
}

/// `StageOutput.hold` was called after `send` (or after the stage returned): held batches
/// must come first.
public struct HoldAfterSendError: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var description: String {
        "stage '\(stage)' held a batch after sending one (or after it returned); hold everything first"
    }
}

/// `StageOutput.send` was called while an earlier call had not returned.
public struct ConcurrentSendError: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var description: String {
        "stage '\(stage)' sent batches concurrently; a stage must send from one task at a time"
    }
}
