extension Duration {
    /// The duration in (fractional) seconds, exactly as `components` hold it: for counters,
    /// logs, messages and measurements. The one such helper in the codebase.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
