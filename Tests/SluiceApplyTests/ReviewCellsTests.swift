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
        #expect(cells.texts(1) == ["2", "title", "\"\\u{FEFF}abc\"", "\"tab\\there\"", "update"])
        #expect(cells.texts(2) == ["3", "title", "\" edged\"", "\"\"", "update"])
        #expect(cells.texts(3) == ["4", "title", "", "plain", "fill"])
    }

    /// A tab, a line end and a carriage return render as a space inside an HTML cell, and a
    /// no-break space, the other spaces and the zero-width characters as a space or nothing: each
    /// is written as its code, in quotes, so `a b` → `a<TAB>b` shows as a change.
    @Test(arguments: [
        ("a\tb", "\"a\\tb\""), ("a\nb", "\"a\\nb\""), ("a\r\nb", "\"a\\r\\nb\""),
        ("x\u{A0}y", "\"x\\u{A0}y\""), ("x\u{2009}y", "\"x\\u{2009}y\""), ("x\u{3000}y", "\"x\\u{3000}y\""),
        ("x\u{2028}y", "\"x\\u{2028}y\""), ("x\u{200D}y", "\"x\\u{200D}y\""), ("x\u{FE0F}", "\"x\\u{FE0F}\""),
        ("x\u{3164}", "\"x\\u{3164}\""), ("x\u{E000}", "\"x\\u{E000}\""),
    ])
    func aCharacterThatRendersAsAnotherIsWrittenAsItsCode(value: String, shown: String) {
        #expect(ReviewCells.shown(value) == shown)
        #expect(ReviewCells.shown("a b", value).new == shown)
    }

    /// Quoted, a value's own backslashes and quotes are escaped, and one edged with a quote is
    /// quoted: the text `\u{A0}`, or `""`, never reads as the space, or as an empty text.
    @Test func aValueThatLooksEscapedOrQuotedIsToldFromOne() {
        #expect(ReviewCells.shown("x\\u{A0}y") == "x\\u{A0}y")
        #expect(ReviewCells.shown(" x\\u{A0}y") == "\" x\\\\u{A0}y\"")
        #expect(ReviewCells.shown("\"\"") == "\"\\\"\\\"\"")
        #expect(ReviewCells.shown("") == "\"\"")
        #expect(ReviewCells.shown("Beyoncé 東京") == "Beyoncé 東京")
    }

    /// Two values that differ yet render alike have the non-ASCII characters of the stretch
    /// where they differ written as codes; values that read differently are left readable.
    @Test(arguments: [
        ("caf\u{E9}", "cafe\u{301}", "\"caf\\u{E9}\"", "\"cafe\\u{301}\""),
        ("Caf\u{E9} Noir", "Cafe\u{301} Noir", "\"Caf\\u{E9} Noir\"", "\"Cafe\\u{301} Noir\""),
        ("\u{212A}elvin", "Kelvin", "\"\\u{212A}elvin\"", "Kelvin"),
        ("apple", "\u{430}pple", "apple", "\"\\u{430}pple\""),
        ("ABC", "\u{FF21}BC", "ABC", "\"\\u{FF21}BC\""),
        ("Beyonc\u{E9}", "Beyonce", "Beyonc\u{E9}", "Beyonce"),
        ("東京", "大阪", "東京", "大阪"),
        ("caf\u{E9}", "caf\u{E9}", "caf\u{E9}", "caf\u{E9}"),
    ])
    func valuesThatDifferButRenderAlikeShowHow(old: String, new: String, shownOld: String, shownNew: String) {
        let shown = ReviewCells.shown(old, new)
        #expect(shown.old.unicodeScalars.elementsEqual(shownOld.unicodeScalars), "\(shown.old)")
        #expect(shown.new.unicodeScalars.elementsEqual(shownNew.unicodeScalars), "\(shown.new)")
        if !old.unicodeScalars.elementsEqual(new.unicodeScalars) {
            #expect(!shown.old.unicodeScalars.elementsEqual(shown.new.unicodeScalars))
            #expect(shown.old != shown.new, "canonically equivalent, so rendered alike")
        }
    }

    /// The terminal's summary names an unknown key as the page shows a value: a no-break space
    /// in it written as its code.
    @Test func theSummaryShowsAnUnknownKeysHiddenCharacters() {
        var summary = ReviewSummary(table: "t", key: "id", mode: "update")
        summary.unknownKeys = 1
        summary.unknownKeySamples = ["k\u{A0}1"]
        #expect(summary.text.contains("unknown id (not in t): \"k\\u{A0}1\""), "\(summary.text)")
    }
}
