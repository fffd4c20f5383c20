import Foundation

/// What Linux's `/proc` says about this boot and about a process, to tell a run's process from
/// another one given its pid later. `nil` where `/proc` is not mounted or says something else.
///
/// These files are made by the kernel when read, from memory: reading one never waits for a
/// disk, so it is done where it is asked (as `kill(pid, 0)` is).
enum ProcFS {
    /// This boot's id: a UUID the kernel draws at boot.
    static var bootID: String? {
        guard let text = read("/proc/sys/kernel/random/boot_id") else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// When process `pid` started, in clock ticks since boot: field 22 of `/proc/PID/stat`.
    static func startTicks(of pid: Int) -> Int? {
        read("/proc/\(pid)/stat").flatMap(startTicks(stat:))
    }

    /// Field 22 of a `/proc/PID/stat` line. The second field, the command name in parentheses,
    /// may hold spaces and parentheses itself: the fields are counted from the last `)`.
    static func startTicks(stat: String) -> Int? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (the state).
        guard fields.count > 19 else { return nil }
        return Int(fields[19])
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}
