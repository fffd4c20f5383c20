import Foundation
import SluiceCore
import Testing

@testable import SluicePlan

/// The transform expression language: paths and indexes, functions, operators and their
/// precedence, null handling, located parse errors, and `description` reading back.
@Suite struct ExpressionLanguageTests {
    /// Numbers kept as their text (past a double's digits) compare by exact value with each
    /// other, and by the nearest double with other numbers; hex is not numeric text.
    @Test func numbersKeptAsTextCompareExactly() {
        func equal(_ a: Value, _ b: Value) -> Bool { Expression.BinaryOperator.equal.apply(a, b) == .bool(true) }
        #expect(equal(.decimal("12345678901234567890"), .decimal("12345678901234567890.0")))
        #expect(!equal(.decimal("12345678901234567890"), .decimal("12345678901234567891")))
        #expect(equal(.decimal("12345678901234567890"), .double(12_345_678_901_234_567_890)))
        #expect(Expression.Function.number(.string("12345678901234567890")) == .decimal("12345678901234567890"))
        #expect(Expression.Function.number(.string("0x1A")) == .null)
        #expect(Expression.BinaryOperator.equal.apply(.decimal("-1e400"), .decimal("-1e400")) == .bool(true))
    }

    /// A number written otherwise than a double's shortest form keeps its spelling and counts
    /// as its value: `number('1.50')` is `1.50` (it gave `1.5`, and a text column lost the
    /// zero), `0.00` is false, `int()` reads `3.00` and `datetime()` seconds as `1.7e9`; a
    /// literal keeps its digits past a double's (`== 12345678901234567890124` was true of
    /// `...123`).
    @Test func numbersKeptAsWrittenCountAsTheirValue() throws {
        #expect(try Self.evaluate("number('1.50')") == "1.50")
        #expect(try Self.evaluate("if(number('0.00'), 'yes', 'no')") == #""no""#)
        #expect(try Self.evaluate("int(number('3.00'))") == "3")
        #expect(try Self.evaluate("datetime(number('1.7e9'))") == #""2023-11-14T22:13:20Z""#)
        #expect(try Self.evaluate("12345678901234567890124 == 12345678901234567890123") == "false")
        #expect(try Self.evaluate("12345678901234567890123") == "12345678901234567890123")
        #expect(try Self.evaluate("1.50 + 1") == "2.5")
    }

    /// A literal past a double's range keeps its digits, as the reference says (check refused
    /// it as an invalid number); arithmetic on it, the nearest double, gives null.
    @Test func aLiteralPastADoublesRangeKeepsItsDigits() throws {
        #expect(try Expression.parse("1e400") == .literal(.decimal("1e400")))
        #expect(try Self.evaluate("-1e400") == "-1e400")
        #expect(try Self.evaluate("1e400 > 1") == "true")
        #expect(try Self.evaluate("1e400 == 1e400") == "true")
        #expect(try Self.evaluate("1e400 + 1") == "null")
        #expect(try Expression.parse("1e400").description == "1e400")
    }

    /// Texts compare code point by code point, as documented: é as one code point is not e
    /// and an accent (which a table holds as other bytes), and orders after it.
    @Test func textsCompareByCodePoints() {
        let (composed, decomposed): (Value, Value) = (.string("\u{e9}"), .string("e\u{301}"))
        #expect(Expression.BinaryOperator.equal.apply(composed, decomposed) == .bool(false))
        #expect(Expression.BinaryOperator.less.apply(decomposed, composed) == .bool(true))
        #expect(Expression.BinaryOperator.equal.apply(composed, .string("\u{e9}")) == .bool(true))
        #expect(Expression.Function.length.apply([decomposed]) == .int(2))
    }

    static let response = #"""
        {"length": 215123, "recordings": [{"id": "r1"}, {"id": "r2"}], "items": [1, 2, 3], "name": "Café",
         "url": "https://open.spotify.com/track/3n3Ppam7vgaVa1iaRUc9Lp?si=1", "tags": "a,b,,c", "n": 7,
         "d": 2.5, "neg": -3, "zero": 0, "empty": "", "released": "2024-03-05T10:00:00Z",
         "obj": {"a": 1, "b": 2}, "odd key": 5, "track-id": "t9", "mixed": ["a", null, 1, true],
         "epoch": 1709632800, "pattern": "b(c)", "bad": "[", "big": 9223372036854775807}
        """#

    /// `expression` evaluated on a row whose `response` column is ``response``, as JSON.
    static func evaluate(_ expression: String) throws -> String {
        let bound = try Expression.parse(expression).bind(to: ["id", "response"])
        return JSON.encode(bound.evaluate([.string("x"), try JSON.decode(response)]))
    }

    @Test(arguments: [
        ("response.recordings[0].id", #""r1""#),
        ("response.recordings[-1].id", #""r2""#),
        ("response.recordings[ 1 ].id", #""r2""#),
        ("response.recordings[2].id", "null"),
        ("response.recordings[-3]", "null"),
        ("response.items.0", "1"),
        ("response.items[1]", "2"),
        ("response['odd key']", "5"),
        (#"response["odd key"]"#, "5"),
        ("response.track-id", #""t9""#),
        ("response.obj[0]", "null"),
        ("response.name[0]", "null"),
        ("response.name.first", "null"),
        ("split(response.tags, ',')[1]", #""b""#),
        ("split(response.tags, ',')[-1]", #""c""#),
        ("(response.recordings)[1].id", #""r2""#),
        ("first(response.recordings).id", #""r1""#),
        // A key or index computed for the row: text is a key, an integer an index.
        ("response.obj[id]", "null"),
        ("response[concat('od', 'd key')]", "5"),
        ("response.obj[lower('B')]", "2"),
        ("response.recordings[response.n - 6].id", #""r2""#),
        ("response.items[length(response.items) - 1]", "3"),
        ("response.items[0 + 1]", "2"),
        ("response.items[1.0]", "null"),
        ("response[response.missing]", "null"),
    ])
    func pathsIndexListsAndObjects(expression: String, expected: String) throws {
        #expect(try Self.evaluate(expression) == expected)
    }

    /// A row field whose name is not a plain name (a CSV header's `Book ID`) is read with
    /// `['Book ID']`, steps after it as anywhere; it prints back the same way.
    @Test func aFieldThatIsNotAPlainNameIsReadInBrackets() throws {
        let columns = ["Book ID", "null", "id"]
        let row: [Value] = [.object(["isbn": "978"]), "n", "i"]
        #expect(try Expression.parse("['Book ID'].isbn").bind(to: columns).evaluate(row) == "978")
        #expect(try Expression.parse(#"[ "Book ID" ]['isbn']"#).bind(to: columns).evaluate(row) == "978")
        #expect(try Expression.parse("['null']").bind(to: columns).evaluate(row) == "n")
        #expect(try Expression.parse("['id']").bind(to: columns).evaluate(row) == "i")
        for text in ["['Book ID'].isbn", "['null']", "id", "concat(['Book ID'], 'x')"] {
            #expect(try Expression.parse(text).description == text)
        }
        #expect(try Expression.parse("['id']").description == "id")
        let error = try #require(throws: Expression.ParseError.self) { try Expression.parse("[0]") }
        #expect(error.message.contains("expected a quoted field name after '['"))
        #expect(error.offset == 1)
    }

    @Test(arguments: [
        ("length(response.name)", "4"),
        ("length(response.recordings)", "2"),
        ("length(response.obj)", "2"),
        ("length(response.missing)", "null"),
        ("length(response.n)", "null"),
        ("first(response.items)", "1"),
        ("first(response.name)", "null"),
        ("first(split(response.empty, ','))", #""""#),
        ("if(length(response.recordings) > 0, response.recordings[0].id, null)", #""r1""#),
        ("if(length(response.missing) > 0, response.missing[0].id, null)", "null"),
        ("if(response.zero, 'yes', 'no')", #""no""#),
        ("if(response.empty, 1, 2)", "2"),
        ("if(response.missing, 1, 2)", "2"),
        ("if(response.items, 1, 2)", "1"),
        ("regex_extract(response.url, 'track/([0-9A-Za-z]{22})')", #""3n3Ppam7vgaVa1iaRUc9Lp""#),
        ("regex_extract(response.name, '[a-z]+')", #""af""#),
        ("regex_extract(response.name, 'x(y)')", "null"),
        ("regex_extract(response.name, 'C(x)?')", "null"),
        ("regex_extract(response.missing, 'a')", "null"),
        ("regex_extract(response.n, '[0-9]')", #""7""#),
        ("regex_extract(response.recordings, 'r')", "null"),
        ("regex_extract('abc', response.pattern)", #""c""#),
        ("regex_extract('abc', response.bad)", "null"),
        ("split(response.tags, ',')", #"["a","b","","c"]"#),
        ("split(response.tags, '')", "null"),
        ("split(response.obj, ',')", "null"),
        ("join(response.mixed, '-')", #""a-1-true""#),
        ("join(split(response.tags, ','), '|')", #""a|b||c""#),
        ("join(response.name, ',')", "null"),
        ("date('2024-03-05T10:00:00Z') == '2024-03-05'", "true"),
        ("date(response.released)", #""2024-03-05""#),
        ("date('2024')", #""2024-01-01""#),
        ("date(2024)", #""2024-01-01""#),
        ("date('2024-03')", #""2024-03-01""#),
        ("date(' 2024-02-29 ')", #""2024-02-29""#),
        ("date('2024-02-30')", "null"),
        ("date('2023-02-29')", "null"),
        ("date('2024-03-05T23:30:00-05:00')", #""2024-03-05""#),
        ("date('2024-3-5')", "null"),
        ("date('nonsense')", "null"),
        ("date(response.missing)", "null"),
        ("date('05/03/2024', 'dd/MM/yyyy')", #""2024-03-05""#),
        ("date('3/5/2024 10:30', 'MM/dd/yyyy HH:mm')", #""2024-03-05""#),
        ("date('20240305', 'yyyyMMdd')", #""2024-03-05""#),
        ("date('2024', 'yyyy')", #""2024-01-01""#),
        ("date('13/13/2024', 'dd/MM/yyyy')", "null"),
        ("date('05/03/2024 junk', 'dd/MM/yyyy')", "null"),
        ("datetime('2024-03-05T23:30:00-05:00')", #""2024-03-06T04:30:00Z""#),
        ("datetime('2024-03-05')", #""2024-03-05T00:00:00Z""#),
        ("datetime('2024-03-05 10:00:00.123+0200')", #""2024-03-05T08:00:00Z""#),
        ("datetime('2024-03-05T10:00Z')", #""2024-03-05T10:00:00Z""#),
        ("datetime('2024-03-05T24:00:00Z')", "null"),
        ("datetime(response.epoch)", #""2024-03-05T10:00:00Z""#),
        ("datetime(0)", #""1970-01-01T00:00:00Z""#),
        ("datetime(-1)", #""1969-12-31T23:59:59Z""#),
        ("datetime(1.9)", #""1970-01-01T00:00:01Z""#),
        ("datetime(253402300800)", "null"),
        ("datetime(1e20)", "null"),
        ("datetime(true)", "null"),
        ("number('42')", "42"),
        ("number(' 4.5 ')", "4.5"),
        ("number('x')", "null"),
        ("number(true)", "null"),
        ("number(response.d)", "2.5"),
        ("double(3)", "3.0"),
        ("double('2.5')", "2.5"),
        ("double(null)", "null"),
        ("int(response.d)", "null"),
        ("int('42')", "42"),
        ("string(response.n)", #""7""#),
        ("round(2.5)", "3"),
        ("round(-2.5)", "-3"),
        ("round(2.346, 2)", "2.35"),
        // Half away from zero as the number is written, as PostgreSQL rounds a numeric (in binary,
        // 1.005 is 1.00499999...).
        ("round(1.005, 2)", "1.01"), ("round(1.015, 2)", "1.02"), ("round(0.285, 2)", "0.29"),
        ("round(1.255, 2)", "1.26"), ("round(2.675, 2)", "2.68"), ("round(-1.005, 2)", "-1.01"),
        ("round(0.125, 2)", "0.13"), ("round(1e-7, 3)", "0.0"), ("round(123456.789e3, -4)", "123460000"),
        ("round(1234, -2)", "1200"),
        ("round(1250, -2)", "1300"),
        ("round(-1250, -2)", "-1300"),
        ("round(1234.5, -1)", "1230"),
        ("round(7)", "7"),
        ("round(7, 2)", "7"),
        ("round('x')", "null"),
        ("round(1, 99)", "null"),
        ("abs(response.neg)", "3"),
        ("abs(-2.5)", "2.5"),
        ("abs(-9223372036854775807 - 1)", "9.223372036854776e+18"),
        ("abs('x')", "null"),
        ("coalesce(response.missing, response.empty, 'z')", #""z""#),
        ("concat(response.name, '-', response.n)", #""Café-7""#),
    ])
    func functions(expression: String, expected: String) throws {
        #expect(try Self.evaluate(expression) == expected)
    }

    @Test(arguments: [
        ("response.length / 1000", "215.123"),
        ("response.length / 1000 > 200", "true"),
        ("7 / 2", "3.5"),
        ("6 / 2", "3"),
        ("-6 / 2", "-3"),
        ("7 % 3", "1"),
        ("-7 % 3", "-1"),
        ("7.5 % 2", "1.5"),
        ("1 / 0", "null"),
        ("1 % 0", "null"),
        ("1.0 / 0", "null"),
        ("1e300 * 1e300", "null"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("10 - 4 - 3", "3"),
        ("10 - (4 - 3)", "9"),
        ("2 * 3 % 4", "2"),
        ("100 / 10 / 5", "2"),
        ("1 + 2.5", "3.5"),
        ("response.n + response.d", "9.5"),
        ("response.big + 1", "9.223372036854776e+18"),
        ("response.n - 1", "6"),
        ("response.n -1", "6"),
        ("response.n*2", "14"),
        ("1 + null", "null"),
        ("response.missing * 2", "null"),
        ("response.name + 1", "null"),
        ("true + 1", "null"),
        ("-response.n", "-7"),
        ("- response.d", "-2.5"),
        ("--response.n", "7"),
        ("-response.name", "null"),
        ("2 * -3", "-6"),
        ("-2 * 3", "-6"),
        ("1 < 2", "true"),
        ("2 <= 2", "true"),
        ("3 > 2.5", "true"),
        ("2 >= 3", "false"),
        ("1 == 1.0", "true"),
        ("'1' == 1", "false"),
        ("'a' < 'b'", "true"),
        ("'B' < 'a'", "true"),
        ("'a' < 1", "null"),
        ("1 < null", "null"),
        ("null == null", "true"),
        ("null != 1", "true"),
        ("response.missing == null", "true"),
        ("response.recordings[0] == response.recordings[0]", "true"),
        ("response.obj != response.recordings", "true"),
        ("true and false", "false"),
        ("1 and 'x'", "true"),
        ("null or 0", "false"),
        ("response.empty or response.items", "true"),
        ("not null", "true"),
        ("not 0", "true"),
        ("not 'a'", "false"),
        ("not 1 == 2", "true"),
        ("true or false and false", "true"),
        ("(true or false) and false", "false"),
        ("not true and false", "false"),
        ("not (true and false)", "true"),
        ("1 < 2 and 2 < 3", "true"),
        ("1 + 1 == 2 and not false", "true"),
        ("length(response.name) * 2 + 1 == 9", "true"),
    ])
    func operatorsFollowPrecedenceAndPropagateNull(expression: String, expected: String) throws {
        #expect(try Self.evaluate(expression) == expected)
    }

    @Test(arguments: [
        "response.external_ids.isrc", "upper(replace(trim(response.external_ids.isrc), '-', ''))",
        "coalesce(response.popularity, 0)", "regex_extract(u, '/t/([^?]+)')", "a.0", "a[0]", "a[-1].b", "a.b-c",
        "response['odd key'].x", "response['it''s']", "'it''s'", #""dq""#, "1e-07", "2.5e+20", "-0.5", "-5",
        "-(5)", "- 5", "-x", "--x", "-(-5)", "-(a + b)", "-(a)[0]", "-'x'", "a - -5", "-5 * x", "a -b", "(a)[0]",
        "(1)[0]", "split(x, ',')[1]", "first(x).y", "(first(x)).y", "(1 + 2) * 3", "1 + 2 * 3", "a - (b - c)",
        "(a - b) - c", "a / b * c", "a / (b * c)", "not not a", "not a == b", "(not a) == b", "a == (not b)",
        "(a < b) == true", "a or b and c", "(a or b) and c", "not a or b", "not (a or b)", "not a and b",
        "if(length(response.recordings) > 0, response.recordings[0].id, null)",
        "regex_extract(url, 'track/([0-9A-Za-z]{22})')", "date(d, 'dd/MM/yyyy')", "round(x, -2)", "null",
        "true", "false", "9223372036854775807", "-9223372036854775808", "99999999999999999999",
    ])
    func descriptionReadsBackAsTheSameExpression(text: String) throws {
        let e = try Expression.parse(text)
        #expect(try Expression.parse(e.description) == e, "\(text) printed as \(e.description)")
        #expect(e.description == (try Expression.parse(e.description)).description)
    }

    @Test(arguments: [
        ("a+b*c", "a + b * c"), ("(a)", "a"), ("((a + b))", "a + b"), ("a - (b + c)", "a - (b + c)"),
        ("(a * b) + c", "a * b + c"), ("not(a)", "not a"), ("- 5", "-(5)"), ("a [ 0 ].b", "a[0].b"),
        ("x['plain']", "x.plain"), ("upper ( x )", "upper(x)"), ("\"it's\"", "'it''s'"),
    ])
    func descriptionUsesOnlyTheParenthesesPrecedenceNeeds(text: String, printed: String) throws {
        #expect(try Expression.parse(text).description == printed)
    }

    @Test func pathsParseIntoKeysAndIndexes() throws {
        #expect(
            try Expression.parse("response.recordings[0].id")
                == .path(field: "response", keys: [.key("recordings"), .index(0), .key("id")]))
        #expect(try Expression.parse("a.0") == .path(field: "a", keys: [.key("0")]))
        #expect(try Expression.parse("a[-1]") == .path(field: "a", keys: [.index(-1)]))
        #expect(
            try Expression.parse("split(x, ',')[1]")
                == .access(.call(.split, [.path(field: "x", keys: []), .literal(.string(","))]), keys: [1]))
        #expect(
            try Expression.parse("a - 1 * 2")
                == .binary(.minus, .path(field: "a", keys: []), .binary(.times, .literal(.int(1)), .literal(.int(2)))))
    }

    @Test func fieldsAreCollectedFromEveryPart() throws {
        let e = try Expression.parse("if(a.x > 0, (b[0]).y, -c) or not split(d, e)[0] == 'z'")
        #expect(e.fields == ["a", "b", "c", "d", "e"])
        // A computed step reads fields too: the plan check looks for them in the input.
        #expect(try Expression.parse("response[replace(trim(isbn), '-', '')].edition").fields == ["response", "isbn"])
        #expect(try Expression.parse("(upper(x))[y]").fields == ["x", "y"])
    }

    /// A computed step parses into the expression it holds and prints back as written.
    @Test func computedStepsParseAndReadBack() throws {
        let e = try Expression.parse("response[replace(trim(isbn), '-', '')].edition")
        #expect(
            e
                == .path(
                    field: "response",
                    keys: [
                        .computed(
                            .call(
                                .replace,
                                [.call(.trim, [.path(field: "isbn", keys: [])]), .literal("-"), .literal("")])),
                        .key("edition"),
                    ]))
        #expect(e.description == "response[replace(trim(isbn), '-', '')].edition")
        for text in ["a[b]", "a[b.c[0]][-1]", "a[n - 1]", "split(x, ',')[n]", "a[1 + 1]"] {
            #expect(try Expression.parse(text).description == text)
        }
        #expect(try Expression.parse("a[ 2 ]") == .path(field: "a", keys: [.index(2)]))
    }

    @Test(arguments: [
        ("regex_extract(url, '[A-Z')", "invalid regular expression '[A-Z': expected ']'", 19),
        ("regex_extract(url,   'a(b')", "invalid regular expression 'a(b': expected ')'", 21),
        ("regex_extract(url, 5)", "regex_extract's pattern must be quoted text", 19),
        ("date(x, 'dd/MM')", "date's format must be quoted text with 'yyyy' in it, e.g. 'dd/MM/yyyy'", 8),
        ("round(x, 1.5)", "round's digits must be a whole number", 9),
        ("count(list, '')", "count's path must be quoted text naming a key, e.g. 'name' or 'labels.0.name'", 12),
        ("sum(list, 1)", "sum's path must be quoted text naming a key, e.g. 'name' or 'labels.0.name'", 10),
        ("max(list, 'a..b')", "max's path 'a..b' has an empty key between two dots: each dot separates two keys", 12),
        ("min(list, '.a')", "min's path '.a' has an empty key before its first dot: each dot separates two keys", 11),
        ("pluck(list)", "pluck takes pluck(list, path), got 1 argument(s)", 0),
        ("count(list, 'a', 'b')", "count takes count(list[, path]), got 3 argument(s)", 0),
        ("count()", "count takes count(list[, path]), got 0 argument(s)", 0),
        ("if(a, b)", "if takes if(condition, then, else), got 2 argument(s)", 0),
        ("x + if(a, b, c, d)", "if takes if(condition, then, else), got 4 argument(s)", 4),
        ("lenght(a)", "unknown function 'lenght'", 0),
        ("a < b < c", "comparisons do not chain; join them with 'and'", 6),
        ("'a' + 1", "'+' works on numbers, not text; use concat(a, b) to join text", 4),
        ("1 * 'a'", "'*' works on numbers, not text", 4),
        ("a[]", "expected an index, a quoted key or an expression after '['", 2),
        ("a[b", "expected ']'", 3),
        ("a[0", "expected ']'", 3),
        ("a[0]. b", "expected a field name after '.'", 5),
        ("(a + b", "expected ')'", 6),
        ("a = b", "unexpected '='", 2),
        ("a && b", "unexpected '&'", 2),
        ("a == not b", "'not' after an operator needs parentheses: '(not …)'", 5),
        ("and b", "expected an expression before 'and'", 0),
        ("a +", "expected an expression", 3),
        ("1e", "invalid number '1e'", 0),
        ("x + 1.2.3", "invalid number '1.2.3'", 4),
        (
            "concat(" + (1...17).map { "a\($0)" }.joined(separator: ", ") + ")",
            "concat takes concat(value, ...), at most 16 arguments, got 17 argument(s)", 0
        ),
        ("upper(a) b", "unexpected 'b'", 9),
    ])
    func malformedExpressionsAreLocated(text: String, message: String, offset: Int) {
        #expect(throws: Expression.ParseError.self) { try Expression.parse(text) }
        do {
            _ = try Expression.parse(text)
        } catch {
            #expect(error.message == message)
            #expect(error.offset == offset)
        }
    }

    /// A plan written for a version that had `spotify_id()` is told what replaced it, not only
    /// that the function is unknown.
    @Test func aRetiredFunctionNamesItsReplacement() {
        do {
            _ = try Expression.parse("spotify_id(spotify_id)")
            Issue.record("parsed")
        } catch {
            #expect(error.message == "unknown function 'spotify_id'")
            #expect(error.notes.first?.contains("plans/spotify-enrichment.yaml") == true, "\(error.notes)")
            #expect(error.notes.first?.contains("regex_extract") == true)
        }
    }

    @Test func otherLanguagesOperatorsGetAHint() {
        do {
            _ = try Expression.parse("a = b")
            Issue.record("parsed")
        } catch {
            #expect(error.notes == ["compare with '=='"])
        }
    }

    @Test(arguments: [
        String(repeating: "(", count: 40) + "a" + String(repeating: ")", count: 40),
        String(repeating: "upper(", count: 40) + "a" + String(repeating: ")", count: 40),
        Array(repeating: "a", count: 70).joined(separator: " + "),
        Array(repeating: "a", count: 70).joined(separator: " and "),
        String(repeating: "not ", count: 40) + "a", String(repeating: "-", count: 40) + "a",
        String(repeating: "(", count: 5000),
    ])
    func deepExpressionsAreRefusedNotOverflowed(text: String) {
        do {
            _ = try Expression.parse(text)
            Issue.record("parsed")
        } catch {
            #expect(error.message == "expression nested too deeply")
        }
    }

    static let list = #"""
        [{"name": "a", "n": 1, "pull_request": {"url": "u"}, "labels": [{"name": "bug"}], "x.y": 5, "x": {"y": 6}},
         {"name": "b", "n": 2.5, "title": "\"pull_request\": spelled", "labels": []},
         {"name": null, "n": "7", "pull_request": null, "open": false},
         null,
         {"n": 12345678901234567890, "labels": [{"name": "ui"}, {"name": "ux"}], "open": true, "zero": 0},
         7, "text"]
        """#

    /// `expression` evaluated on a row whose `list` column is ``list`` (and `one` an object).
    static func evaluateOnList(_ expression: String) throws -> String {
        let bound = try Expression.parse(expression).bind(to: ["list", "one"])
        return JSON.encode(bound.evaluate([try JSON.decode(list), .object(["n": 1])]))
    }

    /// The list functions aggregate a paged answer's items: by truthiness at a key path
    /// (`count`), each item's value (`pluck`), and numbers by the arithmetic's rules; a key path
    /// reads as `items_key` does (a dotted key of its own first) and indexes a list as `a.0`.
    @Test(arguments: [
        ("count(list)", "6"),
        ("count(list, 'pull_request')", "1"),
        ("count(list, 'name')", "2"),
        ("count(list, 'open')", "1"),
        ("count(list, 'zero')", "0"),
        ("count(list, 'labels')", "3"),
        ("count(list, 'labels.0.name')", "2"),
        ("count(list, 'missing')", "0"),
        ("length(list) - count(list, 'pull_request')", "6"),
        ("count(split('', ','))", "1"),
        ("count(one)", "null"),
        ("count(one, 'n')", "null"),
        ("count(list.missing)", "null"),
        ("count(list, one.n)", "null"),
        ("pluck(list, 'name')", #"["a","b",null,null,null,null,null]"#),
        ("pluck(list, 'labels.0.name')", #"["bug",null,null,null,"ui",null,null]"#),
        ("pluck(list, 'labels.-1.name')", "[null,null,null,null,null,null,null]"),
        ("pluck(list, 'x.y')", "[5,null,null,null,null,null,null]"),
        ("pluck(list, 'x')[0].y", "6"),
        ("join(pluck(list, 'name'), ';')", #""a;b""#),
        ("join(pluck(list, 'labels.1.name'), ';')", #""ux""#),
        ("pluck(one, 'n')", "null"),
        ("pluck(split('', ','), 'n')", "[null]"),
        ("sum(list, 'n')", "1.2345678901234567e+19"),
        ("sum(pluck(list, 'n')) == sum(list, 'n')", "true"),
        ("sum(list)", "7"),
        ("sum(split('1,2', ','))", "null"),
        ("sum(list, 'zero')", "0"),
        ("sum(list, 'labels')", "null"),
        ("sum(list, 'missing')", "null"),
        ("sum(one)", "null"),
        ("min(list, 'n')", "1"),
        ("max(list, 'n')", "12345678901234567890"),
        ("min(list)", "7"),
        ("max(pluck(list, 'zero'))", "0"),
        ("min(list, 'name')", "null"),
        ("max(one)", "null"),
        ("sum(first(list).labels)", "null"),
    ])
    func listFunctionsAggregateItems(expression: String, expected: String) throws {
        #expect(try Self.evaluateOnList(expression) == expected)
    }

    /// `sum` adds as `+` does: ints stay an int, a double makes a double, an int sum past 64
    /// bits becomes a double, and `min`/`max` give the number as it was (int, double or kept
    /// digits).
    @Test func listNumbersFollowTheArithmetic() {
        func apply(_ f: SluicePlan.Expression.Function, _ items: [Value]) -> Value { f.apply([Value.array(items)]) }
        let sums: [Value] = [
            apply(.sum, [1, 2, 3]), apply(.sum, [1, .double(0.5), .null, "4"]), apply(.sum, [.int(.max), 1]),
            apply(.sum, []), apply(.sum, [.decimal("1.50")]), apply(.sum, [.decimal("1.50"), 1]),
        ]
        let others: [Value] = [
            apply(.min, [3, .double(2.5), .decimal("1.50"), true]), apply(.max, [3, .double(2.5), 3]),
            apply(.min, []), apply(.max, [.null, "9"]), apply(.count, []), apply(.count, [.null, false, 0]),
        ]
        let results = sums + others
        let expected: [Value] = [
            6, .double(1.5), .double(9_223_372_036_854_775_808), .null, .decimal("1.50"), .double(2.5),
            .decimal("1.50"), 3, .null, .null, 0, 2,
        ]
        #expect(results == expected)
    }

    @Test func literalPatternsAreCompiledOnceAtBind() throws {
        let bound = try Expression.parse(
            "concat(regex_extract(a, 'x(y)'), regex_extract(a, 'x(y)'), regex_extract(a, b))"
        )
        .bind(to: ["a", "b"])
        #expect(Array(bound.patterns.keys) == ["x(y)"])
        #expect(bound.evaluate([.string("xy"), .string("(x)")]) == .string("yyx"))
    }

    /// Random token soup: parsing never traps; whatever parses evaluates without trapping on
    /// rows of every shape and prints back to an equal expression.
    @Test func randomExpressionsParseEvaluateAndReadBack() throws {
        let tokens = [
            "a", "b.c", "c", "[0]", "[-1]", "['k']", ".x", "(", ")", ",", " + ", " - ", "-", " * ", " / ", " % ",
            " == ", " != ", " < ", " >= ", " and ", " or ", "not ", "if(", "length(", "first(", "split(", "join(",
            "regex_extract(", "date(", "datetime(", "round(", "abs(", "number(", "concat(", "'x'", "'2024-03'",
            "'(a'", "'a(.)'", "','", "1", "2.5", "-3", "0", "null", "true", " ",
        ]
        let rows: [[Value]] = [
            [.null, .null, .null],
            [.int(2), .object(["c": .array([.int(1), .string("a,b")])]), .string("2024-03-05")],
            [.array([.double(0.5), .null]), .string("x"), .object(["x": .int(.min)])],
            [.int(.max), .double(-0.0), .bool(true)],
        ]
        var random = SplitMix64(seed: 0xE4B2)
        var parsed = 0
        for _ in 0..<20_000 {
            let count = 1 + Int(random.next() % 12)
            let text = (0..<count).map { _ in tokens[Int(random.next() % UInt64(tokens.count))] }.joined()
            guard let e = try? Expression.parse(text) else { continue }
            parsed += 1
            #expect(try Expression.parse(e.description) == e, "\(text) printed as \(e.description)")
            guard let bound = try? e.bind(to: ["a", "b", "c"]) else { continue }
            for row in rows { _ = bound.evaluate(row) }
        }
        #expect(parsed > 500)
    }

    /// Random trees, including shapes the parser never builds (an index into a parenthesized
    /// field, a negated number literal), print as text that parses back to the same tree.
    @Test func randomTreesReadBackFromTheirDescription() throws {
        var random = SplitMix64(seed: 0x7EE5)
        for _ in 0..<5000 {
            let e = Self.randomTree(&random, depth: 5)
            #expect(try Expression.parse(e.description) == e, "\(e.description)")
        }
    }

    static func randomTree(_ r: inout SplitMix64, depth: Int) -> SluicePlan.Expression {
        func pick<T>(_ options: [T]) -> T { options[Int(r.next() % UInt64(options.count))] }
        let fields = ["a", "b_c", "track-id"]
        let components: [SluicePlan.Expression.PathComponent] = [
            .key("x"), .key("0"), .key("odd key"), .key("it's"), .key("a-b"), .key(""), .key("9z"), .index(-1),
            .index(0), .index(3),
        ]
        let literals: [Value] = [
            .null, .bool(true), .bool(false), .int(0), .int(-5), .int(.min), .int(.max), .double(0.5), .double(-2.5),
            .double(1e-7), .double(2.5e20), .double(3), .string(""), .string("it's"), .string("a\"b"),
        ]
        let path = { (r: inout SplitMix64) -> SluicePlan.Expression in
            .path(
                field: fields[Int(r.next() % 3)],
                keys: (0..<Int(r.next() % 3)).map { _ in components[Int(r.next() % 10)] })
        }
        switch depth == 0 ? r.next() % 2 : r.next() % 7 {
        case 0: return path(&r)
        case 1: return .literal(pick(literals))
        case 2:
            // Functions whose literal arguments are checked at parse time get fields instead.
            let f = pick(SluicePlan.Expression.Function.allCases)
            let count = f.arity.lowerBound + Int(r.next() % UInt64(min(3, f.arity.count)))
            let checked: Set<SluicePlan.Expression.Function> = [
                .regex_extract, .date, .round, .count, .pluck, .sum, .min, .max,
            ]
            return .call(f, (0..<count).map { _ in checked.contains(f) ? path(&r) : randomTree(&r, depth: depth - 1) })
        case 3:
            let keys = (0..<(1 + Int(r.next() % 2))).map { _ in pick(components) }
            return .access(randomTree(&r, depth: depth - 1), keys: keys)
        case 4: return .unary(pick(SluicePlan.Expression.UnaryOperator.allCases), randomTree(&r, depth: depth - 1))
        default:
            let op = pick(SluicePlan.Expression.BinaryOperator.allCases)
            // Arithmetic refuses text literals when parsing, so none are generated there.
            func operand(_ r: inout SplitMix64) -> SluicePlan.Expression {
                let e = randomTree(&r, depth: depth - 1)
                if op.isArithmetic, case .literal(.string) = e { return path(&r) }
                return e
            }
            return .binary(op, operand(&r), operand(&r))
        }
    }
}
