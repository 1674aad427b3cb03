//! Running the node tests of `tests/browser/` (node's test runner,
//! playwright-core driving Debian's Chromium): what they need, a loud skip
//! or a CI failure when it is missing, `npm ci` when `node_modules` is,
//! and node itself in a process group of its own with a time limit.
//! Used by `tests/browser.rs` and `tests/browser_cluster.rs`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::in_ci;

/// Longest `npm ci` may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// `tests/browser`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Where the tests put their screenshots.
pub fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser")
}

/// Debian's Chromium, or `DUET_CHROMIUM`.
pub fn chromium() -> PathBuf {
    std::env::var_os("DUET_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether `program --version` runs and succeeds.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What is missing for the browser tests, if anything.
pub fn missing() -> Option<String> {
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

/// A test that cannot run for want of `what`: fails under `CI=true` (there
/// it must run), else says loudly that it skipped.
#[track_caller]
pub fn skip_or_fail(what: &str, msg: &str) {
    if in_ci() {
        panic!("{msg}: CI=true, so {what} must run (.ci/run installs what they need)");
    }
    // Straight to the stderr descriptor: libtest hides `eprintln!` of a
    // passing test, and a skip must be seen.
    let line = format!("\n!!!!!!!! SKIPPED {what}: {msg} !!!!!!!!\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// Whether the browser tests can run: true, or a loud skip (false), or a
/// failure under `CI=true`. Runs `npm ci` when playwright-core is missing.
#[track_caller]
pub fn ready(what: &str) -> bool {
    if let Some(gaps) = missing() {
        skip_or_fail(what, &format!("browser tests need {gaps}"));
        return false;
    }
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir);
        let (ok, out) = run_bounded(npm, INSTALL_LIMIT);
        assert!(ok, "npm ci in {} failed:\n{out}", dir.display());
    }
    true
}

/// `node --test` (one file at a time, spec reporter) in `tests/browser`
/// on `files`, with the variables every browser test reads set (the
/// screenshots' directory, the Chromium).
pub fn node_test(files: &[String]) -> Command {
    let mut node = Command::new("node");
    node.args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(files)
        .current_dir(browser_dir())
        .env("DUET_SCREENSHOTS", screenshots())
        .env("DUET_CHROMIUM", chromium());
    node
}

/// The `*.test.mjs` files of `tests/browser` for which `keep(name)`
/// holds, sorted.
pub fn test_files(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(browser_dir())
        .expect("read tests/browser")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test.mjs") && keep(n))
        .collect();
    files.sort();
    files
}

/// Runs `cmd` to completion within `limit`; returns (success, output).
/// It runs in a process group of its own, which is killed when it ends or
/// times out: nothing it started (Chromium, a duet it spawned) outlives it.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String) {
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
