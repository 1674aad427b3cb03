#!/usr/bin/env bash
# million.sh — COUNT live, authenticated WebSocket connections to a duet
# cluster on this one machine, measured (issue 15).
#
# What it does, in order:
#   1. checks the machine can take COUNT connections (memory, open files,
#      fs.file-max / fs.nr_open, ephemeral ports, listen backlogs) and says
#      what to change when it cannot; as root it raises somaxconn and
#      tcp_max_syn_backlog to 8192 when they are lower (and says so);
#   2. builds the release binaries (`cargo build --release -p duet -p
#      duet-loadtest`, a no-op when they are fresh; MILLION_NO_BUILD=1 skips);
#   3. starts a private redis-server (free port, no persistence, maxmemory
#      stated, noeviction) and NODES Redis-backed duet nodes sharing ONE
#      port with --reuse-port (NODES = ceil(COUNT / MILLION_PER_NODE));
#   4. runs ONE duet-loadtest `idle` parent with PROCS child processes
#      (each < 20,000 fds) from SOURCE_IPS loopback addresses: every
#      connection registers (POST, pipelined on the same socket) and
#      authenticates; they are held MILLION_HOLD_SECS with the server's
#      pings on; then MILLION_CHAT_PAIRS pairs of the HELD connections join
#      the queue (an interest per pair) and chat at MILLION_CHAT_MSGS msgs/s
#      in all for MILLION_CHAT_SECS; lost/dup/reordered are counted;
#   5. samples every 5 s (memory, CPU, sockets, Redis), prints progress,
#      writes a JSON report and a PNG plot to MILLION_OUT.
# Exit 0 only if every connection authenticated and the chat lost nothing.
# The LAST LINE ON STDOUT is one JSON object (the report).
#
# Bounds: loopback only; every process it starts is killed on exit (trap),
# temp files are removed; the harness has a hard deadline, the sampler a
# time cap; COUNT <= 64 harness processes x MILLION_PER_PROC.
#
# Usage:  loadtest/scripts/million.sh [COUNT]        (default 1000000)
# Environment (defaults):
#   MILLION_HOLD_SECS (600)  MILLION_CHAT_SECS (60)  MILLION_CHAT_MSGS (10000)
#   MILLION_CHAT_DRAIN_SECS (30: a message not delivered by then is lost)
#   MILLION_CHAT_PAIRS (min(5000, COUNT/2))
#   MILLION_PER_NODE (16000) MILLION_PER_PROC (16000)
#   MILLION_CONNECT_RATE (connects/s the ramp aims at; 1200)
#   MILLION_MAX_HANDSHAKES (per harness process in flight; 32)
#   MILLION_PING_SECS (server ping interval: 30, 120 above 300,000; the
#   idle timeout is 2.5 x)
#   MILLION_OUT (target/million/COUNT)  MILLION_NO_BUILD (unset)
#   MILLION_BYTES_PER_CONN (memory estimate per connection, both ends and
#   all processes; 16000)
#   DUET_BIN, HARNESS_BIN, REDIS_SERVER; any DUET_* overrides the nodes'.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
helper="$here/million_helper.py"

count=${1:-1000000}
hold=${MILLION_HOLD_SECS:-600}
chat_secs=${MILLION_CHAT_SECS:-60}
chat_msgs=${MILLION_CHAT_MSGS:-10000}
# After sending stops: time for the last acks and deliveries (a message
# still in flight then counts as lost).
chat_drain=${MILLION_CHAT_DRAIN_SECS:-30}
per_node=${MILLION_PER_NODE:-16000}
per_proc=${MILLION_PER_PROC:-16000}
connect_rate=${MILLION_CONNECT_RATE:-1200}
max_hs=${MILLION_MAX_HANDSHAKES:-32}
bytes_per_conn=${MILLION_BYTES_PER_CONN:-16000}
out=${MILLION_OUT:-$root/target/million/$count}
DUET_BIN=${DUET_BIN:-$root/target/release/duet}
HARNESS_BIN=${HARNESS_BIN:-$root/target/release/duet-loadtest}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

say() { echo "million: $*" >&2; }
die() { echo "million: $*" >&2; exit 2; }

[[ $count =~ ^[0-9]+$ ]] && ((count >= 2)) || die "COUNT must be a whole number >= 2 (got '$count')"
pairs=${MILLION_CHAT_PAIRS:-$((count / 2 < 5000 ? count / 2 : 5000))}
nodes=$(((count + per_node - 1) / per_node))
procs=$(((count + per_proc - 1) / per_proc))
((procs <= 64)) || die "$count connections need $procs harness processes of $per_proc; at most 64 (raise MILLION_PER_PROC, < 19,900)"
((pairs >= 1)) || die "MILLION_CHAT_PAIRS must be >= 1"
# Messages per second per chatting user, so that the total is chat_msgs.
chat_rate=$(python3 -c "print(max($chat_msgs / (2 * $pairs), 0.001))")

# ---- 1. can the machine take it? ----------------------------------------
need_fd=$(((per_node > per_proc ? per_node : per_proc) * 115 / 100 + 64))
ulimit -n "$need_fd" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
((nofile >= need_fd)) ||
    die "open files: ulimit -n is $nofile; each node may get up to ~$((per_node * 115 / 100)) sockets (SO_REUSEPORT spread) and each harness process $per_proc: lower MILLION_PER_NODE / MILLION_PER_PROC or raise the hard limit (ulimit -Hn $(ulimit -Hn))"
file_max=$(cat /proc/sys/fs/file-max)
((file_max >= 2 * count + 100000)) ||
    die "fs.file-max is $file_max; 2 x $count sockets + margin need $((2 * count + 100000)): sysctl -w fs.file-max=$((2 * count + 100000))"
nr_open=$(cat /proc/sys/fs/nr_open)
((nr_open >= need_fd)) || die "fs.nr_open is $nr_open < $need_fd"
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range
ports=$((port_hi - port_lo + 1))
# One destination (IP:port) for all. connect() takes even ports first and
# scans the whole even half before it tries an odd one: once a source
# address has used its ~ports/2 even ports, every further connect walks
# ~14,000 used ports in the kernel (measured: 100,000 connections from 5
# addresses fell from ~4,000/s to ~400/s at 70,500 = 5 x 14,116, the
# harness at ~100% system CPU). So: at most ~3/4 of the even half.
source_ips=$(((count * 8 / 3 + ports - 1) / ports))
((source_ips >= 4)) || source_ips=4
((source_ips <= 254)) ||
    die "net.ipv4.ip_local_port_range $port_lo-$port_hi gives $ports ports per source address; $count needs $source_ips > 254 addresses: widen it (sysctl -w net.ipv4.ip_local_port_range='1024 65535')"
for knob in net.core.somaxconn net.ipv4.tcp_max_syn_backlog; do
    f=/proc/sys/${knob//./\/}
    v=$(cat "$f")
    if ((v < 8192)); then
        if [ -w "$f" ]; then
            echo 8192 >"$f"
            say "raised $knob from $v to 8192 (accept bursts: a full backlog costs clients a 1 s SYN retry)"
        else
            say "warning: $knob is $v (< 8192); accept bursts may cost 1 s SYN retries (sysctl -w $knob=8192)"
        fi
    fi
done
# Connection tracking, when it hooks loopback, drops SYNs past its table.
ct=/proc/sys/net/netfilter/nf_conntrack_max
if [ -r "$ct" ] && (($(cat "$ct") < 2 * count)); then
    say "note: nf_conntrack_max is $(cat "$ct"); harmless while nothing tracks loopback (nf_conntrack_count stays $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo '?')); if it grows during the run: sysctl -w net.netfilter.nf_conntrack_max=$((2 * count + 100000))"
fi
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
swap_kb=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)
need_kb=$((count * bytes_per_conn / 1024 + 1048576))
((avail_kb >= need_kb)) ||
    die "MemAvailable $((avail_kb / 1024)) MiB < estimate $((need_kb / 1024)) MiB ($bytes_per_conn B per connection: two socket ends of ~5 KB kernel memory, duet, harness and Redis, + 1 GiB): stopping rather than swap; run a smaller COUNT"
say "machine: MemAvailable $((avail_kb / 1024)) MiB (estimate $((need_kb / 1024)) MiB), swap $((swap_kb / 1024)) MiB, ulimit -n $nofile, file-max $file_max, ports $port_lo-$port_hi"

# ---- 2. binaries -----------------------------------------------------------
if [ -z "${MILLION_NO_BUILD:-}" ]; then
    say "cargo build --release -p duet -p duet-loadtest"
    cargo build --release -q -p duet -p duet-loadtest >&2
fi
[ -x "$DUET_BIN" ] && [ -x "$HARNESS_BIN" ] || die "missing $DUET_BIN or $HARNESS_BIN"
command -v "$REDIS_SERVER" >/dev/null || die "redis-server not found (apt-get install redis-server)"

# ---- 3. Redis and nodes ----------------------------------------------------
tmp=$(mktemp -d /tmp/duet-million.XXXXXX)
mkdir -p "$out"
pids=()
redis=""
harness=""
sampler=""
stop_all() {
    local rc=$?
    trap - EXIT INT TERM
    # The harness's children first (killing the parent alone orphans them),
    # then everything at once, and wait for all together (nodes drain on
    # SIGTERM; 20 s at most, then SIGKILL).
    local all=()
    [ -n "$harness" ] && all+=($(pgrep -P "$harness" 2>/dev/null || true) "$harness")
    all+=($sampler "${pids[@]}" $redis)
    ((${#all[@]})) && kill "${all[@]}" 2>/dev/null || true
    for _ in $(seq 1 200); do
        local alive=0
        for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
        ((alive)) || break
        sleep 0.1
    done
    ((${#all[@]})) && kill -9 "${all[@]}" 2>/dev/null || true
    for p in "${all[@]}"; do wait "$p" 2>/dev/null || true; done
    if ((rc != 0)) && [ -d "$tmp" ]; then
        for f in "$tmp"/node0.log "$tmp"/redis.log; do
            [ -s "$f" ] && { say "--- tail of $(basename "$f")"; tail -5 "$f" >&2; }
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

redis_port=$(python3 "$helper" freeport)
# Identities, tokens, LRU entries, presence and registration buckets:
# measured ~0.6 KB per user; 2 KB per user + 256 MiB leaves room.
redis_max=$((count * 2048 + 268435456))
"$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --maxmemory "$redis_max" --maxmemory-policy noeviction --maxclients 10000 \
    >"$tmp/redis.log" 2>&1 &
redis=$!
for _ in $(seq 1 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
say "redis $redis on 127.0.0.1:$redis_port (no persistence, maxmemory $((redis_max / 1048576)) MiB, noeviction)"
# Redis is one thread every node waits on (500 ms call timeout): with
# hundreds of runnable threads on 2 cores it must not wait its turn. A 1 M
# rehearsal without this saw nodes mark Redis unreachable and AUTH fail;
# nice -10 was not enough once the nodes ran at -5 (a hundred node threads
# of weight 3121 against Redis's 9548: `redis-cli --latency` averaged
# 119 ms): as root Redis runs SCHED_RR (it sleeps in epoll when idle, and
# takes at most one of the cores), else nice -10.
if chrt -r -p 10 "$redis" >/dev/null 2>&1; then
    say "redis runs SCHED_RR priority 10 (it is the one thread all nodes wait on)"
elif renice -n -10 -p "$redis" >/dev/null 2>&1; then
    say "redis reniced to -10 (it is the one thread all nodes wait on)"
fi

port=$(python3 "$helper" freeport)
export DUET_REDIS_URL=redis://127.0.0.1:$redis_port
export DUET_REDIS_PREFIX=million
export DUET_LISTEN=127.0.0.1:$port
export DUET_REUSE_PORT=1
# One registration per connection from SOURCE_IPS addresses, as fast as the
# nodes go: the per-address bucket must not be the limit (lib.sh).
. "$here/lib.sh"
bench_defaults
export DUET_MAX_IDENTITIES=${DUET_MAX_IDENTITIES:-$((count * 2 + 1000))}
# Server pings: each costs ~30 us of node CPU and ~23 us of harness CPU
# (measured at 100,000 connections, 30 s interval: 5.96 and 4.66 CPU-s per
# minute). At 1 M a 30 s interval would take ~1.8 of the 2 cores before any
# chat, so above 300,000 connections the default interval is 120 s (idle
# timeout 2.5 x); MILLION_PING_SECS overrides.
ping=${MILLION_PING_SECS:-$((count > 300000 ? 120 : 30))}
export DUET_PING_INTERVAL_SECS=$ping
export DUET_IDLE_TIMEOUT_SECS=$((ping * 5 / 2))
# Priorities: what decides a 1 M run is Redis (SCHED_RR above). With
# Redis at nice -10 and everything else equal, Redis starved and 74,000
# handshakes failed; with the nodes at -5 and the harness at +5, Redis
# starved again and the harness fell behind in the chat. The passing 1 M
# run had nodes and harness at 0 (the default); MILLION_NICE_NODES and
# MILLION_NICE_HARNESS change it (as root).
nice_nodes=""
nice_harness=""
if [ "$(id -u)" = 0 ]; then
    nice_nodes="nice -n ${MILLION_NICE_NODES:-0}"
    nice_harness="nice -n ${MILLION_NICE_HARNESS:-0}"
fi
# One worker per node: the nodes already give the parallelism, and 63 nodes
# x 2 workers are 63 more threads competing for 2 cores.
export DUET_WORKERS=${DUET_WORKERS:-1}
t_nodes=$(date +%s.%N)
for ((i = 0; i < nodes; i++)); do
    DUET_NODE_ID=m$i $nice_nodes "$DUET_BIN" >"$tmp/node$i.log" 2>&1 &
    pids+=("$!")
done
# Every node beats into Redis (P:node:<id>) once its subscription is up.
for _ in $(seq 1 300); do
    up=$(redis-cli -p "$redis_port" --raw eval "return #redis.call('keys', 'million:node:*')" 0 2>/dev/null || echo 0)
    ((up >= nodes)) && break
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "a node exited at start: $(tail -3 "$tmp"/node*.log | tail -5)"; done
    sleep 0.2
done
((up >= nodes)) || die "only $up of $nodes nodes joined the cluster within 60 s"
pid_list=$(IFS=,; echo "${pids[*]}")
say "$nodes duet nodes (1 worker each, ping every ${ping}s, idle timeout $((ping * 5 / 2))s) on 127.0.0.1:$port (SO_REUSEPORT) up in $(python3 -c "print(round($(date +%s.%N) - $t_nodes, 1))") s"

# ---- 4. the harness ----------------------------------------------------------
ramp=$(python3 -c "print(round(max(2.0, $count / $connect_rate), 1))")
settle=5
say "harness: $count connections, $procs processes, $source_ips source addresses, ramp ${ramp}s (aim $connect_rate/s), hold ${hold}s once every process is ready, then $pairs pairs x 2 x ${chat_rate} msgs/s = $chat_msgs msgs/s for ${chat_secs}s"

csv=$tmp/samples.csv
hlog=$tmp/harness.log
hjson=$tmp/harness.json
# Sample times count from t_base; the baseline sample comes first.
t_base=$(date +%s.%N)
python3 "$helper" sample --out "$csv" --t0 "$t_base" --nodes "$pid_list" --redis-pid "$redis" \
    --redis-port "$redis_port" --max-secs 0 2>/dev/null
t_h=$(date +%s.%N)
$nice_harness "$HARNESS_BIN" idle -n "$count" --target "127.0.0.1:$port" --procs "$procs" --source-ips "$source_ips" \
    --server-pid "$pid_list" --redis-pid "$redis" --json \
    --ramp-secs "$ramp" --max-handshakes "$max_hs" --handshake-timeout-secs 60 --handshake-retries 6 --settle-secs "$settle" \
    --hold-secs "$hold" --chat-pairs "$pairs" --chat-match-secs 10 --chat-rate "$chat_rate" \
    --chat-secs "$chat_secs" --chat-drain-secs "$chat_drain" \
    >"$hjson" 2>"$hlog" </dev/null &
harness=$!
python3 "$helper" sample --out "$csv" --t0 "$t_base" --nodes "$pid_list" --redis-pid "$redis" \
    --redis-port "$redis_port" --harness-log "$hlog" --until-pid "$harness" --every 5 --say 10 --min-avail-mb 1024 \
    --max-secs "$(python3 -c "print(4 * $ramp + 300 + $hold + $chat_secs)")" &
sampler=$!
set +e
wait "$harness"
hrc=$?
harness=""
wait "$sampler"
sampler=""
set -e
t_end=$(date +%s.%N)
say "harness exited $hrc after $(python3 -c "print(round($t_end - $t_h))") s"
grep -v '^\[' "$hlog" | tail -40 >&2 || true
say "the harness's table above; the sampler's figures and the issue's follow"

# ---- 5. report ---------------------------------------------------------------
cp "$csv" "$out/samples.csv"
cp "$hjson" "$out/harness.json" 2>/dev/null || true
grep '^\[' "$hlog" >"$out/progress.log" || true
oom=()
[ -e "$csv.oom" ] && oom=(--oom)
offset=$(python3 -c "print(round($t_h - $t_base, 2))")
set +e
python3 "$helper" report --csv "$csv" --harness-log "$hlog" --harness-json "$hjson" \
    --plot "$out/million.png" --count "$count" --nodes "$nodes" --procs "$procs" --source-ips "$source_ips" \
    --chat-pairs "$pairs" --chat-rate-total "$chat_msgs" --harness-offset "$offset" --t0-offset 0.3 \
    --settle "$settle" "${oom[@]}" >"$out/report.json"
rc=$?
set -e
say "report: $out/report.json, plot: $out/million.png, samples: $out/samples.csv"
tail -1 "$out/report.json"
exit "$rc"
