import SluiceCore
import Testing

@testable import SluicePlan

/// A per-item POST body filled from a row: which braces are placeholders, how a value keeps
/// its type, and when a row has no request.
@Suite struct ItemBodyTemplateTests {
    static let row: [String: Value] = [
        "isbn": "0451526538", "year": .int(1876), "price": .double(9.5), "tags": .array(["a", "b"]),
        "empty": "", "none": .null,
    ]

    static func render(_ body: Value) -> Value? {
        try? ItemBodyTemplate(body).render { Self.row[$0] }
    }

    @Test func aPlaceholderAloneKeepsTheValuesType() {
        #expect(
            Self.render(.object(["y": "{year}", "p": "{price}", "t": "{tags}", "i": "{isbn}"]))
                == .object(["y": .int(1876), "p": .double(9.5), "t": .array(["a", "b"]), "i": "0451526538"]))
    }

    @Test func aPlaceholderInTextIsFilledWithTheValuesText() {
        #expect(Self.render(.array(["{isbn}/{year}", "p={price}"])) == .array(["0451526538/1876", "p=9.5"]))
    }

    /// Only a field name between braces is a placeholder; doubled braces are one brace.
    @Test(arguments: [
        ("{{isbn}}", "{isbn}"), ("{\"genre\": 1}", "{\"genre\": 1}"), ("{1x}", "{1x}"), ("{ isbn }", "0451526538"),
        ("{}", "{}"), ("a } b {", "a } b {"), ("{{{isbn}}}", "{0451526538}"), ("{a: 1, b: [2]}", "{a: 1, b: [2]}"),
    ])
    func otherBracesAreSentAsWritten(template: String, sent: String) {
        #expect(Self.render(.string(template)) == .string(sent))
    }

    /// Columns named as CSV headers and SQL aliases name them: `track-id`, `isbn.13`, `Book ID`.
    @Test func fieldNamesMayHoldDashesDotsAndSpaces() {
        let template = ItemBodyTemplate(.object(["a": "{track-id}", "b": "{isbn.13}", "c": "{ Book ID }"]))
        #expect(template.fields == ["track-id", "isbn.13", "Book ID"])
    }

    @Test func fieldsAreListedOnceInOrder() {
        let template = ItemBodyTemplate(.object(["a": "{isbn}", "b": .array(["{year} {isbn}", 3, .null])]))
        #expect(template.fields == ["isbn", "year"])
        #expect(ItemBodyTemplate(.object(["fixed": .array([1, "x"])])).fields.isEmpty)
    }

    /// An empty or null field leaves the row without a request, alone or in text, and says
    /// which field it was.
    @Test(arguments: ["{empty}", "{none}", "{missing}", "x {none}", "x {empty}"])
    func anEmptyFieldHasNoBody(template: String) {
        let body = ItemBodyTemplate(.object(["a": .string(template), "b": "{isbn}"]))
        #expect(throws: ItemBodyTemplate.Missing.self) { try body.render { Self.row[$0] } }
        let name = template.split(separator: "{").last?.dropLast()
        do {
            _ = try body.render { Self.row[$0] }
        } catch {
            #expect(error.field == name.map(String.init))
        }
    }

    /// `{field?}` may be empty: alone it sends null, inside text nothing.
    @Test func anOptionalFieldMayBeEmpty() {
        #expect(
            Self.render(.object(["a": "{none?}", "b": "x{empty ?}y", "c": "{year?}", "d": "{missing?}"]))
                == .object(["a": .null, "b": "xy", "c": .int(1876), "d": .null]))
        #expect(ItemBodyTemplate(.object(["a": "{zip?}"])).fields == ["zip"])
    }
}
