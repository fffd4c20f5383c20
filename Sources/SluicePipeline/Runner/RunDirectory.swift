import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Run ids and run directories.
///
/// A run id is `YYYYMMDD-HHMMSS-xxxxxx`: the UTC start time, then six random lowercase
/// letters and digits, so ids sort by time and two runs started in the same second differ.
enum RunDirectory {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")

    static func makeID(at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        var components = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(identifier: "UTC")!
        let c = components.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let suffix = String((0..<6).map { _ in alphabet.randomElement(using: &generator)! })
        return "\(c.year ?? 0)\(two(c.month))\(two(c.day))-\(two(c.hour))\(two(c.minute))\(two(c.second))-\(suffix)"
    }

    /// Creates a new run directory (mode 0700) under `runsDirectory`, creating that too when
    /// missing (mode 0700 as well: whoever may write there could plant or rename the run
    /// directories that replay and undo act on; an existing one is left as it is). The directory
    /// is made with a single `mkdir`, which fails if it exists, so two concurrent runs never share
    /// one: on a collision a new id is drawn.
    /// `createdRuns`: the runs directory did not exist and was made.
    static func create(in runsDirectory: URL, at date: Date) throws -> (id: String, url: URL, createdRuns: Bool) {
        // Each missing directory with its own mkdir: a failure then has the system's reason
        // ("Not a directory", "Permission denied"), not Foundation's "error 512".
        var path = ""
        var createdRuns = false
        let components = runsDirectory.standardizedFileURL.pathComponents
        for (index, component) in components.enumerated() {
            path = component == "/" ? "/" : (path.hasSuffix("/") ? path : path + "/") + component
            let isRuns = index == components.count - 1
            if mkdir(path, isRuns ? PrivateFile.directoryMode : 0o777) == 0 {
                if isRuns {
                    _ = chmod(path, PrivateFile.directoryMode)
                    createdRuns = true
                }
                continue
            }
            let error = errno
            var status = stat()
            guard error == EEXIST, stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw RunnerError(
                    "cannot create the runs directory \(runsDirectory.path): "
                        + "\(FileError("create directory", path: path, errno: error == EEXIST ? ENOTDIR : error))")
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let id = makeID(at: date, using: &generator)
            let url = runsDirectory.appendingPathComponent(id, isDirectory: true)
            if mkdir(url.path, PrivateFile.directoryMode) == 0 {
                // mkdir applies the umask; make the mode exact.
                _ = chmod(url.path, PrivateFile.directoryMode)
                return (id, url, createdRuns)
            }
            let error = errno
            guard error == EEXIST else {
                throw RunnerError(
                    "cannot create the run directory: \(FileError("create directory", path: url.path, errno: error))")
            }
        }
        throw RunnerError("cannot create a run directory in \(runsDirectory.path): every id drawn was taken")
    }

    /// `url`'s path relative to `directory` when it lies inside it, else its absolute path.
    static func relativePath(of url: URL, in directory: URL) -> String {
        let path = url.standardizedFileURL.path
        let base = directory.standardizedFileURL.path
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }
}

extension Manifest {
    /// Removes what a run's process leaves in its directory only when it dies before it ends:
    /// the temporary files of files it was writing (`.NAME.XXXX.tmp`, some with rows of data in
    /// them) and the space it held back for its manifest (``ManifestRecorder/reserveFileName``).
    /// Only for a run whose process is gone. Blocking.
    /// - Returns: the names removed.
    public static func removeLeftovers(ofRunIn directory: URL) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let leftovers = names.filter { name in
            name == ManifestRecorder.reserveFileName || (name.hasPrefix(".") && name.hasSuffix(".tmp"))
        }.sorted()
        for name in leftovers {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        return leftovers
    }
}
