internal import CLibPQ

extension PostgresConnection {
    /// Quotes a table or column name for SQL with libpq's `PQescapeIdentifier`, so nothing in
    /// it can end the identifier: `tracks"; DROP TABLE x; --` stays one (nonexistent) name.
    ///
    /// A dotted name is split and each part quoted: `public.tracks` becomes `"public"."tracks"`.
    /// Parts already in double quotes are taken literally (`"odd.name".t`). Names are
    /// case-sensitive once quoted, as in PostgreSQL: `Tracks` is not `tracks`.
    public func quoteIdentifier(_ name: String) -> String {
        Self.identifierParts(name).map(quoteIdentifierPart).joined(separator: ".")
    }

    /// Quotes one identifier as it is, dots included (for column names from a result).
    public func quoteIdentifierPart(_ part: String) -> String {
        escape(part, with: PQescapeIdentifier) ?? Self.fallbackQuote(part, quote: "\"")
    }

    /// Quotes a string as a SQL literal with libpq's `PQescapeLiteral`.
    public func quoteLiteral(_ text: String) -> String {
        escape(text, with: PQescapeLiteral) ?? Self.fallbackQuote(text, quote: "'")
    }

    private func escape(
        _ text: String, with function: (OpaquePointer?, UnsafePointer<CChar>?, Int) -> UnsafeMutablePointer<CChar>?
    ) -> String? {
        let escaped: String?? = handle.withOpenConnection { conn in
            var text = text
            return text.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars -> String? in
                    guard let result = function(conn, chars.baseAddress, chars.count) else { return nil }
                    defer { PQfreemem(result) }
                    return String(cString: result)
                }
            }
        }
        return escaped ?? nil
    }

    /// Used only after `close()`, when libpq has no connection to ask; identical for UTF-8 text
    /// with `standard_conforming_strings` on (the default since PostgreSQL 9.1).
    static func fallbackQuote(_ text: String, quote: Character) -> String {
        var out = String(quote)
        var hasBackslash = false
        for c in text {
            if c == quote { out.append(quote) }
            if c == "\\" && quote == "'" {
                hasBackslash = true
                out.append("\\")
            }
            out.append(c)
        }
        out.append(quote)
        return hasBackslash ? " E" + out : out
    }

    /// Splits `schema.table` at dots outside double quotes; quoted parts are unquoted.
    static func identifierParts(_ name: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var inQuotes = false
        var wasQuoted = false
        var chars = name.makeIterator()
        var pending: Character? = chars.next()
        while let c = pending {
            pending = chars.next()
            if inQuotes {
                if c == "\"" {
                    if pending == "\"" {
                        current.append("\"")
                        pending = chars.next()
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
                parts.append(current)
                current = ""
                wasQuoted = false
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}
