/// When to reuse the access token we have and when to ask for a new one: ahead of its
/// expiry by a margin, and after the API rejected it (401). Pure: time comes in as an argument.
struct TokenCache<Instant: InstantProtocol> where Instant.Duration == Duration {
    enum Lookup: Equatable {
        case fresh(AccessToken)
        case refresh
    }

    private(set) var token: AccessToken?
    /// When to stop using ``token``: its expiry minus ``margin(for:)``.
    private(set) var refreshAt: Instant?
    /// How many tokens have been stored; the second and later are refreshes.
    private(set) var issued = 0

    func lookup(at now: Instant) -> Lookup {
        guard let token, let refreshAt, now < refreshAt else { return .refresh }
        return .fresh(token)
    }

    /// Keeps `token`, valid for `lifetime` from `requestedAt` (when it was asked for, to be safe).
    mutating func store(_ token: AccessToken, lifetime: Duration, requestedAt: Instant) {
        self.token = token
        self.refreshAt = requestedAt.advanced(by: lifetime - Self.margin(for: lifetime))
        issued += 1
    }

    /// Forgets `rejected` if it is still the current token. A request that was sent with an
    /// older token does not throw away the one another caller has just fetched.
    /// - Returns: whether the current token was dropped.
    @discardableResult
    mutating func invalidate(_ rejected: AccessToken) -> Bool {
        guard token == rejected else { return false }
        token = nil
        refreshAt = nil
        return true
    }

    /// A minute, or a tenth of a short lifetime, so a token never expires mid-request.
    static func margin(for lifetime: Duration) -> Duration {
        min(.seconds(60), lifetime / 10)
    }
}
