#!/usr/bin/env bash
# cluster_bench.sh — run ONE duet-loadtest scenario against a FRESH cluster:
# a private Redis (its own port, no persistence) and NODES release duet
# nodes sharing it, on consecutive loopback ports from PORT. The harness
# spreads users over the nodes (--more-targets, --split), sums the nodes'
# CPU and memory (--server-pid a,b,...) and reads Redis's CPU apart
# (--redis-pid); then everything is stopped.
#
# Usage (from the repository root, after
#   cargo build --release -p duet -p duet-loadtest):
#
#   NODES=<n> SPLIT=<cross|same> loadtest/scripts/cluster_bench.sh <port> <scenario> [harness args...]
#
# Examples:
#   # rooms split across two nodes, and rooms on one node (same topology):
#   SPLIT=cross loadtest/scripts/cluster_bench.sh 9400 chat -n 1000 --rate 10 --pair-interests
#   SPLIT=same loadtest/scripts/cluster_bench.sh 9400 chat -n 1000 --rate 10 --pair-interests
#   # joins per second over three nodes (a double match fails the run):
#   NODES=3 loadtest/scripts/cluster_bench.sh 9400 queue -n 3000 --moods chill
#   # side by side, alternating (compare.sh runs $BENCH in place of bench.sh):
#   BENCH=loadtest/scripts/cluster_bench.sh loadtest/scripts/compare.sh 3 \
#       cross=target/release/duet:SPLIT=cross same=target/release/duet:SPLIT=same \
#       -- chat -n 1000 --rate 10 --pair-interests
#
# Environment:
#   NODES          nodes to start  (default 2)
#   SPLIT          how users are spread over them (default cross; see the
#                  harness's --split)
#   DUET_BIN       server binary   (default ./target/release/duet)
#   HARNESS_BIN    harness binary  (default ./target/release/duet-loadtest)
#   REDIS_SERVER   redis-server    (default redis-server)
#   Any DUET_* variable set by the caller overrides the defaults below.
#
# The harness's stdout (e.g. --json) goes to this script's stdout; the
# rest goes to stderr. Exit status is the harness's.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,34p' "$0" >&2
    exit 2
fi
port=$1
scenario=$2
shift 2
nodes=${NODES:-2}

DUET_BIN=${DUET_BIN:-./target/release/duet}
HARNESS_BIN=${HARNESS_BIN:-./target/release/duet-loadtest}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

. "$(dirname "$0")/lib.sh"
bench_defaults
ulimit -n 20000 2>/dev/null || true

redis_port=$((port + 100))
"$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    >"/tmp/duet-cbench-redis-$redis_port.log" 2>&1 &
redis=$!
pids=()

stop_all() {
    for p in "${pids[@]}" "$redis"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}" "$redis"; do
        for _ in $(seq 1 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap stop_all EXIT

wait_port() {
    for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "cluster_bench.sh: nothing listens on $1" >&2
    return 1
}

wait_port "$redis_port"
export DUET_REDIS_URL=redis://127.0.0.1:$redis_port
export DUET_REDIS_PREFIX=bench$port
targets=()
for ((i = 0; i < nodes; i++)); do
    p=$((port + i))
    DUET_LISTEN=127.0.0.1:$p DUET_NODE_ID=n$i "$DUET_BIN" >"/tmp/duet-cbench-$p.log" 2>&1 &
    pids+=("$!")
    targets+=("127.0.0.1:$p")
done
for t in "${targets[@]}"; do wait_port "${t##*:}"; done
# Every node listens to its channel before users arrive.
for t in "${targets[@]}"; do
    for _ in $(seq 1 50); do
        curl -sf "http://$t/api/health" | grep -q '"redis":"ok"' && break
        sleep 0.1
    done
done

more=$(IFS=,; echo "${targets[*]:1}")
pid_list=$(IFS=,; echo "${pids[*]}")
echo "cluster_bench.sh: redis $redis on $redis_port, nodes ${targets[*]} (pids $pid_list), scenario $scenario $*" >&2

args=("$scenario" --target "${targets[0]}" --server-pid "$pid_list" --redis-pid "$redis" --split "${SPLIT:-cross}")
[ -n "$more" ] && args+=(--more-targets "$more")
set +e
"$HARNESS_BIN" "${args[@]}" "$@"
rc=$?
set -e
exit $rc
