/// How often requests to one host may start.
struct PacingRules: Sendable, Equatable {
    /// Minimum time between two starts.
    var spacing: Duration?
    /// Most starts in any rolling ``window``.
    var limit: Int?
    var window: Duration = .seconds(60)

    init(spacing: Duration? = nil, limit: Int? = nil, window: Duration = .seconds(60)) {
        self.spacing = spacing
        self.limit = limit
        self.window = window
    }
}
