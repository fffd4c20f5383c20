import Testing

@testable import SluiceCore

/// What reaches a terminal shows, and acts on nothing: control characters but a line feed and a
/// tab, and bidirectional controls, written as their codes; JSON keeps being the same JSON.
@Suite struct TerminalTextTests {
    @Test(arguments: [
        ("plain text, a tab\tand\nlines", "plain text, a tab\tand\nlines"),
        ("a\u{1B}[2Jb", #"a\u{1B}[2Jb"#),
        ("over\rwritten\u{8}", #"over\rwritten\u{8}"#),
        ("bell\u{07} del\u{7F} csi\u{9B}", #"bell\u{7} del\u{7F} csi\u{9B}"#),
        ("left \u{202E}thgir", #"left \u{202E}thgir"#),
        ("caf\u{E9} \u{1F600}", "caf\u{E9} \u{1F600}"),
    ])
    func controlCharactersAreShownAsCodes(text: String, shown: String) {
        #expect(TerminalText.visible(text) == shown)
        #expect(TerminalText.visible(shown) == shown, "made visible once, it stays as it is")
    }

    @Test func jsonStaysTheSameDocument() throws {
        let value = Value.object(["error": .string("esc\u{1B}[2J del\u{7F} csi\u{9B} \u{202E}x\r\n")])
        let shown = TerminalText.visibleJSON(JSON.encodePretty(value))
        #expect(!shown.unicodeScalars.contains { TerminalText.actsOnTerminal($0) }, "\(shown)")
        #expect(try JSON.decode(shown) == value)
    }
}
