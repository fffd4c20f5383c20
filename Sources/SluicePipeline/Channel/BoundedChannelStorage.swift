import Synchronization

/// The lock and continuations behind a ``BoundedChannel``.
///
/// Every state change happens inside the mutex by calling ``BoundedChannelStateMachine``;
/// continuations are resumed only after the lock is released.
final class BoundedChannelStorage<Element: Sendable>: Sendable {
    typealias SenderContinuation = UnsafeContinuation<Void, any Error>
    typealias ReceiverContinuation = UnsafeContinuation<Element?, any Error>
    typealias StateMachine = BoundedChannelStateMachine<Element, SenderContinuation, ReceiverContinuation>

    private let state: Mutex<StateMachine>
    private let nextID = Atomic<Int>(0)

    init(capacity: Int) {
        state = Mutex(StateMachine(capacity: capacity))
    }

    private func makeID() -> Int {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    func withState<R>(_ body: (inout StateMachine) -> R) -> R {
        state.withLock { body(&$0) }
    }

    func send(_ element: Element) async throws {
        try Task.checkCancellation()
        switch withState({ $0.send(element) }) {
        case .buffered, .dropped: return
        case .resumeReceiver(let receiver):
            receiver.resume(returning: element)
            return
        case .closed: throw ChannelClosedError()
        case .suspend: break
        }
        let id = makeID()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: SenderContinuation) in
                let action = withState { $0.suspendSender(id: id, element: element, continuation: continuation) }
                switch action {
                case .none: break
                case .resume: continuation.resume()
                case .resumeWithReceiver(let receiver):
                    continuation.resume()
                    receiver.resume(returning: element)
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            withState { $0.cancelSender(id: id) }?.resume(throwing: CancellationError())
        }
    }

    func next() async throws -> Element? {
        // A cancelled consumer must never mistake cancellation for the end of its input.
        try Task.checkCancellation()
        switch withState({ $0.receive() }) {
        case .element(let element): return element
        case .elementResumingSender(let element, let sender):
            sender.resume()
            return element
        case .finished: return nil
        case .failed(let error): throw error
        case .suspend: break
        }
        let id = makeID()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: ReceiverContinuation) in
                let action = withState { $0.suspendReceiver(id: id, continuation: continuation) }
                switch action {
                case .none: break
                case .resume(let element): continuation.resume(returning: element)
                case .resumeResumingSender(let element, let sender):
                    continuation.resume(returning: element)
                    sender.resume()
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            withState { $0.cancelReceiver(id: id) }?.resume(throwing: CancellationError())
        }
    }

    func finish(throwing error: (any Error)?) {
        perform(withState { $0.finish(throwing: error) })
    }

    func stopReceiving() {
        perform(withState { $0.stopReceiving() })
    }

    private func perform(_ resumptions: StateMachine.Resumptions) {
        for sender in resumptions.senders {
            if let error = resumptions.sendersError {
                sender.resume(throwing: error)
            } else {
                sender.resume()
            }
        }
        for (index, receiver) in resumptions.receivers.enumerated() {
            if index == 0, let error = resumptions.receiversError {
                receiver.resume(throwing: error)
            } else {
                receiver.resume(returning: nil)
            }
        }
    }
}
