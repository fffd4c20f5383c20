import SluiceCore

/// What the API said about one requested id.
public enum ItemResult: Sendable, Equatable {
    /// The item as the API returned it (its `id` may differ from the one asked for: relinking).
    case found(Value)
    /// The API does not know the id (`null` in a batch, 404 per item).
    case notFound
    /// The API refused the id itself, e.g. a malformed one; `reason` is the API's message.
    case rejected(reason: String)
}
