//! HAProxy in front of cluster nodes, as `docs/operations.md` shows it:
//! `deploy/haproxy/duet.cfg` with only its bind address, certificate path
//! and the two servers' addresses replaced, a self-signed certificate made
//! with `openssl`, and `haproxy` in the foreground with every line it
//! prints kept. Used by `tests/cluster_haproxy.rs` and
//! `tests/browser_cluster.rs`.
//!
//! Needs `haproxy` and `openssl` (Debian's packages; `.ci/run` installs
//! them where missing).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::WAIT;
use super::process::Running;

/// The HAProxy configuration the docs show.
pub const CONFIG: &str = include_str!("../../deploy/haproxy/duet.cfg");

/// The `haproxy` binary: on the PATH, or where Debian puts it (`/usr/sbin`
/// is not on every user's PATH).
pub fn haproxy() -> &'static str {
    let on_path = Command::new("haproxy").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if on_path.is_ok() { "haproxy" } else { "/usr/sbin/haproxy" }
}

/// The tools of the deployment that do not run here (`haproxy`, `openssl`),
/// if any.
pub fn missing_tools() -> Option<String> {
    let gaps: Vec<&str> = [(haproxy(), "-v"), ("openssl", "version")]
        .into_iter()
        .filter(|(tool, arg)| {
            !Command::new(tool)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(tool, _)| tool)
        .collect();
    (!gaps.is_empty()).then(|| gaps.join(", "))
}

/// Runs a command to success; panics with its output otherwise.
#[track_caller]
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory of the test's own, removed with it.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("duet-haproxy-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost`, made as the docs say: the
/// PEM HAProxy loads (certificate, then key) and the certificate in DER.
/// The two `-addext` are what rustls (like browsers) wants of a server
/// certificate: the name in subjectAltName (the CN is not looked at), and
/// not a CA (`req -x509` makes CA:TRUE by default).
pub fn make_certificate(dir: &Path) -> (PathBuf, Vec<u8>) {
    let (cert, key, pem, der) =
        (dir.join("cert.pem"), dir.join("key.pem"), dir.join("haproxy.pem"), dir.join("cert.der"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let mut both = std::fs::read(&cert).expect("cert.pem");
    both.extend(std::fs::read(&key).expect("key.pem"));
    std::fs::write(&pem, both).expect("haproxy.pem");
    run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).arg("-out").arg(&der));
    (pem, std::fs::read(&der).expect("cert.der"))
}

/// `s` with `from` replaced by `to`, which must occur exactly once (so
/// the file and the test cannot drift apart unnoticed).
#[track_caller]
pub fn replace_once(s: &str, from: &str, to: &str) -> String {
    assert_eq!(s.matches(from).count(), 1, "deploy/haproxy/duet.cfg must hold {from:?} exactly once");
    s.replacen(from, to, 1)
}

/// The docs' configuration with this run's addresses and certificate:
/// `nodes[0]` is the config's server `duet1`, `nodes[1]` is `duet2`.
pub fn deployed_config(listen: SocketAddr, pem: &Path, nodes: [SocketAddr; 2]) -> String {
    let cfg = replace_once(CONFIG, "bind :443 ", &format!("bind {listen} "));
    let cfg =
        replace_once(&cfg, "/etc/haproxy/certs/chat.example.org.pem", pem.to_str().expect("UTF-8 path"));
    let cfg = replace_once(&cfg, "server duet1 127.0.0.1:8081", &format!("server duet1 {}", nodes[0]));
    replace_once(&cfg, "server duet2 127.0.0.1:8082", &format!("server duet2 {}", nodes[1]))
}

/// HAProxy in the foreground (`-db`), every line it prints kept; killed
/// when dropped.
pub struct Proxy {
    pub child: Running,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts HAProxy on `cfg` and waits until it accepts on `listen`.
    #[track_caller]
    pub fn start(cfg: &Path, listen: SocketAddr) -> Proxy {
        let mut child = Running(
            Command::new(haproxy())
                .arg("-f")
                .arg(cfg)
                .arg("-db")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn haproxy"),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for pipe in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut proxy = Proxy { child, log };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(listen).is_err() {
            if let Some(status) = proxy.child.try_wait().expect("wait") {
                panic!("haproxy exited ({status}) before listening:\n{}", proxy.log_text());
            }
            assert!(Instant::now() < deadline, "haproxy not listening on {listen}:\n{}", proxy.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// Everything it has printed so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (up to `within`) for a log line containing `what`, after the
    /// first `skip` lines; returns the number of lines up to and
    /// including it.
    #[track_caller]
    pub fn await_log_after(&self, skip: usize, what: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let found = self.log.lock().unwrap().iter().skip(skip).position(|l| l.contains(what));
            if let Some(i) = found {
                return skip + i + 1;
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} from haproxy within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (up to `within`) for a log line containing `what`.
    #[track_caller]
    pub fn await_log(&self, what: &str, within: Duration) {
        self.await_log_after(0, what, within);
    }
}
