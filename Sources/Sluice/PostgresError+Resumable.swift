import SluiceApply
import SluicePipeline
import SluicePostgres

/// A database that could not be reached, went away or ran short ends the run as resumable: the
/// summary gives `sluice resume`, which reuses every answer the run fetched.
extension PostgresError: ResumableError {
    public var isResumable: Bool { isTransient }
}

/// An apply cut off from its database (rolled back, or its commit's outcome unknown: applying
/// the same input again is safe either way) can be resumed; one the database refused cannot.
extension BulkUpdateError: ResumableError {
    public var isResumable: Bool {
        switch reason {
        case .connectionLost, .commitOutcomeUnknown: true
        default: mayPassLater || underlying?.isTransient ?? false
        }
    }
}

/// The same for an apply of a CSV (its error located in the file): a lost connection is
/// resumable there too.
extension CSVApplyError: ResumableError {
    public var isResumable: Bool { underlying.isResumable }
}

/// A stage's own failure is resumable when it says so (a check before the run that a lock
/// held elsewhere cut short).
extension StageError: ResumableError {
    public var isResumable: Bool { resumable }
}

/// Verify checks the server's timeouts alone cancelled may pass when run again.
extension VerifyError: ResumableError {
    public var isResumable: Bool { resumable }
}
