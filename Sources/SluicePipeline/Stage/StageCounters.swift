import Synchronization

/// A stage's named counters (`requests`, `retries`, `http_429`, `bytes`, ...), safe to
/// update from any task. One integer per name, so memory does not grow with the rows.
public final class StageCounters: Sendable {
    private let values = Mutex<[String: Int]>([:])

    public init() {}

    /// Adds `delta` to the counter `name` (created at 0).
    public func add(_ name: String, _ delta: Int = 1) {
        values.withLock { $0[name, default: 0] += delta }
    }

    /// Sets the counter `name` to `value`.
    public func set(_ name: String, _ value: Int) {
        values.withLock { $0[name] = value }
    }

    /// The current value of `name`; 0 when never touched.
    public subscript(name: String) -> Int {
        values.withLock { $0[name] ?? 0 }
    }

    /// All counters now.
    public var snapshot: [String: Int] {
        values.withLock { $0 }
    }
}
