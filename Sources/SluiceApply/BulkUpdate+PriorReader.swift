import SluicePostgres

extension BulkUpdate {
    /// A second connection that reads the prior values while the first runs the UPDATE, so the
    /// read (a join of the input with the table, every changing row sent to the client: ~0.7 s
    /// per million rows) costs no time on top of the update. An update approved up front makes
    /// its review here instead, which reads the prior values too (``InlineReview``).
    ///
    /// It gets the input by replaying the main COPY's bytes (a ``CopySpool``) into its own temp
    /// table while the UPDATE runs. What it reads is exactly what the update replaces: it reads
    /// after the main connection's `LOCK TABLE ... SHARE ROW EXCLUSIVE` is granted, which keeps
    /// every other writer out until COMMIT, and it cannot see the main transaction's uncommitted
    /// update. It takes its own `ACCESS SHARE` lock on the table when it creates the temp table,
    /// before the UPDATE starts, with a 1 s `lock_timeout`, so it can never wait behind a DDL
    /// statement that waits for the main connection (a wait the server could not see as a
    /// deadlock).
    ///
    /// It is an optimisation: when it cannot be opened or set up (no free connection slot, the
    /// lock timeout), the prior values are read on the main connection before the update, as
    /// for small inputs. Once the UPDATE runs, a failure on either connection fails the apply,
    /// which then changes nothing.
    struct PriorReader {
        let connection: PostgresConnection

        /// A reader in a transaction holding an empty input table, or `nil` (logged) when that
        /// fails for any reason.
        static func open(alongside main: PostgresConnection, sql: SQL) async -> PriorReader? {
            var opened: PostgresConnection?
            do {
                let other = try await main.openAnother()
                opened = other
                _ = try await other.execute("BEGIN")
                _ = try await other.execute("SET LOCAL lock_timeout = '1s'")
                for setting in sql.sessionSettings { _ = try await other.execute(setting) }
                _ = try await other.execute(sql.createInput)
                return PriorReader(connection: other)
            } catch {
                main.logger.debug("no second connection for the prior values", metadata: ["error": "\(error)"])
                await opened?.close()
                return nil
            }
        }

        /// Rolls back and closes: the reader changes nothing.
        func close() async {
            await connection.rollbackQuietly()
            await connection.close()
        }
    }
}
