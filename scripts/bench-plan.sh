#!/usr/bin/env bash
# The Spotify plan as a user runs it: the release `sluice run plans/spotify-enrichment.yaml --yes`,
# process start to exit, against a throwaway PostgreSQL and the simulator behaving like the job
# in issue 15 (3,159 demo tracks with their malformed ids, 2% transient 5xx faults, 50 ms per
# response, 90 requests per rolling 30 s), measured against the rate floor: one request per 50
# ids sent, at the plan's 0.33 s pace. Prints one Markdown table row.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACKS=${TRACKS:-3159}
swift build -c release --product sluice >&2
swift build -c release --product sluice-spotify-sim >&2
BIN=$(swift build -c release --show-bin-path)
source scripts/services.sh
start_services "$TRACKS" --rate-limit 90 --latency-ms 50 --fault-rate 0.02 --faults 500,502,503 >&2

start=$(date +%s.%N)
"$BIN/sluice" run plans/spotify-enrichment.yaml --yes --runs-dir "$work/runs" >"$work/run.txt" 2>"$work/run.err"
end=$(date +%s.%N)
curl -s "$sim/_sim/stats" >"$work/stats.json"
python3 - "$work" "$start" "$end" "$TRACKS" <<'PY'
import glob, json, math, sys
work, start, end, tracks = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
manifest = json.load(open(glob.glob(f"{work}/runs/*/manifest.json")[0]))
stats = json.load(open(f"{work}/stats.json"))
fetch = next(s for s in manifest["stages"] if s["name"] == "fetch")
c = fetch["counters"]
sent = c["found"] + c["not_found"] + c["rejected"]
floor_requests = math.ceil(sent / 50)
floor = floor_requests * 0.33
wall = end - start
print(f"| spotify plan, whole command | `sluice run plans/spotify-enrichment.yaml --yes` (release), {tracks:,} demo tracks "
      f"({c['malformed_id']} malformed ids rejected before any request), 2% 5xx faults, 50 ms latency, limit 90/30 s "
      f"| **{wall:.1f} s**, status {manifest['status']}; floor {floor_requests} requests x 0.33 s = {floor:.1f} s: "
      f"**{wall / floor:.3f}x**; {c['requests']} requests ({c['retries']} retries, {c['narrowed_requests']} narrowing), "
      f"{stats['rate_limited']} x 429 |")
PY
