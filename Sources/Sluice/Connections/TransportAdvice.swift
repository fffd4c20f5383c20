import Foundation
import SluiceCore
import SluiceHTTP
import SluicePlan
import SluicePostgres

extension Plan {
    /// A warning, at the connection's place in the plan (a database's at its url, which a `--set`
    /// may give), for each PostgreSQL connection that reaches another machine without verifying
    /// the server over TLS
    /// (``PostgresConnection/transportAdvice(for:environment:)``). Never holds the URL itself.
    public func transportWarnings(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [Diagnostic] {
        connections.compactMap { connection in
            if let http = connection.http, let advice = Self.plainHTTPAdvice(for: http) {
                return .warning("connection '\(connection.name)': \(advice)", at: connection.location)
            }
            guard let url = connection.postgres?.url.value,
                let advice = PostgresConnection.transportAdvice(for: url, environment: environment)
            else { return nil }
            // At the url, which a `--set` may have given.
            return .warning(
                "connection '\(connection.name)': \(advice)", at: connection.urlLocation ?? connection.location)
        }
    }

    /// Credentials (auth, a header that reads as one) sent over plain `http://` to another
    /// machine, where anyone on the path reads them: what to do, or `nil`. Loopback is left alone.
    static func plainHTTPAdvice(for http: HTTPSettings) -> String? {
        let credentialHeaders = http.headers.contains { FetchConfiguration.isCredentialHeader($0.0) }
        guard http.auth != nil || credentialHeaders else { return nil }
        let urls = [http.baseURL] + (http.auth?.oauth2.map { [$0.tokenURL] } ?? [])
        for url in urls {
            guard url.lowercased().hasPrefix("http://"), let host = Self.host(of: url), !HostName.isLoopback(host)
            else { continue }
            return "its credentials go to \(host) over plain http, where anyone on the way can read them; "
                + "use https://"
        }
        return nil
    }

    /// The host of an `http://` URL, user info and port left out.
    static func host(of url: String) -> String? {
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let afterUser = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        if afterUser.hasPrefix("["), let close = afterUser.firstIndex(of: "]") {
            return String(afterUser[afterUser.index(after: afterUser.startIndex)..<close])
        }
        let host = afterUser.prefix { $0 != ":" }
        return host.isEmpty ? nil : String(host)
    }
}
