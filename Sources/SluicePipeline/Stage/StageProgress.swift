import Foundation
import Synchronization

/// Live figures of one stage, updated by the runner as batches pass and read by the
/// ``ProgressReporter`` and by tests.
public final class StageProgress: Sendable {
    public let name: String
    public let kind: String
    /// Whether the stage reads an input (progress then counts rows in rather than rows out).
    public let hasInput: Bool
    /// The stage it reads from, when the runner said (a live line says it waits for it).
    public let upstream: String?

    private let _rowsIn = Atomic<Int>(0)
    private let _rowsOut = Atomic<Int>(0)
    private let _rowsRejected = Atomic<Int>(0)
    private let _expectedTotal = Atomic<Int>(-1)
    private let waiting = Mutex<(reason: String, ends: ContinuousClock.Instant?)?>(nil)
    /// When the stage first asked its input for something, and when it first got it.
    private let firstInput = Mutex<(asked: ContinuousClock.Instant?, got: ContinuousClock.Instant?)>((nil, nil))
    private let state = Mutex<
        (status: StageStatus, started: ContinuousClock.Instant?, finished: ContinuousClock.Instant?)
    >(
        (.pending, nil, nil))

    public init(name: String, kind: String, hasInput: Bool, upstream: String? = nil) {
        self.name = name
        self.kind = kind
        self.hasInput = hasInput
        self.upstream = upstream
    }

    public var rowsIn: Int { _rowsIn.load(ordering: .relaxed) }
    public var rowsOut: Int { _rowsOut.load(ordering: .relaxed) }
    public var rowsRejected: Int { _rowsRejected.load(ordering: .relaxed) }
    /// The rows the stage said it will handle, if it said.
    public var expectedTotal: Int? {
        let value = _expectedTotal.load(ordering: .relaxed)
        return value < 0 ? nil : value
    }
    /// The figure progress is measured by: rows in for a stage with an input, rows out otherwise.
    public var rowsDone: Int { hasInput ? rowsIn : rowsOut }

    public var status: StageStatus { state.withLock { $0.status } }
    /// How long the stage has been (or was) running, as of `now`.
    public func elapsed(now: ContinuousClock.Instant) -> Duration? {
        state.withLock { state in
            guard let started = state.started else { return nil }
            return (state.finished ?? now) - started
        }
    }

    /// How long the stage waited for its input's first answer (a batch, or its end) once it
    /// asked; `nil` before that, or for a stage without input.
    public var waitedForInput: Duration? {
        firstInput.withLock { first in
            guard let asked = first.asked, let got = first.got else { return nil }
            return max(.zero, got - asked)
        }
    }

    /// Whether it is waiting for its input's first answer: it asked, and has had none yet.
    var awaitsFirstInput: Bool { firstInput.withLock { $0.asked != nil && $0.got == nil } }

    /// Notes the first time the stage asks its input for something; later calls change nothing.
    func inputAsked(at instant: ContinuousClock.Instant = .now) {
        firstInput.withLock { first in
            if first.asked == nil { first.asked = instant }
        }
    }

    /// Notes the first time the stage's input gives it something; later calls change nothing.
    func inputArrived(at instant: ContinuousClock.Instant = .now) {
        firstInput.withLock { first in
            if first.got == nil { first.got = instant }
        }
    }

    func addRowsIn(_ n: Int) { _rowsIn.add(n, ordering: .relaxed) }
    func addRowsOut(_ n: Int) { _rowsOut.add(n, ordering: .relaxed) }
    func addRowsRejected(_ n: Int) { _rowsRejected.add(n, ordering: .relaxed) }
    func setExpectedTotal(_ n: Int) { _expectedTotal.store(max(0, n), ordering: .relaxed) }

    /// Says why the stage is waiting until `ends` (a `Retry-After`, a retry's backoff):
    /// progress shows it while the wait lasts.
    public func setWaiting(_ reason: String, until ends: ContinuousClock.Instant) {
        waiting.withLock { $0 = (reason, ends) }
    }

    /// Says why the stage is waiting for as long as it does (another session's lock), or with
    /// `nil` that it no longer is: progress shows it until then.
    public func setWaiting(_ reason: String?) {
        waiting.withLock { $0 = reason.map { ($0, nil) } }
    }

    /// A wait the stage is in: why, and how long it still lasts (`nil`: until it ends).
    struct Wait: Sendable, Equatable {
        var reason: String
        var left: Duration?
    }

    /// The wait the stage is in at `now`.
    func waiting(at now: ContinuousClock.Instant) -> Wait? {
        waiting.withLock { waiting in
            guard let waiting else { return nil }
            guard let ends = waiting.ends else { return Wait(reason: waiting.reason, left: nil) }
            return ends > now ? Wait(reason: waiting.reason, left: ends - now) : nil
        }
    }

    func setStatus(_ status: StageStatus, at instant: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.status = status
            if status == .running { state.started = instant }
            if status != .running && state.started != nil && state.finished == nil { state.finished = instant }
        }
    }
}
