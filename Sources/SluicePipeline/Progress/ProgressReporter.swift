import Foundation
import SluiceCore

/// Shows the progress of running stages on stderr (never stdout), until its task is cancelled.
///
/// The runner runs one in each segment's task group and cancels it once the stages have
/// ended; it then draws the final state once more. In ``ProgressMode/terminal(color:)`` mode it
/// redraws one line per stage in place a few times a second; in ``ProgressMode/lines(every:)``
/// mode it prints one plain line per period (and a last one at the end).
public struct ProgressReporter: Sendable {
    /// How often a terminal is redrawn.
    static let terminalInterval = Duration.milliseconds(250)

    let stages: [StageProgress]
    let mode: ProgressMode
    let write: @Sendable (String) -> Void

    /// `nil` for ``ProgressMode/off`` or no stages: there is nothing to run.
    /// - Parameter write: where the text goes; stderr unless a test captures it.
    public init?(
        stages: [StageProgress], mode: ProgressMode,
        write: @escaping @Sendable (String) -> Void = ProgressReporter.standardError
    ) {
        if case .off = mode { return nil }
        guard !stages.isEmpty else { return nil }
        self.stages = stages
        self.mode = mode
        self.write = write
    }

    @Sendable public static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(SecretRegistry.masking(text).utf8))
    }

    /// Reports until cancelled, then draws the final state.
    public func run() async {
        switch mode {
        case .off:
            return
        case .terminal(let color):
            var drawn = 0
            while !Task.isCancelled {
                drawn = drawTerminal(color: color, replacing: drawn)
                try? await Task.sleep(for: Self.terminalInterval)
            }
            _ = drawTerminal(color: color, replacing: drawn)
        case .lines(let every):
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                if Task.isCancelled { break }
                write(ProgressFormat.plainLine(snapshot()) + "\n")
            }
            write(ProgressFormat.plainLine(snapshot()) + "\n")
        }
    }

    private func snapshot() -> [ProgressFormat.Figures] {
        let now = ContinuousClock.now
        return stages.map { ProgressFormat.figures(of: $0, now: now) }
    }

    /// Draws one line per stage, first moving up over the `replacing` lines drawn before;
    /// returns how many lines it drew.
    private func drawTerminal(color: Bool, replacing lines: Int) -> Int {
        let figures = snapshot()
        let width = figures.map(\.name.count).max() ?? 0
        var text = lines > 0 ? "\u{1B}[\(lines)A" : ""
        for stage in figures {
            text += "\r\u{1B}[2K" + ProgressFormat.terminalLine(stage, width: width, color: color) + "\n"
        }
        write(text)
        return figures.count
    }
}
