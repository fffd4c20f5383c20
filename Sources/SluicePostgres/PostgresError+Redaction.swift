import SluiceCore

extension PostgresError {
    /// `conninfo` with every password replaced by `***`, safe for logs, manifests and errors.
    ///
    /// Handles URIs (`postgres://user:secret@host/db`, `?password=secret`) and key=value strings
    /// (`password=secret`, `password = 'it''s \' quoted'`). A string that parses as neither
    /// still has anything after `password=` masked up to the next space.
    public static func redactConninfo(_ conninfo: String) -> String {
        Redaction.maskingPasswords(conninfo)
    }

    /// `message` with any password from `conninfo` (as written, unescaped or percent-decoded)
    /// replaced by `***`: libpq may echo parts of a connection string it could not parse.
    static func scrub(_ message: String, conninfo: String) -> String {
        var secrets = Set<String>()
        for range in Redaction.passwordRanges(in: conninfo) {
            let raw = String(conninfo[range])
            secrets.insert(raw)
            secrets.insert(Redaction.unescaped(raw))
            secrets.insert(Redaction.percentDecoded(raw))
        }
        return Redaction.masking(secrets, in: redactConninfo(message))
    }
}
