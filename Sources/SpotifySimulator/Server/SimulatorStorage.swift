import NIOConcurrencyHelpers

/// The lock around ``SimulatorState``, shared by the public API and every request.
///
/// Each call holds the lock only to decide; sleeping and writing happen outside it.
final class SimulatorStorage: Sendable {
    private let state: NIOLockedValueBox<SimulatorState>
    private let stopping = NIOLockedValueBox(false)

    init(configuration: SimulatorConfiguration) {
        self.state = NIOLockedValueBox(SimulatorState(configuration: configuration))
    }

    func respond(to request: InboundRequest) -> Reply {
        state.withLockedValue { $0.respond(to: request, at: .now) }
    }

    var configuration: SimulatorConfiguration { state.withLockedValue { $0.configuration } }
    var stats: SimulatorStats { state.withLockedValue { $0.stats } }

    func reconfigure(_ update: (inout SimulatorConfiguration) -> Void) {
        state.withLockedValue { $0.reconfigure(update) }
    }

    func expireTokens() {
        state.withLockedValue { $0.expireTokens(at: .now) }
    }

    func scheduleFaults(_ faults: [Fault]) {
        state.withLockedValue { $0.schedule(faults) }
    }

    var issuedTokens: [String] { state.withLockedValue { $0.issuedTokens } }

    func setAPIBase(_ base: String) {
        state.withLockedValue { $0.apiBase = base }
    }

    /// Set while stopping, so held (hanging) requests let go at once.
    var isStopping: Bool {
        get { stopping.withLockedValue { $0 } }
        set { stopping.withLockedValue { $0 = newValue } }
    }
}
