import Foundation
import SluiceCore
import SluiceHTTP
import SluicePlan

/// What fetch asks the API for, row by row: the id (batch requests), or the request's URL
/// below the base URL, placeholders filled and percent-encoded (per-item requests), and for a
/// per-item `POST` with a body, a newline and the body's JSON. The key is what requests,
/// answers files and resumes are keyed by.
///
/// Bound to one column list, like an expression.
struct RequestKeys {
    /// The text of a row's request, or why the row has none.
    enum Key {
        /// The request key, and what names the row in a rejection: the id, or the one field a
        /// per-item request fills in (`nil` when it fills in several).
        case key(String, id: (field: String, value: String)?)
        /// A value the request needs is empty: `field` names it as the plan wrote it.
        case missing(field: String, value: String?)
        /// The id does not match `id_pattern`.
        case malformed(String)
    }

    private let settings: FetchSettings
    /// The body of a per-item `POST`, filled per row.
    private let body: ItemBodyTemplate?
    private let id: SluicePlan.Expression.Bound?
    /// Column positions of the placeholder fields.
    private let slots: [String: Int]
    private let idPattern: IDPattern?

    /// The id or a placeholder names a field the input lacks.
    struct UnknownField: Error, CustomStringConvertible {
        var description: String
    }

    /// - Throws: ``UnknownField`` when the id or a placeholder names a field the columns lack.
    init(settings: FetchSettings, columns: [String], idPattern: IDPattern?) throws(UnknownField) {
        self.settings = settings
        do {
            self.id = try settings.id?.bind(to: columns)
        } catch {
            throw UnknownField(description: "id '\(settings.id!)': \(error)")
        }
        self.idPattern = idPattern
        perItem = settings.perItem
        body = perItem && settings.method == .post ? settings.itemBody : nil
        var slots: [String: Int] = [:]
        if perItem {
            // Where each placeholder is written: the path, a query parameter, or the body.
            let fields =
                settings.path.fields.map { ($0, "path '\(settings.path)'") }
                + settings.query.flatMap { name, template in
                    template.fields.map { ($0, "query parameter '\(name)' ('\(template)')") }
                } + (body?.fields ?? []).map { ($0, "body") }
            // `{id}` is the `id` expression when the stage sets one, else the row's field `id`.
            for (field, place) in fields where (field != "id" || settings.id == nil) && slots[field] == nil {
                guard let index = columns.firstIndex(of: field) else {
                    var text =
                        "{\(field)} in \(place): the input has no field '\(field)' (it has: "
                        + columns.joined(separator: ", ") + ")"
                    if let near = Suggestion.nearest(to: field, in: columns) { text += "; did you mean '\(near)'?" }
                    throw UnknownField(description: text)
                }
                slots[field] = index
            }
        }
        self.slots = slots
    }

    /// One request per row, its key the URL below the base URL (and the body).
    let perItem: Bool

    /// A key as people read it in a rejection: a per-item `POST`'s body after its URL.
    static func display(_ key: String) -> String { key.replacingOccurrences(of: "\n", with: " ") }

    /// The id expression as the plan wrote it.
    var idText: String { settings.id.map { "\($0)" } ?? "id" }
    /// The id as the rejects file's `field` column names it: the row's field `id` when the plan
    /// sets no `id` expression, else `fetch id (EXPRESSION)`, which no row field is mistaken for
    /// (a row may have an `id` of its own, beside the `sku` the fetch asks by).
    var idColumn: String { settings.id.map { Self.idColumn($0) } ?? "id" }
    static func idColumn(_ expression: SluicePlan.Expression) -> String { "fetch id (\(expression))" }
    var patternText: String { idPattern?.text ?? "" }

    /// What to ask for `row`.
    func key(for row: [Value]) -> Key {
        var idText: String?
        if let id {
            let value = id.evaluate(row)
            guard let text = value.text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
                return .missing(field: Self.idColumn(settings.id!), value: value.text)
            }
            if let idPattern, !idPattern.matches(text) { return .malformed(text) }
            idText = text
        }
        guard perItem else { return .key(idText ?? "", id: idText.map { (idColumn, $0) }) }
        var missing: (String, String?)?
        func fill(_ name: String) -> String? {
            let text: String?
            if name == "id", id != nil {
                text = idText
            } else {
                text = row[slots[name]!].text?.trimmingCharacters(in: .whitespaces)
            }
            guard let text, !text.isEmpty else {
                if missing == nil { missing = (name, slots[name].map { row[$0].text } ?? nil) }
                return nil
            }
            // `.` and `..` are left as they are by percent-encoding, and as a path segment they
            // would name the path itself or the one above it, another resource: their dots encoded.
            if text == "." || text == ".." { return String(repeating: "%2E", count: text.count) }
            return PercentEncoding.encode(text)
        }
        guard let path = settings.path.render(fill) else {
            return .missing(field: "{\(missing?.0 ?? "")}", value: missing?.1)
        }
        var pairs: [String] = []
        for (name, template) in settings.query {
            guard let value = template.render(fill) else {
                return .missing(field: "{\(missing?.0 ?? "")}", value: missing?.1)
            }
            pairs.append(
                PercentEncoding.encode(name) + "=" + (template.hasPlaceholders ? value : PercentEncoding.encode(value)))
        }
        var key = URLQuery.appending(pairs, to: path)
        if let body {
            func value(_ name: String) -> Value? {
                name == "id" && id != nil ? idText.map(Value.string) : row[slots[name]!]
            }
            do {
                key += "\n" + body.encode(try body.render(value))
            } catch {
                return .missing(field: "{\(error.field)}", value: value(error.field)?.text)
            }
        }
        let identity =
            idText.map { (idColumn, $0) }
            ?? (slots.count == 1 ? slots.first.map { ($0.key, row[$0.value].text ?? "") } : nil)
        return .key(key, id: identity)
    }
}
