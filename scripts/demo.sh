#!/usr/bin/env bash
# The Spotify enrichment, end to end, on nothing but this repository:
# a throwaway PostgreSQL and the Spotify simulator on 127.0.0.1, 3,159 demo tracks with every
# edge case, the real plan run with approval given, a summary, then `apply` replayed from the
# manifest to show it changes 0 rows the second time, and `undo` putting the table back exactly
# as it was. Everything it starts is stopped at the end;
# the run directories stay in runs/ for you to read.
set -euo pipefail
cd "$(dirname "$0")/.."

TRACKS=${DEMO_TRACKS:-3159}
bash scripts/install-deps.sh
echo "== building (first build takes several minutes)" >&2
swift build -q --product sluice
swift build -q --product sluice-spotify-sim
source scripts/services.sh
echo "== 100 requests per 30 s, like a cautious real limit" >&2
start_services "$TRACKS" --rate-limit 100

before_sum=$(table_sum)

echo "== sluice run plans/spotify-enrichment.yaml --yes   ($TRACKS tracks, 50 per request, 0.33 s apart)" >&2
status=0
"$BIN/sluice" run plans/spotify-enrichment.yaml --yes | tee "$work/run.txt" || status=$?
run_dir=$(sed -n 's/^run [^ ]* [a-z-]* .*: \(.*\)$/\1/p' "$work/run.txt" | head -1)
[ "$status" -eq 0 ] || { echo "the run ended with status $status" >&2; exit "$status"; }

if [ -f "$run_dir/review.html" ] && browser=$(command -v chromium || command -v chromium-headless-shell); then
    # The review page as a browser shows it, cut off from any network (the page needs none).
    "$browser" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/browser" \
        --host-resolver-rules='MAP * ~NOTFOUND' --proxy-server=127.0.0.1:9 --hide-scrollbars \
        --window-size=1200,1900 --screenshot="$run_dir/review.png" "file://$(cd "$run_dir" && pwd)/review.html" \
        >/dev/null 2>&1 && echo "== the review page, as Chromium renders it: $run_dir/review.png"
fi

echo
echo "== the table now"
psql "$DATABASE_URL" <<'SQL'
SELECT count(*) AS tracks,
       count(spotify_id) AS with_spotify_id,
       count(spotify_popularity) AS with_popularity,
       round(100.0 * count(spotify_popularity) / nullif(count(spotify_id), 0), 1) AS "popularity %",
       count(isrc) AS with_isrc,
       round(100.0 * count(isrc) / nullif(count(spotify_id), 0), 1) AS "isrc %"
FROM tracks;
SELECT lpad((b * 10)::text, 3) || '-' || rpad(least(b * 10 + 9, 100)::text, 3) AS popularity,
       count(*) AS tracks, repeat('#', (count(*) / 15)::int) AS histogram
FROM (SELECT least(spotify_popularity / 10, 9) AS b FROM tracks WHERE spotify_popularity IS NOT NULL) s
GROUP BY b ORDER BY b;
SQL

echo "== replaying apply from the manifest (no fetching): it must change 0 rows"
"$BIN/sluice" replay "$run_dir" --stage apply --yes --quiet | tee "$work/replay.txt"
grep -q "changed=0" "$work/replay.txt" && echo "ok: the second apply changed 0 rows"
echo
echo "== undoing the run's apply from the prior values it recorded: first what it would do, then it"
"$BIN/sluice" undo "$run_dir" --dry-run
"$BIN/sluice" undo "$run_dir" --yes
[ "$(table_sum)" = "$before_sum" ] && echo "ok: the table is exactly as it was before the run"
echo
echo "The runs are in runs/ (sluice runs; sluice runs show RUN). Stopping PostgreSQL and the simulator."
