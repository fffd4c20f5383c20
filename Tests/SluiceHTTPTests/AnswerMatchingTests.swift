import SluiceCore
import Testing

@testable import SluiceHTTP

/// Matching answer items to the ids asked for, and building requests, for each shape.
@Suite struct AnswerMatchingTests {
    @Test func positionNeedsOneEntryPerIDAndNullIsNotFound() throws {
        let matching = AnswerMatching(rule: .position, itemsKey: "tracks", idPrefix: "")
        let body: Value = .object(["tracks": .array([.object(["id": "x"]), .null])])
        #expect(
            try matching.results(for: ["a", "b"], in: body).get() == [
                .found(.object(["id": "x"])), .notFound(because: nil),
            ])
        guard case .failure(let mismatch) = matching.results(for: ["a", "b", "c"], in: body) else {
            Issue.record("a short answer is a transient failure")
            return
        }
        #expect(
            mismatch.description
                == "the body's \"tracks\" has 2 items for 3 ids (matched by position; if the API leaves out ids it "
                + "does not know, match its items by the id they carry: match: {item_field: FIELD})")
    }

    /// An object where the plan expects the items: the plan's mistake, not a flaky answer, so
    /// not retried, and the message names where its arrays are, or else its keys.
    @Test func aBodyOfAnotherShapeIsThePlansMistakeAndNamesItsKeys() {
        let matching = AnswerMatching(rule: .position, itemsKey: nil, idPrefix: "")
        guard case .failure(let mismatch) = matching.results(for: ["a"], in: .object(["tracks": .array([.null])]))
        else {
            Issue.record("an object is not an array")
            return
        }
        #expect(mismatch.isShape)
        #expect(
            mismatch.description
                == "the body is a JSON object, not an array; set items_key to where the items are: tracks")
        // Without an array in it, its keys.
        guard case .failure(let keys) = matching.results(for: ["a"], in: .object(["tracks": .null, "next": 1])) else {
            Issue.record("an object is not an array")
            return
        }
        #expect(keys.description.hasSuffix("set items_key to where the items are (its keys: next, tracks)"))
    }

    /// `items_key` may be a key path into the answer; a key that holds a dot is still a key. An
    /// answer whose items are elsewhere says where its arrays are.
    @Test func itemsKeyMayBeAKeyPath() throws {
        let body: Value = .object(["data": .object(["results": .array([.object(["id": "x"])]), "count": 1])])
        let nested = AnswerMatching(rule: .position, itemsKey: "data.results", idPrefix: "")
        #expect(try nested.results(for: ["a"], in: body).get() == [.found(.object(["id": "x"]))])
        #expect(nested.item(in: body).result == .found(.array([.object(["id": "x"])])))
        // Per item, an answer without the key says what it has; a `null` answer is just "not found".
        #expect(
            nested.item(in: .object(["error": "gone", "code": 7])).result
                == .notFound(because: "its answer has no 'data.results'; it has: code, error"))
        #expect(nested.item(in: .object(["error": "gone"])).hasItemsKey == false)
        #expect(nested.item(in: .null).hasItemsKey && nested.item(in: .null).result == .notFound(because: nil))
        let dotted = AnswerMatching(rule: .position, itemsKey: "data.results", idPrefix: "")
        #expect(
            try dotted.results(for: ["a"], in: .object(["data.results": .array([.null])])).get() == [
                .notFound(because: nil)
            ])
        let wrong = AnswerMatching(rule: .position, itemsKey: "results", idPrefix: "")
        guard case .failure(let mismatch) = wrong.results(for: ["a"], in: body) else {
            Issue.record("the items are not at 'results'")
            return
        }
        #expect(
            mismatch.description
                == "the body's \"results\" is missing, not an array; set items_key to where the items are: data.results"
        )
    }

    @Test func itemFieldMatchesAnyOrderAndNestedKeys() throws {
        let matching = AnswerMatching(rule: .itemField(["meta", "id"]), itemsKey: nil, idPrefix: "")
        let c: Value = .object(["meta": .object(["id": "c"])])
        let a: Value = .object(["meta": .object(["id": "a"])])
        let seven: Value = .object(["meta": .object(["id": 7])])
        let body: Value = .array([c, .object(["meta": .null]), a, seven])
        #expect(
            try matching.results(for: ["a", "b", "c", "7"], in: body).get() == [
                .found(a), .notFound(because: nil), .found(c), .found(seven),
            ])
        #expect((try? matching.results(for: ["a"], in: .object([:])).get()) == nil)
    }

    /// An integer id beyond 64 bits is parsed as a decimal keeping its literal: it still names the
    /// id asked as that text, alone or beside small ones; a fractional number is no id, and the
    /// message shows it.
    @Test func idsBeyond64BitsMatchAsTheirLiteral() throws {
        let matching = AnswerMatching(rule: .itemField(["id"]), itemsKey: "results", idPrefix: "")
        let body = try JSON.decode(
            Array(
                #"{"results":[{"id":18446744073709551616,"n":1},{"id":-9223372036854775809,"n":2},{"id":7,"n":3}]}"#
                    .utf8))
        guard case .array(let items) = body["results"] else {
            Issue.record("the results are an array")
            return
        }
        #expect(items[0]["id"] == .decimal("18446744073709551616"))
        #expect(
            try matching.results(
                for: ["18446744073709551616", "-9223372036854775809", "7", "18446744073709551617"], in: body
            )
            .get() == [.found(items[0]), .found(items[1]), .found(items[2]), .notFound(because: nil)])
        // Big ids alone: not taken for a field that names no id.
        let big = try JSON.decode(Array(#"{"results":[{"id":98765432109876543210987}]}"#.utf8))
        #expect(
            try matching.results(for: ["98765432109876543210987"], in: big).get() == [
                .found(.object(["id": .decimal("98765432109876543210987")]))
            ])
        for (literal, shown) in [
            ("1.5", "1.5"), ("18446744073709551616.5", "18446744073709551616.5"), ("1e3", "1e3"),
        ] {
            let fractional = try JSON.decode(Array(#"{"results":[{"id":\#(literal)}]}"#.utf8))
            guard case .failure(let mismatch) = matching.results(for: ["1"], in: fractional) else {
                Issue.record("\(literal) is not an id")
                continue
            }
            #expect(
                mismatch.description
                    == "the items' \"id\" (match.item_field) is a JSON double (\(shown)), not an id (a string or an "
                    + "integer)")
        }
    }

    /// Two different items naming one id: neither is taken for it; the same item twice is one.
    @Test func anIDTwoDifferentItemsNameIsAmbiguous() throws {
        let matching = AnswerMatching(rule: .itemField(["id"]), itemsKey: nil, idPrefix: "")
        let a: Value = .object(["id": "a", "n": 1])
        let b: Value = .object(["id": "b", "n": 2])
        let body: Value = .array([a, b, .object(["id": "a", "n": 3]), b, .object(["id": "a", "n": 4])])
        #expect(
            try matching.results(for: ["a", "b"], in: body).get() == [
                .ambiguous("the API's answer holds 3 different items naming this id"), .found(b),
            ])
    }

    /// Items none of which names an id where `item_field` says: the plan's mistake, naming what
    /// is there instead; no items, or only nulls, is every id not found.
    @Test func itemFieldNoItemHoldsIsThePlansMistake() throws {
        let matching = AnswerMatching(rule: .itemField(["isbn"]), itemsKey: nil, idPrefix: "")
        guard case .failure(let keys) = matching.results(for: ["a"], in: .array([.object(["id": "a", "n": 1])])),
            case .failure(let typed) = matching.results(for: ["a"], in: .array([.object(["isbn": .array([])])])),
            case .failure(let strings) = matching.results(for: ["a"], in: .array(["a", "b"]))
        else {
            Issue.record("no item names an id")
            return
        }
        #expect(keys.isShape)
        #expect(
            keys.description
                == "the one item in the body has no \"isbn\" (match.item_field); set match.item_field to the key "
                + "holding each item's id (the items' keys: id, n)")
        #expect(
            typed.description
                == "the items' \"isbn\" (match.item_field) is a JSON array, not an id (a string or an integer)"
        )
        #expect(strings.description.hasSuffix("; they are JSON strings, not objects"))
        #expect(try matching.results(for: ["a"], in: .array([])).get() == [.notFound(because: nil)])
        #expect(try matching.results(for: ["a"], in: .array([.null])).get() == [.notFound(because: nil)])
    }

    @Test func objectKeysCarryThePrefixAndAbsentIsNotFound() throws {
        let matching = AnswerMatching(rule: .objectKeys, itemsKey: nil, idPrefix: "ISBN:")
        let book: Value = .object(["title": "Fox"])
        let body: Value = .object(["ISBN:1": book, "ISBN:2": .null])
        #expect(
            try matching.results(for: ["1", "2", "3"], in: body).get() == [
                .found(book), .notFound(because: nil), .notFound(because: nil),
            ])
        #expect((try? matching.results(for: ["1"], in: .array([])).get()) == nil)
    }

    /// An id the answer's object names twice with different values, or whose item names a field
    /// twice with different values, is ambiguous: neither value is used. The same value twice is one.
    @Test func objectKeysAnIDNamedTwiceIsAmbiguous() throws {
        let matching = AnswerMatching(rule: .objectKeys, itemsKey: "data", idPrefix: "ISBN:")
        let text =
            #"{"data":{"ISBN:a":{"t":"A"},"ISBN:b":{"t":"B","t":"B2"},"ISBN:c":{"t":"C"},"ISBN:a":{"t":"A2"},"#
            + #""ISBN:c":{"t":"C"}},"meta":1,"meta":2}"#
        var duplicates: [JSON.DuplicateKey] = []
        let body = try JSON.decode(Array(text.utf8), duplicates: &duplicates)
        #expect(
            try matching.results(for: ["a", "b", "c"], in: body, duplicates: duplicates).get() == [
                .ambiguous("the API's answer names this id (\"ISBN:a\") twice with different values"),
                .ambiguous("the API's item for this id names \"t\" twice with different values"),
                .found(.object(["t": "C"])),
            ])
        // Per item, and the array rules: an item naming a field twice is ambiguous.
        let item = try JSON.decode(Array(#"{"data":{"t":"A","t":"B"}}"#.utf8), duplicates: &duplicates)
        #expect(
            matching.item(in: item, duplicates: duplicates).result
                == .ambiguous("the API's answer names \"t\" twice with different values"))
        let list = try JSON.decode(Array(#"[{"t":"A"},{"t":"B","t":"C"}]"#.utf8), duplicates: &duplicates)
        let byPosition = AnswerMatching(rule: .position, itemsKey: nil, idPrefix: "")
        #expect(
            try byPosition.results(for: ["a", "b"], in: list, duplicates: duplicates).get() == [
                .found(.object(["t": "A"])),
                .ambiguous("the API's item for this id names \"t\" twice with different values"),
            ])
    }

    @Test func batchQueryPrefixesEachIDAndKeepsTheSeparator() {
        var configuration = FetchConfiguration(baseURL: "http://h", path: "/api/books", itemsKey: nil)
        configuration.request = .batchQuery(parameter: "bibkeys", separator: ",")
        configuration.idPrefix = "ISBN:"
        configuration.query = ["format": "json"]
        let request = RequestURL(configuration: configuration).batch(["1", "2,3"])
        #expect(request.url == "http://h/api/books?bibkeys=ISBN%3A1,ISBN%3A2%2C3&format=json")
        #expect(request.body == nil)
    }

    @Test func bodyTemplatesPlaceTheIDListOrOneObjectPerID() throws {
        let list = BodyTemplate.render(.object(["ids": "{ids}", "fields": .array(["a"])]), ids: ["x", "y"])
        #expect(list == .object(["ids": .array(["x", "y"]), "fields": .array(["a"])]))
        let objects = BodyTemplate.render(
            .object(["items": .array([.object(["isbn": "{id}", "n": 1])])]), ids: ["x", "y"])
        #expect(
            objects == .object(["items": .array([.object(["isbn": "x", "n": 1]), .object(["isbn": "y", "n": 1])])]))
        var configuration = FetchConfiguration(baseURL: "http://h/", path: "/v1/lookup", itemsKey: "results")
        configuration.request = .batchBody(template: .object(["ids": "{ids}"]))
        configuration.method = "POST"
        configuration.idPrefix = "v:"
        configuration.fallbackPath = "/v1/items/{id}"
        let urls = RequestURL(configuration: configuration)
        let request = urls.batch(["1"])
        #expect(request.url == "http://h/v1/lookup")
        #expect(request.method == "POST")
        // A per-item fallback is a GET whatever the batch's method.
        #expect(urls.item("1")?.url == "http://h/v1/items/1")
        #expect(urls.item("1")?.method == "GET")
        #expect(urls.item("1")?.body == nil)
        #expect(try JSON.decode(request.body ?? []) == .object(["ids": .array(["v:1"])]))
    }

    @Test func listedStatusesAreThrottlingAnd429AlwaysIs() {
        #expect(
            ResponseOutcome.classify(status: 503, retryAfter: nil, body: [], throttleStatuses: [503])
                == .rateLimited(status: 503, retryAfter: nil))
        #expect(
            ResponseOutcome.classify(status: 429, retryAfter: "1", body: [], throttleStatuses: [503])
                == .rateLimited(status: 429, retryAfter: .seconds(1)))
        guard case .transient = ResponseOutcome.classify(status: 503, retryAfter: nil, body: []) else {
            Issue.record("an unlisted 503 stays a server error")
            return
        }
    }

    @Test func noAuthKindPrintsItsSecret() {
        for auth in [
            RequestAuth.bearer(token: "s3cr3t"), .apiKeyHeader(name: "X-Api-Key", key: "s3cr3t"),
            .apiKeyQuery(name: "k", key: "s3cr3t"),
        ] {
            var configuration = FetchConfiguration(baseURL: "http://h", path: "/", itemsKey: nil)
            configuration.auth = auth
            configuration.headers = [("X-Other", "s3cr3t")]
            var dumped = ""
            dump(configuration, to: &dumped)
            for text in ["\(auth)", String(reflecting: auth), "\(configuration)", dumped] {
                #expect(!text.contains("s3cr3t"), "\(text)")
            }
        }
    }
}
