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
    private let spool: Mutex<SpoolWriter?>
    private let channels: [BoundedChannel<Batch>]
    private let progress: StageProgress?
    /// Set for ``collecting(stageName:)`` outputs, which keep batches in `collector`.
    private let isCollector: Bool
    private let collector = Mutex<[Batch]>([])
    private let sending = Atomic<Bool>(false)

    init(
        stageName: String, spool: sending SpoolWriter?, channels: [BoundedChannel<Batch>], progress: StageProgress
    ) {
        self.stageName = stageName
        self.spool = Mutex(spool)
        self.channels = channels
        self.progress = progress
        self.isCollector = false
    }

    private init(collectingFor stageName: String) {
        self.stageName = stageName
        self.spool = Mutex(nil)
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
        guard !sending.exchange(true, ordering: .acquiring) else { throw ConcurrentSendError(stage: stageName) }
        defer { sending.store(false, ordering: .releasing) }
        try Task.checkCancellation()
        if isCollector {
            collector.withLock { $0.append(batch) }
            return
        }
        try spool.withLock { try $0?.append(batch) }
        progress?.addRowsOut(batch.count)
        for channel in channels { try await channel.send(batch) }
    }

    /// Closes the spool, then ends every channel (so a consumer that sees the end can rely
    /// on the spool being complete). Returns the spool's summary.
    func finish(failure: (any Error)?) throws -> (summary: PrivateFileWriter.Summary, rows: Int)? {
        defer { finishChannels(failure: failure) }
        return try closeSpool()
    }

    /// Closes the spool and returns its summary; consumers are not told yet.
    func closeSpool() throws -> (summary: PrivateFileWriter.Summary, rows: Int)? {
        let writer = spool.withLock { writer in
            defer { writer = nil }
            return writer
        }
        return try writer?.close()
    }

    /// Ends every consumer's channel: with `failure`, or as the end of the input.
    func finishChannels(failure: (any Error)?) {
        for channel in channels { channel.finish(throwing: failure) }
    }
}

/// `StageOutput.send` was called while an earlier call had not returned.
public struct ConcurrentSendError: Error, CustomStringConvertible, Sendable {
    public var stage: String
    public var description: String {
        "stage '\(stage)' sent batches concurrently; a stage must send from one task at a time"
    }
}
