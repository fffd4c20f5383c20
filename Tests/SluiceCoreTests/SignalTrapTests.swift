import Foundation
import SluiceCore
import SluiceTestSupport
import Synchronization
import Testing

/// What `sluice` does with Ctrl-C and its kin rests on ``SignalTrap``. Serialized: the cases send
/// signals to this very process, and each trap replaces the process's action for them.
@Suite(.serialized) struct SignalTrapTests {
    /// The moment the trap exists it catches: `sluice resume` says "Ctrl-C stops" right after
    /// making one, and a dispatch signal source, which starts listening a moment later on another
    /// thread, lost a signal sent at once nineteen times in twenty.
    @Test func aSignalSentTheMomentTheTrapIsMadeIsCaught() async throws {
        for _ in 0..<5 {
            let caught = Mutex<[Int]>([])
            let trap = SignalTrap(signals: [SIGUSR2]) { number, count in
                caught.withLock { $0.append(Int(number) * 100 + count) }
            }
            kill(getpid(), SIGUSR2)
            let arrived = try await eventually { caught.withLock { !$0.isEmpty } }
            withExtendedLifetime(trap) {}
            #expect(arrived, "the signal was lost")
            #expect(caught.withLock { $0 } == [Int(SIGUSR2) * 100 + 1])
        }
    }

    /// The handler learns which signal came and how many have come: `sluice` stops gently on the
    /// first and at once on the second.
    @Test func eachSignalIsHandedOverWithHowManyHaveCome() async throws {
        let caught = Mutex<[[Int]]>([])
        let trap = SignalTrap(signals: [SIGUSR1, SIGUSR2]) { number, count in
            caught.withLock { $0.append([Int(number), count]) }
        }
        kill(getpid(), SIGUSR1)
        #expect(try await eventually { caught.withLock { $0.count == 1 } })
        kill(getpid(), SIGUSR2)
        #expect(try await eventually { caught.withLock { $0.count == 2 } })
        withExtendedLifetime(trap) {}
        #expect(caught.withLock { $0 } == [[Int(SIGUSR1), 1], [Int(SIGUSR2), 2]])
    }

    /// Released, the trap gives the signal back the action it had before (here: ignored), so a
    /// trap around a wait leaves the process as it found it.
    @Test func aReleasedTrapRestoresTheActionItReplaced() async throws {
        let original = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, original) }
        let caught = Mutex(0)
        do {
            let trap = SignalTrap(signals: [SIGUSR2]) { _, _ in caught.withLock { $0 += 1 } }
            #expect(Self.action(SIGUSR2) != Self.action(SIGUSR1), "trapped: SIGUSR2 has the trap's handler")
            withExtendedLifetime(trap) {}
        }
        #expect(Self.action(SIGUSR2) == unsafeBitCast(SIG_IGN, to: Int.self))
        kill(getpid(), SIGUSR2)
        try await Task.sleep(for: .milliseconds(200))
        #expect(caught.withLock { $0 } == 0)
    }

    /// The address of `number`'s current handler (`SIG_IGN`, `SIG_DFL` or a function).
    private static func action(_ number: Int32) -> Int {
        var current = sigaction()
        sigaction(number, nil, &current)
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
    }
}
