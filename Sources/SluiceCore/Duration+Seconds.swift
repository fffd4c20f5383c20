extension Duration {
    /// The duration in (fractional) seconds, exactly as `components` hold it: for counters,
    /// logs, messages and measurements. The one such helper in the codebase.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole seconds, any part of a second counted as one: a wait said as
    /// "18s" (or a `Retry-After`) is never shorter than the wait.
    public var wholeSecondsUp: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }
}
