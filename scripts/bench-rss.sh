#!/usr/bin/env bash
# Peak memory of the Spotify plan as users run it, at 100k and 1M tracks: the release
# `sluice run plans/spotify-enrichment.yaml --yes`, process start to exit under /usr/bin/time,
# against a throwaway PostgreSQL and the simulator without a rate limit (fetch.delay=0s,
# concurrency 16, 20 ms per response), so the whole job streams through every stage. Bounded
# buffers and spools should keep the peak flat: target 1M <= 1.1x 100k. Prints one table row.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${BIG:-1000000}
SMALL=${SMALL:-100000}
swift build -c release --product sluice >&2
swift build -c release --product sluice-spotify-sim >&2
BIN=$(swift build -c release --show-bin-path)
source scripts/services.sh
start_services "$BIG" --latency-ms 20 >&2

run() {  # run TRACKS -> prints "seconds peak_kib"
    local limit=$1 start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss-$limit" "$BIN/sluice" run plans/spotify-enrichment.yaml --yes --quiet \
        --runs-dir "$work/runs-$limit" --set fetch.delay=0s --set fetch.concurrency=16 \
        --set "query.sql=SELECT id AS track_id, spotify_id FROM tracks WHERE spotify_id IS NOT NULL AND btrim(spotify_id) <> '' ORDER BY id LIMIT $limit" \
        >"$work/run-$limit.out" 2>"$work/run-$limit.err"
    end=$(date +%s.%N)
    echo "$(python3 -c "print($end - $start)") $(cat "$work/rss-$limit")"
}
read -r small_s small_kib < <(run "$SMALL")
read -r big_s big_kib < <(run "$BIG")
python3 - "$SMALL" "$small_s" "$small_kib" "$BIG" "$big_s" "$big_kib" <<'PY'
import sys
small, small_s, small_kib, big, big_s, big_kib = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(f"| peak memory, whole command | `sluice run plans/spotify-enrichment.yaml --yes` (release), no rate limit, "
      f"concurrency 16, 20 ms per response | {big:,} tracks: **{big_kib / 1024:.0f} MiB** peak RSS in {big_s:.0f} s; "
      f"{small:,} tracks: {small_kib / 1024:.0f} MiB in {small_s:.0f} s: **{big_kib / small_kib:.2f}x** (target <= 1.1x) |")
PY
