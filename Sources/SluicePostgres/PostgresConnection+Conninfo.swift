internal import CLibPQ
import Foundation
import SluiceCore

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
        var pairs = ConninfoOptions.take(options).compactMap { option in
            overrides[option.keyword] == nil ? option.value.map { (option.keyword, $0) } : nil
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

extension PostgresConnection {
    /// The `sslmode` values libpq connects with; it refuses any other (`""` and `REQUIRE` too), from
    /// the URL or `PGSSLMODE`, as it connects, to a socket or a loopback address too.
    public static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// What is weak about how `conninfo` reaches a server on another machine (or, first, why
    /// libpq would misread it: ``misreading(of:)``), or `nil`.
    ///
    /// libpq's default `sslmode=prefer` silently falls back to an unencrypted connection and,
    /// like `require`, never checks who the server is; only `verify-full` protects the password
    /// and the data from someone in the path (`verify-ca` checks the certificate, not that it
    /// names the host). Unix sockets and loopback addresses are not on a network and get no
    /// advice. `PGHOST` and `PGSSLMODE` count as psql counts them (`environment`). An `sslmode`
    /// libpq does not know gets none either: libpq refuses it, and ``refusal(of:environment:)``
    /// says so as an error.
    public static func transportAdvice(
        for conninfo: String, environment: [String: String]
    ) -> String? {
        // Misread, its "host" may be part of the password: nothing about it is quoted.
        if let misreading = misreading(of: conninfo) { return misreading }
        guard case .success(let values) = settings(of: conninfo) else { return nil }
        let host = values["hostaddr"].flatMap { $0.isEmpty ? nil : $0 } ?? values["host"] ?? environment["PGHOST"] ?? ""
        let remote = host.split(separator: ",").map { $0.filter { !$0.isWhitespace } }.filter {
            !($0.isEmpty || $0.hasPrefix("/") || $0.hasPrefix("@") || HostName.isLoopback($0))
        }
        guard let first = remote.first else { return nil }
        let given = values["sslmode"] ?? environment["PGSSLMODE"]
        let mode = given ?? "prefer"
        guard sslModes.contains(mode) else { return nil }
        let risk: String
        switch mode {
        case "verify-full": return nil
        case "verify-ca": risk = "the server's certificate is checked, but not that it was issued for this host"
        case "require": risk = "the connection is encrypted but the server's certificate is never checked"
        default: risk = "the password and the data may travel unencrypted, and the server is never verified"
        }
        let named = given == nil ? "no sslmode (libpq's default is prefer)" : "sslmode=\(mode)"
        return "\(first) is reached with \(named): \(risk); use sslmode=verify-full "
            + "(with sslrootcert=FILE when the server's certificate comes from a private CA)"
    }
}

extension PostgresConnection {
    /// Why libpq will not read `conninfo` as it was most likely meant, or `nil`. Never quotes it:
    /// what libpq misreads is usually the password.
    ///
    /// A URL whose user info holds `/`, `@`, `?`, `#` or a space (a generated password) ends it
    /// early for libpq, which then takes part of the password for the host, port or database; a
    /// URL without its `postgresql://` is to libpq one database name; key=value text libpq cannot
    /// parse (an unquoted value with a space) fails with a piece of it in the message.
    public static func misreading(of conninfo: String) -> String? {
        let text = Substring(conninfo).drop { $0.isWhitespace }
        if let scheme = text.range(of: "://") {
            // libpq knows a URL by these two prefixes alone: any other (`postgre://`, `pgsql://`,
            // `jdbc:postgresql://`) makes the whole text one database name.
            let name = text[..<scheme.lowerBound]
            if name != "postgresql", name != "postgres", !name.contains(where: { $0 == "=" || $0.isWhitespace }) {
                return "the URL does not start with postgresql:// or postgres://: libpq reads such text as one "
                    + "database name (write postgresql://user:password@host:port/database)"
            }
            let rest = text[scheme.upperBound...]
            guard var at = rest.lastIndex(of: "@") else { return nil }
            // An `@` in the query (`?options=-c%20a@b`: a `key=value` before it) is not the user
            // info's end: the last one before the query is.
            if let query = rest.firstIndex(of: "?"), query < at, rest[query..<at].contains("=") {
                guard let before = rest[..<query].lastIndex(of: "@") else { return nil }
                at = before
            }
            guard rest[..<at].contains(where: { "/@?# ".contains($0) }) else { return nil }
            return "the URL's user name or password holds '/', '@', '?', '#' or a space, which a URL must "
                + "percent-encode (%2F %40 %3F %23 %20): as written, libpq takes part of it for the host, port "
                + "or database"
        }
        if !text.contains("="), text.contains("@") {
            return "the URL has no postgresql:// scheme: libpq reads such text as one database name "
                + "(write postgresql://user:password@host:port/database)"
        }
        if text.contains("="), case .failure(let refused) = settings(of: String(text)) {
            // An option libpq does not know (`dbnam=music`) is a typo to name, unless it follows an
            // unquoted password: then it may be the rest of a password with a space.
            if let option = refused.unknownOption, !followsUnquotedPassword(option, in: text) { return nil }
            return "libpq cannot read it as key=value settings: a value with a space or a quote goes in single "
                + "quotes (password='two words', with \\' for a quote)"
        }
        return nil
    }

    /// Whether the first `keyword=` of key=value `text` comes right after an unquoted `password`
    /// value (`password=two words=x`), read as libpq reads key=value text.
    static func followsUnquotedPassword(_ keyword: String, in text: Substring) -> Bool {
        var rest = text[...]
        var previous: (key: Substring, quoted: Bool)?
        while true {
            rest = rest.drop { $0.isWhitespace }
            guard !rest.isEmpty else { return false }
            let key = rest.prefix { $0 != "=" && !$0.isWhitespace }
            if key == keyword { return previous.map { $0.key == "password" && !$0.quoted } ?? false }
            rest = rest[key.endIndex...].drop { $0.isWhitespace }
            guard rest.first == "=" else { return false }
            rest = rest.dropFirst().drop { $0.isWhitespace }
            let quoted = rest.first == "'"
            if quoted { rest = rest.dropFirst() }
            var escaped = false
            while let c = rest.first, escaped || (quoted ? c != "'" : !c.isWhitespace) {
                escaped = !escaped && c == "\\"
                rest = rest.dropFirst()
            }
            if quoted { rest = rest.dropFirst() }
            previous = (key, quoted)
        }
    }
}

extension PostgresConnection {
    /// Why libpq would refuse `conninfo` as the run connects, or `nil`: what its parser refuses
    /// (an unclosed `[::1`, an option it does not know, a bad `%` escape), read with that very
    /// parser (`PQconninfoParse`, which never connects), ports it reads as text but will not
    /// connect to (`:notaport`, `:99999`, three ports for two hosts), and an `sslmode` it does
    /// not know (``sslModes``), the URL's or, when it sets none, `PGSSLMODE` in `environment`.
    ///
    /// libpq's own message quotes the URL, password and all: this quotes only an option's name, a
    /// port or an sslmode. Text libpq misreads (``misreading(of:)``: a password with `/`, `@`,
    /// `?`, `#` or a space, which it takes for the host, port or query) is left to the advice
    /// that says so: its pieces here would be pieces of the password.
    public static func refusal(of conninfo: String, environment: [String: String] = [:]) -> String? {
        guard misreading(of: conninfo) == nil else { return nil }
        let values: [String: String]
        switch settings(of: conninfo) {
        case .success(let read): values = read
        case .failure(let refused):
            // As the run connects (PQconnectStartParams, expand_dbname), text that is neither a
            // URL nor key=value settings is a database's name.
            let settings =
                ["postgresql://", "postgres://"].contains { conninfo.hasPrefix($0) } || conninfo.contains("=")
            return settings ? refused.message : nil
        }
        if let problem = sslModeProblem(values["sslmode"], environment: environment, conninfo: conninfo) {
            return problem
        }
        guard let portList = values["port"] else { return nil }
        // As libpq reads them: one port for every host, or one for all; each a number 1...65535,
        // an empty one meaning the default.
        let ports = portList.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        for port in ports where !port.isEmpty {
            guard port.allSatisfy(\.isASCII), let number = Int(port), (1...65535).contains(number) else {
                return "its port '\(port)' is not a number from 1 to 65535"
            }
        }
        let hosts = (values["host"] ?? "").split(separator: ",", omittingEmptySubsequences: false).count
        if ports.count > 1, ports.count != hosts {
            return "it names \(ports.count.counted("port")) for \(hosts.counted("host")): libpq takes one port "
                + "for every host, or one for all"
        }
        return nil
    }

    /// Why libpq refuses the `sslmode` a conninfo sets (`mode`), or, when it sets none, the one
    /// `PGSSLMODE` gives; `nil` when it connects with it. The value is quoted unless it is (part
    /// of) what may be the password.
    private static func sslModeProblem(_ mode: String?, environment: [String: String], conninfo: String) -> String? {
        func known(_ value: String) -> String {
            sslModes.contains(value.lowercased())
                ? "write \(value.lowercased()) (libpq's are lower case)"
                : "it knows " + sslModes.joined(separator: ", ")
        }
        guard let mode else {
            guard let given = environment["PGSSLMODE"], !sslModes.contains(given) else { return nil }
            return "it sets no sslmode, and PGSSLMODE in the environment, '\(given)', is not one libpq knows: "
                + known(given)
        }
        guard !sslModes.contains(mode) else { return nil }
        let secrets = Redaction.suspectedPasswords(in: conninfo).filter { !$0.isEmpty }
        let hidden = !mode.isEmpty && secrets.contains { $0.contains(mode) || mode.contains($0) }
        let shown = hidden ? "(not shown: it may be part of the password)" : "'\(mode)'"
        return "its sslmode \(shown) is not one libpq knows: " + known(mode)
    }

    /// The option libpq does not know in `conninfo` (`dbnam` in `host=db dbnam=music`, `sslmod`
    /// in a URL's query), when that is why ``refusal(of:environment:)`` refuses it; else `nil`.
    public static func unknownOption(in conninfo: String) -> String? {
        guard misreading(of: conninfo) == nil, case .failure(let refused) = settings(of: conninfo) else { return nil }
        return refused.unknownOption
    }

    /// Every option libpq knows, by keyword (`host`, `dbname`, `sslmode`, ...).
    public static let optionKeywords: [String] =
        PQconninfoParse("", nil).map { ConninfoOptions.take($0).map(\.keyword) } ?? []

    /// Why libpq's parser refused a conninfo, in words that quote no part of it; the option it
    /// does not know, when that is why.
    struct ParseRefusal: Error {
        var message: String
        var unknownOption: String?
    }

    /// The settings libpq reads from `conninfo` (a URL or key=value text), by keyword; or what its
    /// parser says, without the URL or the piece of it that it quotes (an unknown option's name
    /// stays).
    static func settings(of conninfo: String) -> Result<[String: String], ParseRefusal> {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            var said = (errorMessage.map { String(cString: $0) } ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            PQfreemem(errorMessage)
            for prefix in ["invalid URI query parameter: ", "invalid connection option "] where said.hasPrefix(prefix) {
                let name = said.dropFirst(prefix.count).trimmingCharacters(in: ["\""])
                return .failure(ParseRefusal(message: "'\(name)' is not an option libpq knows", unknownOption: name))
            }
            // `...: "postgresql://u:pw@[::1/db"`, `invalid percent-encoded token: "p%zzw"`.
            if let quote = said.range(of: ": \"", options: .backwards) { said = String(said[..<quote.lowerBound]) }
            let masked = Redaction.masking(Redaction.suspectedPasswords(in: conninfo), in: said, anywhere: true)
            return .failure(ParseRefusal(message: "libpq cannot read it: " + masked))
        }
        var values: [String: String] = [:]
        for option in ConninfoOptions.take(options) {
            if let value = option.value { values[option.keyword] = value }
        }
        return .success(values)
    }
}

/// An option array libpq made (`PQconninfoParse`, `PQconninfo`), read.
enum ConninfoOptions {
    /// Each option's keyword and value (`nil`: not set), in libpq's order; the array is freed.
    static func take(_ array: UnsafeMutablePointer<PQconninfoOption>) -> [(keyword: String, value: String?)] {
        defer { PQconninfoFree(array) }
        var read: [(keyword: String, value: String?)] = []
        var option = array
        while let keyword = option.pointee.keyword {
            read.append((String(cString: keyword), option.pointee.val.map { String(cString: $0) }))
            option += 1
        }
        return read
    }
}
