import SluiceCore

/// Reads the items of a 2xx answer and matches them to the ids asked for, by a
/// ``MatchRule``. Pure, so every rule and body shape is testable without a server.
struct AnswerMatching: Sendable {
    var rule: MatchRule
    /// The key of the body that holds the items, or a dotted key path to them (`data.results`);
    /// `nil`: the body itself holds them.
    var itemsKey: String?
    var idPrefix: String

    /// One result per id, in the order of `ids`; or why the body is not an answer to them: a
    /// count that does not add up is tried again like any transient failure, a body of another
    /// shape than the plan says (an object where the items should be an array) is the plan's
    /// mistake, and says where the items might be.
    ///
    /// `duplicates`: the keys the body names twice with different values. An item holding one
    /// (`{"title":"A","title":"B"}`), or an id an `object_keys` answer names twice, is
    /// ``ItemResult/ambiguous(_:)``: which value the API meant is unknown.
    func results(
        for ids: some Collection<String>, in body: Value, duplicates: [JSON.DuplicateKey] = []
    ) -> Result<[ItemResult], Mismatch> {
        let conflicts = conflicts(duplicates, in: body)
        if let whole = conflicts.whole { return .success(ids.map { _ in .ambiguous(whole) }) }
        return results(for: ids, in: body).map { results in
            guard !conflicts.byKey.isEmpty || !conflicts.inArray.isEmpty else { return results }
            return zip(ids, results).map { id, result in
                guard case .found(let item) = result else { return result }
                if case .objectKeys = rule, let why = conflicts.byKey[idPrefix + id] { return .ambiguous(why) }
                // An array's item is known by its value: an identical repeat holds the same keys.
                if let (_, why) = conflicts.inArray.first(where: { $0.item == item }) { return .ambiguous(why) }
                return result
            }
        }
    }

    /// Where `duplicates` fall in `body`: over the items themselves (`{"tracks":[],"tracks":[..]}`:
    /// every id), or in one item, reached by its key (`object_keys`) or its place in the array;
    /// those outside the items (the envelope's metadata) change no item.
    private func conflicts(
        _ duplicates: [JSON.DuplicateKey], in body: Value
    ) -> (whole: String?, byKey: [String: String], inArray: [(item: Value, why: String)]) {
        var whole: String?
        var byKey: [String: String] = [:]
        var inArray: [(item: Value, why: String)] = []
        let place = duplicates.isEmpty ? [] : itemsPath(in: body)
        for duplicate in duplicates {
            let location = duplicate.location
            if location.count <= place.count, Array(place.prefix(location.count)) == location {
                whole =
                    "the API's answer names \"\(duplicate.key)\" twice with different values, and the items are in it"
                continue
            }
            guard Array(location.prefix(place.count)) == place else { continue }
            let why =
                location.count == place.count + 1
                ? "the API's answer names this id (\"\(duplicate.key)\") twice with different values"
                : "the API's item for this id names \"\(duplicate.key)\" twice with different values"
            switch location[place.count] {
            case .key(let key): byKey[key] = why
            case .index(let index):
                if case .array(let list) = items(of: body), list.indices.contains(index) {
                    inArray.append((list[index], why))
                }
            }
        }
        return (whole, byKey, inArray)
    }

    /// The path of ``itemsKey`` in `body`, as ``items(of:)`` reads it.
    private func itemsPath(in body: Value) -> [JSON.PathStep] {
        guard let itemsKey else { return [] }
        if case .object(let object) = body, object[itemsKey] != nil { return [.key(itemsKey)] }
        return itemsKey.split(separator: ".").map { .key(String($0)) }
    }

    private func results(for ids: some Collection<String>, in body: Value) -> Result<[ItemResult], Mismatch> {
        let items = items(of: body)
        let place = itemsKey.map { "the body's \"\($0)\"" } ?? "the body"
        switch rule {
        case .position:
            guard case .array(let list) = items else {
                return .failure(.shape(place, items, wanted: "an array", in: body))
            }
            guard list.count == ids.count else {
                // Items are matched by position: an API that leaves out the ids it does not know
                // needs another rule.
                return .failure(
                    Mismatch(
                        "\(place) has \(list.count) items for \(ids.count) ids (matched by position; if the API leaves "
                            + "out ids it does not know, match its items by the id they carry: match: {item_field: "
                            + "FIELD})"))
            }
            return .success(list.map { $0.isNull ? .notFound(because: nil) : .found($0) })
        case .itemField(let keys):
            guard case .array(let list) = items else {
                return .failure(.shape(place, items, wanted: "an array", in: body))
            }
            // Each id's different items: an item repeated as it is counts once.
            var byID: [String: [Value]] = [:]
            for item in list {
                guard let id = Self.text(keys.reduce(item) { $0[$1] }) else { continue }
                if byID[id]?.contains(item) != true { byID[id, default: []].append(item) }
            }
            // Items, and not one names an id: the plan names the wrong field, or the API another
            // shape (an empty answer, or nulls, is "none of them found").
            if byID.isEmpty, list.contains(where: { !$0.isNull }) {
                return .failure(.noIDField(keys, in: list, place: place))
            }
            return .success(
                ids.map { id in
                    guard let items = byID[id] ?? byID[idPrefix + id] else { return .notFound(because: nil) }
                    return items.count == 1
                        ? .found(items[0])
                        : .ambiguous("the API's answer holds \(items.count) different items naming this id")
                })
        case .objectKeys:
            guard case .object(let object) = items else {
                return .failure(.shape(place, items, wanted: "an object keyed by id", in: body))
            }
            return .success(
                ids.map { id in
                    guard let item = object[idPrefix + id], !item.isNull else { return .notFound(because: nil) }
                    return .found(item)
                })
        }
    }

    /// The answer to one per-item request: the body (or its `itemsKey`); `null` is "not found",
    /// and so is an answer without `itemsKey` at all, which says so (`hasItemsKey` false: the
    /// fetcher stops when no answer has it).
    func item(in body: Value, duplicates: [JSON.DuplicateKey] = []) -> (result: ItemResult, hasItemsKey: Bool) {
        let (result, hasItemsKey) = item(in: body)
        guard case .found = result, !duplicates.isEmpty else { return (result, hasItemsKey) }
        let place = itemsPath(in: body)
        let inItem = duplicates.first { duplicate in
            let location = duplicate.location
            let shorter = min(location.count, place.count)
            return Array(location.prefix(shorter)) == Array(place.prefix(shorter))
        }
        guard let inItem else { return (result, hasItemsKey) }
        return (.ambiguous("the API's answer names \"\(inItem.key)\" twice with different values"), hasItemsKey)
    }

    private func item(in body: Value) -> (result: ItemResult, hasItemsKey: Bool) {
        // A `null` answer is the API's "not found", whatever the key.
        guard let itemsKey, !body.isNull else { return (Self.whole(items(of: body)), true) }
        if let items = Self.value(at: itemsKey, in: body) { return (Self.whole(items), true) }
        let keys = body.objectKeys
        let has = keys.isEmpty ? "it is \(body.typeName)" : "it has: " + keys.sorted().joined(separator: ", ")
        return (.notFound(because: "its answer has no '\(itemsKey)'; \(has)"), false)
    }

    /// What ``itemsKey`` names in `body`: a key of it (which may hold a dot), else the value at
    /// that key path; `null` where there is none.
    func items(of body: Value) -> Value {
        guard let itemsKey else { return body }
        return Self.value(at: itemsKey, in: body) ?? .null
    }

    /// The value `key` names in `body`, as a key of its own (which may hold a dot) or a key path;
    /// `nil` when `body` has no such key.
    static func value(at key: String, in body: Value) -> Value? {
        if case .object(let object) = body, let value = object[key] { return value }
        var value = body
        for part in key.split(separator: ".") {
            guard case .object(let object) = value, let next = object[String(part)] else { return nil }
            value = next
        }
        return value
    }

    /// `item` as the answer for one id.
    static func whole(_ item: Value) -> ItemResult {
        item.isNull ? .notFound(because: nil) : .found(item)
    }

    /// An id as an item states it: text, or an integer written as JSON writes it. An integer
    /// beyond 64 bits (`18446744073709551616`) is a ``Value/decimal`` keeping its literal, which is
    /// the id; a number with a fraction or an exponent is not one.
    private static func text(_ value: Value) -> String? {
        switch value {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .decimal(let literal) where isIntegerLiteral(literal): return literal
        default: return nil
        }
    }

    /// Whether `literal` is an integer as JSON writes one: an optional `-`, then digits.
    private static func isIntegerLiteral(_ literal: String) -> Bool {
        let digits = literal.utf8.first == UInt8(ascii: "-") ? literal.utf8.dropFirst() : literal.utf8[...]
        return !digits.isEmpty && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    struct Mismatch: Error, Sendable, CustomStringConvertible {
        var description: String
        /// The body is not the shape the plan describes, rather than a count that is off.
        var isShape = false

        init(_ description: String) { self.description = description }

        /// `place` holds `found`, not what the match rule needs; names the keys an object has,
        /// since `items_key` is the usual fix.
        static func shape(_ place: String, _ found: Value, wanted: String, in body: Value) -> Mismatch {
            var text = "\(place) is \(found.isNull ? "missing" : "a JSON \(found.typeName)"), not \(wanted)"
            let arrays = wanted == "an array" ? arrayPaths(in: body) : []
            if !arrays.isEmpty {
                text += "; set items_key to where the items are: \(arrays.prefix(4).joined(separator: " or "))"
            } else if case .object(let fields) = found, !fields.isEmpty {
                text +=
                    "; set items_key to where the items are (its keys: \(fields.keys.sorted().prefix(8).joined(separator: ", ")))"
            }
            var mismatch = Mismatch(text)
            mismatch.isShape = true
            return mismatch
        }

        /// No item of `list` has an id at `keys` (``MatchRule/itemField(_:)``): names what the
        /// items hold there, or their keys, since `match.item_field` is the usual fix.
        static func noIDField(_ keys: [String], in list: [Value], place: String) -> Mismatch {
            let path = keys.joined(separator: ".")
            let items = list.filter { !$0.isNull }
            var text: String
            if let held = items.lazy.map({ keys.reduce($0) { $0[$1] } }).first(where: { !$0.isNull }) {
                // A number is shown: `1.5` or `1e3` says why it is no id better than its type does.
                let shown = held.doubleValue != nil ? " (\(JSON.encode(held)))" : ""
                text =
                    "the items' \"\(path)\" (match.item_field) is a JSON \(held.typeName)\(shown), not an id (a "
                    + "string or an integer)"
            } else {
                text =
                    items.count == 1
                    ? "the one item in \(place) has no \"\(path)\" (match.item_field)"
                    : "none of the \(items.count) items in \(place) has \"\(path)\" (match.item_field)"
                let fields = Set(
                    items.prefix(20).flatMap { item -> [String] in
                        if case .object(let fields) = item { return Array(fields.keys) }
                        return []
                    })
                text +=
                    fields.isEmpty
                    ? "; they are JSON \(items[0].typeName)s, not objects"
                    : "; set match.item_field to the key holding each item's id (the items' keys: "
                        + "\(fields.sorted().prefix(8).joined(separator: ", ")))"
            }
            var mismatch = Mismatch(text)
            mismatch.isShape = true
            return mismatch
        }

        /// The key paths of the non-empty arrays in `value` (an object), at most three keys deep,
        /// in key order: where an answer's items may be (`data.results`).
        static func arrayPaths(in value: Value, prefix: String = "", depth: Int = 0) -> [String] {
            guard case .object(let fields) = value, depth < 3 else { return [] }
            return fields.keys.sorted().flatMap { key -> [String] in
                let path = prefix + key
                if case .array(let list) = fields[key], !list.isEmpty { return [path] }
                return arrayPaths(in: fields[key] ?? .null, prefix: path + ".", depth: depth + 1)
            }
        }
    }
}
