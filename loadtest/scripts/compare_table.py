#!/usr/bin/env python3
"""compare_table.py DIR [LABEL...] — the summary of a compare.sh output
directory (one JSON per run, named <label>-<round>.json): per build, the
median and (min–max) over its runs of server, Redis and harness CPU µs/msg,
p50/p99 latency, delivered msgs/s and server bytes/conn, and the sum of
lost messages. compare.sh prints it at the end of a run; run it by hand on
a kept directory (e.g. loadtest/results/issue12-rerun/idle4). Without
LABELs, every label found, in name order."""
import glob, json, os, statistics, sys

out, labels = sys.argv[1], sys.argv[2:]
runs = {}
for f in sorted(glob.glob(os.path.join(out, "*-[0-9]*.json"))):
    label = os.path.basename(f).rsplit("-", 1)[0]
    try:
        runs.setdefault(label, []).append(json.load(open(f)))
    except Exception:
        runs.setdefault(label, [])
print(f"\nmedians over {out}:")
for label in labels or sorted(runs):
    rs = runs.get(label, [])

    def med(key, sub=None, scale=1):
        vals = [(r.get(key) or {}).get(sub) if sub else r.get(key) for r in rs]
        vals = [v / scale for v in vals if isinstance(v, (int, float))]
        if not vals:
            return None
        m = round(statistics.median(vals), 2)
        return m if len(vals) == 1 else f"{m} ({round(min(vals), 2)}–{round(max(vals), 2)})"

    lost = sum((r.get("lost") or 0) for r in rs)
    print(f"{label:>10}: n={len(rs)} server {med('server_cpu_us_per_msg')} µs/msg, redis {med('redis_cpu_us_per_msg')} µs/msg, "
          f"harness {med('harness_cpu_us_per_msg')} µs/msg, p50 {med('latency_us', 'p50', 1000)} p99 {med('latency_us', 'p99', 1000)} ms, "
          f"{med('delivered_per_sec')} msgs/s, lost {lost}, server {med('server_bytes_per_conn')} B/conn")
