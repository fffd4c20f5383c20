import SluiceCore
import Testing

@testable import SluicePostgres

/// The lines of a text-format `COPY ... TO STDOUT` as ``PostgresConnection/streamText`` reads
/// them (the round trip through a real server is in `StreamAndCopyTests`).
@Suite struct CopyTextTests {
    static func row(_ line: String, width: Int = 0) -> [Value] {
        var line = line
        return line.withUTF8 { CopyText.row($0, width: width) }
    }

    @Test func fieldsSplitAtTabsAndUnescape() {
        #expect(Self.row("a\tb\n") == ["a", "b"])
        #expect(Self.row("\\N\t\n") == [.null, ""])
        #expect(Self.row("x\\\\\ty") == ["x\\", "y"])
        #expect(Self.row("a\\tb\\nc\\rd\\\\N") == ["a\tb\nc\rd\\N"])
        #expect(Self.row("\\b\\f\\v") == ["\u{08}\u{0C}\u{0B}"])
        #expect(Self.row("\n") == [""])
    }

    /// What the server never sends still reads as something, never as fewer fields.
    @Test func aLoneTrailingBackslashIsKeptAndShortRowsArePadded() {
        #expect(Self.row("ab\\") == ["ab\\"])
        #expect(Self.row("a\tb\\") == ["a", "b\\"])
        #expect(Self.row("a", width: 3) == ["a", .null, .null])
    }
}
