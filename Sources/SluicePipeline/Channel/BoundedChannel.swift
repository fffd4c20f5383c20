/// A bounded, multi-producer multi-consumer async channel: the edge between two stages.
///
/// `send` returns at once while fewer than `capacity` elements wait in the buffer and suspends
/// otherwise, until a receiver makes room: a slow consumer holds its producer back
/// (backpressure), so memory stays bounded by `capacity` elements per edge.
///
/// - Cancellation: a sender or receiver whose task is cancelled resumes with
///   `CancellationError` (a cancelled receiver never sees a premature `nil`).
/// - Termination: ``finish(throwing:)`` ends the stream after the buffered elements; with an
///   error, the consumer receives it once the buffer is drained. ``stopReceiving()`` says the
///   consumer is gone: elements sent afterwards are dropped so the producer can finish.
public struct BoundedChannel<Element: Sendable>: Sendable {
    private let storage: BoundedChannelStorage<Element>

    /// - Parameter capacity: how many elements may wait in the buffer; 0 makes every send a
    ///   rendezvous with a receiver.
    public init(capacity: Int) {
        storage = BoundedChannelStorage(capacity: capacity)
    }

    /// Sends `element`, suspending while the buffer is full.
    /// - Throws: `CancellationError` if the task is cancelled; ``ChannelClosedError`` if the
    ///   channel was finished.
    public func send(_ element: Element) async throws {
        try await storage.send(element)
    }

    /// The next element, or `nil` once the channel is finished and drained.
    /// - Throws: `CancellationError` if the task is cancelled; the producer's error if it failed.
    public func next() async throws -> Element? {
        try await storage.next()
    }

    /// Ends the stream (with `error`, a failure) once the buffered elements are received.
    public func finish(throwing error: (any Error)? = nil) {
        storage.finish(throwing: error)
    }

    /// Declares that nothing will be received any more; pending and later sends succeed and
    /// their elements are dropped.
    public func stopReceiving() {
        storage.stopReceiving()
    }

    /// How many elements wait in the buffer right now (for tests and diagnostics).
    public var bufferedCount: Int { storage.withState { $0.buffer.count } }
}

extension BoundedChannel: AsyncSequence {
    public struct AsyncIterator: AsyncIteratorProtocol {
        let channel: BoundedChannel

        public mutating func next() async throws -> Element? {
            try await channel.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(channel: self)
    }
}
