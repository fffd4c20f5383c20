/// A bearer token. Its value only leaves this type as an `Authorization` header.
struct AccessToken: Sendable, Equatable {
    let value: String

    var authorizationHeader: String { "Bearer \(value)" }
}

extension AccessToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String { "AccessToken(<redacted>)" }
    var debugDescription: String { description }
    var customMirror: Mirror { Mirror(self, children: ["value": "<redacted>"]) }
}
