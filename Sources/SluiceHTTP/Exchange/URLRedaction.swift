import SluiceCore

/// Makes a URL fit for an error message or a log line: no user info, no endless id list.
enum URLRedaction {
    static let queryLimit = 160

    static func describe(_ url: String) -> String {
        let text = Redaction.removingUserInfo(url)
        guard let question = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: question)...]
        guard query.count > queryLimit else { return text }
        let kept = query.prefix(queryLimit)
        return text[...question] + kept + "…(\(query.count - queryLimit) more characters)"
    }
}
