#!/usr/bin/env python3
"""million_helper.py — the parts of million.sh that are easier in Python.

  freeport                      print a free TCP port on 127.0.0.1
  redis-info PORT [SECTION]     print `INFO SECTION` of a Redis on 127.0.0.1:PORT
  sample ...                    every --every seconds append one CSV row of
                                machine and process readings (see COLUMNS)
                                until --until-pid is gone; print a progress
                                line to stderr every --say seconds; kill
                                --until-pid (SIGTERM) if MemAvailable falls
                                below --min-avail-mb (never swap)
  report ...                    from the CSV, the harness's progress log and
                                its JSON report: the final JSON object (one
                                line on stdout) and, with matplotlib, a PNG

Standard library only, except matplotlib for the plot (skipped, and said,
when missing). Bounded: the sampler stops with the harness, or after
--max-secs whatever happens.
"""

import argparse
import json
import os
import re
import signal
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

COLUMNS = [
    "t",  # seconds since the sampler started (= just before the harness)
    "authed",  # the harness's last progress line
    "connected",
    "sent",
    "received",
    "node_rss_kb",  # sum of VmRSS of every duet node
    "node_cpu_ticks",  # sum of utime+stime of every duet node
    "node_fds_min",  # connections of the least and most loaded node
    "node_fds_max",
    "harness_rss_kb",  # the harness parent and its children
    "harness_cpu_ticks",
    "redis_rss_kb",
    "redis_cpu_ticks",
    "redis_used_memory",  # INFO memory used_memory, bytes
    "slab_kb",  # /proc/meminfo Slab
    "tcp_inuse",  # /proc/net/sockstat TCP inuse
    "tcp_mem_pages",
    "mem_available_kb",
]


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def redis_info(port, section="memory", timeout=5.0):
    """`INFO section` as a dict, over a raw socket (RESP inline command)."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as s:
        s.sendall(f"INFO {section}\r\n".encode())
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return {}
            buf += chunk
        head, _, rest = buf.partition(b"\r\n")
        if not head.startswith(b"$"):
            return {}
        n = int(head[1:])
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    out = {}
    for line in rest[:n].decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def redis_mget(port, keys, timeout=5.0):
    """MGET over a raw socket: a list of str or None."""
    cmd = f"*{len(keys) + 1}\r\n$4\r\nMGET\r\n" + "".join(f"${len(k)}\r\n{k}\r\n" for k in keys)
    with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as s:
        s.sendall(cmd.encode())
        f = s.makefile("rb")
        head = f.readline()
        if not head.startswith(b"*"):
            return []
        out = []
        for _ in range(int(head[1:])):
            n = int(f.readline()[1:])
            if n < 0:
                out.append(None)
            else:
                out.append(f.read(n + 2)[:n].decode(errors="replace"))
        return out


def node_connections(port, prefix, n):
    """Each node's `connections` from its beat key (P:node:<id>, ids m0..)."""
    try:
        vals = redis_mget(port, [f"{prefix}:node:m{i}" for i in range(n)])
    except (OSError, ValueError):
        return [0]
    out = []
    for v in vals:
        try:
            out.append(int(json.loads(v).get("connections", 0)) if v else 0)
        except ValueError:
            out.append(0)
    return out or [0]


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def rss_kb(pid):
    m = re.search(r"^VmRSS:\s+(\d+)", read(f"/proc/{pid}/status"), re.M)
    return int(m.group(1)) if m else 0


def cpu_ticks(pid):
    s = read(f"/proc/{pid}/stat")
    if not s:
        return 0
    # Fields after the command (which may hold spaces) in parentheses.
    f = s[s.rfind(")") + 2 :].split()
    return int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)


def children(pid):
    out = []
    for t in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        out += [int(c) for c in read(f"/proc/{pid}/task/{t}/children").split()]
    return out


def meminfo(key):
    m = re.search(rf"^{key}:\s+(\d+)", read("/proc/meminfo"), re.M)
    return int(m.group(1)) if m else 0


def sockstat():
    m = re.search(r"^TCP: inuse (\d+) orphan \d+ tw \d+ alloc \d+ mem (\d+)", read("/proc/net/sockstat"), re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


PROGRESS = re.compile(r"^\[\s*([\d.]+)s\] connected (\d+) authed (\d+) matched \d+ sent (\d+) received (\d+)")


def last_progress(path):
    """The last progress line of the harness's stderr log (read from the end)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 16384))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        m = PROGRESS.match(line)
        if m:
            return m
    return None


def sample(a):
    nodes = [int(p) for p in a.nodes.split(",") if p]
    # Times count from --t0 (seconds since the epoch), so that several
    # sampler runs append to one time line.
    start = time.monotonic() - (time.time() - a.t0 if a.t0 else 0.0)
    loop_start = next_say = time.monotonic()
    with open(a.out, "a") as out:
        if out.tell() == 0:
            out.write(",".join(COLUMNS) + "\n")
        while True:
            now = time.monotonic()
            t = now - start
            m = last_progress(a.harness_log) if a.harness_log else None
            authed, connected, sent, received = (int(m.group(i)) for i in (3, 2, 4, 5)) if m else (0, 0, 0, 0)
            # Each node's own count, from its last beat in Redis (reading
            # /proc/<pid>/fd of 1 M sockets would cost more than it tells).
            fds = node_connections(a.redis_port, a.redis_prefix, len(nodes)) if a.redis_port else [0]
            hpids = []
            if a.until_pid and os.path.isdir(f"/proc/{a.until_pid}"):
                hpids = [a.until_pid] + children(a.until_pid)
            try:
                used = int(redis_info(a.redis_port).get("used_memory", 0)) if a.redis_port else 0
            except (OSError, ValueError):
                used = 0
            inuse, tcp_pages = sockstat()
            avail = meminfo("MemAvailable")
            row = [
                round(t, 2),
                authed,
                connected,
                sent,
                received,
                sum(rss_kb(p) for p in nodes),
                sum(cpu_ticks(p) for p in nodes),
                min(fds),
                max(fds),
                sum(rss_kb(p) for p in hpids),
                sum(cpu_ticks(p) for p in hpids),
                rss_kb(a.redis_pid) if a.redis_pid else 0,
                cpu_ticks(a.redis_pid) if a.redis_pid else 0,
                used,
                meminfo("Slab"),
                inuse,
                tcp_pages,
                avail,
            ]
            out.write(",".join(str(v) for v in row) + "\n")
            out.flush()
            if now >= next_say:
                next_say = now + a.say
                v = dict(zip(COLUMNS, row))
                print(
                    f"million: [{t:6.0f}s] authed {authed} sent {sent} received {received} | "
                    f"duet RSS {v['node_rss_kb'] / 1024:.0f} MiB (conns/node {min(fds)}..{max(fds)}) | "
                    f"harness RSS {v['harness_rss_kb'] / 1024:.0f} MiB | redis {used / 1048576:.0f} MiB | "
                    f"slab {v['slab_kb'] / 1024:.0f} MiB | MemAvailable {avail / 1024:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
            if a.until_pid and avail and avail < a.min_avail_mb * 1024:
                print(
                    f"million: MemAvailable {avail // 1024} MiB < {a.min_avail_mb} MiB: stopping the harness "
                    "rather than run out of memory",
                    file=sys.stderr,
                    flush=True,
                )
                with open(a.out + ".oom", "w") as f:
                    f.write(str(avail))
                try:
                    os.kill(a.until_pid, signal.SIGTERM)
                except OSError:
                    pass
            if a.until_pid and not os.path.isdir(f"/proc/{a.until_pid}"):
                return
            if a.until_pid and read(f"/proc/{a.until_pid}/stat").split(") ")[-1][:1] == "Z":
                return
            if time.monotonic() - loop_start >= a.max_secs:
                return
            time.sleep(max(0.0, a.every - (time.monotonic() - now)))


def load_csv(path):
    rows = []
    with open(path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            v = line.strip().split(",")
            if len(v) == len(head):
                rows.append({k: float(x) for k, x in zip(head, v)})
    return rows


def progress_lines(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = PROGRESS.match(line)
            if m:
                out.append((float(m.group(1)), int(m.group(2)), int(m.group(3))))
    return out


GO = re.compile(r"^go: every process ready at \+([\d.]+)s; the pairs join at \+([\d.]+)s")


def go_line(path):
    """(ready, join) in harness seconds, from the parent's go line."""
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = GO.match(line)
                if m:
                    return float(m.group(1)), float(m.group(2))
    except OSError:
        pass
    return None, None


def last_json_line(path):
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def at(rows, t):
    """The last sample taken at or before t (else the first)."""
    best = rows[0]
    for r in rows:
        if r["t"] <= t:
            best = r
    return best


def report(a):
    rows = load_csv(a.csv)
    prog = progress_lines(a.harness_log)
    h = last_json_line(a.harness_json)
    count = a.count
    c = h.get("counters", {})
    base = rows[0] if rows else {}
    # Harness progress times count from its start, which is the sampler's
    # t = a.harness_offset.
    off = a.harness_offset
    ready_t = next((t for t, _, au in prog if au >= count), None)
    peak = 0.0
    for (t1, _, a1), (t2, _, a2) in zip(prog, prog[1:]):
        if t2 > t1:
            peak = max(peak, (a2 - a1) / (t2 - t1))
    go_ready, go_join = go_line(a.harness_log)
    if go_ready is not None and ready_t is not None:
        ready_t = min(ready_t, go_ready)  # the parent saw it first-hand
    chat_at = off + go_join if go_join is not None else (rows[-1]["t"] if rows else 0.0)
    res = {
        "count": count,
        "nodes": a.nodes,
        "harness_procs": a.procs,
        "source_ips": a.source_ips,
        "connected": c.get("connected", 0),
        "authenticated": c.get("authed", 0),
        "registered": c.get("registered", 0),
        "handshake_retries": c.get("handshake_retries", 0),
    }
    notes = []
    if ready_t is not None:
        dur = ready_t - (a.t0_offset)
        res["connect_secs"] = round(dur, 1)
        res["connects_per_sec"] = round(count / dur, 0) if dur > 0 else None
        res["peak_connects_per_sec"] = round(peak, 0)
        res["hold_secs"] = round(chat_at - (off + ready_t), 1) if go_join is not None else None
    else:
        res["connect_secs"] = None
        res["connects_per_sec"] = None
        res["peak_connects_per_sec"] = round(peak, 0)
        res["hold_secs"] = None
        notes.append("not every connection authenticated")
    if rows and ready_t is not None:
        ready_abs = off + ready_t
        hold_rows = [r for r in rows if ready_abs + a.settle <= r["t"] <= chat_at]
        end = hold_rows[-1] if hold_rows else at(rows, chat_at)
        at_ready = at(rows, ready_abs + a.settle)
        n = max(res["authenticated"], 1)
        res["user_bytes_per_conn"] = round((end["node_rss_kb"] - base["node_rss_kb"]) * 1024 / n, 1)
        res["user_bytes_per_conn_at_ready"] = round((at_ready["node_rss_kb"] - base["node_rss_kb"]) * 1024 / n, 1)
        res["kernel_bytes_per_socket"] = round((end["slab_kb"] - base["slab_kb"]) * 1024 / (2 * n), 1)
        res["kernel_tcp_buffer_bytes_per_socket"] = round(
            (end["tcp_mem_pages"] - base["tcp_mem_pages"]) * PAGE / (2 * n), 1
        )
        res["harness_bytes_per_conn"] = round(end["harness_rss_kb"] * 1024 / n, 1)
        res["redis_bytes_per_user"] = round((end["redis_used_memory"] - base["redis_used_memory"]) / n, 1)
        res["redis_used_memory_mib"] = round(end["redis_used_memory"] / 1048576, 1)
        res["redis_rss_mib"] = round(end["redis_rss_kb"] / 1024, 1)
        res["node_rss_sum_mib"] = round(end["node_rss_kb"] / 1024, 1)
        res["conns_per_node_min_max"] = [int(end["node_fds_min"]), int(end["node_fds_max"])]
        if len(hold_rows) >= 2:
            h0, h1 = hold_rows[0], hold_rows[-1]
            dt = h1["t"] - h0["t"]
            res["hold_measured_secs"] = round(dt, 1)
            res["node_cpu_secs_per_min_hold"] = round((h1["node_cpu_ticks"] - h0["node_cpu_ticks"]) / CLK_TCK / dt * 60, 2)
            res["harness_cpu_secs_per_min_hold"] = round(
                (h1["harness_cpu_ticks"] - h0["harness_cpu_ticks"]) / CLK_TCK / dt * 60, 2
            )
            res["redis_cpu_secs_per_min_hold"] = round(
                (h1["redis_cpu_ticks"] - h0["redis_cpu_ticks"]) / CLK_TCK / dt * 60, 2
            )
            per_min = []
            t = h0["t"]
            while t + 60 <= h1["t"] + 0.5:
                r0, r1 = at(hold_rows, t), at(hold_rows, t + 60)
                if r1["t"] > r0["t"]:
                    per_min.append(round((r1["node_cpu_ticks"] - r0["node_cpu_ticks"]) / CLK_TCK / (r1["t"] - r0["t"]) * 60, 2))
                t += 60
            res["node_cpu_secs_each_min_hold"] = per_min
    lat = h.get("latency_us") or {}
    res.update(
        {
            "chat_pairs": a.chat_pairs,
            "chat_msgs_per_sec_target": a.chat_rate_total,
            "chat_sent": c.get("sent", 0),
            "chat_acked": c.get("acked", 0),
            "chat_delivered": c.get("received", 0),
            "chat_lost": h.get("lost", None) if h else None,
            "chat_dup": c.get("dup", 0),
            "chat_reordered": c.get("reordered", 0),
            "chat_unacked": c.get("unacked", 0),
            "chat_delivered_per_sec": round(h.get("delivered_per_sec") or 0, 1),
            "chat_p50_ms": round(lat["p50"] / 1000, 2) if lat else None,
            "chat_p99_ms": round(lat["p99"] / 1000, 2) if lat else None,
            "chat_max_ms": round(lat["max"] / 1000, 2) if lat else None,
            "chat_node_cpu_percent": round(h.get("server_cpu_percent") or 0, 1),
            "pings_answered": c.get("pings", 0),
            "harness_ok": bool(h.get("ok")),
            "harness_errors": h.get("errors"),
            "harness_samples": (h.get("samples") or [])[:4],
        }
    )
    if a.oom:
        notes.append("stopped early: MemAvailable fell below the floor")
    lost = res["chat_lost"]
    # The test: every connection authenticated, the chat lost
    # nothing (nor duplicated, reordered or left unacknowledged). Handshake
    # failures that a retry then authenticated are in harness_errors and
    # handshake_retries, not here.
    ok = (
        res["authenticated"] == count
        and lost == 0
        and res["chat_unacked"] == 0
        and res["chat_dup"] == 0
        and res["chat_reordered"] == 0
        and res["chat_delivered"] > 0
        and not a.oom
    )
    if not res["harness_ok"]:
        notes.append("the harness counted errors (see harness_errors, harness_samples)")
    res["ok"] = ok
    res["notes"] = notes
    if a.plot and rows:
        res["plot"] = plot(rows, prog, off, a, res)
    print(json.dumps(res, separators=(",", ":")))
    return 0 if ok else 1


def plot(rows, prog, off, a, res):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("million: no matplotlib (pip install matplotlib): no plot", file=sys.stderr)
        return None
    t = [r["t"] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(12, 7.5))
    ax[0][0].plot([off + p[0] for p in prog], [p[2] / 1000 for p in prog], label="authenticated")
    ax[0][0].set_ylabel("connections (thousands)")
    ax[0][0].set_title(f"{a.count:,} connections: authenticated")
    go_join = go_line(a.harness_log)[1]
    chat_at = off + go_join if go_join is not None else t[-1]
    for axis in (ax[0][0], ax[0][1], ax[1][0], ax[1][1]):
        axis.axvline(chat_at, color="grey", ls=":", lw=1)
        axis.set_xlabel("seconds")
    b = rows[0]
    ax[0][1].plot(t, [(r["slab_kb"] - b["slab_kb"]) / 1048576 for r in rows], label="kernel slab growth")
    ax[0][1].plot(t, [(r["node_rss_kb"] - b["node_rss_kb"]) / 1048576 for r in rows], label="duet RSS growth (all nodes)")
    ax[0][1].plot(t, [r["harness_rss_kb"] / 1048576 for r in rows], label="harness RSS")
    ax[0][1].plot(t, [(r["redis_used_memory"] - b["redis_used_memory"]) / 2**30 for r in rows], label="Redis used_memory growth")
    ax[0][1].set_ylabel("GiB")
    ax[0][1].set_title("memory")
    ax[0][1].legend(fontsize=8)
    cpu_t, cpu_n, cpu_r, cpu_h = [], [], [], []
    for r0, r1 in zip(rows, rows[1:]):
        dt = r1["t"] - r0["t"]
        if dt > 0:
            cpu_t.append(r1["t"])
            cpu_n.append((r1["node_cpu_ticks"] - r0["node_cpu_ticks"]) / CLK_TCK / dt * 100)
            cpu_r.append((r1["redis_cpu_ticks"] - r0["redis_cpu_ticks"]) / CLK_TCK / dt * 100)
            cpu_h.append(max(0, r1["harness_cpu_ticks"] - r0["harness_cpu_ticks"]) / CLK_TCK / dt * 100)
    ax[1][0].plot(cpu_t, cpu_n, label="all duet nodes")
    ax[1][0].plot(cpu_t, cpu_r, label="redis")
    ax[1][0].plot(cpu_t, cpu_h, label="harness", alpha=0.6)
    ax[1][0].set_ylabel("% of one core")
    ax[1][0].set_title("CPU (dotted line: chat phase joins)")
    ax[1][0].legend(fontsize=8)
    ax[1][1].plot(t, [r["received"] for r in rows], label="chat messages delivered")
    ax[1][1].set_ylabel("messages")
    ax[1][1].set_title(
        f"chat: p50 {res.get('chat_p50_ms')} ms, p99 {res.get('chat_p99_ms')} ms, lost {res.get('chat_lost')}"
    )
    fig.tight_layout()
    fig.savefig(a.plot, dpi=80)
    return a.plot


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    ri = sub.add_parser("redis-info")
    ri.add_argument("port")
    ri.add_argument("section", nargs="?", default="memory")
    s = sub.add_parser("sample")
    s.add_argument("--out", required=True)
    s.add_argument("--nodes", required=True)
    s.add_argument("--redis-pid", type=int, default=0)
    s.add_argument("--redis-port", type=int, default=0)
    s.add_argument("--harness-log", default="")
    s.add_argument("--until-pid", type=int, default=0)
    s.add_argument("--t0", type=float, default=0.0)
    s.add_argument("--redis-prefix", default="million")
    s.add_argument("--every", type=float, default=5.0)
    s.add_argument("--say", type=float, default=10.0)
    s.add_argument("--min-avail-mb", type=int, default=1024)
    s.add_argument("--max-secs", type=float, default=7200.0)
    r = sub.add_parser("report")
    for k in ("csv", "harness_log", "harness_json", "plot"):
        r.add_argument("--" + k.replace("_", "-"), default="")
    for k in ("count", "nodes", "procs", "source_ips", "chat_pairs", "chat_rate_total"):
        r.add_argument("--" + k.replace("_", "-"), type=int, default=0)
    for k in ("harness_offset", "t0_offset", "settle"):
        r.add_argument("--" + k.replace("_", "-"), type=float, default=0.0)
    r.add_argument("--oom", action="store_true")
    a = p.parse_args()
    if a.cmd == "freeport":
        print(freeport())
    elif a.cmd == "redis-info":
        for k, v in redis_info(a.port, a.section).items():
            print(f"{k}:{v}")
    elif a.cmd == "sample":
        sample(a)
    else:
        sys.exit(report(a))


if __name__ == "__main__":
    main()
