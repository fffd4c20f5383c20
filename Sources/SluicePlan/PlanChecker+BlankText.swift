extension PlanChecker {
    /// A text setting the run cannot do without, given as `""` or blanks (`sql: ""`,
    /// `table: " "`): an error where it is written, not a run that fails on it at the database.
    /// One that a `${VAR}` made blank is left to what is said of the variable (not set, empty).
    mutating func refuseBlank(_ text: String, key: String, at path: String, what: String, fallback: SourceLocation) {
        let at = location(path, or: fallback)
        guard text.allSatisfy(\.isWhitespace), !validator.standIns.contains(path),
            !at.substitutions.contains(where: { $0.written.hasPrefix("${") })
        else { return }
        validator.diagnostics.error("'\(key)' in \(what) is empty", at: at, code: .invalidValue(path: path))
    }

    /// The blank settings of a query, an apply or a verify stage (see ``refuseBlank(_:key:at:what:fallback:)``).
    mutating func refuseBlankSettings(of s: StageDefinition, path: String) {
        let what = "stage '\(s.name)'"
        switch s.configuration {
        case .query(let query):
            refuseBlank(query.sql, key: "sql", at: "\(path).sql", what: what, fallback: s.location)
        case .apply(let apply):
            refuseBlank(apply.table, key: "table", at: "\(path).table", what: what, fallback: s.location)
            refuseBlank(apply.key, key: "key", at: "\(path).key", what: what, fallback: s.location)
        case .verify(let verify):
            for (checked, check) in verify.checks.enumerated() {
                let i = writtenIndex(checked, in: "\(path).checks")
                refuseBlank(
                    check.sql, key: "sql", at: "\(path).checks[\(i)].sql",
                    what: "item \(i + 1) of 'checks' in \(what)", fallback: s.location)
            }
        default:
            break
        }
    }
}
