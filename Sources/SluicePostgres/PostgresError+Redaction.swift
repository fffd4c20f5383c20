extension PostgresError {
    /// `conninfo` with every password replaced by `***`, safe for logs, manifests and errors.
    ///
    /// Handles URIs (`postgres://user:secret@host/db`, `?password=secret`) and key=value strings
    /// (`password=secret`, `password = 'it''s \' quoted'`). A string that parses as neither
    /// still has anything after `password=` masked up to the next space.
    public static func redactConninfo(_ conninfo: String) -> String {
        let ranges = ConninfoPasswords.ranges(in: conninfo)
        guard !ranges.isEmpty else { return conninfo }
        var out = ""
        var cursor = conninfo.startIndex
        for range in ranges {
            out += conninfo[cursor..<range.lowerBound]
            out += "***"
            cursor = range.upperBound
        }
        out += conninfo[cursor...]
        return out
    }

    /// `message` with any password from `conninfo` (as written, unescaped or percent-decoded)
    /// replaced by `***`: libpq may echo parts of a connection string it could not parse.
    static func scrub(_ message: String, conninfo: String) -> String {
        var secrets = Set<String>()
        for range in ConninfoPasswords.ranges(in: conninfo) {
            let raw = String(conninfo[range])
            secrets.insert(raw)
            secrets.insert(ConninfoPasswords.unescape(raw))
            secrets.insert(ConninfoPasswords.percentDecode(raw))
        }
        var out = redactConninfo(message)
        // Longest first, so a password containing another is masked whole.
        for secret in secrets.sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            out = out.replacingAll(secret, with: "***")
        }
        return out
    }
}

/// Finds the password values in a libpq connection string, as ranges of the original text.
enum ConninfoPasswords {
    static func ranges(in conninfo: String) -> [Range<String.Index>] {
        let trimmed = conninfo.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" })
        for scheme in ["postgresql://", "postgres://"] where trimmed.lowercased().hasPrefix(scheme) {
            let start = conninfo.index(trimmed.startIndex, offsetBy: scheme.count)
            return uriRanges(conninfo, afterScheme: start)
        }
        return keyValueRanges(conninfo) ?? looseRanges(conninfo)
    }

    private static func uriRanges(_ s: String, afterScheme start: String.Index) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        let authorityEnd = s[start...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? s.endIndex
        if let at = s[start..<authorityEnd].lastIndex(of: "@"),
            let colon = s[start..<at].firstIndex(of: ":")
        {
            result.append(s.index(after: colon)..<at)
        }
        if let question = s[start...].firstIndex(of: "?") {
            var paramStart = s.index(after: question)
            while paramStart < s.endIndex {
                let paramEnd = s[paramStart...].firstIndex(of: "&") ?? s.endIndex
                if let equals = s[paramStart..<paramEnd].firstIndex(of: "="),
                    s[paramStart..<equals].lowercased() == "password"
                {
                    result.append(s.index(after: equals)..<paramEnd)
                }
                paramStart = paramEnd < s.endIndex ? s.index(after: paramEnd) : s.endIndex
            }
        }
        return result
    }

    /// Parses `key = value` pairs as libpq does; `nil` when the text is not such a string.
    private static func keyValueRanges(_ s: String) -> [Range<String.Index>]? {
        var result: [Range<String.Index>] = []
        var i = s.startIndex
        func skipSpace() { while i < s.endIndex, s[i].isWhitespace { i = s.index(after: i) } }
        while true {
            skipSpace()
            guard i < s.endIndex else { return result }
            let keyStart = i
            while i < s.endIndex, !s[i].isWhitespace, s[i] != "=" { i = s.index(after: i) }
            let key = s[keyStart..<i].lowercased()
            skipSpace()
            guard i < s.endIndex, s[i] == "=" else { return nil }
            i = s.index(after: i)
            skipSpace()
            let valueRange: Range<String.Index>
            if i < s.endIndex, s[i] == "'" {
                i = s.index(after: i)
                let valueStart = i
                while i < s.endIndex, s[i] != "'" {
                    if s[i] == "\\" { i = s.index(after: i) }
                    if i < s.endIndex { i = s.index(after: i) }
                }
                guard i < s.endIndex else { return nil }  // unterminated quote
                valueRange = valueStart..<i
                i = s.index(after: i)
            } else {
                let valueStart = i
                while i < s.endIndex, !s[i].isWhitespace {
                    if s[i] == "\\" { i = s.index(after: i) }
                    if i < s.endIndex { i = s.index(after: i) }
                }
                valueRange = valueStart..<i
            }
            if key == "password" { result.append(valueRange) }
        }
    }

    /// Last resort for text that is neither a URI nor well-formed key=value: mask whatever follows
    /// `password=` up to the next white space.
    private static func looseRanges(_ s: String) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        var searchStart = s.startIndex
        while let found = s.range(ofCaseInsensitive: "password", from: searchStart) {
            var i = found.upperBound
            while i < s.endIndex, s[i] == " " { i = s.index(after: i) }
            searchStart = found.upperBound
            guard i < s.endIndex, s[i] == "=" else { continue }
            i = s.index(after: i)
            while i < s.endIndex, s[i] == " " { i = s.index(after: i) }
            let valueStart = i
            while i < s.endIndex, !s[i].isWhitespace { i = s.index(after: i) }
            if valueStart < i { result.append(valueStart..<i) }
            searchStart = i
        }
        return result
    }

    static func unescape(_ value: String) -> String {
        var out = ""
        var escaped = false
        for c in value {
            if !escaped && c == "\\" {
                escaped = true
                continue
            }
            escaped = false
            out.append(c)
        }
        return out
    }

    static func percentDecode(_ value: String) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(value.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count,
                let byte = UInt8(String(decoding: utf8[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(byte)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation needed).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var cursor = startIndex
        while let found = self[cursor...].firstRange(of: target) {
            out += self[cursor..<found.lowerBound]
            out += replacement
            cursor = found.upperBound
        }
        out += self[cursor...]
        return out
    }

    func range(ofCaseInsensitive target: String, from start: Index) -> Range<Index>? {
        let lowered = target.lowercased()
        var i = start
        while i < endIndex {
            let end = index(i, offsetBy: target.count, limitedBy: endIndex) ?? endIndex
            if self[i..<end].lowercased() == lowered { return i..<end }
            i = index(after: i)
        }
        return nil
    }
}
