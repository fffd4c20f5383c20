import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// The throwaway PostgreSQL server outlives the test that starts it: it must not keep copies of
/// the test process's sockets, or a connection a test closes stays open for the whole run.
@Suite struct TestPostgresLauncherTests {
    @Test(.enabled(if: TestPostgres.externalURL == nil, "an external server is not the suite's to check"))
    func theServerHoldsNoSocketOfTheTestProcess() async throws {
        // Open while the server starts, if this test is the first to need it.
        let sockets = (0..<3).map { _ in socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        defer { sockets.forEach { close($0) } }
        let server = try await TestPostgres.shared()
        let directory = try #require(server.socketDirectory)
        let pidFile = "\(directory)/data/postmaster.pid"
        let pid = try #require(
            try await BlockingIO.runOnOwnThread { try String(contentsOfFile: pidFile, encoding: .utf8) }.split(
                separator: "\n"
            )
            .first
        )
        let (theirs, ours) = try await BlockingIO.runOnOwnThread {
            (Self.sockets(of: "\(pid)"), Self.sockets(of: "self"))
        }
        let shared = theirs.intersection(ours)
        #expect(shared.isEmpty, "the server holds \(shared.count) of our sockets")
    }

    /// The `socket:[inode]` links of a process's descriptors.
    static func sockets(of process: String) -> Set<String> {
        let directory = "/proc/\(process)/fd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Set(
            entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
                .filter { $0.hasPrefix("socket:") })
    }
}
