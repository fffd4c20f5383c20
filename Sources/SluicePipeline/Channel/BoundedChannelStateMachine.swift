/// The pure state of a ``BoundedChannel``: a FIFO buffer of at most `capacity` elements plus the
/// suspended senders and receivers.
///
/// Generic over the continuation types so that it can be unit-tested with plain tokens and no
/// concurrency; ``BoundedChannelStorage`` instantiates it with real continuations, calls it under
/// a lock and performs the returned actions (resumes) outside the lock.
struct BoundedChannelStateMachine<Element, Sender, Receiver> {
    /// Why the channel no longer accepts elements.
    enum Termination {
        /// The producer finished; receivers get `nil` once the buffer is drained.
        case finished
        /// The producer failed; receivers get the error once the buffer is drained, then `nil`.
        case failed(any Error)
    }

    /// What `send` must do next.
    enum SendAction {
        /// The element is in the buffer: return at once.
        case buffered
        /// Hand the element to this waiting receiver and return.
        case resumeReceiver(Receiver)
        /// Nobody reads any more: the element is dropped, return at once.
        case dropped
        /// The channel was finished: throw ``ChannelClosedError``.
        case closed
        /// The buffer is full: suspend, then call `suspendSender`.
        case suspend
    }

    /// What to do with a sender that just suspended.
    enum SuspendSenderAction {
        /// Keep it suspended; a later receive or termination resumes it.
        case none
        /// Resume it now, successfully.
        case resume
        /// Resume it now and hand its element to this receiver.
        case resumeWithReceiver(Receiver)
        /// Resume it now with this error.
        case fail(any Error)
    }

    /// What `next` must do.
    enum ReceiveAction {
        case element(Element)
        /// Return the element and resume the sender whose element took its place in the buffer.
        case elementResumingSender(Element, Sender)
        /// End of the stream.
        case finished
        case failed(any Error)
        case suspend
    }

    /// What to do with a receiver that just suspended.
    enum SuspendReceiverAction {
        case none
        case resume(Element?)
        case resumeResumingSender(Element, Sender)
        case fail(any Error)
    }

    /// Continuations to resume after the state changed wholesale (finish, receiver gone).
    struct Resumptions {
        var senders: [Sender] = []
        var sendersError: (any Error)?
        var receivers: [Receiver] = []
        var receiversError: (any Error)?
    }

    let capacity: Int
    private(set) var buffer: [Element] = []
    private var senders: [(id: Int, element: Element, continuation: Sender)] = []
    private var receivers: [(id: Int, continuation: Receiver)] = []
    /// Ids whose cancellation arrived before they suspended; they fail as soon as they try.
    private var cancelledSenders: Set<Int> = []
    private var cancelledReceivers: Set<Int> = []
    private(set) var termination: Termination?
    /// Set when the receiving side went away: every element sent from now on is dropped.
    private(set) var receiverGone = false

    init(capacity: Int) {
        precondition(capacity >= 0, "a channel's capacity cannot be negative")
        self.capacity = capacity
    }

    var suspendedSenderCount: Int { senders.count }
    var suspendedReceiverCount: Int { receivers.count }

    // MARK: Sending

    mutating func send(_ element: Element) -> SendAction {
        if receiverGone { return .dropped }
        if termination != nil { return .closed }
        if !receivers.isEmpty { return .resumeReceiver(receivers.removeFirst().continuation) }
        if buffer.count < capacity {
            buffer.append(element)
            return .buffered
        }
        return .suspend
    }

    mutating func suspendSender(id: Int, element: Element, continuation: Sender) -> SuspendSenderAction {
        // The state may have changed between `send` returning `.suspend` and this call.
        if cancelledSenders.remove(id) != nil { return .fail(CancellationError()) }
        switch send(element) {
        case .buffered, .dropped: return .resume
        case .resumeReceiver(let receiver): return .resumeWithReceiver(receiver)
        case .closed: return .fail(ChannelClosedError())
        case .suspend:
            senders.append((id, element, continuation))
            return .none
        }
    }

    /// A sender's task was cancelled: returns its continuation to fail if it is suspended.
    mutating func cancelSender(id: Int) -> Sender? {
        if let index = senders.firstIndex(where: { $0.id == id }) {
            return senders.remove(at: index).continuation
        }
        cancelledSenders.insert(id)
        return nil
    }

    // MARK: Receiving

    mutating func receive() -> ReceiveAction {
        if !buffer.isEmpty {
            let element = buffer.removeFirst()
            if !senders.isEmpty {
                let sender = senders.removeFirst()
                buffer.append(sender.element)
                return .elementResumingSender(element, sender.continuation)
            }
            return .element(element)
        }
        if !senders.isEmpty {
            // Capacity zero: a rendezvous with the oldest sender.
            let sender = senders.removeFirst()
            return .elementResumingSender(sender.element, sender.continuation)
        }
        switch termination {
        case .none: return .suspend
        case .finished: return .finished
        case .failed(let error):
            // Deliver the failure once; afterwards the stream simply ends.
            termination = .finished
            return .failed(error)
        }
    }

    mutating func suspendReceiver(id: Int, continuation: Receiver) -> SuspendReceiverAction {
        if cancelledReceivers.remove(id) != nil { return .fail(CancellationError()) }
        switch receive() {
        case .element(let element): return .resume(element)
        case .elementResumingSender(let element, let sender): return .resumeResumingSender(element, sender)
        case .finished: return .resume(nil)
        case .failed(let error): return .fail(error)
        case .suspend:
            receivers.append((id, continuation))
            return .none
        }
    }

    mutating func cancelReceiver(id: Int) -> Receiver? {
        if let index = receivers.firstIndex(where: { $0.id == id }) {
            return receivers.remove(at: index).continuation
        }
        cancelledReceivers.insert(id)
        return nil
    }

    // MARK: Termination

    /// The producer is done (or failed). Waiting receivers end (the buffer is empty whenever
    /// one waits); senders still suspended fail with ``ChannelClosedError``.
    mutating func finish(throwing error: (any Error)? = nil) -> Resumptions {
        guard termination == nil else { return Resumptions() }
        var resumptions = Resumptions()
        resumptions.senders = senders.map(\.continuation)
        resumptions.sendersError = ChannelClosedError()
        senders.removeAll()
        resumptions.receivers = receivers.map(\.continuation)
        receivers.removeAll()
        if let error {
            if resumptions.receivers.isEmpty {
                termination = .failed(error)
            } else {
                // Only the first waiting receiver sees the error, like `receive` would.
                termination = .finished
                resumptions.receiversError = error
            }
        } else {
            termination = .finished
        }
        return resumptions
    }

    /// The consumer will not read again: drop the buffer, release suspended senders and make
    /// every later send a no-op, so that an upstream stage can run to its end.
    mutating func stopReceiving() -> Resumptions {
        receiverGone = true
        buffer.removeAll()
        var resumptions = Resumptions()
        resumptions.senders = senders.map(\.continuation)
        senders.removeAll()
        resumptions.receivers = receivers.map(\.continuation)
        receivers.removeAll()
        return resumptions
    }
}

/// Thrown by ``BoundedChannel/send(_:)`` after the channel was finished.
public struct ChannelClosedError: Error, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "send on a finished channel" }
}

// The storage keeps the machine in a `Mutex`; with sendable parts it can cross regions freely.
extension BoundedChannelStateMachine: Sendable where Element: Sendable, Sender: Sendable, Receiver: Sendable {}
extension BoundedChannelStateMachine.Termination: Sendable
where Element: Sendable, Sender: Sendable, Receiver: Sendable {}
