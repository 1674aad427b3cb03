//! Running the work: in this process (--procs 1, on a worker thread) or
//! over K child processes (the binary re-executes itself with the hidden
//! --child flag; each child prints JSON lines on stdout: progress, then its
//! outcome). The parent merges, prints live progress on stderr, takes the
//! server readings at the right moments, and kills children that outlive
//! the hard deadline.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::cli::Cmd;
use crate::result::{Counters, Line, Outcome, Progress};
use crate::scenario::{self, ns};
use crate::sys::{self, SockStat, mono_ns};

/// Server and harness readings taken by the parent.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    pub wall_secs: f64,
    /// Length of the measured window (chat: send + drain; churn: duration).
    pub window_secs: Option<f64>,
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    pub sock_before: Option<SockStat>,
    pub sock_after: Option<SockStat>,
    /// Kernel socket slab bytes (see `sys::socket_slab_bytes`).
    pub slab_before: Option<u64>,
    pub slab_after: Option<u64>,
    /// Server utime+stime over the window, clock ticks.
    pub server_cpu_ticks: Option<u64>,
    /// Redis utime+stime over the window (`--redis-pid`), clock ticks.
    pub redis_cpu_ticks: Option<u64>,
    /// Every user was ready before the readings were taken.
    pub all_ready: bool,
    pub worker_failures: Vec<String>,
}

enum Msg {
    Line(usize, Line),
    /// A worker ended; `Some` = why it failed.
    Ended(usize, Option<String>),
}

/// Entry of a child process: run the share, report on stdout.
pub fn child_main(cmd: &Cmd, index: usize) -> i32 {
    let t0 = cmd.common().t0_ns.unwrap_or_else(mono_ns);
    let stdout = io::stdout();
    let mut sink = |l: Line| {
        let mut out = stdout.lock();
        if serde_json::to_writer(&mut out, &l).is_ok() {
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    };
    match scenario::run_worker(cmd, index, t0, &mut sink) {
        Ok(o) => {
            sink(Line::Outcome(Box::new(o)));
            0
        }
        Err(e) => {
            eprintln!("duet-loadtest child {index}: {e}");
            1
        }
    }
}

fn spawn_children(cmd: &Cmd, t0: u64, tx: &mpsc::Sender<Msg>) -> Result<Vec<Child>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let k = cmd.common().procs;
    let mut children = Vec::new();
    for i in 0..usize::from(k) {
        let mut child = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .args(["--child", &i.to_string(), "--t0-ns", &t0.to_string()])
            .args(
                cmd.common().go_file.iter().flat_map(|p| [std::ffi::OsStr::new("--go-file"), p.as_os_str()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start child {i}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            return Err(format!("child {i} has no stdout"));
        };
        let tx = tx.clone();
        thread::spawn(move || {
            let mut err = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Line>(&line) {
                    Ok(l) => {
                        let _ = tx.send(Msg::Line(i, l));
                    }
                    Err(e) => err = Some(format!("child {i}: bad line ({e}): {line:.200}")),
                }
            }
            let _ = tx.send(Msg::Ended(i, err));
        });
        children.push(child);
    }
    Ok(children)
}

fn spawn_thread(cmd: &Cmd, t0: u64, tx: mpsc::Sender<Msg>) {
    let cmd = cmd.clone();
    thread::spawn(move || {
        let mut sink = |l: Line| {
            let _ = tx.send(Msg::Line(0, l));
        };
        let res = scenario::run_worker(&cmd, 0, t0, &mut sink);
        let end = match res {
            Ok(o) => {
                let _ = tx.send(Msg::Line(0, Line::Outcome(Box::new(o))));
                None
            }
            Err(e) => Some(format!("worker: {e}")),
        };
        let _ = tx.send(Msg::Ended(0, end));
    });
}

fn progress_line(elapsed: f64, c: &Counters, cmd: &Cmd) -> String {
    let mut s = format!(
        "[{elapsed:6.1}s] connected {} authed {} matched {} sent {} received {}",
        c.connected, c.authed, c.matched, c.sent, c.received
    );
    if matches!(cmd, Cmd::Churn(_)) {
        s.push_str(&format!(" sessions {}", c.sessions));
    }
    if matches!(cmd, Cmd::Queue(_)) {
        s.push_str(&format!(" cancelled {}", c.cancelled));
    }
    s.push_str(&format!(" errors {}", c.errors()));
    s
}

/// Runs the scenario to its end and returns the merged outcome.
pub fn run_parent(cmd: &Cmd) -> Result<(Outcome, Measured), String> {
    let c = cmd.common();
    let k = usize::from(c.procs);
    // Several pids (a cluster's nodes) are read as one server.
    let pid: Option<Vec<String>> =
        (!c.server_pid.is_empty()).then(|| c.server_pid.iter().map(|p| p.to_string()).collect());
    let redis = c.redis_pid.map(|p| p.to_string());
    let mut m = Measured::default();
    if let Some(p) = &pid {
        m.rss_before = sys::rss_sum(p);
        if m.rss_before.is_none() {
            return Err(format!("cannot read /proc/{p:?}/status (is --server-pid right?)"));
        }
        m.sock_before = sys::sockstat();
        m.slab_before = sys::socket_slab_bytes();
    }
    let start = mono_ns();
    let t0 = start + if k > 1 { 300_000_000 } else { 20_000_000 };
    // idle --chat-pairs: the parent says when the pairs join (go file).
    let chat_hold = match cmd {
        Cmd::Idle(a) if a.chat_pairs > 0 => Some(ns(a.hold_secs)),
        _ => None,
    };
    let go = chat_hold.map(|_| GoFile::new(t0));
    let mut cmd = cmd.clone();
    if let (Some(g), Cmd::Idle(a)) = (&go, &mut cmd) {
        a.common.go_file = Some(g.path.clone());
    }
    let cmd = &cmd;
    let tl = scenario::timeline(cmd, t0);
    let (tx, rx) = mpsc::channel();
    let mut children = if k > 1 {
        spawn_children(cmd, t0, &tx)?
    } else {
        spawn_thread(cmd, t0, tx.clone());
        Vec::new()
    };
    drop(tx);

    let settle = match cmd {
        Cmd::Idle(a) => ns(a.settle_secs),
        _ => 0,
    };
    let mut latest = vec![Progress::default(); k];
    let mut outcomes: Vec<Option<Outcome>> = vec![None; k];
    let mut ended = vec![false; k];
    let mut ready_seen = 0u64;
    let mut measured_after = false;
    let mut cpu_start: Option<(Option<u64>, u64, Option<u64>)> = None;
    let mut parent_cpu = 0u64;
    let mut next_print = start + 1_000_000_000;
    let kill_at = tl.hard + 5_000_000_000;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Msg::Line(i, Line::Progress(p))) => latest[i] = *p,
            Ok(Msg::Line(i, Line::Outcome(o))) => {
                latest[i].counters = o.counters.clone();
                outcomes[i] = Some(*o);
            }
            Ok(Msg::Ended(i, err)) => {
                ended[i] = true;
                if let Some(e) = err {
                    m.worker_failures.push(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = mono_ns();
        // idle: read memory once every process is ready and settled.
        if matches!(cmd, Cmd::Idle(_))
            && !measured_after
            && !ended.iter().any(|e| *e)
            && latest.iter().all(|p| p.ready)
        {
            if ready_seen == 0 {
                ready_seen = now;
            } else if now >= ready_seen + settle {
                measured_after = true;
                if let (Some(g), Some(hold)) = (&go, chat_hold) {
                    let join_at = ready_seen + hold;
                    if let Err(e) = g.write(join_at) {
                        m.worker_failures.push(format!("cannot write the go file: {e}"));
                    } else if !c.quiet {
                        eprintln!(
                            "go: every process ready at +{:.1}s; the pairs join at +{:.1}s",
                            (ready_seen - start) as f64 / 1e9,
                            (join_at - start) as f64 / 1e9
                        );
                    }
                }
                m.all_ready = true;
                if let Some(p) = &pid {
                    m.rss_after = sys::rss_sum(p);
                    m.sock_after = sys::sockstat();
                    m.slab_after = sys::socket_slab_bytes();
                }
            }
        }
        if let Some((ws, we)) = tl.window {
            if cpu_start.is_none() && now >= ws {
                let server = pid.as_deref().and_then(sys::cpu_sum);
                let redis0 = redis.as_deref().and_then(sys::cpu_ticks);
                cpu_start = Some((server, sys::cpu_ticks("self").unwrap_or(0), redis0));
            }
            if let Some((server0, parent0, redis0)) = cpu_start
                && m.window_secs.is_none()
                && now >= we
            {
                m.window_secs = Some((we - ws) as f64 / 1e9);
                if let (Some(s0), Some(p)) = (server0, &pid) {
                    m.server_cpu_ticks = sys::cpu_sum(p).map(|s1| s1.saturating_sub(s0));
                }
                if let (Some(r0), Some(p)) = (redis0, &redis) {
                    m.redis_cpu_ticks = sys::cpu_ticks(p).map(|r1| r1.saturating_sub(r0));
                }
                parent_cpu = sys::cpu_ticks("self").unwrap_or(0).saturating_sub(parent0);
            }
        }
        if now >= next_print {
            next_print += 1_000_000_000;
            if !c.quiet {
                let mut sum = Counters::default();
                for p in &latest {
                    sum.add(&p.counters);
                }
                eprintln!("{}", progress_line((now - start) as f64 / 1e9, &sum, cmd));
            }
        }
        if ended.iter().all(|e| *e) {
            break;
        }
        if now >= kill_at {
            for (i, ch) in children.iter_mut().enumerate() {
                if !ended[i] {
                    let _ = ch.kill();
                    m.worker_failures.push(format!("child {i} outlived the hard deadline; killed"));
                }
            }
            if children.is_empty() {
                m.worker_failures.push("worker outlived the hard deadline".to_string());
            }
            break;
        }
    }
    for ch in &mut children {
        let _ = ch.wait();
    }
    m.wall_secs = (mono_ns() - start) as f64 / 1e9;
    for (i, o) in outcomes.iter().enumerate() {
        if o.is_none() && ended[i] && m.worker_failures.iter().all(|f| !f.contains(&format!("child {i}"))) {
            m.worker_failures.push(format!("worker {i} ended without a result"));
        }
    }
    let parts: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    let mut merged = Outcome::merge_all(&parts);
    if k > 1 {
        merged.cpu_ticks += parent_cpu;
    }
    merged.counters.workers_failed += m.worker_failures.len() as u64;
    Ok((merged, m))
}

/// The file through which the parent tells its workers when the pairs of
/// `idle --chat-pairs` join: one number (CLOCK_MONOTONIC ns), written to a
/// temporary name and renamed, so a reader sees all of it or nothing.
/// Removed when dropped.
struct GoFile {
    path: std::path::PathBuf,
}

impl GoFile {
    fn new(t0: u64) -> Self {
        let name = format!("duet-loadtest-go-{}-{t0}", std::process::id());
        GoFile { path: std::env::temp_dir().join(name) }
    }

    fn write(&self, join_at: u64) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, join_at.to_string())?;
        std::fs::rename(&tmp, &self.path)
    }
}

impl Drop for GoFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.path.with_extension("tmp"));
    }
}
