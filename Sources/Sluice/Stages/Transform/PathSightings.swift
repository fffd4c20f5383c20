import SluiceCore
import SluicePlan

/// How far into the rows' values the paths of a transform's fields reached, so that a field
/// empty in every row can say why: a key its path reads was in no row (misspelt, or left out by
/// the API), said with the keys that were there, or it was there and always null.
struct PathSightings {
    /// One path of an output field's expression, followed through the rows.
    struct Sighting {
        let field: String
        let keys: [Expression.PathComponent]
        /// Steps the deepest row allowed; `keys.count` once a row held the whole path.
        var depth = 0
        /// The keys of the objects met at `depth` that lacked the next one (those of the first
        /// ``objectsKept``): what a misspelt key is compared with.
        var keysThere: Set<String> = []
        /// How many such objects gave their keys.
        var objectsThere = 0

        var found: Bool { depth == keys.count }
    }

    /// Enough objects to suggest a key from: an API's answers share their keys, and a million
    /// rows lacking one need not each add theirs.
    static let objectsKept = 100

    /// Each output field's paths, in plan order.
    private(set) var sightings: [String: [Sighting]]

    init(fields: [(name: String, expression: Expression)]) {
        sightings = Dictionary(
            fields.map { field in
                (
                    field.name,
                    field.expression.paths.filter { !$0.keys.isEmpty }.map { Sighting(field: $0.field, keys: $0.keys) }
                )
            }, uniquingKeysWith: { first, _ in first })
    }

    /// Follows the paths of the `outputs` fields through `batch`'s rows, until a row holds each.
    mutating func observe(_ batch: Batch, for outputs: some Sequence<String>) {
        for output in outputs {
            guard var paths = sightings[output] else { continue }
            for index in paths.indices where !paths[index].found {
                guard let column = batch.index(of: paths[index].field) else { continue }
                for row in batch.rows {
                    Self.follow(&paths[index], from: row[column])
                    if paths[index].found { break }
                }
            }
            sightings[output] = paths
        }
    }

    private static func follow(_ sighting: inout Sighting, from start: Value) {
        var value = start
        var depth = 0
        while depth < sighting.keys.count {
            let key = sighting.keys[depth]
            if case .key(let name) = key, case .object(let object) = value {
                guard let next = object[name] else {
                    if depth > sighting.depth {
                        (sighting.depth, sighting.keysThere, sighting.objectsThere) = (depth, [], 0)
                    }
                    if depth == sighting.depth, sighting.objectsThere < objectsKept {
                        sighting.keysThere.formUnion(object.keys)
                        sighting.objectsThere += 1
                    }
                    return
                }
                value = next
            } else {
                // Into a list, or a step its value does not fit: no keys to compare with.
                guard case .array = value else { break }
                value = key.step(into: value)
                if value.isNull { break }
            }
            depth += 1
        }
        if depth > sighting.depth { (sighting.depth, sighting.keysThere, sighting.objectsThere) = (depth, [], 0) }
    }

    /// The first path of `output` whose next key was in no row that had an object there: where
    /// it stopped (`response`), the key, and the key there it most likely misspells. A key some
    /// path of the stage reads there is none: a plan that reads `isbn_13` and `isbn_10` knows
    /// both, and answers that lack one are sparse, not misread.
    func missingKey(of output: String) -> (at: String, key: String, nearest: String?)? {
        for sighting in sightings[output] ?? [] where !sighting.found && !sighting.keysThere.isEmpty {
            guard case .key(let key) = sighting.keys[sighting.depth] else { continue }
            let at = sighting.field + sighting.keys.prefix(sighting.depth).map(\.description).joined()
            let parent = sighting.keys.prefix(sighting.depth)
            let read = Set(
                sightings.values.joined().compactMap { other -> String? in
                    guard other.field == sighting.field, other.keys.count > parent.count,
                        other.keys.prefix(parent.count) == parent, case .key(let name) = other.keys[parent.count]
                    else { return nil }
                    return name
                })
            return (at, key, Suggestion.nearest(to: key, in: sighting.keysThere.subtracting(read)))
        }
        return nil
    }
}
