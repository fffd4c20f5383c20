import SluiceCore
import SluicePostgres

/// Which table a plan's name for it resolves to on a connection: the database, the schema the
/// session's `search_path` finds it in, and its name. An apply records it, in its review and in its
/// undo file; approving the review and undoing the apply check that their connection finds the same
/// table, not a copy of it in another database (a `DATABASE_URL` pointing at staging) or another
/// schema (a role whose `search_path` puts another schema first).
public struct TableIdentity: Sendable, Hashable, CustomStringConvertible {
    public var database: String
    public var schema: String
    public var table: String

    public init(database: String, schema: String, table: String) {
        self.database = database
        self.schema = schema
        self.table = table
    }

    /// `public.tracks in database shop`.
    public var description: String { "\(schema).\(table) in database \(database)" }

    public var json: Value {
        .object(["database": .string(database), "schema": .string(schema), "table": .string(table)])
    }

    /// Reads ``json`` back; `nil` when it is not one.
    public init?(json: Value) {
        guard case .string(let database) = json["database"], case .string(let schema) = json["schema"],
            case .string(let table) = json["table"]
        else { return nil }
        self.init(database: database, schema: schema, table: table)
    }

    /// What `literal` (a table's name, quoted as an identifier and then as a string literal)
    /// resolves to on `connection`; `nil` when it names no table there.
    static func read(literal: String, on connection: PostgresConnection) async throws -> TableIdentity? {
        let row = try await connection.execute(
            """
            SELECT current_database()::text, n.nspname::text, c.relname::text \
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(\(literal))
            """
        ).rows.first
        guard let row, let database = row[0].stringValue, let schema = row[1].stringValue,
            let table = row[2].stringValue
        else { return nil }
        return TableIdentity(database: database, schema: schema, table: table)
    }
}
