import SluiceCore
import SluicePostgres
import SluiceTestSupport

/// A fresh database on the shared test server holding the tracks table with `count` rows:
/// ids `track(1)...track(count)`, popularity `n` for odd n and NULL for even, ISRC set for
/// rows divisible by 3.
struct TestDatabase {
    let conninfo: String
    let connection: PostgresConnection

    static func track(_ n: Int) -> String { String(format: "00000000-0000-4000-8000-%012d", n) }

    static func make(tracks count: Int = 5) async throws -> TestDatabase {
        let server = try await TestPostgres.shared()
        let conninfo = try await server.makeDatabase(prefix: "sluice_stage")
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute(TestPostgres.tracksSchema)
        if count > 0 {
            _ = try await connection.execute(
                """
                INSERT INTO tracks (id, title, spotify_id, spotify_popularity, isrc)
                SELECT format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'Track ' || n, 'sp' || n,
                       CASE WHEN n % 2 = 1 THEN n END, CASE WHEN n % 3 = 0 THEN 'ISRC' || n END
                FROM generate_series(1, \(count)) AS n
                """)
        }
        return TestDatabase(conninfo: conninfo, connection: connection)
    }

    /// `id, spotify_popularity, isrc` of every row, in id order.
    func snapshot() async throws -> [[Value]] {
        try await connection.execute("SELECT id::text, spotify_popularity, isrc FROM tracks ORDER BY id").rows
    }

    func close() async { await connection.close() }
}
