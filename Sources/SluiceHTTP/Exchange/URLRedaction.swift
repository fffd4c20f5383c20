/// Makes a URL fit for an error message or a log line: no user info, no endless id list.
enum URLRedaction {
    static let queryLimit = 160

    static func describe(_ url: String) -> String {
        var text = url
        if let scheme = text.range(of: "://") {
            let authorityEnd = text[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? text.endIndex
            if let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@") {
                text.removeSubrange(scheme.upperBound...at)
            }
        }
        guard let question = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: question)...]
        guard query.count > queryLimit else { return text }
        let kept = query.prefix(queryLimit)
        return text[...question] + kept + "…(\(query.count - queryLimit) more characters)"
    }
}
