/// Why a ``SpotifySimulator`` could not start.
public enum SimulatorError: Error, CustomStringConvertible {
    case alreadyStarted
    case cannotListen(host: String, port: Int, cause: (any Error)?)

    public var description: String {
        switch self {
        case .alreadyStarted:
            "the Spotify simulator is already running"
        case .cannotListen(let host, let port, let cause):
            "the Spotify simulator cannot listen on \(host):\(port)" + (cause.map { ": \($0)" } ?? "")
        }
    }
}
