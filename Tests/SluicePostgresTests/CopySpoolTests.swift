import Foundation
import Testing

@testable import SluicePostgres

#if canImport(Glibc)
import Glibc
#endif

/// The spool of a COPY's rows on a disk that fills up.
@Suite struct CopySpoolTests {
    /// A write the disk refuses names the directory the file is in (it has no name of its own:
    /// it was unlinked as soon as it was made) and the system's reason; it said only the reason.
    /// `/dev/full` refuses every write with ENOSPC, as a full disk does.
    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/full"), "no /dev/full here"))
    func aWriteToAFullDiskNamesTheDirectoryAndTheReason() async throws {
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        let spool = CopySpool(descriptor: descriptor, directory: "/srv/runs/20261207-045815-qbzfdk", limit: 1 << 20)
        await spool.append([1, 2, 3][...], rows: 1)
        let said = "cannot write a temporary file in /srv/runs/20261207-045815-qbzfdk: No space left on device"
        #expect(spool.failure == said)
        let error = #expect(throws: PostgresError.self) { try spool.reader() }
        #expect(error?.message == said)
    }
}
