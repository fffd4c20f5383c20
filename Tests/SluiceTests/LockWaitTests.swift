import Testing

@testable import Sluice

/// What the lock-wait watcher says, and when, from what `pg_blocking_pids` showed (no server).
@Suite struct LockWaitTests {
    let start = ContinuousClock.now
    let run = LockHolder(
        pid: 4242, applicationName: "sluice 20261125-101500-a1b2c3 apply", user: "etl", state: "active")
    let psql = LockHolder(pid: 77, applicationName: "psql", user: "alice", state: "idle in transaction")

    func observe(_ wait: inout LockWait, _ holders: [LockHolder], after seconds: Int) -> String? {
        wait.observe(holders, at: start + .seconds(seconds), interval: .seconds(1), repeatEvery: .seconds(30))
    }

    @Test func namesAnotherSluiceRunByItsRunAndStageAndAnyOtherSessionByWhatTheServerShows() {
        #expect(run.description == "sluice run 20261125-101500-a1b2c3 (stage apply, pid 4242)")
        #expect(psql.description == "another session (pid 77, application 'psql', user 'alice', idle in transaction)")
        #expect(LockHolder(pid: 9, applicationName: "", user: "", state: "").description == "another session (pid 9)")
        #expect(LockHolder(pid: 9, applicationName: "sluice", user: "", state: "").sluiceRun == nil)
    }

    @Test func saysSoWhenTheWaitStartsWhenTheHoldersChangeAndEvery30sButNotAtEveryLook() {
        var wait = LockWait(table: "tracks")
        #expect(observe(&wait, [], after: 1) == nil)
        #expect(wait.summary == nil, "no wait seen, nothing to record")
        #expect(
            observe(&wait, [run], after: 2)
                == "waiting for a lock on tracks held by \(run); going on when that transaction ends")
        #expect(observe(&wait, [run], after: 3) == nil)
        #expect(observe(&wait, [run], after: 31) == nil)
        #expect(observe(&wait, [run], after: 32) == "still waiting (31s) for a lock on tracks held by \(run)")
        #expect(
            observe(&wait, [run, psql], after: 33)?.hasPrefix("waiting for a lock on tracks held by \(run), \(psql)")
                == true)
        #expect(observe(&wait, [], after: 34) == nil)
        #expect(wait.summary == "waited about 32s for a lock on tracks held by \(run), \(psql)")
    }
}
