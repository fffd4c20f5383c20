import Foundation

extension Manifest {
    /// Loads a manifest from a run directory or from its manifest.json.
    /// - Throws: ``ManifestError`` naming the file when it is missing or not a manifest.
    public static func load(from url: URL) throws -> Manifest {
        let file = manifestURL(for: url)
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            var failure = ManifestError(
                path: file.path, message: "cannot read the manifest (\(error.localizedDescription))")
            failure.permissionDenied = (error as? CocoaError)?.code == .fileReadNoPermission
            throw failure
        }
        do {
            return try decode(data)
        } catch {
            var failure = ManifestError(path: file.path, message: "not a Sluice run manifest: \(error)")
            failure.notAManifest = true
            throw failure
        }
    }

    /// `url` itself when it names a file, its `manifest.json` when it names a directory.
    public static func manifestURL(for url: URL) -> URL {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return url.appendingPathComponent(fileName)
        }
        if url.lastPathComponent != fileName, !FileManager.default.fileExists(atPath: url.path) {
            return url.appendingPathComponent(fileName)
        }
        return url
    }

    /// Every run in `runsDirectory` whose manifest loads, oldest first.
    /// Directories without a readable manifest are left out.
    public static func loadAll(in runsDirectory: URL) -> [(directory: URL, manifest: Manifest)] {
        loadEvery(in: runsDirectory).runs
    }

    /// Every run in `runsDirectory` whose manifest loads, oldest first, and why each
    /// `manifest.json` that does not load does not (a directory without one is not a run).
    public static func loadEvery(
        in runsDirectory: URL
    ) -> (runs: [(directory: URL, manifest: Manifest)], unreadable: [ManifestError]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runsDirectory.path)) ?? []
        var runs: [(directory: URL, manifest: Manifest)] = []
        var unreadable: [ManifestError] = []
        for name in names.sorted() {
            let directory = runsDirectory.appendingPathComponent(name)
            let file = directory.appendingPathComponent(fileName)
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            do {
                runs.append((directory, try load(from: file)))
            } catch let error as ManifestError {
                unreadable.append(error)
            } catch {
                unreadable.append(ManifestError(path: file.path, message: "\(error)"))
            }
        }
        // Run ids sort by second only; two runs in the same second are ordered by their start.
        runs.sort { ($0.manifest.startedAt, $0.manifest.runID) < ($1.manifest.startedAt, $1.manifest.runID) }
        return (runs, unreadable)
    }
}

/// A manifest that cannot be read.
public struct ManifestError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    /// The file is there, but this user may not read it.
    public var permissionDenied = false
    /// The file was read, and is not a manifest (truncated, edited, another file).
    public var notAManifest = false
    public var description: String { "\(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// What a person can do about it.
    public var advice: String {
        if permissionDenied {
            return "make it readable to this user (it is created 0600: run as its owner, or chmod u+r it)"
        }
        if notAManifest {
            return "put back a copy of it (from a backup), or mend it where the error says; nothing reads or "
                + "changes the run's other files meanwhile"
        }
        return "check that the file is there and readable"
    }
}
