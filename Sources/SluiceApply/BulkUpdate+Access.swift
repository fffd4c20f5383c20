import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// What keeps this update from running at the server, found before anything is written:
    /// a read-only session or a standby, or a privilege its role lacks. The server itself says
    /// only `permission denied for table items` or `cannot execute CREATE TABLE AS in a read-only
    /// transaction`, once the input is being prepared, and neither which grant is missing nor
    /// that the connection points at a replica.
    public struct AccessProblem: Sendable, Hashable {
        public var reason: BulkUpdateError.Reason
        /// What is wrong and what to do, for people.
        public var message: String
    }

    /// The written columns the table no longer has (dropped since), in the update's order; none
    /// when the table itself is not found (the update says so, located). Changes nothing.
    public func droppedColumns(on connection: PostgresConnection) async throws -> [String] {
        let sql = try validate(serverVersion: connection.serverVersion)
        return try await connection.execute(
            """
            SELECT n.name FROM unnest(ARRAY[\(sql.columnLiterals.joined(separator: ", "))]::text[]) \
            WITH ORDINALITY AS n(name, i) WHERE to_regclass(\(sql.targetLiteral)) IS NOT NULL AND NOT EXISTS \
            (SELECT 1 FROM pg_attribute AS a WHERE a.attrelid = to_regclass(\(sql.targetLiteral)) \
            AND a.attname::text = n.name AND a.attnum > 0 AND NOT a.attisdropped) ORDER BY n.i
            """
        ).rows.compactMap { $0.first?.stringValue }
    }

    /// The first of what keeps this update from running on `connection` (a read-only session
    /// before missing privileges), `nil` when the server lets it. Changes nothing.
    public func accessProblem(on connection: PostgresConnection) async throws -> AccessProblem? {
        let sql = try validate(serverVersion: connection.serverVersion)
        // The schema is asked about before the table: naming a table in a schema without USAGE
        // fails (to_regclass too), and for an unqualified name the search path skips that schema.
        let session = try await connection.execute(
            """
            SELECT current_user::text, current_database()::text, pg_is_in_recovery(), \
            current_setting('transaction_read_only') = 'on', has_database_privilege(current_database(), 'TEMP'), \
            CASE WHEN cardinality(i) > 1 THEN (SELECT n.nspname::text FROM pg_namespace AS n \
            WHERE n.nspname = i[cardinality(i) - 1] AND NOT has_schema_privilege(n.oid, 'USAGE')) \
            WHEN to_regclass(\(sql.targetLiteral)) IS NULL THEN (SELECT n.nspname::text FROM pg_class AS c \
            JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.relname = i[1] \
            AND NOT has_schema_privilege(n.oid, 'USAGE') ORDER BY 1 LIMIT 1) END \
            FROM (SELECT parse_ident(\(sql.targetLiteral)) AS i) AS p
            """
        ).rows.first
        guard let session else { return nil }
        let role = session[0].stringValue ?? "?"
        if session[2].boolValue == true || session[3].boolValue == true {
            let why =
                session[2].boolValue == true
                ? "the server is a standby in recovery"
                : "the session is read-only (default_transaction_read_only is on)"
            return AccessProblem(
                reason: .readOnly,
                message: "\(why): \(guarded ? "an undo" : "an apply") writes, so point the connection at the primary")
        }
        let grantee = try PostgresConnection.quoteIdentifierPart(role)
        var missing: [String] = []
        var grants: [String] = []
        if let schema = session[5].stringValue {
            missing.append("USAGE on schema \(schema)")
            grants.append("GRANT USAGE ON SCHEMA \(try PostgresConnection.quoteIdentifierPart(schema)) TO \(grantee);")
        }
        if session[4].boolValue == false {
            let database = session[1].stringValue ?? "?"
            missing.append("TEMPORARY on database \(database) (for the temporary table the rows are copied into)")
            grants.append(
                "GRANT TEMPORARY ON DATABASE \(try PostgresConnection.quoteIdentifierPart(database)) TO \(grantee);")
        }
        if session[5].stringValue == nil {
            try await tablePrivileges(sql, missing: &missing, grants: &grants, grantee: grantee, on: connection)
        }
        guard !missing.isEmpty else { return nil }
        return AccessProblem(
            reason: .missingPrivilege,
            message: "role \(role) lacks what \(guarded ? "an undo" : "an apply") of \(table) needs: "
                + missing.joined(separator: "; ") + "; \(missing.count == 1 ? "grant it" : "grant them"): "
                + grants.joined(separator: " "))
    }

    /// The table's and its columns' privileges this update needs that `grantee` lacks.
    private func tablePrivileges(
        _ sql: SQL, missing: inout [String], grants: inout [String], grantee: String, on connection: PostgresConnection
    ) async throws {
        let names = try ([key] + columns.map(\.name)).map { name throws(PostgresError) in
            try PostgresConnection.quoteLiteral(name)
        }
        let table = try await connection.execute(
            """
            SELECT has_table_privilege(r, 'UPDATE'), has_table_privilege(r, 'DELETE'), \
            has_table_privilege(r, 'TRUNCATE') FROM to_regclass(\(sql.targetLiteral)) AS r WHERE r IS NOT NULL
            """
        ).rows.first
        // No such table: the check of its columns says so, located.
        guard let table else { return }
        let cells = try await connection.execute(
            """
            SELECT attname::text, has_column_privilege(attrelid, attnum, 'SELECT'), \
            has_column_privilege(attrelid, attnum, 'UPDATE'), has_column_privilege(attrelid, attnum, 'INSERT') \
            FROM pg_attribute WHERE attrelid = to_regclass(\(sql.targetLiteral)) AND NOT attisdropped \
            AND attname IN (\(names.joined(separator: ", "))) ORDER BY attnum
            """
        ).rows
        func lacking(_ index: Int, among wanted: [String]) -> [String] {
            cells.filter { wanted.contains($0[0].stringValue ?? "") && $0[index].boolValue == false }.compactMap {
                $0[0].stringValue
            }
        }
        func grant(_ privilege: String, _ names: [String]) throws -> String {
            let list = try names.map { name throws(PostgresError) in try PostgresConnection.quoteIdentifierPart(name) }
            return "GRANT \(privilege) (\(list.joined(separator: ", "))) ON \(sql.target) TO \(grantee);"
        }
        let written = columns.map(\.name)
        let locks = table[0].boolValue == true || table[1].boolValue == true || table[2].boolValue == true
        if !locks {
            // LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE: a privilege on the whole table, not on columns.
            let privilege = mode == .insert ? "DELETE" : "UPDATE"
            missing.append(
                "\(privilege) on the whole table \(self.table) (its LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE needs "
                    + "UPDATE, DELETE or TRUNCATE on the table; granted on columns only is not enough)")
            grants.append("GRANT \(privilege) ON \(sql.target) TO \(grantee);")
        }
        if deletesInserted, table[1].boolValue == false, !(mode == .insert && !locks) {
            missing.append("DELETE on table \(self.table) (to delete the rows the apply added)")
            grants.append("GRANT DELETE ON \(sql.target) TO \(grantee);")
        }
        let unread = lacking(1, among: [key] + written)
        if !unread.isEmpty {
            missing.append(
                "SELECT on column(s) \(unread.joined(separator: ", ")) (to compare and keep the prior values)")
            grants.append(try grant("SELECT", unread))
        }
        let unwritable = mode == .insert || (!locks && table[0].boolValue == false) ? [] : lacking(2, among: written)
        if !unwritable.isEmpty {
            missing.append("UPDATE on column(s) \(unwritable.joined(separator: ", "))")
            grants.append(try grant("UPDATE", unwritable))
        }
        let unaddable = mode == .update ? [] : lacking(3, among: [key] + written)
        if !unaddable.isEmpty {
            missing.append("INSERT on column(s) \(unaddable.joined(separator: ", ")) (to add new rows)")
            grants.append(try grant("INSERT", unaddable))
        }
    }
}
