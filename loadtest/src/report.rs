//! The end of a run: derive the figures each scenario promises from the
//! merged outcome and the parent's readings, decide pass/fail, and print
//! them as a table (human) or one JSON object (`--json`, for scripts).

use serde::Serialize;

use crate::cli::Cmd;
use crate::procs::Measured;
use crate::result::{Counters, Hist, Outcome};
use crate::sys;

/// Percentiles of a histogram, in its unit.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Summary {
    fn of(h: &Hist) -> Option<Summary> {
        let h = &h.0;
        (!h.is_empty()).then(|| Summary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub target: String,
    pub procs: u16,
    pub users: u64,
    pub wall_secs: f64,
    pub ok: bool,
    pub errors: u64,
    pub lost: u64,
    pub counters: Counters,
    /// Chat delivery latency, µs.
    pub latency_us: Option<Summary>,
    /// Time to match, µs.
    pub match_wait_us: Option<Summary>,
    pub delivered_per_sec: Option<f64>,
    pub sessions_per_sec: Option<f64>,
    pub matches_per_sec: Option<f64>,
    pub server_rss_before: Option<u64>,
    pub server_rss_after: Option<u64>,
    /// Server RSS growth ÷ connections.
    pub server_bytes_per_conn: Option<f64>,
    /// Kernel TCP memory growth (/proc/net/sockstat `mem` pages, both ends
    /// of each loopback connection) ÷ connections.
    pub kernel_tcp_bytes_per_conn: Option<f64>,
    /// Kernel slab growth for sockets (TCP, inode, file, epoll entries;
    /// both ends) ÷ connections, from /proc/slabinfo.
    pub kernel_slab_bytes_per_conn: Option<f64>,
    pub sockets_used_before: Option<u64>,
    pub sockets_used_after: Option<u64>,
    pub server_cpu_us_per_msg: Option<f64>,
    pub server_cpu_us_per_session: Option<f64>,
    /// Redis CPU over the window ÷ messages delivered (`--redis-pid`).
    pub redis_cpu_us_per_msg: Option<f64>,
    pub harness_cpu_us_per_msg: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    pub notes: Vec<String>,
    pub samples: Vec<String>,
}

fn per_sec(n: u64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| n as f64 / secs)
}

pub fn build(cmd: &Cmd, o: &Outcome, m: &Measured) -> Report {
    let c = &o.counters;
    let tck = sys::clk_tck() as f64;
    let ticks_us = |t: u64| t as f64 * 1e6 / tck;
    let mut notes = Vec::new();
    let chats = match cmd {
        Cmd::Chat(_) => true,
        Cmd::Idle(a) => a.chat_pairs > 0,
        _ => false,
    };
    let lost = if chats { c.lost() } else { 0 };
    let mut errors = c.errors() + lost;
    let mut r = Report {
        scenario: cmd.name(),
        target: cmd.common().target.to_string(),
        procs: cmd.common().procs,
        users: o.users,
        wall_secs: m.wall_secs,
        ok: false,
        errors: 0,
        lost,
        counters: c.clone(),
        latency_us: Summary::of(&o.latency_us),
        match_wait_us: Summary::of(&o.match_wait_us),
        delivered_per_sec: None,
        sessions_per_sec: None,
        matches_per_sec: None,
        server_rss_before: m.rss_before,
        server_rss_after: m.rss_after,
        server_bytes_per_conn: None,
        kernel_tcp_bytes_per_conn: None,
        kernel_slab_bytes_per_conn: None,
        sockets_used_before: m.sock_before.map(|s| s.sockets_used),
        sockets_used_after: m.sock_after.map(|s| s.sockets_used),
        server_cpu_us_per_msg: None,
        server_cpu_us_per_session: None,
        redis_cpu_us_per_msg: None,
        harness_cpu_us_per_msg: None,
        server_cpu_percent: None,
        notes: Vec::new(),
        samples: m.worker_failures.iter().chain(&o.samples).cloned().collect(),
    };
    if let (Some(w), Some(t)) = (m.window_secs, m.server_cpu_ticks) {
        r.server_cpu_percent = Some(ticks_us(t) / 1e6 / w * 100.0);
    }
    match cmd {
        Cmd::Idle(a) => {
            if a.chat_pairs > 0 {
                r.delivered_per_sec = per_sec(c.received, a.chat_secs);
                if c.received > 0 {
                    r.server_cpu_us_per_msg = m.server_cpu_ticks.map(|t| ticks_us(t) / c.received as f64);
                    r.redis_cpu_us_per_msg = m.redis_cpu_ticks.map(|t| ticks_us(t) / c.received as f64);
                }
                errors += c.unmatched;
                let want = 2 * a.chat_pairs.min(a.conns / 2) as u64;
                if c.matched < want {
                    errors += 1;
                    notes.push(format!("{} of {want} chatting users were matched", c.matched));
                }
            }
            if c.authed < o.users {
                errors += 1;
                notes.push(format!("only {} of {} connections authenticated", c.authed, o.users));
            }
            if c.authed > 0 {
                if let (Some(a), Some(b)) = (m.rss_before, m.rss_after) {
                    r.server_bytes_per_conn = Some((b as f64 - a as f64) / c.authed as f64);
                }
                if let (Some(a), Some(b)) = (m.sock_before, m.sock_after) {
                    let page = sys::page_size() as f64;
                    let grow = b.tcp_mem_pages as f64 - a.tcp_mem_pages as f64;
                    r.kernel_tcp_bytes_per_conn = Some(grow * page / c.authed as f64);
                    if grow < 0.0 {
                        notes.push(
                            "TCP buffer memory is system-wide and fell during the run \
                             (buffers of earlier connections were freed): idle sockets \
                             hold next to no buffer pages"
                                .into(),
                        );
                    }
                }
                if let (Some(a), Some(b)) = (m.slab_before, m.slab_after) {
                    r.kernel_slab_bytes_per_conn = Some((b as f64 - a as f64) / c.authed as f64);
                }
            }
            if !cmd.common().server_pid.is_empty() {
                notes.push(
                    "RSS growth is meaningful against a freshly started server only \
                     (memory freed by earlier runs is reused, not returned)"
                        .into(),
                );
            }
            if !cmd.common().server_pid.is_empty() && !m.all_ready {
                notes.push("memory not read: not every connection became ready".into());
            }
        }
        Cmd::Chat(a) => {
            let window = a.duration_secs;
            r.delivered_per_sec = per_sec(c.received, window);
            if c.received > 0 {
                r.server_cpu_us_per_msg = m.server_cpu_ticks.map(|t| ticks_us(t) / c.received as f64);
                r.redis_cpu_us_per_msg = m.redis_cpu_ticks.map(|t| ticks_us(t) / c.received as f64);
                r.harness_cpu_us_per_msg = Some(ticks_us(o.cpu_ticks) / c.received as f64);
            }
            if c.unmatched > 0 {
                errors += c.unmatched;
            }
            if c.matched < o.users {
                notes.push(format!("{} of {} users were matched", c.matched, o.users));
            }
            notes.push(format!(
                "CPU per message counts delivered messages over send+drain ({:.1}s)",
                a.duration_secs + a.drain_secs
            ));
        }
        Cmd::Churn(a) => {
            let window = a.common.ramp_secs + a.duration_secs;
            r.sessions_per_sec = per_sec(c.window_sessions, window);
            if c.window_sessions > 0 {
                r.server_cpu_us_per_session =
                    m.server_cpu_ticks.map(|t| ticks_us(t) / c.window_sessions as f64);
            }
            notes.push(format!(
                "sessions/s = sessions ended within ramp+duration ({window:.1}s); \
                 a session is one user's, each room holds two"
            ));
        }
        Cmd::Queue(_) => {
            // Every room has exactly two members (see `Outcome::rooms_xor`).
            if o.rooms_xor != 0 {
                errors += 1;
                notes.push(
                    "a room was announced to other than exactly two users (double or ghost match)".into(),
                );
            }
            if o.last_match_ns > o.first_join_ns && o.first_join_ns > 0 {
                let secs = (o.last_match_ns - o.first_join_ns) as f64 / 1e9;
                r.matches_per_sec = per_sec(c.matched / 2, secs);
            }
        }
    }
    r.errors = errors;
    r.ok = errors == 0;
    r.notes = notes;
    r
}

fn fmt_opt(v: Option<f64>, unit: &str) -> Option<String> {
    v.map(|v| format!("{v:.1}{unit}"))
}

fn fmt_summary(s: &Summary, div: f64, unit: &str) -> String {
    let f = |v: u64| format!("{:.2}", v as f64 / div);
    format!(
        "p50 {} p90 {} p99 {} p99.9 {} max {} {unit} (n={})",
        f(s.p50),
        f(s.p90),
        f(s.p99),
        f(s.p999),
        f(s.max),
        s.count
    )
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("scenario".into(), format!("{} → {} ({} procs)", r.scenario, r.target, r.procs)),
        ("users / slots".into(), r.users.to_string()),
        ("wall time".into(), format!("{:.1}s", r.wall_secs)),
        ("result".into(), if r.ok { "OK".into() } else { format!("FAILED ({} errors)", r.errors) }),
    ];
    let c = &r.counters;
    rows.push(("connected / authed".into(), format!("{} / {}", c.connected, c.authed)));
    if r.scenario == "chat" || c.sent > 0 {
        rows.push(("sent / acked / received".into(), format!("{} / {} / {}", c.sent, c.acked, c.received)));
        rows.push((
            "lost / dup / reordered".into(),
            format!(
                "{} / {} / {} (seq errors {}, unacked {})",
                r.lost, c.dup, c.reordered, c.seq_errors, c.unacked
            ),
        ));
    }
    if r.scenario != "idle" {
        rows.push((
            "matched / cancelled / unmatched".into(),
            format!("{} / {} / {}", c.matched, c.cancelled, c.unmatched),
        ));
    }
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            rows.push((k.to_string(), v));
        }
    };
    opt("delivered msgs/s", fmt_opt(r.delivered_per_sec, ""));
    opt("latency", r.latency_us.as_ref().map(|s| fmt_summary(s, 1000.0, "ms")));
    opt(
        "sessions/s",
        fmt_opt(
            r.sessions_per_sec,
            &format!(" ({} sessions, {} in the window)", c.sessions, c.window_sessions),
        ),
    );
    opt("time to match", r.match_wait_us.as_ref().map(|s| fmt_summary(s, 1000.0, "ms")));
    opt("matches/s", fmt_opt(r.matches_per_sec, ""));
    opt(
        "server RSS before → after",
        match (r.server_rss_before, r.server_rss_after) {
            (Some(a), Some(b)) => {
                Some(format!("{:.1} MiB → {:.1} MiB", a as f64 / 1048576.0, b as f64 / 1048576.0))
            }
            _ => None,
        },
    );
    opt("server user-space bytes/conn", fmt_opt(r.server_bytes_per_conn, " B"));
    opt(
        "kernel TCP buffer bytes/conn",
        fmt_opt(r.kernel_tcp_bytes_per_conn, " B (sockstat TCP mem pages, both ends)"),
    );
    opt(
        "kernel socket slab bytes/conn",
        fmt_opt(r.kernel_slab_bytes_per_conn, " B (TCP+inode+file+epoll slabs, both ends)"),
    );
    opt(
        "sockets used before → after",
        match (r.sockets_used_before, r.sockets_used_after) {
            (Some(a), Some(b)) => Some(format!("{a} → {b} (+{})", b as i64 - a as i64)),
            _ => None,
        },
    );
    opt("server CPU", fmt_opt(r.server_cpu_percent, "% of one core over the window"));
    opt("server CPU µs/msg", fmt_opt(r.server_cpu_us_per_msg, ""));
    opt("redis CPU µs/msg", fmt_opt(r.redis_cpu_us_per_msg, ""));
    opt("harness CPU µs/msg", fmt_opt(r.harness_cpu_us_per_msg, ""));
    opt("server CPU µs/session", fmt_opt(r.server_cpu_us_per_session, ""));
    rows.push((
        "errors".into(),
        format!(
            "connect {} replies {} protocol {} dropped {} timeouts {} workers {}",
            c.connect_errors, c.error_replies, c.protocol_errors, c.dropped, c.timeouts, c.workers_failed
        ),
    ));
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in rows {
        s.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    for n in &r.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    for e in &r.samples {
        s.push_str(&format!("  error sample: {e}\n"));
    }
    s
}

/// Prints the report: the table on stdout, or JSON on stdout and the table on stderr.
pub fn print(r: &Report, json: bool) {
    if json {
        eprint!("{}", table(r));
        match serde_json::to_string(r) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("cannot encode the report: {e}"),
        }
    } else {
        print!("{}", table(r));
    }
}
