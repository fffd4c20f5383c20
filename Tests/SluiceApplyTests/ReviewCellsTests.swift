import SluiceCore
import Testing

@testable import SluiceApply

/// How the review page shows a cell: a change that would not show is made to.
@Suite struct ReviewCellsTests {
    @Test func aCharacterThatShowsAsNothingIsWrittenAsItsCode() {
        var cells = ReviewCells(columnNames: ["title"])
        cells.append(key: "1", column: 0, old: "z", new: "z\u{200B}", change: .update)
        cells.append(key: "2", column: 0, old: "\u{FEFF}abc", new: "tab\there", change: .update)
        cells.append(key: "3", column: 0, old: " edged", new: "", change: .update)
        cells.append(key: "4", column: 0, old: nil, new: "plain", change: .fill)
        #expect(cells.texts(0) == ["1", "title", "z", "\"z\\u{200B}\"", "update"])
        #expect(cells.texts(1) == ["2", "title", "\"\\u{FEFF}abc\"", "tab\there", "update"])
        #expect(cells.texts(2) == ["3", "title", "\" edged\"", "\"\"", "update"])
        #expect(cells.texts(3) == ["4", "title", "", "plain", "fill"])
    }
}
