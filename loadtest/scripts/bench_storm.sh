#!/usr/bin/env bash
# bench_storm.sh — bench.sh with a registration storm beside the scenario:
# once the fresh server accepts connections, register-storm posts
# registrations on STORM_CLIENTS (default 32) keep-alive connections for
# STORM_SECS (default 16) seconds while the scenario runs. With STORM_PG
# set (a PostgreSQL URL), the server gets a fresh schema of its own there
# (dropped afterwards); else it uses the memory store.
#
# Made for compare.sh's BENCH (same arguments as bench.sh), e.g.:
#   BENCH=loadtest/scripts/bench_storm.sh loadtest/scripts/compare.sh 3 \
#       mem=target/release/duet \
#       'pg=target/release/duet:STORM_PG=postgresql://postgres@127.0.0.1:5432/test' \
#       -- chat -n 200 --rate 10 --duration-secs 10
# The storm's result goes to /tmp/storm-<port>.json.
set -euo pipefail
port=$1
storm=${STORM:-target/release/register-storm}
schema=""
if [ -n "${STORM_PG:-}" ]; then
    schema="storm_$$_$port"
    export PGOPTIONS="-c client_min_messages=warning"
    psql "$STORM_PG" -qc "CREATE SCHEMA $schema"
    export DUET_DATABASE_URL="$STORM_PG?options=-csearch_path%3D$schema"
fi
(
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    exec "$storm" "127.0.0.1:$port" "${STORM_CLIENTS:-32}" "${STORM_SECS:-16}" >"/tmp/storm-$port.json"
) &
storm_pid=$!
rc=0
"$(dirname "$0")/bench.sh" "$@" || rc=$?
wait "$storm_pid" || true
echo "storm on $port: $(cat "/tmp/storm-$port.json" 2>/dev/null)" >&2
[ -n "$schema" ] && psql "$STORM_PG" -qc "DROP SCHEMA $schema CASCADE"
exit $rc
