import SluicePostgres

extension BulkUpdate {
    /// After COMMIT: `ANALYZE` what the write changed when it wrote more than 50 rows plus
    /// ``analyzeShare`` of the table, autovacuum's own trigger. Until then the planner plans on
    /// the old values: a column that was empty is estimated to hold one non-NULL value, so a
    /// check like `WHERE isrc IS NOT NULL` walks an index and visits the heap row by row instead
    /// of scanning the table. Returns whether it ran. A role that may not analyze the table (it
    /// owns neither the table nor the database) does not try; it waits at most 100 ms for the
    /// table (a running VACUUM holds it); that, or any failure, leaves the statistics to
    /// autovacuum: the apply has committed.
    func refreshStatistics(_ sql: SQL, written: Int, on connection: PostgresConnection) async -> Bool {
        // autovacuum_analyze_threshold's default: fewer rows never make it analyze, whatever the share.
        let threshold = 50
        guard let share = analyzeShare, !dryRun, written > threshold else { return false }
        do {
            let row = try await connection.execute(sql.analyzeCheck).rows.first
            let rows = row?.first?.intValue ?? 0
            guard row?.last?.boolValue == true, Double(written) > Double(threshold) + share * Double(rows) else {
                return false
            }
            _ = try await connection.execute("BEGIN")
            _ = try await connection.execute("SET LOCAL lock_timeout = '100ms'")
            _ = try await connection.execute(sql.analyze)
            _ = try await connection.execute("COMMIT")
            return true
        } catch {
            await connection.rollbackQuietly()
            let busy = (error as? PostgresError)?.sqlState == "55P03"
            connection.logger.log(
                level: busy ? .info : .warning,
                "the table's statistics were not refreshed after the apply; autovacuum will do it",
                metadata: ["db.table": "\(table)", "reason": "\(busy ? "the table is busy (a VACUUM?)" : "\(error)")"])
            return false
        }
    }
}
