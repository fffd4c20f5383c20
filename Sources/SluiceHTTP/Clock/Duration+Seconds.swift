extension Duration {
    /// The duration in (fractional) seconds, for counters, logs and messages.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
