//! The `duet` binary as a child process: a command with a clean
//! environment, a guard that kills it when dropped, and a running server
//! with the address it logged and every line of its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::WAIT;

/// Environment the tests set themselves; cleared so the caller's shell
/// cannot change a verdict.
const OWN_ENV: [&str; 4] = ["DUET_ECHO", "DUET_STORE_MESSAGES", "DUET_DATABASE_URL", "DUET_REDIS_URL"];

/// `duet args…` listening on 127.0.0.1:0, logging at info, with `env` set
/// (and the variables tests set themselves cleared first); stdin empty,
/// stdout and stderr piped.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
    cmd.args(args).env("DUET_LISTEN", "127.0.0.1:0").env("RUST_LOG", "info");
    for k in OWN_ENV {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Kills the child when dropped, so a failing test leaves no server behind.
pub struct Running(pub Child);

impl Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running server and every line it has logged so far.
pub struct Spawned {
    pub child: Running,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Spawned {
    /// Sends SIGTERM.
    #[track_caller]
    pub fn sigterm(&self) {
        // SAFETY: kill only sends a signal to the child we spawned.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) }, 0, "kill -TERM");
    }

    /// Waits for the exit; fails the test unless it comes within `limit`
    /// of `since`.
    #[track_caller]
    pub fn exit_within(&mut self, since: Instant, limit: Duration) -> ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(since.elapsed() < limit, "no exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `spawn(command(&[], env))`.
pub fn spawn_server(env: &[(&str, &str)]) -> Result<Spawned, String> {
    spawn(command(&[], env))
}

/// Starts `cmd` (stdout discarded) and waits for its "listening on" log
/// line; Err(its log) when it exits first or does not listen within
/// `WAIT`. Its stderr is read to the end, so it never blocks on the pipe.
pub fn spawn(mut cmd: Command) -> Result<Spawned, String> {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = Running(cmd.spawn().expect("spawn duet"));
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let shared = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
            shared.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(WAIT) {
        Ok(addr) => Ok(Spawned { child, addr: addr.parse().map_err(|e| format!("{addr}: {e}"))?, log }),
        Err(_) => {
            drop(child);
            let _ = reader.join(); // the whole log: stderr ends with the child
            Err(log.lock().unwrap().join("\n"))
        }
    }
}
