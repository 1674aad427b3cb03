#!/usr/bin/env bash
# Soak: a mixed workload (idle + chat + churn at once) against a fresh
# release server for SOAK_SECS (default 600), sampling the server's RSS every
# 10 s into OUT/rss.csv and plotting it to OUT/rss.png (needs matplotlib).
# Churn makes a new identity per session (~5,000/s here), so the memory
# store's bounds are set lower than their 1,000,000 defaults
# (SOAK_MAX_IDENTITIES, SOAK_MAX_COOLDOWNS) to be reached within the first
# minute: what is measured is that memory stops growing at the bounds.
# A command, not part of CI.   usage: loadtest/scripts/soak.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/soak}
secs=${SOAK_SECS:-600}
port=${SOAK_PORT:-18999}
mkdir -p "$out"
cargo build --release -q -p duet -p duet-loadtest
DUET_CHAT_RATE=1000000 DUET_CHAT_BURST=1000000 DUET_QUEUE_RATE=1000 DUET_QUEUE_BURST=1000 \
DUET_REGISTER_PER_MINUTE=100000000 DUET_MAX_CONNECTIONS_PER_IP=0 \
DUET_MAX_IDENTITIES=${SOAK_MAX_IDENTITIES:-200000} DUET_MAX_COOLDOWN_PAIRS=${SOAK_MAX_COOLDOWNS:-200000} \
RUST_LOG=${SOAK_LOG:-warn} DUET_LISTEN=127.0.0.1:$port \
    ./target/release/duet 2>"$out/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
kill -0 $pid 2>/dev/null || { echo "soak: the server did not start:" >&2; cat "$out/server.log" >&2; exit 1; }
lt=./target/release/duet-loadtest
target="--target 127.0.0.1:$port -q --json"
loads=()
$lt idle -n 3000 --hold-secs "$secs" $target >"$out/idle.json" 2>"$out/idle.log" &
loads+=($!)
$lt chat -n 1000 --rate 5 --duration-secs "$secs" $target >"$out/chat.json" 2>"$out/chat.log" &
loads+=($!)
churn=${SOAK_CHURN:-20}
if [ "$churn" -gt 0 ]; then
    $lt churn -c "$churn" --duration-secs "$secs" $target >"$out/churn.json" 2>"$out/churn.log" &
    loads+=($!)
fi
echo "t_secs,rss_kib" >"$out/rss.csv"
start=$(date +%s)
while [ $(( $(date +%s) - start )) -le $(( secs + 30 )) ] && kill -0 $pid 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    echo "$(( $(date +%s) - start )),$rss" >>"$out/rss.csv"
    if ! pgrep -f "duet-loadtest .*127.0.0.1:$port" >/dev/null; then break; fi
    sleep 10
done
# Wait for the load generators only: the server runs until the trap.
wait "${loads[@]}" || true
# The store's own counters (rows queued, written, dropped, rejected) as the
# load ends, before the server flushes and stops.
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^duet_store' >"$out/store-metrics.txt" || true
kill $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
if [ -n "${DUET_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
    # What reached the database (the server flushed its queue on SIGTERM).
    psql -X -q -At "$DUET_DATABASE_URL" -c \
        "SELECT 'db rows: users=' || (SELECT count(*) FROM users) || ' rooms=' || (SELECT count(*) FROM rooms)
           || ' rooms_ended=' || (SELECT count(*) FROM rooms WHERE ended_at IS NOT NULL)
           || ' messages=' || (SELECT count(*) FROM messages)" | tee "$out/db-rows.txt" || true
    cat "$out/store-metrics.txt"
fi
python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/rss.csv")))
t = [int(r["t_secs"]) for r in rows]; m = [int(r["rss_kib"]) / 1024 for r in rows]
print(f"soak: {len(rows)} samples; RSS first {m[0]:.1f} MiB, max {max(m):.1f} MiB, last {m[-1]:.1f} MiB")
try:
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    plt.figure(figsize=(7, 3)); plt.plot(t, m, marker=".")
    plt.xlabel("seconds"); plt.ylabel("server RSS (MiB)"); plt.title("duet soak: idle 3k + chat 1k@5/s + churn 20")
    plt.grid(alpha=.3); plt.tight_layout(); plt.savefig(f"{out}/rss.png", dpi=110)
except ImportError:
    print("matplotlib not installed: no plot (pip install matplotlib)")
PY
for f in idle chat churn; do grep -hE '"result"|"errors"' "$out/$f.json" | head -2 || true; done
