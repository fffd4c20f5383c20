import Foundation

/// The OAuth2 client-credentials grant: who we are and where to ask for an access token.
///
/// The secret never appears in a description, a debug description or a `dump`.
public struct OAuth2ClientCredentials: Sendable, Equatable {
    /// How the client proves who it is to the token endpoint.
    public enum ClientAuthentication: String, Sendable, Equatable, CaseIterable {
        /// `Authorization: Basic base64(id:secret)` (`client_secret_basic`, RFC 6749's default).
        case basic
        /// `client_id` and `client_secret` in the form body (`client_secret_post`).
        case body
    }

    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String
    /// Sent as the form's `scope`, when set.
    public var scope: String?
    /// Sent as the form's `audience` (Auth0 and others name the API the token is for), when set.
    public var audience: String?
    public var clientAuthentication: ClientAuthentication

    public init(
        tokenURL: String, clientID: String, clientSecret: String, scope: String? = nil, audience: String? = nil,
        clientAuthentication: ClientAuthentication = .basic
    ) {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scope = scope
        self.audience = audience
        self.clientAuthentication = clientAuthentication
    }

    /// The token request's headers and `application/x-www-form-urlencoded` body. Holds the
    /// secret: never logged.
    func tokenRequest() -> (headers: [(String, String)], body: [UInt8]) {
        var fields = [("grant_type", "client_credentials")]
        if let scope { fields.append(("scope", scope)) }
        if let audience { fields.append(("audience", audience)) }
        var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        switch clientAuthentication {
        case .basic:
            let basic = RequestAuth.basicCredentials(username: clientID, password: clientSecret)
            headers.insert(("Authorization", "Basic \(basic)"), at: 0)
        case .body:
            fields += [("client_id", clientID), ("client_secret", clientSecret)]
        }
        let form = fields.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        return (headers, Array(form.utf8))
    }
}

extension OAuth2ClientCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "OAuth2ClientCredentials(tokenURL: \(tokenURL), clientID: \(clientID), clientSecret: <redacted>, "
            + "scope: \(scope ?? "-"), audience: \(audience ?? "-"), clientAuthentication: \(clientAuthentication))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "tokenURL": tokenURL, "clientID": clientID, "clientSecret": "<redacted>", "scope": scope as Any,
                "audience": audience as Any, "clientAuthentication": clientAuthentication,
            ])
    }
}
