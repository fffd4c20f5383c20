/// What a host name or address says about where it is.
public enum HostName {
    /// This machine's loopback (`localhost`, `127.x.x.x`, `::1`): a connection there crosses no
    /// network, so no advice about encrypting it is given.
    public static func isLoopback(_ host: some StringProtocol) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }
}
