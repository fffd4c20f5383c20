import Foundation

/// An HTTP request reduced to what the simulator looks at, so the behaviour can be tested without sockets.
struct InboundRequest: Sendable {
    var method: String
    /// The path as sent, still percent-encoded.
    var path: String
    /// The raw query string, without `?`.
    var query: String?
    var authorization: String?
    var body: [UInt8] = []

    /// Decoded query parameters; the first occurrence of a name wins.
    var queryParameters: [String: String] { Self.formFields(query ?? "") }

    /// Decoded `application/x-www-form-urlencoded` body fields.
    var formFields: [String: String] { Self.formFields(String(decoding: body, as: UTF8.self)) }

    /// Splits `a=1&b=2` into fields, turning `+` into a space and undoing percent-encoding.
    static func formFields(_ encoded: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            if fields[name] == nil {
                fields[name] = parts.count > 1 ? decode(parts[1]) : ""
            }
        }
        return fields
    }

    static func decode(_ component: Substring) -> String {
        let spaced = component.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
