internal import CLibPQ

extension PostgresConnection {
    /// `base` (a URI or key=value conninfo) rewritten as key=value with `overrides` applied, e.g.
    /// to point the same server and credentials at another database.
    /// - Throws: ``PostgresError`` (kind `.client`) when libpq cannot parse `base`; the message
    ///   never contains the password.
    public static func conninfo(_ base: String, setting overrides: [String: String]) throws -> String {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(base, &errorMessage) else {
            var message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            PQfreemem(errorMessage)
            while message.last?.isWhitespace == true { message.removeLast() }
            throw PostgresError(kind: .client, message: PostgresError.scrub(message, conninfo: base))
        }
        defer { PQconninfoFree(options) }
        var pairs: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if overrides[name] == nil, let value = option.pointee.val {
                pairs.append((name, String(cString: value)))
            }
            option += 1
        }
        pairs += overrides.sorted { $0.key < $1.key }
        return pairs.map { "\($0)=\(quoteConninfoValue($1))" }.joined(separator: " ")
    }

    /// A value quoted for a key=value conninfo: single quotes, `\` and `'` escaped.
    static func quoteConninfoValue(_ value: String) -> String {
        var out = "'"
        for c in value {
            if c == "\\" || c == "'" { out.append("\\") }
            out.append(c)
        }
        return out + "'"
    }
}
