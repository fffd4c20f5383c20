import Foundation

/// A file path with placeholders filled from the run: `spotify_enrichment_{timestamp}.csv`.
public struct PathTemplate: Sendable, Hashable, CustomStringConvertible {
    public static let placeholders = ["timestamp", "date", "run_id", "plan"]

    public var template: String
    public init(_ template: String) { self.template = template }
    public var description: String { template }

    /// Placeholders used that Sluice does not know, with their offsets.
    public var unknownPlaceholders: [(name: String, offset: Int)] {
        var out: [(String, Int)] = []
        let chars = Array(template)
        var i = 0
        while i < chars.count {
            if chars[i] == "{", let close = chars[i...].firstIndex(of: "}") {
                let name = String(chars[(i + 1)..<close])
                if !Self.placeholders.contains(name) { out.append((name, i)) }
                i = close + 1
            } else {
                i += 1
            }
        }
        return out
    }

    /// The path for a run that started at `start` (UTC).
    public func render(start: Date, runID: String, plan: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: start)
        func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
        let date = String(format: "%04d", c.year ?? 0) + two(c.month) + two(c.day)
        let stamp = date + "_" + two(c.hour) + two(c.minute) + two(c.second)
        let safePlan = String(plan.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return
            template
            .replacingOccurrences(of: "{timestamp}", with: stamp)
            .replacingOccurrences(of: "{date}", with: date)
            .replacingOccurrences(of: "{run_id}", with: runID)
            .replacingOccurrences(of: "{plan}", with: safePlan)
    }
}
