import SluiceApply
import SluiceCore
import SluicePlan
import Testing

@testable import Sluice

/// The apply stage's view of its input: the key field and each column's `from` field under the
/// table's names, as BulkUpdate finds them.
@Suite struct ApplyInputTests {
    static let row: [Value] = ["00000000-0000-4000-8000-000000000001", "6rqhFgbbKwnb9MLmUQDhG6", 42, "USUM71703861"]
    static let batch = Batch(columns: ["track_id", "spotify_id", "spotify_popularity", "isrc"], rows: [row, row])

    static func settings(_ change: (inout ApplySettings) -> Void = { _ in }) async throws -> ApplySettings {
        var settings = try #require(try await TestPlans.spotify().stage(named: "apply")?.apply)
        change(&settings)
        return settings
    }

    /// Each of apply's names looked up as BulkUpdate does, row by row.
    static func read(_ settings: ApplySettings, _ batch: Batch = batch) async throws -> [[Value]] {
        var iterator = ApplyInput(base: AsyncBatches([batch]), settings: settings, stage: "apply")
            .makeAsyncIterator()
        let out = try #require(try await iterator.next())
        let names = [settings.key] + settings.columns.map(\.column)
        let indices = try names.map { try #require(out.index(of: $0), "\($0) in \(out.columns)") }
        #expect(try await iterator.next() == nil)
        return out.rows.map { row in indices.map { row[$0] } }
    }

    @Test func eachFieldReadOnceIsFoundUnderItsColumnsName() async throws {
        let rows = try await Self.read(try await Self.settings())
        #expect(rows == Array(repeating: [Self.row[0], Self.row[2], Self.row[3]], count: 2))
    }

    @Test func aFieldReadTwiceFillsBothColumns() async throws {
        let settings = try await Self.settings { settings in
            var copy = settings.columns[1]
            copy.column = "isrc_raw"
            settings.columns.append(copy)
        }
        let rows = try await Self.read(settings)
        #expect(rows == Array(repeating: [Self.row[0], Self.row[2], Self.row[3], Self.row[3]], count: 2))
    }

    @Test func aFieldNamedLikeAColumnButNotReadForItIsNotTaken() async throws {
        // The table's isrc comes from isrc_fixed, after an input field named isrc that is not read.
        let settings = try await Self.settings { $0.columns[1].from = "isrc_fixed" }
        let batch = Batch(columns: ["track_id", "isrc", "spotify_popularity", "isrc_fixed"], rows: [Self.row])
        let rows = try await Self.read(settings, batch)
        #expect(rows == [[Self.row[0], Self.row[2], Self.row[3]]])
    }

    @Test func aMissingFieldIsNamed() async throws {
        let settings = try await Self.settings { $0.columns[1].from = "external_isrc" }
        let error = await #expect(throws: StageError.self) { try await Self.read(settings) }
        #expect(
            error?.description.contains("field 'external_isrc' is not in the input") == true,
            "\(String(describing: error))")
    }
}
