import Logging
import SluicePlan
import SluicePostgres

/// Opens a PostgreSQL connection from a plan's connection settings.
///
/// Stages connect inside `run()`, never while the pipeline is built, so building or replaying
/// part of a plan touches nothing it does not run.
enum DatabaseConnector {
    /// Connects with the connection's URL (a secret: only libpq sees it) and applies its
    /// `statement_timeout`.
    static func connect(_ settings: PostgresSettings, logger: Logger) async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(
            settings.url.value, connectTimeout: .seconds(settings.connectTimeout), logger: logger)
        if let timeout = settings.statementTimeout, timeout > 0 {
            do {
                _ = try await connection.execute("SET statement_timeout = \(Int((timeout * 1000).rounded()))")
            } catch {
                await connection.close()
                throw error
            }
        }
        return connection
    }

    /// Runs `body` with a fresh connection and always closes it.
    static func with<T>(
        _ settings: PostgresSettings, logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(settings, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}
