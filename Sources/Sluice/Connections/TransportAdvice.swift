import Foundation
import SluicePlan
import SluicePostgres

extension Plan {
    /// A warning, at the connection's place in the plan, for each PostgreSQL connection that
    /// reaches another machine without verifying the server over TLS
    /// (``PostgresConnection/transportAdvice(for:environment:)``). Never holds the URL itself.
    public func transportWarnings(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [Diagnostic] {
        connections.compactMap { connection in
            guard let url = connection.postgres?.url.value,
                let advice = PostgresConnection.transportAdvice(for: url, environment: environment)
            else { return nil }
            return .warning("connection '\(connection.name)': \(advice)", at: connection.location)
        }
    }
}
