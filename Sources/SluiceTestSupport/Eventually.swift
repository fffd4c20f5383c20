/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
///
/// The default is long because it bounds a precondition, not a speed: with the whole suite on
/// two cores, an apply once took more than 10 s to reach the `UPDATE` a test waited for. A
/// condition that holds returns at once.
public func eventually(
    timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}
