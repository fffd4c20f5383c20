extension PlanChecker {
    /// A `{{ stages.NAME.COUNTER }}` in a query's or a verify check's SQL: only a verify check's
    /// `expect` fills one in (``Expectation``). SQL goes to the server as written, where the braces
    /// fail the statement: a query's as the run starts, a verify's after its apply committed.
    mutating func refuseCountersInSQL(of s: StageDefinition, path: String) {
        for (sql, at, what) in sqlSettings(of: s, path: path) {
            guard let open = Self.counterPlaceholder(in: sql) else { continue }
            validator.diagnostics.error(
                "'sql' in \(what) holds '{{ stages.… }}', which is sent to the server as written: only a verify "
                    + "check's 'expect' fills in a stage's counter",
                at: location(at, or: s.location).advanced(intoValueBy: sql.distance(from: sql.startIndex, to: open)),
                notes: [
                    "have the SQL return the number and compare it in 'expect': sql: SELECT count(*) FROM ..., "
                        + "expect: \">= {{ stages.apply.changed }}\""
                ])
        }
    }

    /// Where `sql` has its first `{{ stages.` (spaces or none after the braces), or `nil`.
    static func counterPlaceholder(in sql: String) -> String.Index? {
        var from = sql.startIndex
        while let open = sql.range(of: "{{", range: from..<sql.endIndex) {
            if sql[open.upperBound...].drop(while: \.isWhitespace).hasPrefix("stages.") { return open.lowerBound }
            from = open.upperBound
        }
        return nil
    }
}
