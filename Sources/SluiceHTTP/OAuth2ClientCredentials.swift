/// The OAuth2 client-credentials grant: who we are and where to ask for an access token.
///
/// The secret never appears in a description, a debug description or a `dump`.
public struct OAuth2ClientCredentials: Sendable, Equatable {
    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String

    public init(tokenURL: String, clientID: String, clientSecret: String) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

extension OAuth2ClientCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "OAuth2ClientCredentials(tokenURL: \(tokenURL), clientID: \(clientID), clientSecret: <redacted>)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["tokenURL": tokenURL, "clientID": clientID, "clientSecret": "<redacted>"])
    }
}
