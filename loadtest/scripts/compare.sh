#!/usr/bin/env bash
# compare.sh — builds side by side, in one run, alternating, a fresh server
# per run, median of the rounds (how duet judges a speed change: absolute
# figures drift ±30 % on shared machines, an alternating comparison does not).
#
# Usage (from the repository root):
#   loadtest/scripts/compare.sh ROUNDS 'label=BIN[:ENV=V,ENV=V]' ... -- <scenario> [harness args]
# Example:
#   loadtest/scripts/compare.sh 3 old=/tmp/duet-old new=target/release/duet \
#       -- chat -n 1000 --rate 10 --procs 2 --duration-secs 10
#   loadtest/scripts/compare.sh 3 base=target/release/duet 'paced=target/release/duet:DUET_WORKERS=1' -- chat ...
#
# For each round, each build runs once (in the order given, rotated every
# round so no build always goes first) through bench.sh on its own port.
# Prints one line per run and a summary per build: the median of server
# CPU µs/msg, harness CPU µs/msg, p50/p99 latency, delivered msgs/s, and
# the sum of lost messages. JSON of every run goes to $COMPARE_OUT
# (default target/compare/<timestamp>/). BENCH names the script that runs
# one fresh server (default loadtest/scripts/bench.sh; cluster_bench.sh
# runs a fresh cluster).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
rounds=$1
shift
. "$(dirname "$0")/lib.sh"
builds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    builds+=("$1")
    shift
done
[ "${1:-}" = "--" ] || { echo "compare.sh: missing -- before the scenario" >&2; exit 2; }
shift
out=${COMPARE_OUT:-target/compare/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
port=${COMPARE_PORT:-9300}
n=${#builds[@]}
for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < n; i++)); do
        parse_build_spec "${builds[$(((i + r) % n))]}"
        port=$((port + ${PORT_STEP:-1}))
        file="$out/$label-$r.json"
        (
            export_spec_envs "$envs"
            DUET_BIN=$bin "${BENCH:-loadtest/scripts/bench.sh}" "$port" "$@" --json >"$file" 2>"$out/$label-$r.err"
        ) || echo "compare.sh: $label round $r exited non-zero (see $out/$label-$r.err)" >&2
        python3 - "$file" "$label" "$r" <<'EOF'
import json, sys
f, label, r = sys.argv[1:]
try:
    d = json.load(open(f))
except Exception as e:
    print(f"{label:>10} round {r}: no result ({e})"); sys.exit(0)
lat = {k: round(v / 1000, 2) for k, v in (d.get('latency_us') or {}).items() if isinstance(v, (int, float))}
print(f"{label:>10} round {r}: server {d.get('server_cpu_us_per_msg')} µs/msg, redis {d.get('redis_cpu_us_per_msg')} µs/msg, harness {d.get('harness_cpu_us_per_msg')} µs/msg, "
      f"p50 {lat.get('p50')} p99 {lat.get('p99')} ms, {d.get('delivered_per_sec')} msgs/s, lost {d.get('lost')}")
EOF
    done
done
labels=()
for spec in "${builds[@]}"; do labels+=("${spec%%=*}"); done
python3 "$(dirname "$0")/compare_table.py" "$out" "${labels[@]}"
