#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc gives a thread that finds the arenas busy an arena of its own, up to eight
/// per core, and each arena keeps what was freed in it. Sluice's threads (the cooperative
/// pool's, NIO's, one per database connection) so held more memory the longer a run went: the
/// Spotify plan's peak RSS was 71–73 MiB at 100,000 tracks and 81–84 MiB at 1,000,000; with two
/// arenas 64–65 and 70–72 MiB, in the same time (`scripts/bench-rss.sh`, 2026-12-03).
enum MallocArenas {
    /// Two arenas, unless `MALLOC_ARENA_MAX` in the environment says otherwise. Called first
    /// thing, before the threads that would make arenas exist.
    static func cap() {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        // `mallopt` is declared in <malloc.h>, which the Glibc module leaves out.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let program = dlopen(nil, RTLD_NOW), let symbol = dlsym(program, "mallopt") else { return }
        let arenaMax: Int32 = -8  // M_ARENA_MAX
        _ = unsafeBitCast(symbol, to: Mallopt.self)(arenaMax, 2)
        #endif
    }
}
