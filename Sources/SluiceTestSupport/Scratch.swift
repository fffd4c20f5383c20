import SluicePostgres

/// A fresh database on the shared test server, with an open connection to it: what a test of
/// the driver or of the apply engine starts from.
public struct Scratch: Sendable {
    public let server: TestPostgres
    public let conninfo: String
    public let connection: PostgresConnection

    /// A new database, with `schema` (any SQL, several statements allowed) run in it.
    public static func make(schema: String? = nil) async throws -> Scratch {
        let server = try await TestPostgres.shared()
        let conninfo = try await server.makeDatabase()
        let connection = try await server.connect(conninfo)
        if let schema { _ = try await connection.execute(schema) }
        return Scratch(server: server, conninfo: conninfo, connection: connection)
    }

    /// Another connection to the same database.
    public func connect() async throws -> PostgresConnection {
        try await server.connect(conninfo)
    }
}
