/// A deterministic, storage-free catalog of Spotify tracks derived from a seed.
///
/// Every id is 22 base62 characters: a 19-character payload and a 3-character check.
/// The check is a seeded hash of the payload, so "is this id known?" is a pure function
/// and any number of simulators (or test processes) with the same seed agree on it.
/// A second, different check marks ids that Spotify *relinks*: the API answers them under
/// another known id with `linked_from` pointing back at the requested one.
public struct SpotifyCatalog: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
    }

    /// The `index`-th valid id that the API knows and returns under the same id.
    public func knownID(_ index: Int) -> String {
        let payload = payload(index: index, namespace: .known)
        return payload + check(plainCheck(payload))
    }

    /// The `index`-th id that is well formed but unknown: the API answers `null` for it.
    public func unknownID(_ index: Int) -> String {
        let payload = payload(index: index, namespace: .unknown)
        let plain = plainCheck(payload)
        let relinked = relinkedCheck(payload, plain: plain)
        var candidate = (plain + 1) % Self.checkModulus
        if candidate == relinked { candidate = (candidate + 1) % Self.checkModulus }
        return payload + check(candidate)
    }

    /// The `index`-th known id that the API returns under a different id, with `linked_from`.
    public func relinkedID(_ index: Int) -> String {
        let payload = payload(index: index, namespace: .relinked)
        return payload + check(relinkedCheck(payload, plain: plainCheck(payload)))
    }

    /// The track the API returns for `id`, or `nil` when the id is unknown or malformed.
    public func track(for id: String) -> CatalogTrack? {
        guard SpotifyID.isWellFormed(id) else { return nil }
        let payload = String(id.prefix(Self.payloadLength))
        guard let check = SpotifyID.decode(id.suffix(Self.checkLength)) else { return nil }
        let plain = plainCheck(payload)
        if check == plain {
            return details(canonicalID: id, requestedID: id)
        }
        if check == relinkedCheck(payload, plain: plain) {
            return details(canonicalID: relinkTarget(of: payload), requestedID: id)
        }
        return nil
    }

    // MARK: Id structure

    static let payloadLength = 19
    static let checkLength = 3
    static let checkModulus: UInt64 = 62 * 62 * 62

    enum Namespace: UInt64 {
        case known = 1
        case unknown = 2
        case relinked = 3
    }

    /// What a hash is for: one list, so no two facts ever share a tag and become correlated.
    enum Tag {
        static let plainCheck: UInt64 = 10
        static let relinkedCheck: UInt64 = 11
        static let relinkHead: UInt64 = 12
        static let relinkTail: UInt64 = 13
        static let payloadTail: UInt64 = 14
        static let name: UInt64 = 20
        static let popularity: UInt64 = 21
        static let isrcPresence: UInt64 = 22
        static let isrc: UInt64 = 23
        static let artist: UInt64 = 24
        static let album: UInt64 = 25
        static let shape: UInt64 = 26
        static let entityID: UInt64 = 27
    }

    private func payload(index: Int, namespace: Namespace) -> String {
        let index = UInt64(bitPattern: Int64(index))
        // `mix` is a bijection, so distinct indices give distinct heads: ids never repeat.
        let head = SeededHash.mix(index ^ SeededHash.mix(seed ^ SeededHash.mix(namespace.rawValue)))
        let tail = SeededHash.hash(index: index, seed: seed, tag: Tag.payloadTail &+ namespace.rawValue)
        return SpotifyID.encode(head, width: 11) + SpotifyID.encode(tail, width: 8)
    }

    private func plainCheck(_ payload: String) -> UInt64 {
        SeededHash.hash(payload, seed: seed, tag: Tag.plainCheck) % Self.checkModulus
    }

    /// Never equal to the plain check, so no id is both plain and relinked.
    private func relinkedCheck(_ payload: String, plain: UInt64) -> UInt64 {
        let offset = 1 + SeededHash.hash(payload, seed: seed, tag: Tag.relinkedCheck) % (Self.checkModulus - 1)
        return (plain + offset) % Self.checkModulus
    }

    private func check(_ value: UInt64) -> String {
        SpotifyID.encode(value, width: Self.checkLength)
    }

    /// The plain known id a relinked payload is answered under.
    private func relinkTarget(of payload: String) -> String {
        let head = SeededHash.hash(payload, seed: seed, tag: Tag.relinkHead)
        let tail = SeededHash.hash(payload, seed: seed, tag: Tag.relinkTail)
        let target = SpotifyID.encode(head, width: 11) + SpotifyID.encode(tail, width: 8)
        return target + check(plainCheck(target))
    }
}
