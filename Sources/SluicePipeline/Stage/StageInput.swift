import Foundation
import SluiceCore

/// The batches a stage reads: from a channel while its upstream runs, or read back from a
/// spool (after an approval gate, or in a replay). Iterate it once.
///
/// Iteration throws `CancellationError` when the run is cancelled, never a premature end,
/// so a stage cannot take a cancelled input for a complete one.
public struct StageInput: AsyncSequence, Sendable {
    public typealias Element = Batch

    enum Source: Sendable {
        case channel(BoundedChannel<Batch>)
        case spool(URL, sha256: String?)
        case batches([Batch])
    }

    /// The stage this input comes from, when known.
    public let upstream: String?
    let source: Source
    let progress: StageProgress?

    init(upstream: String?, source: Source, progress: StageProgress?) {
        self.upstream = upstream
        self.source = source
        self.progress = progress
    }

    /// The SHA-256 of the spool this input reads, when it reads one whose hash was recorded
    /// (a replay's recorded input, checked before the run started; a stage behind an approval
    /// gate reading its upstream's): it names the rows the input holds. `nil` for a channel.
    public var spoolSHA256: String? {
        if case .spool(_, let sha256) = source { return sha256 }
        return nil
    }

    /// The spool this input reads back, when it reads one: its rows arrive as fast as the file
    /// can be read. `nil` for a channel.
    public var spoolURL: URL? {
        if case .spool(let url, _) = source { return url }
        return nil
    }

    /// An input of fixed batches: for testing a stage on its own.
    public init(_ batches: [Batch], upstream: String? = nil) {
        self.init(upstream: upstream, source: .batches(batches), progress: nil)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let input: StageInput
        private var reader: SpoolReader?
        private var position = 0
        private var arrived = false

        init(input: StageInput) {
            self.input = input
        }

        public mutating func next() async throws -> Batch? {
            if !arrived { input.progress?.inputAsked() }
            let batch: Batch?
            switch input.source {
            case .channel(let channel):
                batch = try await channel.next()
            case .spool(let url, let sha256):
                try Task.checkCancellation()
                if reader == nil { reader = try SpoolReader(url: url, expectedSHA256: sha256) }
                batch = try await reader!.next()
            case .batches(let batches):
                try Task.checkCancellation()
                batch = position < batches.count ? batches[position] : nil
                position += 1
            }
            if !arrived {
                arrived = true
                input.progress?.inputArrived()
            }
            if let batch { input.progress?.addRowsIn(batch.count) }
            return batch
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(input: self)
    }
}
