extension Int {
    /// The count with its noun, singular for exactly one: `1 row`, `0 rows`, `3 cells`.
    /// - Parameter plural: the plural when it is not `noun` + "s".
    public func counted(_ noun: String, plural: String? = nil) -> String {
        "\(self) \(self == 1 ? noun : plural ?? noun + "s")"
    }
}
