#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc, set for a pipeline whose stages run on different threads: rows made by one
/// stage are freed by another.
///
/// - Two arenas. glibc gives a thread that finds the arenas busy an arena of its own, up to
///   eight per core, and each arena keeps what was freed in it. Sluice's threads (the
///   cooperative pool's, NIO's, one per database connection) so held more memory the longer a
///   run went: the Spotify plan's peak RSS was 71–73 MiB at 100,000 tracks and 81–84 MiB at
///   1,000,000; with two arenas 64–65 and 70–72 MiB, in the same time (`scripts/bench-rss.sh`,
///   2026-12-03).
/// - Fast bins up to 160 bytes, glibc's largest (the default is 128). A chunk freed on another
///   thread than the one that made it goes back to its arena under the arena's lock, unless it
///   fits a fast bin, which takes it without one. A row of the apply's input (an array of four
///   values, a 144-byte chunk) did not fit: freed by the stage behind while the stage in front
///   made the next rows, it made both wait on the lock. A 1,000,000-row re-apply waited
///   (voluntary context switches) 26,559 times instead of 3,156 and took 2.40 s instead of
///   2.10 s (CPU 2.10 s against 1.75 s), same peak RSS (medians of 8 alternating runs,
///   2026-12-04).
enum MallocTuning {
    /// Applies both, except where the environment says otherwise (`MALLOC_ARENA_MAX`,
    /// `GLIBC_TUNABLES=glibc.malloc.mxfast=...`). Called first thing, before the threads that
    /// would make arenas exist.
    static func apply() {
        #if canImport(Glibc)
        // `mallopt` is declared in <malloc.h>, which the Glibc module leaves out.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let program = dlopen(nil, RTLD_NOW), let symbol = dlsym(program, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        if getenv("MALLOC_ARENA_MAX") == nil {
            let arenaMax: Int32 = -8  // M_ARENA_MAX
            _ = mallopt(arenaMax, 2)
        }
        let tunables = getenv("GLIBC_TUNABLES").map { String(cString: $0) } ?? ""
        if !tunables.contains("malloc.mxfast") {
            let maxFast: Int32 = 1  // M_MXFAST
            _ = mallopt(maxFast, 160)
        }
        #endif
    }
}
