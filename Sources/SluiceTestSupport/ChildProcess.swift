import Foundation
import SluiceCore

/// Runs child processes for tests and benchmarks without holding a cooperative thread: the
/// launch and the wait (`waitUntilExit`) happen on a thread of their own
/// (``BlockingIO/runOnOwnThread(_:)``).
public enum ChildProcess {
    /// What a finished child left.
    public struct Outcome: Sendable {
        public var status: Int32
        /// Standard output, when it was captured.
        public var output: String
        /// Its process id, now free (it has exited and been reaped): a pid no process has.
        public var pid: Int32
    }

    /// Runs `executable` with `arguments` to the end.
    /// - Parameters:
    ///   - input: written to its standard input, which is then closed; `nil` gives it `/dev/null`.
    ///   - captureOutput: keep its standard output (else it goes to `/dev/null`).
    ///   - quiet: send its standard error to `/dev/null` rather than the test's.
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, captureOutput: Bool = false,
        quiet: Bool = false
    ) async throws -> Outcome {
        try await BlockingIO.runOnOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let stdin = input.map { _ in Pipe() }
            process.standardInput = stdin ?? FileHandle.nullDevice
            let stdout = captureOutput ? Pipe() : nil
            process.standardOutput = stdout ?? FileHandle.nullDevice
            if quiet { process.standardError = FileHandle.nullDevice }
            try process.run()
            if let stdin, let input {
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try stdin.fileHandleForWriting.close()
            }
            let output = stdout.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
            process.waitUntilExit()
            return Outcome(status: process.terminationStatus, output: output ?? "", pid: process.processIdentifier)
        }
    }
}
