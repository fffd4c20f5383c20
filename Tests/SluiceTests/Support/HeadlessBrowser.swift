import Foundation
import SluiceCore

/// Debian's Chromium, headless, as a reader of the pages Sluice writes: it loads a local file
/// with every way to the network shut (no name resolves, a proxy that refuses) and hands back
/// the DOM it rendered, or a screenshot. `make test` installs it (scripts/install-deps.sh).
struct HeadlessBrowser {
    let executable: URL

    /// The first of Debian's Chromium binaries that is installed, if any.
    static let installed: HeadlessBrowser? = {
        let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/bin/chromium-browser"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
            .map { HeadlessBrowser(executable: URL(fileURLWithPath: $0)) }
    }()

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The DOM of `page` after Chromium loaded and rendered it (`--dump-dom`).
    func renderedDOM(of page: URL) async throws -> String {
        try await run(["--dump-dom", page.absoluteString])
    }

    /// How wide `page` lays out, in CSS pixels, in a window `width` pixels wide: a copy of it
    /// beside it, with a script that writes the document's `scrollWidth` into the DOM it
    /// renders (the page itself runs none).
    func layoutWidth(of page: URL, window width: Int = 1200) async throws -> Int {
        let probe = page.deletingLastPathComponent().appendingPathComponent("layout-probe.html")
        let script = "<script>document.body.dataset.width = document.documentElement.scrollWidth</script>"
        let html = try await text(of: page).replacingOccurrences(of: "</body>", with: script + "</body>")
        try await BlockingIO.runOnOwnThread { try Data(html.utf8).write(to: probe) }
        let dom = try await run(["--window-size=\(width),1600", "--dump-dom", probe.absoluteString])
        guard let match = dom.firstMatch(of: /data-width="(\d+)"/), let pixels = Int(match.output.1) else {
            throw Failure(description: "no width in the rendered page: \(dom.prefix(300))")
        }
        return pixels
    }

    /// A PNG of `page` at `width`×`height` CSS pixels, written to `png`.
    func screenshot(of page: URL, to png: URL, width: Int = 1200, height: Int = 1600) async throws {
        _ = try await run(
            ["--screenshot=\(png.path)", "--window-size=\(width),\(height)", "--hide-scrollbars", page.absoluteString])
    }

    /// Runs Chromium to the end (at most `limit`) and returns what it printed. Waits by polling,
    /// so no thread of the cooperative pool sits in a blocking wait.
    private func run(_ arguments: [String], limit: Duration = .seconds(180)) async throws -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-browser-\(UUID())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout.txt")
        let err = scratch.appendingPathComponent("stderr.txt")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        }
        let process = Process()
        process.executableURL = executable
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--user-data-dir=\(scratch.path)", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=127.0.0.1:9", "--disable-background-networking",
            ] + arguments
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while process.isRunning {
            if clock.now > deadline {
                process.terminate()
                throw Failure(description: "chromium did not finish within \(limit)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard process.terminationStatus == 0 else {
            let stderr = (try? await text(of: err)) ?? ""
            throw Failure(description: "chromium exited with \(process.terminationStatus): \(stderr.suffix(2000))")
        }
        return try await text(of: out)
    }
}
