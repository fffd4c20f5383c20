import Foundation
import Sluice
import SluiceCore
import SluicePlan
import Synchronization

/// Where output goes: results on stdout, diagnostics and progress on stderr.
enum Terminal {
    static let stderrIsTerminal = isatty(STDERR_FILENO) == 1
    static let stdinIsTerminal = isatty(STDIN_FILENO) == 1
    /// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    static var colorOnStderr: Bool {
        stderrIsTerminal && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((SecretRegistry.masking(text) + "\n").utf8))
    }

    /// Prints one located problem (`FILE:LINE:COL: error: ...`) on stderr as it is found, and
    /// remembers it: the run's summary (``RunSummary/shown``) then does not print it again.
    static func printDiagnostic(_ line: String) {
        printError(line)
        _ = diagnosticsPrinted.withLock { $0.insert(line) }
    }

    /// The lines ``printDiagnostic(_:)`` printed in this process.
    static let diagnosticsPrinted = Mutex<Set<String>>([])

    /// Prints a stage's review where its approval is asked (on stderr, with the prompt) and
    /// remembers it: the run's summary (``RunSummary/reviewsShown``) then points to it.
    static func printReview(_ text: String, of stage: String) {
        printError(text)
        _ = reviewsPrinted.withLock { $0.insert(stage) }
    }

    /// The stages whose review ``printReview(_:of:)`` printed in this process.
    static let reviewsPrinted = Mutex<Set<String>>([])

    /// Prints a loaded plan's warnings: those found while checking it, and transport advice
    /// for its database connections.
    static func reportWarnings(of plan: Plan) {
        for warning in plan.warnings + plan.transportWarnings() { printError(warning.rendered(color: colorOnStderr)) }
    }

    /// Prints an error for people: plan diagnostics rendered with carets, anything else as `error: ...`.
    static func report(_ error: Error) {
        if let planError = error as? PlanError {
            for d in planError.diagnostics { printError(d.rendered(color: colorOnStderr)) }
            let n = planError.errors.count
            printError(n.counted("error"))
        } else {
            printError("error: \(error)")
        }
    }
}

extension Terminal {
    /// Asks a yes/no question on stderr and reads the answer from stdin; anything but `y`/`yes` is
    /// no, and so is a Ctrl-C (the task cancelled) while it waits, which returns at once.
    static func confirm(_ question: String) async -> Bool {
        printError("\(question) [y/N] ")
        let reply = Reply()
        let answer = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                reply.wait(continuation)
                // readLine blocks: keep it off the cooperative pool. After a cancel it is left
                // waiting, and its line (if any) goes nowhere.
                Thread.detachNewThread { reply.give(readLine()) }
            }
        } onCancel: {
            reply.give(nil)
        }
        return ["y", "yes"].contains(answer?.trimmingCharacters(in: .whitespaces).lowercased() ?? "")
    }

    /// The one answer to a question: the first of a line read and a cancel, whichever comes first,
    /// even before anyone waits for it.
    private final class Reply: Sendable {
        private let state = Mutex<(waiting: CheckedContinuation<String?, Never>?, given: String??)>((nil, nil))

        func wait(_ continuation: CheckedContinuation<String?, Never>) {
            let given = state.withLock { state -> String?? in
                if let given = state.given { return given }
                state.waiting = continuation
                return nil
            }
            if let given { continuation.resume(returning: given) }
        }

        func give(_ answer: String?) {
            let waiting = state.withLock { state -> CheckedContinuation<String?, Never>? in
                guard state.given == nil else { return nil }
                state.given = .some(answer)
                defer { state.waiting = nil }
                return state.waiting
            }
            waiting?.resume(returning: answer)
        }
    }
}
