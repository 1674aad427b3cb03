//! Process-wide hardening (issue 11, contract section 7), against the
//! spawned binary: `--echo` only in a build with the cargo feature `echo`
//! (row 9, rule 14), boolean environment options (rule 15), and
//! protocol-violation closes counted in /metrics and logged within a bound
//! (row 12, rule 16).

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::process::{Running, command, spawn_server};
use common::*;
use tungstenite::Message;

/// Runs the binary until it exits (at most `WAIT`; a process still running
/// then fails the test); returns its status and stdout + stderr.
#[track_caller]
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = Running(command(args, env).spawn().expect("spawn duet"));
    let readers: Vec<_> = [
        Box::new(child.0.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.0.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    })
    .collect();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.0.kill();
            let out: String = readers.into_iter().map(|t| t.join().unwrap()).collect();
            panic!("duet {args:?} with {env:?} still runs after {WAIT:?}; it should have refused: {out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, readers.into_iter().map(|t| t.join().unwrap()).collect())
}

// ------------------------------------------------------- --echo (rule 14)

/// Row 9 / rule 14: the default binary has no `--echo` flag.
#[test]
fn the_default_binary_rejects_echo_as_an_unexpected_argument() {
    let (status, out) = run_to_exit(&["--echo"], &[]);
    assert!(!status.success(), "duet --echo exited with success: {out}");
    assert!(out.contains("unexpected argument"), "a usage error names the flag: {out}");
    assert!(!out.contains("listening on"), "{out}");
}

/// Row 9 / rule 14: `DUET_ECHO` set on a default build refuses to start.
#[test]
fn duet_echo_in_the_environment_refuses_to_start_a_default_build() {
    let (status, out) = run_to_exit(&["--listen", "127.0.0.1:0"], &[("DUET_ECHO", "1")]);
    assert!(!status.success(), "started with DUET_ECHO=1: {out}");
    assert!(out.contains("DUET_ECHO"), "the refusal names DUET_ECHO: {out}");
    assert!(!out.contains("listening on"), "{out}");
}

/// A false `DUET_ECHO` (a shared environment file saying `DUET_ECHO=0`)
/// asks for no echo mode, so a default build starts.
#[test]
fn a_false_duet_echo_does_not_stop_a_default_build() {
    for v in ["0", "false", "off", "no"] {
        if let Err(log) = spawn_server(&[("DUET_ECHO", v)]) {
            panic!("DUET_ECHO={v} did not start: {log}");
        }
    }
}

// ------------------------------------------- boolean environment (rule 15)

/// Rule 15: boolean environment options take 1/0, yes/no, on/off, true/false.
#[test]
fn duet_store_messages_accepts_the_usual_boolean_spellings() {
    for v in ["1", "yes", "on", "true", "0", "off", "no", "false"] {
        if let Err(log) = spawn_server(&[("DUET_STORE_MESSAGES", v)]) {
            panic!("DUET_STORE_MESSAGES={v} did not start: {log}");
        }
    }
}

/// Rule 15: anything else is refused at start.
#[test]
fn duet_store_messages_refuses_a_value_that_is_not_a_boolean() {
    let (status, out) = run_to_exit(&[], &[("DUET_STORE_MESSAGES", "maybe")]);
    assert!(!status.success(), "DUET_STORE_MESSAGES=maybe started: {out}");
    assert!(!out.contains("listening on"), "{out}");
}

// ------------------------------------ protocol-violation closes (rule 16)

/// One WebSocket that sends a binary frame; returns the server's close code.
#[track_caller]
fn binary_frame_close(addr: SocketAddr) -> u16 {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/chat"), stream).expect("upgrade");
    ws.send(Message::Binary(vec![1, 2, 3].into())).expect("send a binary frame");
    loop {
        match ws.read().expect("a close frame") {
            Message::Close(f) => return f.map_or(1005, |f| u16::from(f.code)),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

/// `duet_ws_closes_total{code="<code>"}` in /metrics, if present.
fn closes_metric(addr: SocketAddr, code: u16) -> Option<u64> {
    let prefix = format!("duet_ws_closes_total{{code=\"{code}\"}} ");
    metrics_text(addr).lines().find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

/// Row 12 / rule 16: 300 binary-frame closes are all counted in /metrics,
/// but logged at info in at most 10 lines plus one saying how many were not.
#[test]
fn protocol_violation_closes_are_counted_and_their_log_lines_bounded() {
    const N: u64 = 300;
    let srv = spawn_server(&[("RUST_LOG", "info")]).expect("duet starts");
    let logged_before = srv.log.lock().unwrap().len();
    for i in 0..N {
        assert_eq!(binary_frame_close(srv.addr), 1003, "socket {i}: a binary frame closes with 1003");
    }
    let deadline = Instant::now() + WAIT;
    let mut counted = closes_metric(srv.addr, 1003);
    while counted != Some(N) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        counted = closes_metric(srv.addr, 1003);
    }
    let log = srv.log.lock().unwrap()[logged_before..].to_vec();
    assert!(!log.is_empty(), "the closes are logged at all");
    assert!(log.len() <= 11, "{} log lines for {N} closes:\n{}", log.len(), log.join("\n"));
    assert_eq!(counted, Some(N), "duet_ws_closes_total{{code=\"1003\"}} after {N} binary-frame closes");
}
