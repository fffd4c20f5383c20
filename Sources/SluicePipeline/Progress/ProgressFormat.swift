import Foundation
import SluiceCore

/// How progress reads: pure functions from a stage's figures to text, apart from the I/O of
/// the ``ProgressReporter`` so that they can be tested with fixed numbers.
enum ProgressFormat {
    /// The figures of one stage at one instant.
    struct Figures: Sendable, Equatable {
        var name: String
        var status: StageStatus
        var rowsDone: Int
        var expectedTotal: Int?
        var elapsed: Duration?
        /// Why a running stage waits, and how long still (``StageProgress/setWaiting(_:until:)``).
        var waiting: StageProgress.Wait? = nil
    }

    static func figures(of progress: StageProgress, now: ContinuousClock.Instant) -> Figures {
        let status = progress.status
        var waiting = status == .running ? progress.waiting(at: now) : nil
        // Stages start together: one that asked its upstream for rows and has had nothing yet
        // (verify behind an apply) waits for it.
        if waiting == nil, status == .running, let upstream = progress.upstream, progress.awaitsFirstInput {
            waiting = StageProgress.Wait(reason: "for \(upstream)", left: nil)
        }
        // The lines are drawn with escape codes of their own: a stage's name and why it waits (a
        // table's name, the session a lock waits for) are made visible first.
        if let reason = waiting?.reason { waiting?.reason = TerminalText.visible(reason) }
        return Figures(
            name: TerminalText.visible(progress.name), status: status, rowsDone: progress.rowsDone,
            expectedTotal: progress.expectedTotal, elapsed: progress.elapsed(now: now), waiting: waiting)
    }

    /// `waiting 18s: rate limited (HTTP 429), Retry-After`, for a running stage in a wait;
    /// `waiting: for a lock on ...` for one that lasts until another session lets go, and
    /// `waiting: for apply` for one whose upstream has sent it nothing yet.
    static func waitingText(_ figures: Figures) -> String? {
        guard figures.status == .running, let waiting = figures.waiting else { return nil }
        guard let left = waiting.left else { return "waiting: \(waiting.reason)" }
        return "waiting \(clock(left.wholeSecondsUp)): \(waiting.reason)"
    }

    /// Average rows per second since the stage started, when it has run measurably long.
    static func rate(_ figures: Figures) -> Double? {
        guard let elapsed = figures.elapsed else { return nil }
        let seconds = elapsed.seconds
        guard seconds >= 0.001 else { return nil }
        return Double(figures.rowsDone) / seconds
    }

    /// Time left at the average rate, for a running stage that announced its total.
    static func eta(_ figures: Figures) -> Int? {
        guard figures.status == .running, let total = figures.expectedTotal, let rate = rate(figures), rate > 0
        else { return nil }
        return Int((Double(max(0, total - figures.rowsDone)) / rate).rounded(.up))
    }

    /// `1:02:03`, `4:05` or `7s`.
    static func clock(_ seconds: Int) -> String {
        let h = seconds / 3600, m = (seconds / 60) % 60, s = seconds % 60
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if h > 0 { return "\(h):\(two(m)):\(two(s))" }
        if m > 0 { return "\(m):\(two(s))" }
        return "\(s)s"
    }

    /// `12.3/s` with a precision that suits the size.
    static func rateText(_ rate: Double) -> String {
        rate >= 100 ? "\(Int(rate.rounded()))/s" : String(format: "%.1f/s", rate)
    }

    /// The rows figure: `1200 rows` or `1200/3159 rows (38%)`.
    static func rowsText(_ figures: Figures) -> String {
        guard let total = figures.expectedTotal, total > 0 else { return "\(figures.rowsDone) rows" }
        let percent = min(100, figures.rowsDone * 100 / total)
        return "\(figures.rowsDone)/\(total) rows (\(percent)%)"
    }

    /// One stage's line for a terminal, its name padded to `width`.
    static func terminalLine(_ figures: Figures, width: Int, color: Bool) -> String {
        let name = figures.name.padding(toLength: max(width, figures.name.count), withPad: " ", startingAt: 0)
        let status = figures.status.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
        var line = "\(name)  \(color ? paint(status, figures.status) : status)  \(rowsText(figures))"
        if figures.status == .running || figures.status == .succeeded, let rate = rate(figures), figures.rowsDone > 0 {
            line += "  \(rateText(rate))"
        }
        if let eta = eta(figures) { line += "  ETA \(clock(eta))" }
        if let waiting = waitingText(figures) { line += "  \(waiting)" }
        return line
    }

    /// Every stage on one plain line, for logs: `progress: query succeeded 3159 rows; fetch running ...`.
    static func plainLine(_ stages: [Figures]) -> String {
        let parts = stages.map { figures -> String in
            var part = "\(figures.name) \(figures.status.rawValue) \(rowsText(figures))"
            if figures.status == .running, let rate = rate(figures), figures.rowsDone > 0 {
                part += " \(rateText(rate))"
            }
            if let eta = eta(figures) { part += " ETA \(clock(eta))" }
            if let waiting = waitingText(figures) { part += " (\(waiting))" }
            return part
        }
        return "progress: " + parts.joined(separator: "; ")
    }

    static func paint(_ text: String, _ status: StageStatus) -> String {
        let code: String
        switch status {
        case .running: code = "36"
        case .succeeded: code = "32"
        case .failed: code = "31"
        case .cancelled, .awaitingApproval: code = "33"
        case .pending, .skipped: code = "2"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
}
