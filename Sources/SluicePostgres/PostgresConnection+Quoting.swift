extension PostgresConnection {
    /// Quotes a table or column name for SQL so nothing in it can end the identifier:
    /// `tracks"; DROP TABLE x; --` stays one (nonexistent) name.
    ///
    /// A dotted name is split and each part quoted: `public.tracks` becomes `"public"."tracks"`.
    /// Parts already in double quotes are taken literally (`"odd.name".t`). Names are
    /// case-sensitive once quoted, as in PostgreSQL: `Tracks` is not `tracks`.
    ///
    /// Needs no connection: this is libpq's `PQescapeIdentifier` for the UTF-8 the connection
    /// always speaks (see ``quoteIdentifierPart(_:)``).
    /// - Throws: ``PostgresError`` of kind `.client` when the name contains a NUL character.
    public static func quoteIdentifier(_ name: String) throws(PostgresError) -> String {
        var quoted: [String] = []
        for part in identifierParts(name) { quoted.append(try quoteIdentifierPart(part)) }
        return quoted.joined(separator: ".")
    }

    /// Quotes one identifier as it is, dots included (for column names from a result).
    ///
    /// Every `"` is doubled inside double quotes, which is all `PQescapeIdentifier` does to
    /// valid UTF-8 (a Swift string always is, and `client_encoding` is always UTF8).
    /// - Throws: ``PostgresError`` of kind `.client` when the name contains a NUL character.
    public static func quoteIdentifierPart(_ part: String) throws(PostgresError) -> String {
        try escape(part, quote: "\"", what: "an identifier")
    }

    /// Quotes a string as a SQL literal, as libpq's `PQescapeLiteral` does: `'` doubled, and
    /// when the text holds a backslash, every `\` doubled in an escape string (` E'...'`, with a
    /// leading space) so the literal means the same whatever `standard_conforming_strings` is.
    /// - Throws: ``PostgresError`` of kind `.client` when the text contains a NUL character,
    ///   which no PostgreSQL text value can hold (libpq would silently cut the text there).
    public static func quoteLiteral(_ text: String) throws(PostgresError) -> String {
        try escape(text, quote: "'", what: "a string literal")
    }

    /// libpq's `PQescapeInternal` for UTF-8 text; rust-postgres's `postgres_protocol::escape`
    /// is the same translation.
    ///
    /// Works on Unicode scalars like libpq on bytes, never on `Character`s: `"` followed by a
    /// combining accent is one `Character`, and it must still be doubled.
    private static func escape(_ text: String, quote: Unicode.Scalar, what: String) throws(PostgresError) -> String {
        let isLiteral = quote == "'"
        var body = String.UnicodeScalarView()
        var hasBackslash = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\0":
                throw PostgresError(kind: .client, message: "\(what) cannot contain a NUL character")
            case quote:
                body.append(quote)
            case "\\" where isLiteral:
                hasBackslash = true
                body.append("\\")
            default:
                break
            }
            body.append(scalar)
        }
        let quoted = String(quote) + String(body) + String(quote)
        return hasBackslash ? " E" + quoted : quoted
    }

    /// Splits `schema.table` at dots outside double quotes; quoted parts are unquoted. Scans
    /// Unicode scalars for the same reason as ``escape(_:quote:what:)``.
    static func identifierParts(_ name: String) -> [String] {
        var parts: [String] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        var wasQuoted = false
        var scalars = name.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let c = pending {
            pending = scalars.next()
            if inQuotes {
                if c == "\"" {
                    if pending == "\"" {
                        current.append("\"")
                        pending = scalars.next()
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(c)
                }
            } else if c == "\"" && current.isEmpty && !wasQuoted {
                inQuotes = true
                wasQuoted = true
            } else if c == "." {
                parts.append(String(current))
                current = String.UnicodeScalarView()
                wasQuoted = false
            } else {
                current.append(c)
            }
        }
        parts.append(String(current))
        return parts
    }
}
