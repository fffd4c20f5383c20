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

    /// Prints a line on stderr. Every message, log line and result sluice prints passes through
    /// here, ``printOutput(_:terminator:)`` or ``printJSON(_:)``: secrets hidden, and any character
    /// a terminal would act on (an escape sequence in a value a server quotes back, a carriage
    /// return in an API's error body) written as its code (``TerminalText/visible(_:)``).
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((shown(text) + "\n").utf8))
    }

    /// Prints a diagnostic on stderr, in colour on a terminal: its colour codes are the only
    /// escapes written as they are (``Diagnostic/rendered(color:)`` shows what it quotes visibly).
    static func printError(_ diagnostic: Diagnostic) {
        guard colorOnStderr else { return printError(diagnostic.rendered()) }
        FileHandle.standardError.write(Data((SecretRegistry.masking(diagnostic.rendered(color: true)) + "\n").utf8))
    }

    /// Prints a result on stdout, as ``printError(_:)`` prints on stderr.
    static func printOutput(_ text: String, terminator: String = "\n") {
        print(shown(text), terminator: terminator)
    }

    /// Prints JSON (`--json`) on stdout, secrets hidden; the JSON escapes every control character
    /// but those ``TerminalText/visibleJSON(_:)`` escapes, so it stays the same JSON.
    static func printJSON(_ json: String) {
        print(TerminalText.visibleJSON(SecretRegistry.masking(json)))
    }

    /// `text` as it may reach a terminal: secrets hidden, then what would act on it made visible.
    static func shown(_ text: String) -> String {
        TerminalText.visible(SecretRegistry.masking(text))
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
        for warning in plan.warnings + plan.transportWarnings() { printError(warning) }
    }

    /// Prints an error for people: plan diagnostics rendered with carets, anything else as `error: ...`.
    static func report(_ error: Error) {
        if let planError = error as? PlanError {
            for d in planError.diagnostics { printError(d) }
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
