#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (sections 1-11) against duet's
# test-only echo mode, through the same reactor, framing and write paths as
# production. Fails on any FAILED or UNIMPLEMENTED case.
#   usage: tests/conformance/autobahn.sh [OUTDIR]   (default target/autobahn)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/autobahn}
runner=../shared/tools/autobahn/run.sh
[ -x "$runner" ] || [ -f "$runner" ] || { echo "autobahn: $runner not found" >&2; exit 2; }

# A separate target directory: the echo build never replaces target/release/duet.
cargo build --release -q --features echo --target-dir target/echo
log=$(mktemp)
RUST_LOG=info ./target/echo/release/duet --echo --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
addr=""
for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$log" | head -n1)
    [ -n "$addr" ] && break
    sleep 0.05
done
[ -n "$addr" ] || { echo "autobahn: duet did not start" >&2; cat "$log" >&2; exit 2; }

# Output goes to a file, then to stdout: `tee /dev/stderr` would reopen a
# file-backed stderr at offset 0 and overwrite what CI printed before.
mkdir -p "$out"
status=0
bash "$runner" --timeout 900 "ws://$addr/ws/chat" "$out" >"$out/run.log" 2>&1 || status=$?
cat "$out/run.log"
summary=$(grep -a '^autobahn:' "$out/run.log" | tail -n1)
[ "$status" -eq 0 ] || { echo "autobahn: runner exited $status" >&2; exit 1; }
case "$summary" in
    *"FAILED=0"*) ;;
    *) echo "autobahn: failures" >&2; exit 1 ;;
esac
case "$summary" in
    *"UNIMPLEMENTED=0"*) ;;
    *) echo "autobahn: unimplemented cases" >&2; exit 1 ;;
esac
