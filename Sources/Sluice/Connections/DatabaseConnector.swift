import Logging
import SluicePipeline
import SluicePlan
import SluicePostgres

/// Opens a PostgreSQL connection from a plan's connection settings.
///
/// Stages connect inside `run()`, never while the pipeline is built, so building or replaying
/// part of a plan touches nothing it does not run.
enum DatabaseConnector {
    /// How often the server checks, while a query runs, that sluice is still there.
    static let clientCheckIntervalMilliseconds = 2000

    /// Connects with the connection's URL (a secret: only libpq sees it) and applies its
    /// `statement_timeout`. On PostgreSQL 14 and later it also sets
    /// `client_connection_check_interval`, so that when sluice is killed (SIGKILL, a crash) the
    /// server ends the session's query within seconds — rolling back an apply and releasing its
    /// table lock — instead of running on until the query would have finished.
    /// - Parameter applicationName: the session's name in `pg_stat_activity`, unless the URL
    ///   sets `application_name`.
    static func connect(
        _ settings: PostgresSettings, logger: Logger, applicationName: String = "sluice"
    ) async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(
            settings.url.value, connectTimeout: .seconds(settings.connectTimeout), applicationName: applicationName,
            logger: logger)
        var settingStatements: [String] = []
        if let timeout = settings.statementTimeout, timeout > 0 {
            settingStatements.append("SET statement_timeout = \(Int((timeout * 1000).rounded()))")
        }
        if connection.serverVersion >= 140000 {
            settingStatements.append("SET client_connection_check_interval = \(clientCheckIntervalMilliseconds)")
        }
        if !settingStatements.isEmpty {
            do {
                _ = try await connection.execute(settingStatements.joined(separator: "; "))
            } catch {
                await connection.close()
                throw error
            }
        }
        return connection
    }

    /// Runs `body` with a fresh connection and always closes it.
    static func with<T>(
        _ settings: PostgresSettings, logger: Logger, applicationName: String = "sluice",
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(settings, logger: logger, applicationName: applicationName)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs `body` with a fresh connection for a stage: the session is named
    /// ``applicationName(run:stage:)`` so that a DBA, or another sluice waiting for one of its
    /// locks, can tell which run and stage it serves.
    static func with<T>(
        _ settings: PostgresSettings, for context: StageContext, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await with(
            settings, logger: context.logger,
            applicationName: applicationName(run: context.runID, stage: context.stageName), body)
    }

    /// `sluice RUN-ID STAGE`: what ``LockHolder`` reads back.
    static func applicationName(run: String, stage: String) -> String {
        "sluice \(run) \(stage)"
    }
}
