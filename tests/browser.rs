//! The web client in a real browser: starts duet in-process, then runs the
//! node tests in `tests/browser/` (playwright-core driving Debian's
//! Chromium) against it, and passes only if they all pass.
//!
//! Needs `node`, `npm` and `/usr/bin/chromium` (or `DUET_CHROMIUM`). When
//! one is missing the test fails if `CI=true` (there the browser tests must
//! run) and otherwise says loudly that it skipped them. `npm ci` runs first
//! when `tests/browser/node_modules` is missing.

mod common;
mod pg;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::start_with;

/// Longest the whole node run may take (it normally needs well under 60 s).
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// Longest `npm ci` may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);
/// The admin token the ban test uses.
const ADMIN: &str = "browser-tests-admin";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("DUET_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What is missing for the browser tests, if anything.
fn missing() -> Option<String> {
    let mut gaps = Vec::new();
    if !runs("node") {
        gaps.push("node".to_string());
    }
    if !runs("npm") {
        gaps.push("npm".to_string());
    }
    if !chromium().is_file() {
        gaps.push(format!("{} (apt-get install -y chromium)", chromium().display()));
    }
    (!gaps.is_empty()).then(|| gaps.join(", "))
}

/// Runs `cmd` to completion within `limit`; returns (success, output).
/// It runs in a process group of its own, which is killed when it ends or
/// times out: nothing it started (Chromium, a duet it spawned) outlives it.
fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String) {
    let mut child: Child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        thread::spawn(move || {
            let mut out = String::new();
            let _ = r.read_to_string(&mut out);
            out
        })
    })
    .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    // The group's id is the child's pid (process_group(0)); whatever is
    // left in it is a straggler. The readers below end once it is gone.
    // SAFETY: kill only signals the process group this function created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let output: String = readers.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    match status {
        Some(s) => (s.success(), output),
        None => (false, format!("{output}\n*** killed: still running after {limit:?}")),
    }
}

#[test]
fn web_client_in_chromium() {
    if let Some(gaps) = missing() {
        let msg = format!("browser tests need {gaps}");
        if common::in_ci() {
            panic!("{msg}: CI=true, so they must run (.ci/run installs them)");
        }
        // Straight to the stderr descriptor: libtest hides `eprintln!` of
        // a passing test, and a skip must be seen.
        let line = format!("\n!!!!!!!! SKIPPED the browser tests: {msg} !!!!!!!!\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    }
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir);
        let (ok, out) = run_bounded(npm, INSTALL_LIMIT);
        assert!(ok, "npm ci in {} failed:\n{out}", dir.display());
    }

    let blocklist = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-blocklist.txt");
    std::fs::write(&blocklist, "badword\n").expect("write the blocklist");
    let srv = start_with(|c| {
        c.match_tier1_secs = Duration::from_secs(1);
        c.match_timeout_secs = Duration::from_secs(6);
        c.resume_grace_secs = Duration::from_secs(30);
        c.blocklist = Some(blocklist);
        c.admin_token = Some(ADMIN.to_string());
    });

    // The rate-limit test's server: two messages at once, then one a second.
    let limited = start_with(|c| {
        c.chat_rate = 1.0;
        c.chat_burst = 2;
    });
    // The restart test's database; None (said loudly) skips only that test.
    let db = pg::Schema::new();

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    let mut node = Command::new("node");
    node.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .current_dir(&dir)
        .env("DUET_URL", format!("http://{}", srv.addr))
        .env("DUET_LIMITED_URL", format!("http://{}", limited.addr))
        .env("DUET_SCREENSHOTS", &shots)
        .env("DUET_CHROMIUM", chromium())
        .env("DUET_ADMIN_TOKEN", ADMIN);
    if let Some(db) = &db {
        let port = common::free_port();
        let args = [format!("--listen=127.0.0.1:{port}"), format!("--database-url={}", db.url())];
        node.env("DUET_RESTART_BIN", env!("CARGO_BIN_EXE_duet"))
            .env("DUET_RESTART_ARGS", serde_json::to_string(&args).expect("JSON"))
            .env("DUET_RESTART_PORT", port.to_string());
    }
    let started = Instant::now();
    let (ok, out) = run_bounded(node, RUN_LIMIT);
    println!("{out}");
    println!("browser tests: {:.1} s, screenshots in {}", started.elapsed().as_secs_f64(), shots.display());
    assert!(ok, "the browser tests failed (output above)");
}
