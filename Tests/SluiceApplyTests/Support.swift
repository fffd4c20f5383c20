import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport

extension BulkUpdateStats {
    /// These figures with how the rows got written taken from `other` (the write statements,
    /// where the prior values were read): what two ways of writing the same input agree on.
    func written(like other: BulkUpdateStats) -> BulkUpdateStats {
        var stats = self
        stats.writeStatements = other.writeStatements
        stats.priorReadConcurrently = other.priorReadConcurrently
        return stats
    }
}

/// The tracks fixture: five rows with known ids and values.
enum Tracks {
    static func id(_ n: Int) -> String { "00000000-0000-4000-8000-00000000000\(n)" }

    /// popularity 10, 20, NULL, 40, 50; isrc A, B, NULL, D, E.
    static let insert = """
        INSERT INTO tracks (id, title, artist, spotify_id, spotify_popularity, isrc, updated_at) VALUES
        ('\(id(1))', 'One', 'A1', 'sp1', 10, 'ISRC-A', '2024-01-01T00:00:00Z'),
        ('\(id(2))', 'Two', 'A2', 'sp2', 20, 'ISRC-B', '2024-01-01T00:00:00Z'),
        ('\(id(3))', 'Three', 'A3', 'sp3', NULL, NULL, '2024-01-01T00:00:00Z'),
        ('\(id(4))', 'Four', NULL, 'sp4', 40, 'ISRC-D', '2024-01-01T00:00:00Z'),
        ('\(id(5))', 'Five', 'A5', NULL, 50, 'ISRC-E', '2024-01-01T00:00:00Z')
        """

    static func scratch() async throws -> Scratch {
        try await Scratch.make(schema: TestPostgres.tracksSchema + ";\n" + insert)
    }

    /// Every column of every row, in id order: what "the table is unchanged" compares.
    static func snapshot(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT * FROM tracks ORDER BY id").rows
    }

    static let update = BulkUpdate(
        table: "tracks", key: "id",
        columns: [.init("spotify_popularity", onEmpty: .keep), .init("isrc", onEmpty: .clear)])

    /// ``update`` reading the prior values on a second connection while the UPDATE runs (from
    /// the first row on), or always on the same connection before it.
    static func update(concurrent: Bool) -> BulkUpdate {
        var update = update
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        return update
    }

    static func batch(_ rows: [(Int, Value, Value)]) -> Batch {
        Batch(columns: ["id", "spotify_popularity", "isrc"], rows: rows.map { [.string(id($0.0)), $0.1, $0.2] })
    }

    static func row(_ connection: PostgresConnection, _ n: Int) async throws -> [Value] {
        try await connection.execute(
            "SELECT spotify_popularity, isrc FROM tracks WHERE id = $1", [.string(id(n))]
        ).rows[0]
    }
}

/// A side table for upserts and inserts: what a MusicBrainz lookup would fill in beside tracks.
enum SideTable {
    static func id(_ n: Int) -> String { Tracks.id(n) }
    static func mbid(_ n: Int) -> Value { .string("10000000-0000-4000-8000-00000000000\(n)") }

    /// Rows 1, 2 and 3: mbid 1, 2 and NULL; length 1000, 2000, 3000.
    static let schema = """
        CREATE TABLE track_musicbrainz (
            track_id uuid PRIMARY KEY, mbid uuid, length_ms int CHECK (length_ms > 0)
        );
        INSERT INTO track_musicbrainz VALUES
        ('\(id(1))', '\(mbid(1).text!)', 1000),
        ('\(id(2))', '\(mbid(2).text!)', 2000),
        ('\(id(3))', NULL, 3000)
        """

    static func scratch() async throws -> Scratch {
        try await Scratch.make(schema: schema)
    }

    /// Every row, in key order.
    static func snapshot(_ connection: PostgresConnection) async throws -> [[Value]] {
        try await connection.execute("SELECT track_id::text, mbid::text, length_ms FROM track_musicbrainz ORDER BY 1")
            .rows
    }

    /// An empty mbid clears it; an empty length keeps the table's.
    static func write(_ mode: BulkUpdate.Mode, concurrent: Bool = false) -> BulkUpdate {
        var update = BulkUpdate(
            table: "track_musicbrainz", key: "track_id",
            columns: [.init("mbid", onEmpty: .clear), .init("length_ms", onEmpty: .keep)])
        update.mode = mode
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        return update
    }

    static func batch(_ rows: [(Int, Value, Value)]) -> Batch {
        Batch(columns: ["track_id", "mbid", "length_ms"], rows: rows.map { [.string(id($0.0)), $0.1, $0.2] })
    }

    static func row(_ n: Int, _ mbid: Value, _ length: Value) -> [Value] { [.string(id(n)), mbid, length] }
}

/// How many other sessions are connected to `connection`'s database, asked until there are none
/// for up to 20 s: a server process leaves `pg_stat_activity` a moment after its client hangs up.
func otherSessions(_ connection: PostgresConnection) async throws -> Int64? {
    var others: Int64?
    for _ in 0..<200 {
        others = try await connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar.intValue
        if others == 0 { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    return others
}
