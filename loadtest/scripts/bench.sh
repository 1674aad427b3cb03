#!/usr/bin/env bash
# bench.sh — run ONE duet-loadtest scenario against a FRESH release server.
#
# Starts ./target/release/duet on its own loopback port with generous limits
# (so the harness measures the server, not its rate limiter), passes
# --target and --server-pid to the harness, then stops the server. A fresh
# process per run keeps the RSS and CPU figures the harness reads from
# /proc/<pid> about that run alone.
#
# Usage (from the repository root, after
#   cargo build --release -p duet -p duet-loadtest):
#
#   loadtest/scripts/bench.sh <port> <scenario> [harness args...]
#
# Examples:
#   loadtest/scripts/bench.sh 9101 idle -n 5000 --hold-secs 3
#   loadtest/scripts/bench.sh 9102 chat -n 1000 --rate 45 --duration-secs 10 --json > run.json
#   loadtest/scripts/bench.sh 9103 chat -n 5000 --rate 2 --procs 2
#
# Environment:
#   DUET_BIN      server binary      (default ./target/release/duet)
#   HARNESS_BIN   harness binary     (default ./target/release/duet-loadtest)
#   PERF_SECS     if set, record `perf record -e cpu-clock -F 2000 -g` on the
#                 server for this many seconds, starting PERF_DELAY seconds
#                 (default 6) after the harness starts; the data goes to
#                 PERF_OUT (default perf-<port>.data)
#   Any DUET_* variable set by the caller overrides the defaults below.
#
# The harness's stdout (e.g. --json) goes to this script's stdout; the
# harness's table / progress and this script's notes go to stderr.
# Exit status is the harness's.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,30p' "$0" >&2
    exit 2
fi

port=$1
shift
scenario=$1
shift

DUET_BIN=${DUET_BIN:-./target/release/duet}
HARNESS_BIN=${HARNESS_BIN:-./target/release/duet-loadtest}

. "$(dirname "$0")/lib.sh"
bench_defaults
export DUET_LISTEN=127.0.0.1:$port

ulimit -n 20000 2>/dev/null || true

"$DUET_BIN" >"/tmp/duet-server-$port.log" 2>&1 &
server=$!

stop_server() {
    if kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server" 2>/dev/null || true
    fi
    wait "$server" 2>/dev/null || true
}
trap stop_server EXIT

# Wait until the server accepts connections (at most ~5 s).
for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "bench.sh: server exited early; log:" >&2
        cat "/tmp/duet-server-$port.log" >&2
        exit 1
    fi
    sleep 0.1
done

echo "bench.sh: server pid $server on 127.0.0.1:$port, scenario $scenario $*" >&2

perf_pid=
if [ -n "${PERF_SECS:-}" ]; then
    (
        sleep "${PERF_DELAY:-6}"
        perf record -e cpu-clock -F 2000 -g -p "$server" \
            -o "${PERF_OUT:-perf-$port.data}" -- sleep "$PERF_SECS" >/dev/null 2>&1
    ) &
    perf_pid=$!
fi

set +e
"$HARNESS_BIN" "$scenario" --target "127.0.0.1:$port" --server-pid "$server" "$@"
rc=$?
set -e

if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
fi
exit $rc
