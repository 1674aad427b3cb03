#!/usr/bin/env python3
"""plot_latency.py — draw duet-loadtest latency percentiles as a PNG.

Requires matplotlib:  pip install matplotlib

Input: one or more files holding the JSON object that
`duet-loadtest chat ... --json` prints on stdout (one object per file).
The harness reports delivery latency as summary percentiles
(`latency_us`: p50, p90, p99, p999, max, mean, count); this script plots,
for each run, latency against percentile on a "nines" axis (50, 90, 99,
99.9, 100), so the tail is readable, plus a bar panel of the same figures.

Usage:
    python3 loadtest/scripts/plot_latency.py -o docs/latency.png \
        run-20k.json run-30k.json run-45k.json
    python3 loadtest/scripts/plot_latency.py -o out.png --label "45k/s" run.json

Options:
    -o/--out PATH      output PNG (default latency.png)
    --label TEXT       label for a file, in order (repeat); default: derived
                       from the run (users, delivered msgs/s)
    --title TEXT       figure title
    --threshold MS     draw a horizontal line at this latency (default 10 ms)
"""

import argparse
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

POINTS = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("max", None)]


def load(path):
    with open(path) as f:
        text = f.read().strip()
    # Accept a file with extra lines: take the last line that parses as an object.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise


def nines(p, count):
    """Map a percentile to -log10(1 - p/100); 'max' sits at 1/count."""
    if p is None:
        q = 1.0 - 1.0 / max(count, 2)
    else:
        q = p / 100.0
    return -math.log10(1.0 - q)


def default_label(d):
    rate = d.get("delivered_per_sec")
    users = d.get("users")
    procs = d.get("procs")
    parts = []
    if users is not None:
        parts.append(f"{users:,} conns")
    if rate is not None:
        parts.append(f"{rate / 1000:.0f}k msgs/s")
    if procs:
        parts.append(f"{procs} gen proc" + ("s" if procs != 1 else ""))
    return ", ".join(parts) or "run"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("-o", "--out", default="latency.png")
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--title", default="duet: message delivery latency (send → receive, loopback)")
    ap.add_argument("--threshold", type=float, default=10.0)
    a = ap.parse_args()

    runs = []
    for i, path in enumerate(a.files):
        d = load(path)
        lat = d.get("latency_us")
        if not lat:
            print(f"{path}: no latency_us (not a chat run?); skipped", file=sys.stderr)
            continue
        label = a.label[i] if i < len(a.label) else default_label(d)
        runs.append((label, lat, d))
    if not runs:
        print("nothing to plot", file=sys.stderr)
        return 1

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [3, 2]})

    # Left: percentile curve on a nines axis, log latency.
    for label, lat, d in runs:
        count = lat.get("count", 0)
        xs = [nines(p, count) for _, p in POINTS]
        ys = [lat[k] / 1000.0 for k, _ in POINTS]
        lost = d.get("lost", 0)
        extra = "" if not lost else f" (lost {lost})"
        ax.plot(xs, ys, marker="o", label=f"{label}{extra}")
    ticks = [nines(p, 10**6) for _, p in POINTS[:-1]]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["p50", "p90", "p99", "p99.9"])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_xlabel("percentile (last point of each line: max)")
    if a.threshold:
        ax.axhline(a.threshold, color="red", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], a.threshold * 1.08, f" {a.threshold:g} ms", color="red", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("latency by percentile")

    # Right: grouped bars of p50 / p99 / p99.9 per run.
    keys = [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")]
    width = 0.8 / len(keys)
    for j, (k, name) in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(runs))]
        ys = [lat[k] / 1000.0 for _, lat, _ in runs]
        bars = bx.bar(xs, ys, width=width, label=name)
        for x, y in zip(xs, ys):
            bx.text(x, y, f"{y:.1f}", ha="center", va="bottom", fontsize=7)
        del bars
    bx.set_xticks(range(len(runs)))
    bx.set_xticklabels([label.replace(", ", "\n") for label, _, _ in runs], fontsize=7)
    bx.set_yscale("log")
    bx.set_ylabel("latency (ms, log scale)")
    if a.threshold:
        bx.axhline(a.threshold, color="red", linestyle="--", linewidth=1)
    bx.legend(fontsize=8)
    bx.set_title("p50 / p99 / p99.9 per run")

    fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
