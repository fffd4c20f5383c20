extension PlanChecker {
    /// Whether what the plan means by `key` of the object at `path` is not known: the value
    /// given did not check, or an unknown key looks like a misspelling of it (each reported
    /// already). The stage is still checked with the default standing in for it; a check whose
    /// verdict depends on the value itself waits until it is mended, so that it is not reported
    /// as a second mistake (see ``Validator/standIns``).
    func isStandIn(_ key: String, in path: String) -> Bool {
        validator.standIns.contains("\(path).\(key)")
    }

    /// Where the `i`th value of the list at `path` was written (``Validator/writtenIndices(_:in:standIns:)``).
    func writtenIndex(_ i: Int, in path: String) -> Int {
        Validator.writtenIndices(i + 1, in: path, standIns: validator.standIns)[i]
    }
}
