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

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::{node_test, ready, run_bounded, screenshots, test_files};
use common::start_with;

/// Longest the whole node run may take (it normally needs well under 60 s).
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// The admin token the ban test uses.
const ADMIN: &str = "browser-tests-admin";
/// The two-node test, which `tests/browser_cluster.rs` runs.
const CLUSTER_TEST: &str = "cluster.test.mjs";

#[test]
fn web_client_in_chromium() {
    if !ready("the browser tests") {
        return;
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

    // Every test file but the two-node one, which tests/browser_cluster.rs
    // runs against its own cluster.
    let mut node = node_test(&test_files(|name| name != CLUSTER_TEST));
    node.env("DUET_URL", format!("http://{}", srv.addr))
        .env("DUET_LIMITED_URL", format!("http://{}", limited.addr))
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
    println!(
        "browser tests: {:.1} s, screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshots().display()
    );
    assert!(ok, "the browser tests failed (output above)");
}
