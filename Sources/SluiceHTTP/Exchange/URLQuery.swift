/// A request target's query string.
public enum URLQuery {
    /// `path` with the query parameters `pairs` (each `name=value`, encoded) after it: after a `?`,
    /// or after a `&` when the path carries a query of its own (`/batch?format=json`), which a
    /// second `?` would turn into part of its last value.
    public static func appending(_ pairs: [String], to path: String) -> String {
        guard !pairs.isEmpty else { return path }
        let joined = pairs.joined(separator: "&")
        guard path.contains("?") else { return path + "?" + joined }
        return path + (path.hasSuffix("?") || path.hasSuffix("&") ? "" : "&") + joined
    }
}
