/// Why a fetch stopped: what failed, where (the URL, without credentials) and whether the run
/// can simply be resumed later.
public struct FetchError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The API asked to wait longer than `maxRetryAfter`; nothing was sent during the wait.
        case retryAfterTooLong(seconds: Int)
        /// The token endpoint refused the credentials, or the API refused a fresh token.
        case authFailed
        /// Transient failures went on past the retry budget.
        case exhausted(attempts: Int)
        /// 403 with no per-item fallback configured (or the fallback forbidden too).
        case forbidden
        /// A status that retrying will not change (e.g. 404 on the batch endpoint).
        case unexpectedStatus(Int)
        /// An answer that is not what the endpoint promises (e.g. a token response without a token).
        case invalidResponse
        /// The server's TLS certificate failed verification (untrusted, expired, or for another
        /// host). Never retried: trying again cannot make the certificate trustworthy.
        case untrustedServer
        /// The API refused ids one by one (400) and answered nothing: the request is wrong.
        case refusedEverything
        /// The API found none of the ids, which `on_not_found: keep` would send on as empty
        /// answers: most likely the request or the reading of its answers is wrong.
        case noneFound
        /// The plan asks for a request that cannot be made as it says (a key for a body the
        /// request does not have). `sluice check` refuses such plans; this is the backstop.
        case unsendable
        /// A later page of a row's paged list failed after its first was answered: refused (400,
        /// 403), or not known (404, 410) again once the list was asked again from its first page.
        /// The row got none of its list; a resume asks it again from its first page.
        case laterPageFailed
    }

    public var kind: Kind
    /// For people: what happened, with the API's own message where there is one.
    public var message: String
    /// The request's URL with any user info removed and long id lists shortened.
    public var url: String?
    /// The last HTTP status seen, if any.
    public var status: Int?

    public init(_ kind: Kind, _ message: String, url: String? = nil, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.url = url.map(URLRedaction.describe)
        self.status = status
    }

    /// The API answered with a server error (5xx) every time the retry budget allowed: no
    /// timeout, no lost connection, a status.
    public var isServerErrorGivenUp: Bool {
        guard case .exhausted = kind, let status else { return false }
        return (500...599).contains(status)
    }

    /// The API answered with a success status every time, but with nothing to read for the
    /// request's ids: a body that is not JSON, or fewer items than ids.
    public var isUnusableAnswerGivenUp: Bool {
        guard case .exhausted = kind, let status else { return false }
        return (200...299).contains(status)
    }

    /// Whether running again later (after the wait, or once the service recovers) is expected
    /// to work without changing the plan.
    public var isResumable: Bool {
        switch kind {
        case .retryAfterTooLong, .exhausted, .laterPageFailed: true
        case .authFailed, .forbidden, .unexpectedStatus, .invalidResponse, .untrustedServer, .refusedEverything,
            .unsendable, .noneFound:
            false
        }
    }
}

extension FetchError: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        var text = message
        if let url { text += " (\(url))" }
        if case .retryAfterTooLong = kind { text += "; the run can be resumed after the wait" }
        return text
    }

    public var debugDescription: String {
        "FetchError(kind: \(kind), status: \(status.map(String.init) ?? "none"), message: \(message), url: \(url ?? "none"))"
    }
}
