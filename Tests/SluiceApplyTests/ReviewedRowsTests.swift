import SluiceCore
import Testing

@testable import SluiceApply

@Suite struct ReviewedRowsTests {
    /// The review's cells become one row per key, in the order they were written.
    @Test func reviewedCellsBecomeOneRowPerKey() {
        var rows = ReviewedRows(columns: ["spotify_popularity", "isrc"])
        let cells: [[Value]] = [
            ["k1", "isrc", "ISRC-A", "ISRC-A2"], ["k2", "spotify_popularity", "", "33"], ["k2", "isrc", "", "C"],
            ["k2", "isrc", "C", "D"],
        ]
        var out: [[Value]] = []
        for cell in cells {
            let column = rows.column(of: cell)
            #expect(column != nil)
            if let column, let row = rows.add(cell, column: column) { out.append(row) }
        }
        if let row = rows.finish() { out.append(row) }
        #expect(
            out == [
                ["k1", false, .null, .null, true, "ISRC-A", "ISRC-A2"],
                ["k2", true, .null, "33", true, .null, "C"],
                // The same cell twice: a row of its own, so the key reads as drifted, never applied.
                ["k2", false, .null, .null, true, "C", "D"],
            ])
        #expect(rows.column(of: ["k3", "title", "", "x"]) == nil)
        #expect(rows.finish() == nil)
    }
}
