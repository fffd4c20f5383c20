import SluiceCore

/// Makes a URL fit for an error message or a log line: no user info, no endless id list.
enum URLRedaction {
    static let queryLimit = 160

    static func describe(_ url: String) -> String {
        let text = Redaction.removingUserInfo(url)
        guard let question = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: question)...]
        return text[...question] + shortened(query, to: queryLimit)
    }

    /// `text` cut to `limit` characters, saying how many more there were.
    static func shortened(_ text: some StringProtocol, to limit: Int) -> String {
        text.count <= limit ? String(text) : text.prefix(limit) + "…(\(text.count - limit) more characters)"
    }
}
