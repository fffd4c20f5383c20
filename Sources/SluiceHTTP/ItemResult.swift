import SluiceCore

/// What the API said about one requested id.
public enum ItemResult: Sendable, Equatable {
    /// The item as the API returned it (its `id` may differ from the one asked for: relinking).
    case found(Value)
    /// The API does not know the id (`null` or absent in a batch, 404 per item). `because`
    /// says how it said so when it said more: a 404's message, the plan's `not_found_when`.
    case notFound(because: String?)
    /// The API refused the id itself, e.g. a malformed one; `reason` is the API's message.
    case rejected(reason: String)
    /// The API failed every attempt at the id's request (a 5xx after the retries) and the plan
    /// rejects such ids (`on_give_up: reject`): no verdict on the id, which a later run or a
    /// resume asks again; `reason` is the last error.
    case gaveUp(reason: String)
    /// The answer holds different items naming the id (``MatchRule/itemField(_:)``), names the id
    /// twice with different values (``MatchRule/objectKeys``), or its item names a field twice with
    /// different values: which one is meant is unknown, so none is used; not kept among the
    /// answers, so a later run asks again. `reason` says which.
    case ambiguous(String)
    /// The id's list has more pages than ``Pagination/maxPages``: `fetched` were read, and the
    /// last named another. None of its items is used (never a partial list); not kept among
    /// the answers, so a later run asks again.
    case tooManyPages(fetched: Int)
}

/// What the plan says an item the API sent means besides itself: an error inside a 200.
public struct ItemRules: Sendable {
    /// True for an item to ask for again later (`retry_when`): its whole request is then a
    /// transient failure, tried again like a 5xx.
    public var askAgain: (@Sendable (Value) -> Bool)?
    /// True for an item that means the id is not found (`not_found_when`).
    public var notFound: (@Sendable (Value) -> Bool)?
    /// What a rejection says of such an item (`its answer meets not_found_when (...)`).
    public var notFoundReason: String?

    public init(
        askAgain: (@Sendable (Value) -> Bool)? = nil, notFound: (@Sendable (Value) -> Bool)? = nil,
        notFoundReason: String? = nil
    ) {
        self.askAgain = askAgain
        self.notFound = notFound
        self.notFoundReason = notFoundReason
    }

    /// `results` read by the rules: a transient mismatch when an item found is one to ask for
    /// again, else each item found that means "not found" as ``ItemResult/notFound``.
    func judge(_ results: [ItemResult]) -> Result<[ItemResult], AnswerMatching.Mismatch> {
        if let askAgain {
            let again = results.count { if case .found(let item) = $0 { askAgain(item) } else { false } }
            if again > 0 {
                return .failure(
                    AnswerMatching.Mismatch("\(again.counted("item")) the plan says to ask for again (retry_when)"))
            }
        }
        guard let notFound else { return .success(results) }
        return .success(
            results.map { result in
                if case .found(let item) = result, notFound(item) { return .notFound(because: notFoundReason) }
                return result
            })
    }
}
