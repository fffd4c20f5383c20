#!/usr/bin/env bash
# Fetch throughput as users run it: the release `sluice run plans/spotify-enrichment.yaml --yes`
# with no pacing (`fetch.delay=0s`, `fetch.concurrency=16`), process start to exit — query, fetch,
# audit CSV, validate, the review and apply of every row, verify — against a bare AsyncHTTPClient
# process (`sluice-bench raw-fetch`, 16 requests in flight, no pacing, retries or spools) asking
# the same simulator (no rate limit, 50 ms per response) for the same ids in batches of 50.
# Rounds alternate (sluice first), each sluice run after a reset of the table; medians count.
# Prints one Markdown table row.
#   TRACKS=100000 ROUNDS=3 bash scripts/bench-throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TRACKS=${TRACKS:-100000}
ROUNDS=${ROUNDS:-3}
swift build -c release --product sluice >&2
swift build -c release --product sluice-spotify-sim >&2
swift build -c release --product sluice-bench >&2
BIN=$(swift build -c release --show-bin-path)
source scripts/services.sh
start_services "$TRACKS" --latency-ms 50 >&2

seconds() {  # seconds COMMAND...: wall time, process start to exit
    local start end
    start=$(date +%s.%N)
    "$@" >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/out.txt" "$work/err.txt" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}
sluice_times=() raw_times=()
for round in $(seq "$ROUNDS"); do
    psql "$DATABASE_URL" -c "UPDATE tracks SET spotify_popularity = NULL, isrc = NULL" -c "VACUUM ANALYZE tracks" >/dev/null
    rm -rf "$work/runs"
    sluice_times+=("$(seconds "$BIN/sluice" run plans/spotify-enrichment.yaml --yes --quiet --runs-dir "$work/runs" \
        --set fetch.delay=0s --set fetch.concurrency=16)")
    if [ "$round" = 1 ]; then
        # The ids the plan sent (after its id() and id_pattern), from its fetch stage's input spool.
        manifest=$(ls "$work"/runs/*/manifest.json)
        python3 - "$manifest" "$work/ids.txt" "$work/sent" <<'PY'
import json, os, sys
manifest, out, sent = sys.argv[1], sys.argv[2], sys.argv[3]
m = json.load(open(manifest))
fetch = next(s for s in m["stages"] if s["kind"] == "fetch")
c = fetch["counters"]
open(sent, "w").write(str(c["found"] + c["not_found"]))
audit = next(a for s in m["stages"] if s["kind"] == "write-csv" for a in s["outputs"] if a["kind"] == "csv")
path = audit["path"] if audit["path"].startswith("/") else os.path.join(os.path.dirname(manifest), audit["path"])
lines = open(path).read().splitlines()
index = lines[0].split(",").index("spotify_id")
open(out, "w").write("\n".join(line.split(",")[index] for line in lines[1:]) + "\n")
PY
    fi
    raw_times+=("$(seconds "$BIN/sluice-bench" raw-fetch --api "$SPOTIFY_API_URL" --token-url "$SPOTIFY_TOKEN_URL" \
        --ids "$work/ids.txt" --tasks 16)")
    echo "round $round: sluice ${sluice_times[-1]} s, raw client ${raw_times[-1]} s" >&2
done
python3 - "$TRACKS" "$(cat "$work/sent")" "$(wc -l <"$work/ids.txt")" "${sluice_times[*]}" "${raw_times[*]}" <<'PY'
import statistics, sys
tracks, sent, raw_ids = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = statistics.median(float(x) for x in sys.argv[4].split())
r = statistics.median(float(x) for x in sys.argv[5].split())
print(f"| fetch throughput, whole command | `sluice run plans/spotify-enrichment.yaml --yes --set fetch.delay=0s "
      f"--set fetch.concurrency=16` (release; query, fetch, audit CSV, validate, review + apply, verify) vs "
      f"`sluice-bench raw-fetch --tasks 16` (AsyncHTTPClient alone), both whole processes, {tracks:,} demo tracks, "
      f"no rate limit, 50 ms per response | median sluice **{s:.2f} s = {sent / s:,.0f} ids/s** ({sent:,} ids sent) vs raw "
      f"client **{r:.2f} s = {raw_ids / r:,.0f} ids/s** ({raw_ids:,} ids, those found): **{(sent / s) / (raw_ids / r):.2f}x** |")
PY
