#!/usr/bin/env bash
# register_bench.sh — registrations per second against PostgreSQL, builds
# side by side: alternating (the order rotates every round), a fresh server
# and a fresh empty schema per run, median of the rounds.
#
# Usage (from the repository root, after `cargo build --release`):
#   loadtest/scripts/register_bench.sh ROUNDS CLIENTS SECONDS 'label=BIN[:ENV=V,ENV=V]' ...
# Example:
#   loadtest/scripts/register_bench.sh 3 64 10 old=/work/bin/duet-pre14 new=target/release/duet
# PG_URL is the database (default postgresql://postgres@127.0.0.1:5432/test);
# each run uses a schema of its own, dropped afterwards. The clients are
# register-storm (loadtest/src/bin/register_storm.rs): CLIENTS keep-alive
# connections posting {} back to back for SECONDS.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
rounds=$1 clients=$2 secs=$3
shift 3
. "$(dirname "$0")/lib.sh"
builds=("$@")
base=${PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
export PGOPTIONS="-c client_min_messages=warning"
storm=${STORM:-target/release/register-storm}
out=${BENCH_OUT:-target/register-bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
port=${BENCH_PORT:-9400}
n=${#builds[@]}
for ((r = 0; r < rounds; r++)); do
    for ((i = 0; i < n; i++)); do
        parse_build_spec "${builds[$(((i + r) % n))]}"
        port=$((port + 1))
        schema="regbench_$$_${r}_$i"
        psql "$base" -qc "CREATE SCHEMA $schema"
        (
            export_spec_envs "$envs"
            export DUET_LISTEN=127.0.0.1:$port DUET_REGISTER_PER_MINUTE=100000000 \
                DUET_DATABASE_URL="$base?options=-csearch_path%3D$schema"
            exec "$bin"
        ) >"$out/$label-$r.log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do
            curl -sf "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
            sleep 0.05
        done
        "$storm" "127.0.0.1:$port" "$clients" "$secs" >"$out/$label-$r.json"
        kill "$pid"
        wait "$pid" || true
        psql "$base" -qc "DROP SCHEMA $schema CASCADE"
        echo "$label round $r: $(cat "$out/$label-$r.json")"
    done
done
python3 - "$out" "${builds[@]}" <<'PY'
import json, sys, glob, statistics
out, builds = sys.argv[1], sys.argv[2:]
for spec in builds:
    label = spec.split('=', 1)[0]
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{label}-*.json"))]
    if not runs:
        continue
    med = lambda k: statistics.median(r[k] for r in runs)
    print(f"{label:>8}: median {med('ok_per_sec'):.0f} registrations/s over {len(runs)} runs "
          f"(p50 {med('p50_us')/1000:.1f} ms, p99 {med('p99_us')/1000:.1f} ms); "
          f"non-200: {[r['statuses'] for r in runs]}, errors {[r['errors'] for r in runs]}")
PY
