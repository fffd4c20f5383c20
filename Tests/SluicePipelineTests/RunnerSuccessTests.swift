import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// Runs that succeed: what the manifest and the spools say, and how stages are wired.
@Suite struct RunnerSuccessTests {
    @Test func aSucceededRunRecordsEveryStageAndItsSpool() async throws {
        let test = try await TestRun()
        let sink = SinkStage()
        let result = try await test.run(chain(batches: 10, rowsPerBatch: 100, sink: sink))
        let manifest = result.manifest

        #expect(manifest.status == .succeeded)
        #expect(manifest.error == nil)
        #expect(manifest.resumeCommand == nil)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.runID.wholeMatch(of: /\d{8}-\d{6}-[a-z0-9]{6}/) != nil)
        #expect(result.directory.lastPathComponent == manifest.runID)
        #expect(manifest.overrides == ["map.factor=2"])
        #expect(manifest.stages.map(\.name) == ["source", "map", "sink"])
        #expect(manifest.stages.allSatisfy { $0.status == .succeeded && $0.startedAt != nil && $0.finishedAt != nil })
        #expect(sink.rows.all.count == 1000)

        let source = try #require(manifest.stage("source"))
        #expect(source.rowsIn == 0 && source.rowsOut == 1000)
        #expect(source.counters["emitted"] == 1000)
        #expect(source.parameters == .object(["batches": .int(10)]))
        let map = try #require(manifest.stage("map"))
        #expect(map.input == "source")
        #expect(map.rowsIn == 1000 && map.rowsOut == 1000)
        #expect(map.inputs == [source.spool])

        for record in manifest.stages {
            let spool = try #require(record.spool)
            #expect(spool.path == "\(record.name).ndjson")
            #expect(spool.rows == 1000)
            let (sha256, _) = try await PrivateFile.sha256(of: artifactURL(spool.path, in: result.directory))
            #expect(sha256 == spool.sha256)
        }
    }

    /// Stages start together and stream: a stage's time leaves out how long it waited for its
    /// input's first answer (verify behind an apply), not what it did before it asked.
    @Test func aStageRecordsHowLongItWaitedForItsFirstInput() async throws {
        let test = try await TestRun()
        let late = try await test.run([
            StageSpec(SourceStage(batches: 1, delay: .milliseconds(500))),
            StageSpec(MapStage(), input: "source"),
            StageSpec(SinkStage(), input: "map"),
        ])
        let source = try #require(late.manifest.stage("source"))
        #expect(source.waitedForInputMilliseconds == nil, "a source has no input")
        #expect(source.workedSeconds == source.finishedAt!.timeIntervalSince(source.startedAt!))
        for name in ["map", "sink"] {
            let record = try #require(late.manifest.stage(name))
            let (started, finished) = try (#require(record.startedAt), #require(record.finishedAt))
            let waited = try #require(record.waitedForInputMilliseconds)
            // Most of the source's 500 ms: a stage asks for its input once its own record is
            // written, which on a loaded machine can come well after the source began its wait.
            #expect(waited >= 250, "\(name) waited for the source's first batch")
            #expect(record.workedSeconds == max(0, finished.timeIntervalSince(started) - Double(waited) / 1000))
        }

        // A stage busy before it asks for rows (connecting, say) is working, not waiting.
        let slow = try await test.run([
            StageSpec(SourceStage(batches: 1)),
            StageSpec(MapStage(delay: .milliseconds(300)), input: "source"),
            StageSpec(SinkStage(), input: "map"),
        ])
        let map = try #require(slow.manifest.stage("map"))
        #expect(try #require(map.workedSeconds) >= 0.299)
    }

    @Test func theManifestOnDiskEqualsTheReturnedOne() async throws {
        let test = try await TestRun()
        let result = try await test.run(chain(batches: 3))
        let loaded = try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) }
        #expect(loaded == result.manifest)
        // And it survives another encode → decode.
        #expect(try Manifest.decode(Data(loaded.encoded())) == loaded)
    }

    /// Who ran a run (and so approved what it applied): the account the login gave the process,
    /// recorded with it and read back.
    @Test func theManifestNamesTheAccountThatRanIt() throws {
        #expect(Manifest.ProcessRecord.account(in: ["USER": "ana", "LOGNAME": "x"]) == "ana")
        #expect(Manifest.ProcessRecord.account(in: ["LOGNAME": "nightly"]) == "nightly", "as cron sets it")
        #expect(Manifest.ProcessRecord.account(in: ["USER": ""]) == nil)
        var manifest = Manifest(
            runID: "r", toolVersion: "0", plan: .init(path: "p", sha256: "0", name: "p"), resolvedPlan: .null,
            overrides: [], startedAt: Date(timeIntervalSince1970: 0))
        manifest.process = .init(pid: 1, host: "h", user: "ana")
        #expect(try Manifest.decode(Data(manifest.encoded())).process?.user == "ana")
    }

    @Test func theManifestNamesItsProcessSoAKilledRunCanBeToldFromARunningOne() async throws {
        let test = try await TestRun()
        let result = try await test.run(chain(batches: 1))
        #expect(result.manifest.process == .current)

        var manifest = result.manifest
        manifest.status = .running
        #expect(!manifest.isAbandoned, "this process is alive")
        // A process that has exited and been reaped.
        // Started and reaped on a thread of its own, not the cooperative pool.
        let exited = try await BlockingIO.runOnOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/true")
            try process.run()
            process.waitUntilExit()
            return ExitedProcess(pid: process.processIdentifier)
        }
        manifest.process = .init(pid: Int(exited.pid), host: ProcessInfo.processInfo.hostName)
        #expect(manifest.isAbandoned)
        manifest.process?.host = "another-machine.invalid"
        #expect(!manifest.isAbandoned, "a process on another machine cannot be checked")
        manifest.process = nil
        #expect(!manifest.isAbandoned, "a manifest from before the field existed")
        manifest.process = .init(pid: Int(exited.pid), host: ProcessInfo.processInfo.hostName)
        manifest.status = .failed
        #expect(!manifest.isAbandoned, "a final status is final")
    }

    /// A pid is given to another process after a crash or a restart: the manifest also records
    /// the boot and the process's start, so such a process is not taken for the run's.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/stat"), "needs Linux's /proc"))
    func aRunsProcessIsKnownByItsBootAndStartNotItsPidAlone() async throws {
        let test = try await TestRun()
        let result = try await test.run(chain(batches: 1))
        let recorded = try #require(result.manifest.process)
        #expect(recorded.bootID != nil && recorded.startTicks != nil)
        var manifest = result.manifest
        manifest.status = .running
        #expect(manifest.isInProgress && !manifest.isAbandoned, "this process runs it")

        // This pid, started at another time: the pid was reused, the run's process is gone.
        manifest.process?.startTicks = recorded.startTicks.map { $0 + 1 }
        #expect(manifest.isAbandoned && !manifest.isInProgress)
        // Recorded in another boot: whatever has the pid now is not the run's process.
        manifest.process = recorded
        manifest.process?.bootID = "00000000-0000-0000-0000-000000000000"
        #expect(manifest.isAbandoned && !manifest.isInProgress)
        // No start recorded (an older manifest): alive, but not known to be the run's.
        manifest.process = .init(pid: recorded.pid, host: recorded.host)
        #expect(!manifest.isAbandoned && !manifest.isInProgress)
        manifest.process = recorded
        manifest.status = .failed
        #expect(!manifest.isInProgress, "a final status is final")
    }

    @Test func theStartOfAProcessIsReadPastACommandNameWithSpacesAndParentheses() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
        #expect(ProcFS.startTicks(stat: stat) == 987_654)
        #expect(ProcFS.startTicks(stat: "4242 (short) S 1 2") == nil)
    }

    @Test func dataFilesArePrivate() async throws {
        let test = try await TestRun()
        let result = try await test.run(chain(batches: 2))
        func mode(_ url: URL) async throws -> Int {
            try await BlockingIO.runOnOwnThread {
                let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
                return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            }
        }
        #expect(try await mode(result.directory) == 0o700)
        #expect(try await mode(result.directory.deletingLastPathComponent()) == 0o700, "the runs directory it made")
        let files = try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: result.directory.path)
        }
        #expect(Set(files) == ["manifest.json", "source.ndjson", "map.ndjson", "sink.ndjson"])
        for file in files {
            #expect(try await mode(result.directory.appendingPathComponent(file)) == 0o600, "\(file)")
        }
    }

    @Test func fanOutFeedsEveryConsumerAllRows() async throws {
        let test = try await TestRun()
        let left = SinkStage(name: "left")
        let right = SinkStage(name: "right")
        let result = try await test.run([
            StageSpec(SourceStage(batches: 20, rowsPerBatch: 50)),
            StageSpec(left, input: "source", bufferSize: 1),
            StageSpec(right, input: "source", bufferSize: 3),
        ])
        #expect(result.manifest.status == .succeeded)
        #expect(left.rows.all.count == 1000)
        #expect(left.rows.all == right.rows.all)
        #expect(result.manifest.stage("left")?.spool?.sha256 == result.manifest.stage("right")?.spool?.sha256)
        #expect(result.manifest.stage("right")?.inputs == [result.manifest.stage("source")?.spool].compactMap { $0 })
    }

    @Test func aConsumerThatStopsEarlyDoesNotBlockItsProducer() async throws {
        let test = try await TestRun()
        let result = try await test.run(chain(batches: 50, rowsPerBatch: 10, sink: SinkStage(stopAfter: 2)))
        #expect(result.manifest.status == .succeeded)
        #expect(result.manifest.stage("map")?.rowsOut == 500)
        #expect(result.manifest.stage("sink")?.rowsIn == 20)
    }

    @Test func concurrentRunsNeverShareADirectory() async throws {
        let test = try await TestRun()
        var configuration = test.configuration()
        let fixed = Date(timeIntervalSince1970: 1_700_000_000)
        configuration.now = { fixed }
        let results = try await withThrowingTaskGroup(of: RunResult.self) { group in
            for _ in 0..<8 {
                group.addTask { [configuration] in
                    try await Runner(stages: [StageSpec(SourceStage(batches: 1))], configuration: configuration).run()
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.manifest.runID)).count == 8)
        #expect(results.allSatisfy { $0.manifest.runID.hasPrefix("20231114-221320-") })
        #expect(await test.runNames().count == 8)
    }

    @Test func anInvalidStageListIsRefusedBeforeAnythingIsCreated() async throws {
        let test = try await TestRun()
        await #expect(throws: RunnerError.self) {
            try await test.run([StageSpec(SourceStage()), StageSpec(MapStage(), input: "nowhere")])
        }
        await #expect(throws: RunnerError.self) {
            try await test.run([StageSpec(SourceStage()), StageSpec(SourceStage())])
        }
        #expect(await test.runNames().isEmpty)
    }
}

private struct ExitedProcess: Sendable { var pid: Int32 }
