import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// The connection died while COMMIT was in flight, so the client cannot know whether the
    /// transaction committed. Asks the server on a new connection (`txid_status`, PostgreSQL 10+)
    /// and returns when it committed; throws a ``BulkUpdateError`` saying it was rolled back, or
    /// one of reason ``BulkUpdateError/Reason/commitOutcomeUnknown`` when the server cannot say.
    func confirmCommit(_ transaction: Int64?, lost: PostgresError, on connection: PostgresConnection) async throws {
        let what = "the connection was lost during COMMIT (\(lost.message))"
        guard let transaction else {
            throw outcomeUnknown("\(what) before the transaction's id was known", lost: lost)
        }
        switch await Self.status(of: transaction, asking: connection, within: commitCheckLimit) {
        case .success("committed"):
            connection.logger.warning(
                "the connection was lost during COMMIT; the server confirms the transaction committed",
                metadata: ["db.table": "\(table)", "db.transaction": "\(transaction)"])
        case .success("aborted"):
            var error = BulkUpdateError(
                table: table, phase: .commit, reason: .connectionLost,
                message: "\(what); the server reports that transaction \(transaction) was rolled back")
            error.underlying = lost
            throw error
        case .success(let status):
            throw outcomeUnknown(
                "\(what) and transaction \(transaction) is still '\(status)' after \(commitCheckLimit); "
                    + "check with SELECT txid_status(\(transaction))", lost: lost)
        case .failure(let reason):
            throw outcomeUnknown(
                "\(what) and asking the server what became of transaction \(transaction) failed (\(reason)); "
                    + "check with SELECT txid_status(\(transaction))", lost: lost)
        }
    }

    private func outcomeUnknown(_ message: String, lost: PostgresError) -> BulkUpdateError {
        var error = BulkUpdateError(table: table, phase: .commit, reason: .commitOutcomeUnknown, message: message)
        error.underlying = lost
        return error
    }

    /// `txid_status(transaction)` read on new connections, retried until it is final or
    /// `limit` passes: `committed`, `aborted`, the last status seen (`in progress`), or why it
    /// could not be read.
    private static func status(
        of transaction: Int64, asking connection: PostgresConnection, within limit: Duration
    ) async -> Result<String, CheckFailure> {
        let deadline = ContinuousClock.now + limit
        var last: Result<String, CheckFailure> = .failure(CheckFailure(description: "no answer"))
        repeat {
            do {
                let checker = try await connection.openAnother()
                let answer = try await transactionStatus(transaction, on: checker)
                await checker.close()
                guard let status = answer else {
                    return .failure(CheckFailure(description: "the server no longer knows the transaction"))
                }
                if status == "committed" || status == "aborted" { return .success(status) }
                last = .success(status)
            } catch let error as PostgresError {
                last = .failure(CheckFailure(description: error.message))
            } catch {
                return .failure(CheckFailure(description: "\(error)"))
            }
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return last }
        } while ContinuousClock.now < deadline
        return last
    }

    /// `txid_status(transaction)`: `committed`, `aborted` or `in progress`; `nil` when the
    /// transaction is too old for the server to remember.
    public static func transactionStatus(
        _ transaction: Int64, on connection: PostgresConnection
    ) async throws
        -> String?
    {
        try await connection.execute("SELECT txid_status($1)", [.int(transaction)]).scalar.stringValue
    }

    struct CheckFailure: Error, CustomStringConvertible {
        var description: String
    }
}
