# Sourced by demo.sh and bench-plan.sh: a throwaway PostgreSQL and the Spotify simulator on
# 127.0.0.1, loaded with the demo tracks, stopped (by pid / data directory) when the script exits.
#   start_services TRACKS [simulator options...]
# sets: work BIN PGBIN DATABASE_URL SPOTIFY_API_URL SPOTIFY_TOKEN_URL SPOTIFY_CLIENT_ID
#       SPOTIFY_CLIENT_SECRET sim (the simulator's origin); defines psql and table_sum.

BIN=${BIN:-$(swift build --show-bin-path)}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || PGBIN=$(dirname "$(command -v initdb)")
work=$(mktemp -d /tmp/sluice-services.XXXXXX)
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

psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
table_sum() {
    psql "$DATABASE_URL" -At -c "SELECT md5(string_agg(concat_ws('|', id, spotify_popularity, isrc), ',' ORDER BY id)) FROM tracks"
}

start_services() {
    local tracks=$1
    shift
    echo "== starting a throwaway PostgreSQL in $work" >&2
    as_postgres "$PGBIN/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --locale=C >"$work/initdb.log"
    local pg_port
    pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_postgres "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 \
        -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/music"
    psql "postgresql://postgres@127.0.0.1:$pg_port/postgres" -c "CREATE DATABASE music"
    "$BIN/sluice-spotify-sim" --print-demo-sql "$tracks" | psql "$DATABASE_URL"

    echo "== starting the Spotify simulator ($*)" >&2
    "$BIN/sluice-spotify-sim" --port 0 --log-level warning "$@" >"$work/sim.out" 2>"$work/sim.log" &
    sim_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
    sim=$(sed -n 's/^listening on //p' "$work/sim.out")
    [ -n "$sim" ] || { echo "the simulator did not start: $(cat "$work/sim.log")" >&2; exit 1; }
    export SPOTIFY_API_URL="$sim/v1" SPOTIFY_TOKEN_URL="$sim/api/token"
    export SPOTIFY_CLIENT_ID=sluice-demo-client SPOTIFY_CLIENT_SECRET=sluice-demo-secret
}
