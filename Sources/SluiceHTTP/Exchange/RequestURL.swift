import Foundation

/// Builds request URLs from a ``FetchConfiguration``, percent-encoding ids so a malformed one
/// (a space, a `spotify:track:` URI, a URL) still reaches the API as the single id it is.
struct RequestURL {
    let configuration: FetchConfiguration

    /// `{base}{path}?{ids}=ID1,ID2,...&{extra query}`.
    func batch(_ ids: some Sequence<String>) -> String {
        let list = ids.map(Self.encode).joined(separator: ",")
        return url(path: configuration.path, parameters: [(configuration.idsParameter, list)])
    }

    /// `{base}{fallbackPath with {id}}?{extra query}`; `nil` without a fallback path.
    func item(_ id: String) -> String? {
        guard let template = configuration.fallbackPath else { return nil }
        return url(path: template.replacingOccurrences(of: "{id}", with: Self.encode(id)), parameters: [])
    }

    private func url(path: String, parameters: [(String, String)]) -> String {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let path = path.hasPrefix("/") || path.isEmpty ? path : "/" + path
        let extra = configuration.query.sorted { $0.key < $1.key }.map { (Self.encode($0.key), Self.encode($0.value)) }
        let pairs = parameters.map { (Self.encode($0.0), $0.1) } + extra
        guard !pairs.isEmpty else { return base + path }
        return base + path + "?" + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
