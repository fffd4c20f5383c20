/// A fetch stage's JSON `body`: where the ids of a batch go. The string `"{ids}"` becomes the
/// list of ids; a one-element list whose element holds `"{id}"` becomes one copy of that element
/// per id with the id filled in (`[{"isbn": "{id}"}]` → one object per id). `sluice check` and
/// the request builder read the template by these same rules.
public enum BodyTemplate {
    /// Whether `template` says where the ids go at all.
    public static func placesIDs(_ template: Value) -> Bool {
        switch template {
        case .string(let s): return s == "{ids}"
        case .array(let items): return isPerID(items) || items.contains(where: placesIDs)
        case .object(let fields): return fields.values.contains(where: placesIDs)
        default: return false
        }
    }

    /// `template` with the ids in place.
    public static func render(_ template: Value, ids: [String]) -> Value {
        func fill(_ value: Value, id: String?) -> Value {
            switch value {
            case .string("{ids}"): return .array(ids.map(Value.string))
            case .string(let s) where s.contains("{id}"):
                guard let id else { return value }
                return .string(s.replacingOccurrences(of: "{id}", with: id))
            case .array(let items):
                if id == nil, isPerID(items) { return .array(ids.map { fill(items[0], id: $0) }) }
                return .array(items.map { fill($0, id: id) })
            case .object(let fields): return .object(fields.mapValues { fill($0, id: id) })
            default: return value
            }
        }
        return fill(template, id: nil)
    }

    /// A one-element list whose element is repeated per id.
    private static func isPerID(_ items: [Value]) -> Bool {
        items.count == 1 && items[0].containsText("{id}")
    }
}
