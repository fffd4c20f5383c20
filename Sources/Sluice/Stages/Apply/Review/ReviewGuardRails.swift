import Foundation
import SluiceApply
import SluiceCore
import SluicePlan

/// The apply stage's guard-rails checked against a review: pure.
enum ReviewGuardRails {
    /// One limit the review goes past: which, and by how much.
    struct Violation: Sendable, Hashable, CustomStringConvertible {
        /// `max_changed`, or `columns.isrc.max_cleared`.
        var key: String
        var description: String
    }

    /// Every limit of `settings` that `summary` goes past; a limit equal to the measured value holds.
    static func check(_ summary: ReviewSummary, against settings: ApplySettings) -> [Violation] {
        var violations: [Violation] = []
        func measure(_ count: Int, _ limit: RowLimit, key: String, what: String) {
            let percent = summary.percent(count)
            guard limit.isExceeded(by: count, percent: percent) else { return }
            violations.append(
                Violation(
                    key: key,
                    description:
                        "\(key): the review \(what) \(count.counted("row")) "
                        + "(\(Self.percent(percent, beside: limit.percentValue))% of \(summary.rowsAfter)), "
                        + "above the limit of \(limit)"))
        }
        if let limit = settings.maxChanged {
            measure(summary.rowsWritten, limit, key: "max_changed", what: "writes")
        }
        if let limit = settings.maxUnknown {
            // Of the input's distinct keys, not of the table: a file of 100 rows with 90 keys
            // the table lacks is the wrong file however large the table is.
            let unknown = summary.unknownKeys
            let keys = summary.matched + unknown
            let percent = keys == 0 ? 0 : Double(unknown) * 100 / Double(keys)
            if limit.isExceeded(by: unknown, percent: percent) {
                let shown = if case .rows(let most) = limit { most.counted("key") } else { "\(limit)" }
                violations.append(
                    Violation(
                        key: "max_unknown",
                        description:
                            "max_unknown: the review finds \(unknown) of \(keys.counted("input key")) "
                            + "(\(Self.percent(percent, beside: limit.percentValue))%) not in \(summary.table), "
                            + "above the limit of \(shown)"))
            }
        }
        for column in settings.columns {
            guard let reviewed = summary.columns.first(where: { $0.name == column.column }) else { continue }
            let key = "columns.\(column.column)"
            if let limit = column.maxCleared {
                measure(reviewed.clear, limit, key: key + ".max_cleared", what: "clears")
            }
            if let limit = column.maxUpdated {
                measure(reviewed.update, limit, key: key + ".max_updated", what: "updates")
            }
            if let minimum = column.minCoverage {
                let coverage = summary.percent(reviewed.valuesAfter)
                if coverage < minimum {
                    violations.append(
                        Violation(
                            key: key + ".min_coverage",
                            description:
                                "\(key).min_coverage: after the apply \(reviewed.valuesAfter) of \(summary.rowsAfter) rows "
                                + "(\(Self.percent(coverage, beside: minimum))%) would hold a value, below the limit of "
                                + "\(ReviewSummary.format(minimum))%"))
                }
            }
        }
        return violations
    }

    /// `value` as a percentage, with as many more decimals than two as it takes not to read as
    /// the `limit` it went past (`96.333%`, not `96.33%` beside a limit of 96.33%).
    static func percent(_ value: Double, beside limit: Double?) -> String {
        let shown = ReviewSummary.format(value)
        guard let limit, value != limit, shown == ReviewSummary.format(limit) else { return shown }
        for digits in 3...8 {
            let scale = pow(10, Double(digits))
            let text = String((value * scale).rounded() / scale)
            if Double(text) != (limit * scale).rounded() / scale { return text }
        }
        return String(value)
    }
}

extension RowLimit {
    /// The limit as a percentage, when it is one.
    fileprivate var percentValue: Double? { if case .percent(let most) = self { most } else { nil } }

    /// Whether `count`, which is `percent`% of what the limit is measured against, goes past it.
    fileprivate func isExceeded(by count: Int, percent: Double) -> Bool {
        switch self {
        case .rows(let most): count > most
        case .percent(let most): percent > most
        }
    }
}
