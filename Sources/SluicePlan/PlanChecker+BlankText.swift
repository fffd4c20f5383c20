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
        for (sql, at, what) in sqlSettings(of: s, path: path) {
            refuseBlank(sql, key: "sql", at: at, what: what, fallback: s.location)
        }
        if case .apply(let apply) = s.configuration {
            let what = "stage '\(s.name)'"
            refuseBlank(apply.table, key: "table", at: "\(path).table", what: what, fallback: s.location)
            refuseBlank(apply.key, key: "key", at: "\(path).key", what: what, fallback: s.location)
        }
    }

    /// The SQL a stage sends as written: a query's `sql`, each verify check's; with the path of
    /// each and what it is called in a message (`stage 'q'`, `item 2 of 'checks' in stage 'v'`).
    func sqlSettings(of s: StageDefinition, path: String) -> [(sql: String, path: String, what: String)] {
        switch s.configuration {
        case .query(let query):
            return [(query.sql, "\(path).sql", "stage '\(s.name)'")]
        case .verify(let verify):
            return verify.checks.enumerated().map { checked, check in
                let i = writtenIndex(checked, in: "\(path).checks")
                return (check.sql, "\(path).checks[\(i)].sql", "item \(i + 1) of 'checks' in stage '\(s.name)'")
            }
        default:
            return []
        }
    }
}
