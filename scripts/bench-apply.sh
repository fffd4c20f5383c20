#!/usr/bin/env bash
# `sluice apply` as a user runs it, against the psql script a DBA would write, both as whole
# processes on the same data: the Spotify plan's apply (and its verify) from a reviewed CSV of
# ROWS tracks into a `tracks` table with three indexes (primary key, popularity, isrc) and a
# CHECK, in a throwaway PostgreSQL. ROUNDS alternating rounds (psql first), each after a reset
# (values NULL, VACUUM ANALYZE, CHECKPOINT); the median of each side counts. Then ROUNDS
# re-applies of the same CSV onto the applied table (nothing changes), alternating with the psql
# script run again. Each round also times the command the issue measured, `sluice replay RUN
# --stage apply --yes` (the apply alone, on the input the first round's run recorded: no CSV to
# read and check, no verify). Each round's first applies keep their runs in a directory of their
# own, as a first apply finds no state an earlier apply of the same file kept; AGAIN_ROUNDS more
# apply the file once more after a reset, where the state the last round kept is found stale
# (one more scan of the table), against psql's script again. Prints one Markdown table row.
#   ROWS=200000 ROUNDS=5 bash scripts/bench-apply.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-200000}
ROUNDS=${ROUNDS:-5}
AGAIN_ROUNDS=${AGAIN_ROUNDS:-3}
swift build -c release --product sluice >&2
swift build -c release --product sluice-spotify-sim >&2
BIN=$(swift build -c release --show-bin-path)
source scripts/services.sh
start_services 0 >&2

echo "== $ROWS tracks, and a reviewed CSV for all of them" >&2
psql "$DATABASE_URL" <<SQL
INSERT INTO tracks (id, title, spotify_id)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Track ' || i, substr(md5(i::text), 1, 22)
FROM generate_series(1, $ROWS) AS i;
VACUUM ANALYZE tracks;
SQL
psql "$DATABASE_URL" -c "\\copy (SELECT id AS track_id, spotify_id, (hashint4(i::int) & 127) % 101 AS spotify_popularity,
  CASE WHEN i % 50 = 0 THEN NULL ELSE 'US' || upper(substr(md5(i::text), 1, 3)) || lpad((i % 10000000)::text, 7, '0') END AS isrc
  FROM (SELECT id, spotify_id, row_number() OVER (ORDER BY id) AS i FROM tracks) t) TO '$work/reviewed.csv' CSV HEADER"

cat >"$work/apply.sql" <<SQL
BEGIN;
CREATE TEMP TABLE input (track_id uuid, spotify_id text, spotify_popularity int, isrc text) ON COMMIT DROP;
\\copy input FROM '$work/reviewed.csv' CSV HEADER
UPDATE tracks AS t
SET spotify_popularity = coalesce(i.spotify_popularity, t.spotify_popularity), isrc = i.isrc
FROM input AS i
WHERE t.id = i.track_id
  AND (t.spotify_popularity IS DISTINCT FROM coalesce(i.spotify_popularity, t.spotify_popularity)
       OR t.isrc IS DISTINCT FROM i.isrc);
COMMIT;
SQL

reset_table() {
    psql "$DATABASE_URL" -c "UPDATE tracks SET spotify_popularity = NULL, isrc = NULL" \
        -c "VACUUM ANALYZE tracks" -c "CHECKPOINT" >/dev/null
}
# Seconds a command took, process start to exit; its peak RSS (KiB) in $work/rss.
timed() {
    local start end
    start=$(date +%s.%N)
    local status=0
    /usr/bin/time -f %M -o "$work/rss" "$@" >"$work/out.txt" 2>"$work/err.txt" || status=$?
    # ALLOWED_STATUS: a run that stops at its approval gate exits 3.
    if [ "$status" -ne 0 ] && [ "$status" -ne "${ALLOWED_STATUS:-0}" ]; then
        cat "$work/out.txt" "$work/err.txt" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}
# psql's script, `sluice apply` of the reviewed CSV approved up front keeping its runs in $1, and
# the replay of the apply alone on the recorded input keeping its runs in $replays, each timed as
# above.
psql_apply() { timed "$(command -v psql)" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$work/apply.sql"; }
sluice_apply() {
    timed "$BIN/sluice" apply plans/spotify-enrichment.yaml "$work/reviewed.csv" --yes --runs-dir "$1" --quiet
}
sluice_replay() { timed "$BIN/sluice" replay "$recorded" --stage apply --yes --runs-dir "$replays" --quiet; }

psql_times=() sluice_times=() replay_times=()
for round in $(seq "$ROUNDS"); do
    reset_table
    psql_times+=("$(psql_apply)")
    psql_sum=$(table_sum)
    reset_table
    # A first apply: no state kept by an earlier apply of the file in its runs directory.
    runs="$work/runs-$round" replays="$work/replays-$round"
    sluice_times+=("$(sluice_apply "$runs")")
    sluice_rss=$(cat "$work/rss")
    [ "$(table_sum)" = "$psql_sum" ] || { echo "round $round: sluice and psql left different tables" >&2; exit 1; }
    [ "$round" = 1 ] && recorded=$(ls -td "$runs"/*/ | head -1)
    reset_table
    replay_times+=("$(sluice_replay)")
    [ "$(table_sum)" = "$psql_sum" ] || { echo "round $round: the replay left a different table" >&2; exit 1; }
    echo "round $round: psql ${psql_times[-1]} s, sluice ${sluice_times[-1]} s, replay ${replay_times[-1]} s" >&2
done
# Re-applying onto the applied table (nothing changes), alternating with the psql script run
# again the same way: what the same command costs a second time, for each side.
psql_reapply=() sluice_reapply=() replay_reapply=()
for round in $(seq "$ROUNDS"); do
    psql_reapply+=("$(psql_apply)")
    sluice_reapply+=("$(sluice_apply "$runs")")
    replay_reapply+=("$(sluice_replay)")
done
[ "$(table_sum)" = "$psql_sum" ] || { echo "a re-apply changed the table" >&2; exit 1; }
echo "re-apply: psql ${psql_reapply[*]} s, sluice ${sluice_reapply[*]} s, replay ${replay_reapply[*]} s" >&2

# The file applied again after the table was reset: the state the last round kept is there but
# stale, so the apply scans the table, finds it changed, and reads the file as a first apply does.
psql_again=() sluice_again=()
for round in $(seq "$AGAIN_ROUNDS"); do
    reset_table
    psql_again+=("$(psql_apply)")
    reset_table
    sluice_again+=("$(sluice_apply "$runs")")
    [ "$(table_sum)" = "$psql_sum" ] || { echo "applying again after a reset left a different table" >&2; exit 1; }
done
echo "applied again after a reset: psql ${psql_again[*]} s, sluice ${sluice_again[*]} s" >&2

# The review at the gate, as a person gets it: without --yes the command reads and checks the
# CSV, reviews (review.csv, review.html) and stops (exit 3), changing nothing; then its
# approval, `replay --from apply --yes`: the apply held to that review (drift checked).
reset_table
gate=$(ALLOWED_STATUS=3 timed "$BIN/sluice" apply plans/spotify-enrichment.yaml "$work/reviewed.csv" \
    --runs-dir "$runs" --quiet)
stopped=$(ls -td "$runs"/*/ | head -1)
approved=$(timed "$BIN/sluice" replay "$stopped" --from apply --yes --runs-dir "$runs" --quiet)
[ "$(table_sum)" = "$psql_sum" ] || { echo "the approved review left a different table" >&2; exit 1; }
echo "review at the gate ${gate} s, its approval ${approved} s" >&2

python3 - "$ROWS" "$sluice_rss" "${psql_times[*]}" "${sluice_times[*]}" "$gate" "$approved" \
    "${psql_reapply[*]}" "${sluice_reapply[*]}" "${replay_times[*]}" "${replay_reapply[*]}" \
    "${psql_again[*]}" "${sluice_again[*]}" <<'PY'
import statistics, sys
rows, rss = int(sys.argv[1]), int(sys.argv[2])
psql = [float(x) for x in sys.argv[3].split()]
sluice = [float(x) for x in sys.argv[4].split()]
gate, approved = float(sys.argv[5]), float(sys.argv[6])
p, s = statistics.median(psql), statistics.median(sluice)
p_again = statistics.median(float(x) for x in sys.argv[7].split())
reapply = statistics.median(float(x) for x in sys.argv[8].split())
replay = [float(x) for x in sys.argv[9].split()]
r = statistics.median(replay)
replay_again = statistics.median(float(x) for x in sys.argv[10].split())
again = [b / a for a, b in zip((float(x) for x in sys.argv[11].split()), (float(x) for x in sys.argv[12].split()))]
replay_rounds = ", ".join(f"{b / a:.2f}x" for a, b in zip(psql, replay))
ratios = [b / a for a, b in zip(psql, sluice)]
rounds = ", ".join(f"{r:.2f}x" for r in ratios)
print(f"| apply command vs psql | `sluice apply plans/spotify-enrichment.yaml reviewed.csv --yes` (release) vs "
      f"`psql -f apply.sql` (`\\copy` to a temp table + `UPDATE ... FROM ... IS DISTINCT FROM`, one transaction), "
      f"{rows:,} rows, `tracks` with 3 indexes + a CHECK, {len(psql)} alternating rounds "
      f"| median sluice **{s:.2f} s** vs psql **{p:.2f} s**: **{s / p:.2f}x**; each round's ratio "
      f"(psql and sluice back to back) median **{statistics.median(ratios):.2f}x** (rounds {rounds}); "
      f"re-apply of the same CSV (median of {len(psql)}) {reapply:.2f} s = **{reapply / s:.0%}** of the first, "
      f"the psql script run again {p_again:.2f} s = {p_again / p:.0%} of its first; "
      f"applied again after a reset (the state kept is found stale by one more scan; {len(again)} rounds against "
      f"psql's script) median **{statistics.median(again):.2f}x**; "
      f"`sluice replay RUN --stage apply --yes` (the issue's command: the apply alone on the recorded input, no CSV, "
      f"no verify) median **{r:.2f} s = {r / p:.2f}x** (rounds {replay_rounds}), its re-apply {replay_again:.2f} s = "
      f"**{replay_again / r:.0%}** of its first; sluice peak RSS {rss / 1024:.0f} MiB; "
      f"the review at the gate (the same command without `--yes`: reads the CSV, reviews, stops) {gate:.2f} s = "
      f"**{gate / s:.0%}** of the apply command; its approval (`replay --from apply --yes`, held to the review) "
      f"{approved:.2f} s |")
PY
