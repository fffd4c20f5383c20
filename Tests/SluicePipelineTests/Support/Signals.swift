import Synchronization

/// A count that tests can wait on: `await reach(n)` returns once the count is at least `n`.
/// Lets a test observe how far a stage got without sleeping.
final class Counter: Sendable {
    private let state = Mutex<(value: Int, waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)])>(
        (0, []))

    var value: Int { state.withLock { $0.value } }

    func increment(by n: Int = 1) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.value += n
            let value = state.value
            let ready = state.waiters.filter { $0.target <= value }.map(\.continuation)
            state.waiters.removeAll { $0.target <= value }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    func reach(_ target: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.value >= target { return true }
                state.waiters.append((target, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A door a stage waits at until the test opens it; waiting is cancellable (it then throws
/// `CancellationError`, like any well-behaved stage).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, next: Int, waiters: [Int: CheckedContinuation<Void, any Error>])>(
        (false, 0, [:]))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async throws {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let action = state.withLock { state -> Result<Void, any Error>? in
                    if state.open { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let action { continuation.resume(with: action) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }
}
