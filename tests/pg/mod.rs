//! PostgreSQL for tests: a schema of its own per test on the shared server,
//! and a throw-away server of the test's own for stopping and starting.
//!
//! The shared server is `DUET_TEST_DATABASE_URL` (default: the machine's
//! 127.0.0.1:5432, trust auth, database `test`). Where it cannot be
//! reached a test says so loudly and skips, except under `CI=true`, where
//! it fails: CI must not pass by skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::common::{free_port, in_ci};

pub mod rows;

pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

fn base_url() -> String {
    std::env::var("DUET_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Skips (by hand) or fails (in CI) a test that needs what is missing.
#[track_caller]
pub fn unavailable(what: &str) -> Option<Schema> {
    assert!(!in_ci(), "CI=true and {what}: database tests must run in CI");
    // Straight to the stderr descriptor: libtest captures `eprintln!`
    // of passing tests, and a skip must be seen.
    let msg = format!("\n*** SKIPPED: {what}; set DUET_TEST_DATABASE_URL to run the database tests ***\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
    None
}

/// A schema of its own on the shared server, dropped with it.
pub struct Schema {
    pub name: String,
    base: String,
}

impl Schema {
    /// A fresh empty schema, or None (loudly) when no server answers.
    #[track_caller]
    pub fn new() -> Option<Schema> {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = base_url();
        let mut client = match Client::connect(&base, NoTls) {
            Ok(c) => c,
            Err(e) => return unavailable(&format!("no PostgreSQL at {base} ({e})")),
        };
        let name =
            format!("duet_t{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), rand_suffix());
        client.batch_execute(&format!("CREATE SCHEMA {name}")).expect("create schema");
        Some(Schema { name, base })
    }

    /// A URL whose connections use only this schema.
    pub fn url(&self) -> String {
        with_search_path(&self.base, &self.name)
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.url(), NoTls).expect("connect to the test schema")
    }

    /// One number from a query, e.g. `count(*)`.
    #[track_caller]
    pub fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).expect(sql).get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.base, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
}

/// A PostgreSQL server of the test's own (initdb in a temp folder, a free
/// loopback port), which the test may stop and start. Stopped and removed
/// on drop.
pub struct OwnServer {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl OwnServer {
    /// None (loudly; a failure in CI) when the server binaries are missing.
    #[track_caller]
    pub fn start() -> Option<OwnServer> {
        let bin = match bindir() {
            Some(b) => b,
            None => {
                unavailable("no PostgreSQL server binaries (pg_config --bindir)");
                return None;
            }
        };
        let dir = std::env::temp_dir().join(format!("duet-pg-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = free_port();
        let server = OwnServer { dir, bin, port };
        chown_to_postgres(&server.dir);
        let data = server.data();
        server.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        server.pg_ctl_start();
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "-t", "30", "start"]);
    }

    /// Stops the server now (connections are cut), waiting until it is down.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"]);
    }

    /// Starts it again on the same port, waiting until it accepts connections.
    pub fn restart(&self) {
        self.pg_ctl_start();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Client::connect(&self.url(), NoTls).is_err() {
            assert!(Instant::now() < deadline, "own PostgreSQL did not come back");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A server tool, run as `postgres` when the tests run as root.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        }
    }

    #[track_caller]
    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command("pg_ctl").args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root, so its files belong to `postgres`.
fn chown_to_postgres(dir: &Path) {
    if is_root() {
        let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir).status();
        assert!(ok.is_ok_and(|s| s.success()), "chown {}", dir.display());
    }
}
