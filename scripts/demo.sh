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
BIN=$(swift build --show-bin-path)

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || PGBIN=$(dirname "$(command -v initdb)")
work=$(mktemp -d /tmp/sluice-demo.XXXXXX)
chmod 755 "$work"
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" -eq 0 ] && chown postgres "$work"

sim_pid=""
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
    [ -f "$work/pg/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL in $work" >&2
as_postgres "$PGBIN/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --locale=C >"$work/initdb.log"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/music"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql "postgresql://postgres@127.0.0.1:$pg_port/postgres" -c "CREATE DATABASE music"
"$BIN/sluice-spotify-sim" --print-demo-sql "$TRACKS" | psql "$DATABASE_URL"

echo "== starting the Spotify simulator (100 requests per 30 s, like a cautious real limit)" >&2
"$BIN/sluice-spotify-sim" --port 0 --rate-limit 100 --log-level warning >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim=$(sed -n 's/^listening on //p' "$work/sim.out")
[ -n "$sim" ] || { echo "the simulator did not start: $(cat "$work/sim.log")" >&2; exit 1; }
export SPOTIFY_API_URL="$sim/v1" SPOTIFY_TOKEN_URL="$sim/api/token"
export SPOTIFY_CLIENT_ID=sluice-demo-client SPOTIFY_CLIENT_SECRET=sluice-demo-secret

table_sum() {
    psql "$DATABASE_URL" -At -c "SELECT md5(string_agg(concat_ws('|', id, spotify_popularity, isrc), ',' ORDER BY id)) FROM tracks"
}
before_sum=$(table_sum)

echo "== sluice run plans/spotify-enrichment.yaml --yes   ($TRACKS tracks, 50 per request, 0.33 s apart)" >&2
status=0
"$BIN/sluice" run plans/spotify-enrichment.yaml --yes | tee "$work/run.txt" || status=$?
run_dir=$(sed -n 's/^run [^ ]* [a-z-]* .*: \(.*\)$/\1/p' "$work/run.txt" | head -1)
[ "$status" -eq 0 ] || { echo "the run ended with status $status" >&2; exit "$status"; }

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
echo "== undoing the run's apply from the prior values it recorded"
"$BIN/sluice" undo "$run_dir" --yes
[ "$(table_sum)" = "$before_sum" ] && echo "ok: the table is exactly as it was before the run"
echo
echo "The runs are in runs/ (sluice runs; sluice runs show RUN). Stopping PostgreSQL and the simulator."
