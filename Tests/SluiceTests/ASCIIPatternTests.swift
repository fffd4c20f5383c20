import Foundation
import Testing

@testable import Sluice

/// The byte matcher that stands in for `Regex` on simple patterns must give `Regex`'s answer.
@Suite struct ASCIIPatternTests {
    static let patterns = [
        "[0-9A-Za-z]{22}", "[A-Z]{2}[A-Z0-9]{3}[0-9]{7}", "\\d+", "a?b*c+", "[a-c]{2,3}[c-e]{1,}", "x{0,2}x",
        "[abc]", "AB[0-9]?", "[A-Z]{2,}Z",
    ]
    static let texts = [
        "", "a", "abc", "ab", "c", "cc", "ccc", "x", "xx", "xxx", "xxxx", "0123456789", "4uLOMNO5Y8Ffdxwg1IWzhA",
        "4uLOMNO5Y8Ffdxwg1IWzh", "4uLOMNO5Y8Ffdxwg1IWzhA!", "USRC17607839", "usrc17607839", "US-RC1-76-07839",
        "USRC1760783", "AB", "AB7", "AB77", "ABZ", "ABCZ", "ZZ", "bbcc", "abccde", "é", "ab\u{301}c", "AB\r\n",
        "ÀBC1234567890", "a\nb",
    ]

    @Test(arguments: patterns) func agreesWithRegexOnEveryText(pattern: String) throws {
        let fast = try #require(ASCIIPattern(pattern))
        let regex = try Regex(pattern)
        for text in Self.texts {
            let expected = (try regex.wholeMatch(in: text)) != nil
            guard let answer = fast.matches(text) else {
                // Texts it does not judge: non-ASCII or a carriage return.
                #expect(text.utf8.contains { $0 >= 0x80 || $0 == 13 }, "\(pattern) on \(text)")
                continue
            }
            #expect(answer == expected, "\(pattern) on \(text.debugDescription)")
        }
        let long = String(repeating: "a", count: 70)
        #expect(fast.matches(long) == ((try regex.wholeMatch(in: long)) != nil))
    }

    @Test(arguments: ["a|b", "(ab)+", "[^a]", ".", "a+?", "\\w", "[a-]", "(?i)abc", "^a$", "[]", "a{2", "[a"])
    func leavesEverythingElseToRegex(pattern: String) {
        #expect(ASCIIPattern(pattern) == nil)
    }

    @Test func uuidCheckAgreesWithFoundation() {
        for text in [
            "00000000-0000-4000-8000-000000000001", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d_6bb9bd380a11", "",
        ] {
            #expect(RowValidator.isUUID(text) == (UUID(uuidString: text) != nil), "\(text)")
        }
    }
}
