import Foundation

/// The column names a `SELECT` returns, when the statement says them plainly: each item a
/// column (`id`, `t.spotify_id`) or anything `AS name`. PostgreSQL folds unquoted names to
/// lower case, and so does this. `nil` when it cannot be sure (`*`, an unnamed expression, a
/// `WITH`, a `UNION`): the run finds out instead.
enum SelectColumns {
    static func names(in sql: String) -> [String]? {
        let tokens = tokenize(sql)
        guard let first = tokens.first, first.lowercased() == "select" else { return nil }
        var items: [[String]] = [[]]
        var depth = 0
        var index = 1
        if index < tokens.count, ["distinct", "all"].contains(tokens[index].lowercased()) { index += 1 }
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            if token == "(" { depth += 1 }
            if token == ")" { depth -= 1 }
            if depth == 0 {
                let lower = token.lowercased()
                if lower == "from" || lower == "union" || lower == "into" { break }
                if token == "," {
                    items.append([])
                    continue
                }
            }
            items[items.count - 1].append(token)
        }
        if tokens.contains(where: { $0.lowercased() == "union" || $0.lowercased() == "except" }) { return nil }
        var names: [String] = []
        for item in items {
            guard let name = name(of: item) else { return nil }
            names.append(name)
        }
        return names
    }

    /// `x AS name` → name; `name` or `t.name` → name; anything else → nil.
    private static func name(of item: [String]) -> String? {
        if item.count >= 3, item[item.count - 2].lowercased() == "as" { return identifier(item[item.count - 1]) }
        if item.count == 1 { return identifier(item[0]) }
        if item.count == 3, item[1] == ".", identifier(item[0]) != nil { return identifier(item[2]) }
        return nil
    }

    private static func identifier(_ token: String) -> String? {
        if token.hasPrefix("\""), token.hasSuffix("\""), token.count >= 2 {
            return String(token.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }
        guard let first = token.unicodeScalars.first, first == "_" || CharacterSet.letters.contains(first),
            token.unicodeScalars.allSatisfy({ $0 == "_" || $0 == "$" || CharacterSet.alphanumerics.contains($0) })
        else { return nil }
        return token.lowercased()
    }

    /// Words, quoted names, string literals and single punctuation marks; comments dropped.
    private static func tokenize(_ sql: String) -> [String] {
        let chars = Array(sql)
        var tokens: [String] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
            } else if c == "-", i + 1 < chars.count, chars[i + 1] == "-" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
            } else if c == "/", i + 1 < chars.count, chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count, !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 2
            } else if c == "\"" || c == "'" {
                let start = i
                i += 1
                while i < chars.count {
                    if chars[i] == c {
                        if i + 1 < chars.count, chars[i + 1] == c {
                            i += 2
                            continue
                        }
                        break
                    }
                    i += 1
                }
                i += 1
                tokens.append(String(chars[start..<min(i, chars.count)]))
            } else if c.isLetter || c == "_" || c.isNumber {
                let start = i
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "$" {
                    i += 1
                }
                tokens.append(String(chars[start..<i]))
            } else if c == ":", i + 1 < chars.count, chars[i + 1] == ":" {
                tokens.append("::")
                i += 2
            } else {
                tokens.append(String(c))
                i += 1
            }
        }
        return tokens
    }
}
