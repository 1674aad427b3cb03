#!/usr/bin/env python3
"""compare_table.py DIR... — medians (min–max) per build of a compare.sh
output directory (one JSON per run, named <label>-<round>.json): server and
harness CPU µs/msg, p50/p99 latency, lost messages, server bytes/conn."""
import json, sys, glob, os, statistics as st
for d in sys.argv[1:]:
    runs = {}
    for f in sorted(glob.glob(os.path.join(d, '*.json'))):
        label = os.path.basename(f).rsplit('-', 1)[0]
        try: j = json.load(open(f))
        except Exception: continue
        runs.setdefault(label, []).append(j)
    print(d)
    for label, js in runs.items():
        def col(get):
            v = [get(j) for j in js if get(j) is not None]
            if not v: return '-'
            return f"{st.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"
        print(f"  {label}: server µs/msg {col(lambda j: j.get('server_cpu_us_per_msg'))} | harness {col(lambda j: j.get('harness_cpu_us_per_msg'))} | p50 ms {col(lambda j: (j.get('latency_us') or {}).get('p50', 0)/1000 if j.get('latency_us') else None)} | p99 ms {col(lambda j: (j.get('latency_us') or {}).get('p99', 0)/1000 if j.get('latency_us') else None)} | lost {sum(j.get('lost') or 0 for j in js)} | B/conn {col(lambda j: j.get('server_bytes_per_conn'))}")
