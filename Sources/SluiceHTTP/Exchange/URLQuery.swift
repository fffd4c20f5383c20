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

    /// `url` with the query parameter `name` set to `value` (percent-encoded), in place of any
    /// it had (its name compared decoded); with `value` `nil`, without it.
    static func setting(_ name: String, to value: String?, in url: String) -> String {
        let (path, query) =
            url.firstIndex(of: "?").map { (String(url[..<$0]), String(url[url.index(after: $0)...])) } ?? (url, "")
        let kept = query.split(separator: "&").map(String.init).filter { pair in
            let key = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return (String(key).removingPercentEncoding ?? String(key)) != name
        }
        let added = value.map { [RequestURL.encode(name) + "=" + RequestURL.encode($0)] } ?? []
        return appending(kept + added, to: path)
    }
}
