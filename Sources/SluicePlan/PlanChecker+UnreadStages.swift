extension PlanChecker {
    /// A stage before the last whose output no stage reads: a later `input:` skips it (an apply
    /// that reads the fetch, not the validate after it) or it is a second source nothing takes
    /// from. Its rows go nowhere, though the plan reads as a chain. A sink's (write-csv, apply,
    /// verify) need not be read; the last stage's rows are where the run ends.
    mutating func warnUnreadOutputs(of stages: [CheckedStage]) {
        // (A plan with errors says what is wrong first: an input that did not check stands in.)
        guard !validator.diagnostics.hasErrors else { return }
        let read = Set(stages.compactMap(\.input))
        for (i, s) in stages.enumerated().dropLast()
        where !read.contains(s.name) && ![.writeCSV, .apply, .verify].contains(s.kind) {
            let next = stages[i + 1]
            let after = "stage '\(next.name)' after it " + (next.input.map { "reads '\($0)'" } ?? "reads no input")
            validator.diagnostics.warning(
                "nothing reads the rows of stage '\(s.name)': \(after), so they go nowhere", at: s.location,
                notes: [
                    next.explicitInput
                        ? "if '\(next.name)' should read them, leave its 'input' out; else remove stage '\(s.name)'"
                        : "remove stage '\(s.name)', or name it in the 'input' of the stage that should read it"
                ])
        }
    }
}
