import Synchronization

/// Finding and hiding secrets in text that is shown or stored: the one place that knows where
/// a URL's password or a libpq connection string's password is.
///
/// Where user info ends in a URL: at the **last** `@` before the path (`postgres://u:p@ss@host`
/// has the password `p@ss`), as libpq and WHATWG URL parsers read it.
public enum Redaction {
    /// The password values in `text`, as ranges of it: in a URL (`scheme://user:secret@host`,
    /// `?password=secret`), in libpq `key = value` text (`password='it''s'`), and, for text
    /// that is neither, whatever follows `password=` up to the next white space.
    public static func passwordRanges(in text: String) -> [Range<String.Index>] {
        let trimmed = text.drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" })
        if let scheme = trimmed.range(of: "://"), trimmed[..<scheme.lowerBound].allSatisfy(isSchemeCharacter) {
            return urlRanges(text, afterScheme: scheme.upperBound)
        }
        return keyValueRanges(text) ?? looseRanges(text)
    }

    /// `text` with every password (see ``passwordRanges(in:)``) replaced by `***`.
    public static func maskingPasswords(_ text: String) -> String {
        let ranges = passwordRanges(in: text)
        guard !ranges.isEmpty else { return text }
        var out = ""
        var cursor = text.startIndex
        for range in ranges {
            out += text[cursor..<range.lowerBound]
            out += "***"
            cursor = range.upperBound
        }
        return out + text[cursor...]
    }

    /// Whether `text` is a URL or connection string that carries a password.
    public static func hasPassword(_ text: String) -> Bool { !passwordRanges(in: text).isEmpty }

    /// Whether `text` is what ``redact(_:)`` left of a secret (`***`, or a URL whose password
    /// is `***`): a stand-in, not the secret, as a plan recorded in a manifest holds one.
    public static func isRedacted(_ text: String) -> Bool {
        text == "***" || passwordRanges(in: text).contains { text[$0] == "***" }
    }

    /// A secret value as it may be shown: a URL or connection string with its password masked
    /// (it stays readable), a URL without one unchanged, anything else `***` entirely.
    public static func redact(_ text: String) -> String {
        if hasPassword(text) { return maskingPasswords(text) }
        return isURL(text) ? text : "***"
    }

    /// The secret parts of a secret value: its passwords when it is a URL or connection string
    /// with some, nothing when it is a URL without one, else the whole text.
    public static func secretParts(of text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        let ranges = passwordRanges(in: text)
        if !ranges.isEmpty { return ranges.map { String(text[$0]) }.filter { !$0.isEmpty } }
        return isURL(text) ? [] : [text]
    }

    /// `text` with every occurrence of each of `secrets` replaced (by `***` unless said
    /// otherwise), the longest first, so that a secret containing another is masked whole.
    ///
    /// A secret shorter than ``anywhereLength`` is masked only where it stands as a word of its
    /// own: a password `explore35` is not masked inside `/tmp/explore35b/`, where `/tmp/***b/`
    /// would tell it to anyone who knows the path (and break the command that names it). A
    /// `%XX` escape before it counts as a boundary (`Bearer%20s3cret`). `anywhere`: every
    /// occurrence whatever its length, for text another party wrote (an API's answer, a
    /// server's error), which may glue anything to a secret.
    public static func masking(
        _ secrets: some Sequence<String>, in text: String, anywhere: Bool = false,
        with replacement: (String) -> String = { _ in "***" }
    ) -> String {
        var out = text
        for secret in Set(secrets).sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            out =
                anywhere
                ? out.replacingAll(secret, with: replacement(secret))
                : maskingOccurrences(of: secret, in: out, with: replacement(secret))
        }
        return out
    }

    /// From this length on a secret is masked wherever it occurs: a text this long that is not
    /// the secret is not met by chance, and an encoding may glue anything to it.
    public static let anywhereLength = 16

    private static func maskingOccurrences(of secret: String, in text: String, with replacement: String) -> String {
        guard secret.count < anywhereLength else { return text.replacingAll(secret, with: replacement) }
        func isWord(_ c: Character?) -> Bool { c.map { $0.isLetter || $0.isNumber || $0 == "_" } ?? false }
        let gluedBefore = isWord(secret.first)
        let gluedAfter = isWord(secret.last)
        var out = ""
        var cursor = text.startIndex
        var searchFrom = text.startIndex
        while let found = text[searchFrom...].firstRange(of: secret) {
            let before = found.lowerBound > text.startIndex ? text[text.index(before: found.lowerBound)] : nil
            let after = found.upperBound < text.endIndex ? text[found.upperBound] : nil
            let escaped = text[..<found.lowerBound].suffix(3)
            let afterEscape =
                escaped.count == 3 && escaped.first == "%" && escaped.dropFirst().allSatisfy(\.isHexDigit)
            let standsAlone = !(gluedBefore && isWord(before) && !afterEscape) && !(gluedAfter && isWord(after))
            if standsAlone {
                out += text[cursor..<found.lowerBound]
                out += replacement
                cursor = found.upperBound
                searchFrom = found.upperBound
            } else {
                searchFrom = text.index(after: found.lowerBound)
            }
        }
        return out + text[cursor...]
    }

    /// A URL without its user info (`https://user:pw@host/x` → `https://host/x`).
    public static func removingUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = userInfoEnd(url, afterScheme: scheme.upperBound) else {
            return url
        }
        var text = url
        text.removeSubrange(scheme.upperBound...at)
        return text
    }

    /// Whether a name (a key, a variable) denotes a secret: `client_secret`, `DB_PASSWORD`,
    /// `api_token`, `X_API_KEY`, ...
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        // At the end: a service's key, password, auth or signature (`GEOCODER_KEY`, `DB_PWD`,
        // `GEO_AUTH`, `HMAC_SIG`), not only an `API_KEY`.
        return ["SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "TOKEN", "CREDENTIAL", "API_KEY", "APIKEY", "PRIVATE"]
            .contains { upper.contains($0) }
            || ["KEY", "PWD", "AUTH", "SIG", "SIGNATURE"].contains { upper == $0 || upper.hasSuffix("_" + $0) }
    }

    /// What in one line of text looks secret, for a message that quotes text Sluice could not
    /// parse: the value of every `key: value` or `key=value` whose key names a secret (unless
    /// it is a `${VAR}`), and the password of every URL in it.
    ///
    /// `siblingKeys`: the keys of the mapping the line is in, when known (from the lines around
    /// it): an apply stage's `key` (its key column) is written beside its `table`, auth's `key`
    /// (a secret) is not.
    ///
    /// `inCredentials`: the line is inside an `auth` or `headers` mapping, where every value but
    /// those of ``credentialSettings`` is a credential, whatever its key (`tokn:` mistyped, a
    /// header named `X-Custom-Auth`); a line that opens one in flow style (`auth: { ... }`) is
    /// read so from there on.
    public static func likelySecrets(
        inLine fullLine: String, siblingKeys: Set<String> = [], inCredentials: Bool = false
    ) -> [String] {
        // A diagnostic shows at most 160 characters of its line.
        let line = Substring(fullLine.prefix(400))
        var found: [String] = []
        var rest = line
        var credentials = inCredentials
        while let colon = rest.firstIndex(where: { $0 == ":" || $0 == "=" }) {
            let key = rest[..<colon].reversed().prefix { $0.isLetter || $0.isNumber || "_.-".contains($0) }
            var value = rest[rest.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            rest = rest[rest.index(after: colon)...]
            let name = String(key.reversed())
            // `http://...`: a URL's scheme, not a key (URLs are handled below).
            if rest.hasPrefix("//") { continue }
            if name == "auth" || name == "headers" {
                credentials = true
                continue
            }
            let credential = credentials && !credentialSettings.contains(name) && !name.isEmpty
            // (`token_url` names where a token comes from, not a secret: URLs are handled below.)
            guard credential || (isSecretName(name.replacingAll("-", with: "_")) && !settingNames.contains(name)),
                !name.lowercased().hasSuffix("url")
            else { continue }
            // An apply stage's `key` is its key column: a stage written on one line names its
            // `table` too (auth, whose `key` is a secret, has none).
            if name == "key", line.contains("table:") || siblingKeys.contains("table") { continue }
            // A list's items (`X-Auth: ["..."]`) are as secret as a value.
            value = value.drop { $0 == "[" || $0 == " " }
            if let quote = value.first, quote == "\"" || quote == "'" {
                value = value.dropFirst().prefix { $0 != quote }
            } else {
                value = value.prefix { !",}] \t#".contains($0) }
            }
            if !value.isEmpty, !value.hasPrefix("${") { found.append(String(value)) }
        }
        for token in line.split(whereSeparator: { " \t\"',{}[]".contains($0) }) where token.contains("://") {
            found += secretParts(of: String(fromScheme(token)))
        }
        return found
    }

    /// A token that holds a URL, from the URL's scheme on: `API_URL:-https://h/v1` (the inside
    /// of `${API_URL:-https://h/v1}`) is the URL `https://h/v1`, not a text that is no URL and so
    /// secret whole, which hid the variable's name in the line a diagnostic quotes.
    private static func fromScheme(_ token: Substring) -> Substring {
        guard let separator = token.range(of: "://") else { return token }
        var start = separator.lowerBound
        while start > token.startIndex, isSchemeCharacter(token[token.index(before: start)]) {
            start = token.index(before: start)
        }
        // A scheme begins with a letter: `:-https` is the variable's default marker, then `https`.
        while start < separator.lowerBound, !token[start].isLetter { start = token.index(after: start) }
        return token[start...]
    }

    /// Every text in a connection string that may be (part of) its password, for hiding in what
    /// libpq says about it: the passwords ``passwordRanges(in:)`` finds, and those a writer
    /// meant where libpq reads something else, with the pieces libpq may cut them into.
    ///
    /// A password holding `/`, `@`, `?` or a space that the URL does not percent-encode
    /// (`postgresql://u:ab/cd@host/db`) ends its user info early for libpq, which reads `ab` as a
    /// port and `cd@host` as a database; `u:secret@host/db` without a scheme is, to libpq, one
    /// database name; `password=two words` leaves `words` as a key without a value. So the user
    /// info is taken up to the **last** `@` anywhere, a scheme-less text with an `@` and no `=`
    /// is read as user info the same way, and a key=value password runs to the next `key=`.
    /// An `@` in the query after a `key=` (`u:pw@host/db?application_name=a@b`), once an `@`
    /// before the query has ended the user info, is the query's, as ``PostgresConnection``'s
    /// `misreading(of:)` reads it: the host and database are no pieces of the password.
    public static func suspectedPasswords(in conninfo: String) -> [String] {
        var found = passwordRanges(in: conninfo).map { String(conninfo[$0]) }
        let text = conninfo.trimmingWhitespace
        var userInfo: Substring?
        if let scheme = text.range(of: "://"), text[..<scheme.lowerBound].allSatisfy(isSchemeCharacter) {
            let rest = text[scheme.upperBound...]
            if var at = rest.lastIndex(of: "@") {
                if let query = rest.firstIndex(of: "?"), query < at, rest[query..<at].contains("="),
                    let before = rest[..<query].lastIndex(of: "@")
                {
                    at = before
                }
                userInfo = rest[..<at]
            }
        } else if !text.contains("="), let at = text.lastIndex(of: "@") {
            userInfo = text[..<at]
        }
        if let userInfo, let colon = userInfo.firstIndex(of: ":") {
            found.append(String(userInfo[userInfo.index(after: colon)...]))
        }
        var searchStart = text.startIndex
        while let key = text.range(ofCaseInsensitive: "password", from: searchStart) {
            searchStart = key.upperBound
            let afterKey = text[key.upperBound...].drop { $0 == " " }
            guard afterKey.first == "=" else { continue }
            let value = afterKey.dropFirst().drop { $0 == " " }
            // Up to the next `word=` (or `word =`), or the end.
            var end = value.endIndex
            var i = value.startIndex
            while i < value.endIndex {
                if value[i].isWhitespace {
                    let word = value[i...].drop { $0.isWhitespace }.prefix { $0.isLetter || $0 == "_" }
                    if !word.isEmpty, value[word.endIndex...].drop(while: { $0 == " " }).first == "=" {
                        end = i
                        break
                    }
                }
                i = value.index(after: i)
            }
            found.append(String(value[..<end]).trimmingWhitespace)
        }
        var all = Set<String>()
        for password in found where !password.isEmpty {
            for form in [password, unescaped(password), percentDecoded(password)] {
                all.insert(form)
                let pieces = form.split { "/@:?#&=' \t".contains($0) }
                if pieces.count > 1 { for piece in pieces where piece.count >= 3 { all.insert(String(piece)) } }
            }
        }
        return all.sorted()
    }

    /// A plan's keys that read as secret names and are not: `items_key` names where an answer's
    /// items are, `client_auth` how the client authenticates.
    public static let settingNames: Set<String> = ["items_key", "client_auth"]

    /// The keys of an `auth` mapping whose values are settings, not credentials.
    public static let credentialSettings: Set<String> = [
        "kind", "header", "query_param", "body_field", "token_url", "client_id", "scope", "audience", "client_auth",
    ]

    /// A password as libpq reads it from a quoted conninfo value (`\'` is `'`).
    package static func unescaped(_ value: String) -> String {
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

    /// A password as it is after percent-decoding a URL.
    package static func percentDecoded(_ value: String) -> String {
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

    // MARK: Parsing

    private static func isSchemeCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "+" || c == "-" || c == ".")
    }

    private static func isURL(_ text: String) -> Bool {
        guard let scheme = text.range(of: "://") else { return false }
        let name = text[..<scheme.lowerBound]
        return !name.isEmpty && name.allSatisfy(isSchemeCharacter)
    }

    /// The last `@` of the authority (which ends at the first `/`, `?` or `#`), if any.
    private static func userInfoEnd(_ s: String, afterScheme start: String.Index) -> String.Index? {
        let authorityEnd = s[start...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? s.endIndex
        return s[start..<authorityEnd].lastIndex(of: "@")
    }

    private static func urlRanges(_ s: String, afterScheme start: String.Index) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        if let at = userInfoEnd(s, afterScheme: start), let colon = s[start..<at].firstIndex(of: ":") {
            result.append(s.index(after: colon)..<at)
        }
        if let question = s[start...].firstIndex(of: "?") {
            var paramStart = s.index(after: question)
            let queryEnd = s[paramStart...].firstIndex(of: "#") ?? s.endIndex
            while paramStart < queryEnd {
                let paramEnd = s[paramStart..<queryEnd].firstIndex(of: "&") ?? queryEnd
                if let equals = s[paramStart..<paramEnd].firstIndex(of: "="),
                    s[paramStart..<equals].lowercased() == "password"
                {
                    result.append(s.index(after: equals)..<paramEnd)
                }
                paramStart = paramEnd < queryEnd ? s.index(after: paramEnd) : queryEnd
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

    /// Last resort for text that is neither a URL nor well-formed key=value: whatever follows
    /// `password=` up to the next white space or `&`.
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
            while i < s.endIndex, !s[i].isWhitespace, s[i] != "&" { i = s.index(after: i) }
            if valueStart < i { result.append(valueStart..<i) }
            searchStart = i
        }
        return result
    }
}

extension String {
    /// The text without leading and trailing white space (no Foundation needed).
    package var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// Every occurrence of `target` replaced (no Foundation needed).
    package func replacingAll(_ target: String, with replacement: String) -> String {
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

    fileprivate func range(ofCaseInsensitive target: String, from start: Index) -> Range<Index>? {
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

/// The secret values of the plan a command runs (``register(_:)``, once it is loaded), hidden in
/// whatever the process shows or records from then on: its stderr, its log lines, the errors
/// and notices its manifest keeps. A backstop behind the redaction each part does for its own
/// secrets: a `${DB_PASSPHRASE}` written into a query's SQL comes back in PostgreSQL's own
/// error text (`LINE 1: ... md5('...')`) and in the statement a trace log prints.
public enum SecretRegistry {
    private static let secrets = Mutex<[String]>([])

    /// Adds secret values; texts under 4 characters are not hidden (they are everywhere).
    public static func register(_ values: some Sequence<String>) {
        let added = values.filter { $0.count >= 4 }
        guard !added.isEmpty else { return }
        secrets.withLock { known in
            known = Array(Set(known + added)).sorted { $0.count > $1.count }
        }
    }

    /// `text` with every registered secret replaced by `***`.
    public static func masking(_ text: String) -> String {
        let known = secrets.withLock { $0 }
        guard !known.isEmpty else { return text }
        return Redaction.masking(known, in: text)
    }
}
