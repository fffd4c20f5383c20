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

    /// `message` with any password from `conninfo` (as written, unescaped or percent-decoded,
    /// and as libpq may cut one it misread: ``Redaction/suspectedPasswords(in:)``) replaced by
    /// `***`: libpq echoes parts of a connection string it could not parse, or read otherwise
    /// than meant, as its host, port or database.
    static func scrub(_ message: String, conninfo: String) -> String {
        Redaction.masking(Redaction.suspectedPasswords(in: conninfo), in: redactConninfo(message), anywhere: true)
    }
}
