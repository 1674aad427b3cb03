//! Cluster nodes as child processes (contract section 8): `duet` binaries
//! sharing one Redis under a prefix of their own, each killed when its
//! guard drops; a private `redis-server` a test may stop and start again;
//! and the client helpers that fault tests need (a read with a deadline
//! of its own, a resume, health on a connection then upgraded).
//!
//! Every wait has a bound; a node's log is printed when a test fails while
//! the node is alive, so a failure says what the server did.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use super::process::{Running, Spawned, command, spawn};
use super::{Client, User, WAIT, http, now_ms};

/// The machine's Redis.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Environment every node gets unless a test says otherwise: two workers
/// (the machine has two shared cores), rate limits out of the way, short
/// timers.
pub const NODE_ENV: [(&str, &str); 10] = [
    ("DUET_WORKERS", "2"),
    ("DUET_CHAT_RATE", "1000"),
    ("DUET_CHAT_BURST", "1000"),
    ("DUET_QUEUE_RATE", "100"),
    ("DUET_QUEUE_BURST", "100"),
    ("DUET_REGISTER_PER_MINUTE", "100000"),
    ("DUET_MAX_CONNECTIONS_PER_IP", "0"),
    ("DUET_RESUME_GRACE_SECS", "5"),
    ("DUET_MATCH_TIMEOUT_SECS", "60"),
    ("DUET_REMATCH_COOLDOWN_SECS", "1"),
];

/// A prefix no other test or run uses.
pub fn unique_prefix(test: &str) -> String {
    format!("duet-proc-{test}-{}-{:x}", std::process::id(), now_ms() ^ u64::from(rand_nanos()))
}

fn rand_nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
}

/// Deletes every key under a prefix when dropped (best effort: the Redis
/// may be gone).
pub struct Keys {
    url: String,
    prefix: String,
}

impl Keys {
    fn scan(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return Vec::new() };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(1)) else { return Vec::new() };
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let r: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut c);
            let Ok((next, batch)) = r else { return keys };
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let keys = self.scan();
        if keys.is_empty() {
            return;
        }
        if let Ok(client) = redis::Client::open(self.url.as_str())
            && let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(1))
        {
            for chunk in keys.chunks(500) {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(&mut c);
            }
        }
    }
}

/// The nodes of one test's cluster: one Redis, one prefix, one environment.
pub struct Cluster {
    pub redis_url: String,
    pub prefix: String,
    env: Vec<(String, String)>,
    /// Deletes the keys when the cluster drops: declare the cluster before
    /// its nodes, so the nodes (which write keys while alive) go first.
    keys: Keys,
}

impl Cluster {
    /// A cluster on `redis_url` under a fresh prefix; `env` is added to
    /// (and overrides) `NODE_ENV`.
    pub fn new(test: &str, redis_url: &str, env: &[(&str, &str)]) -> Cluster {
        let prefix = unique_prefix(test);
        let mut all: Vec<(String, String)> =
            NODE_ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        for (k, v) in env {
            all.retain(|(ek, _)| ek != k);
            all.push(((*k).to_owned(), (*v).to_owned()));
        }
        let keys = Keys { url: redis_url.to_owned(), prefix: prefix.clone() };
        Cluster { redis_url: redis_url.to_owned(), prefix, env: all, keys }
    }

    /// Node `id` on 127.0.0.1, an ephemeral port.
    #[track_caller]
    pub fn node(&self, id: &str) -> Node {
        self.start(id, "127.0.0.1:0", &[])
    }

    /// Node `id` on 127.0.0.1:`port`, with `SO_REUSEPORT` when `reuse_port`.
    #[track_caller]
    pub fn node_on(&self, id: &str, port: u16, reuse_port: bool) -> Node {
        let listen = format!("127.0.0.1:{port}");
        self.start(id, &listen, if reuse_port { &[("DUET_REUSE_PORT", "1")] } else { &[] })
    }

    #[track_caller]
    fn start(&self, id: &str, listen: &str, more: &[(&str, &str)]) -> Node {
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.extend([
            ("DUET_REDIS_URL", self.redis_url.as_str()),
            ("DUET_REDIS_PREFIX", self.prefix.as_str()),
            ("DUET_NODE_ID", id),
            ("DUET_LISTEN", listen),
        ]);
        env.extend_from_slice(more);
        let started = Instant::now();
        match spawn(command(&[], &env)) {
            Ok(proc) => {
                eprintln!("[nodes] node {id} listening on {} after {:?}", proc.addr, started.elapsed());
                Node { id: id.to_owned(), addr: proc.addr, proc }
            }
            Err(log) => panic!("node {id} did not start; its log:\n{log}"),
        }
    }
}

/// One `duet` process of a cluster; killed when dropped.
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    pub proc: Spawned,
}

impl Node {
    /// `kill -9`, and reaps it; returns when it was sent.
    pub fn kill9(&mut self) -> Instant {
        let at = Instant::now();
        self.proc.child.kill().expect("SIGKILL");
        self.proc.child.wait().expect("wait");
        at
    }

    /// SIGTERM; returns when it was sent.
    #[track_caller]
    pub fn sigterm(&self) -> Instant {
        let at = Instant::now();
        self.proc.sigterm();
        at
    }

    /// Waits for the exit, which must come within `limit` of `since`.
    #[track_caller]
    pub fn exit_within(&mut self, since: Instant, limit: Duration) -> ExitStatus {
        self.proc.exit_within(since, limit)
    }

    /// `GET /api/health`: the status code and the body.
    #[track_caller]
    pub fn health(&self) -> (u16, Value) {
        let r = http(self.addr, "GET", "/api/health", None, None);
        (r.status, r.json())
    }

    /// Polls `/api/health` until `pred` holds of its answer, at most
    /// `limit`; returns the answer and how long it took, or panics with
    /// the last answer.
    #[track_caller]
    pub fn health_until(
        &self,
        limit: Duration,
        pred: impl Fn(u16, &Value) -> bool,
    ) -> ((u16, Value), Duration) {
        let started = Instant::now();
        loop {
            let (status, v) = self.health();
            if pred(status, &v) {
                return ((status, v), started.elapsed());
            }
            assert!(started.elapsed() < limit, "node {}: health still {status} {v} after {limit:?}", self.id);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> String {
        self.proc.log.lock().unwrap().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("---- node {} log (last {} lines) ----\n{}", self.id, tail.len(), tail.join("\n"));
        }
    }
}

/// A private `redis-server` on its own port, without persistence: stopped
/// and started again by the test (it comes back empty). Killed when
/// dropped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Running>,
}

impl PrivateRedis {
    /// Whether `redis-server` can be run here.
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts one on a free port.
    #[track_caller]
    pub fn start() -> PrivateRedis {
        let mut r = PrivateRedis { port: super::free_port(), child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it answers `PING`.
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn redis-server");
        let mut child = Running(child);
        // Drain its output so it never blocks on a full pipe.
        for out in [
            child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
            child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
        }
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.ping() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("redis-server on port {} exited at start: {status}", self.port);
            }
            assert!(started.elapsed() < WAIT, "redis-server on port {} does not answer", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it answers `PING` now.
    pub fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(300)) else { return false };
        redis::cmd("PING").query::<String>(&mut c).is_ok()
    }

    /// Kills it (SIGKILL; nothing is saved) and reaps it.
    pub fn stop(&mut self) -> Instant {
        let at = Instant::now();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        at
    }

    /// SIGSTOP (`pause = true`) or SIGCONT: Redis stops answering but
    /// keeps its connections and its data.
    #[track_caller]
    pub fn pause(&self, pause: bool) {
        let pid = self.child.as_ref().expect("running").id() as i32;
        let sig = if pause { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill only sends a signal to the child we spawned.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill -{sig}");
    }

    /// Keys in its database.
    pub fn dbsize(&self) -> Option<u64> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut c = client.get_connection_with_timeout(Duration::from_millis(300)).ok()?;
        redis::cmd("DBSIZE").query(&mut c).ok()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A paused server would not die of SIGTERM; SIGKILL does, but
            // let it run again first so nothing is left stopped.
            // SAFETY: signals our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
        }
        self.stop();
    }
}

/// The next JSON message within `d` (pings and pongs skipped); None when
/// nothing came. Panics on a close or a broken connection.
#[track_caller]
pub fn recv_within(c: &mut Client, d: Duration) -> Option<Value> {
    let deadline = Instant::now() + d;
    let got = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break None;
        }
        c.ws.get_mut().set_read_timeout(Some(left)).unwrap();
        match c.ws.read() {
            Ok(Message::Text(t)) => break Some(serde_json::from_str(&t).expect("JSON text frame")),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                break None;
            }
            other => panic!("expected a message within {d:?}, got {other:?}"),
        }
    };
    c.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    got
}

/// The next message, which must come within `d` and have type `ty`;
/// returns it and how long it took.
#[track_caller]
pub fn expect_within(c: &mut Client, ty: &str, d: Duration, what: &str) -> (Value, Duration) {
    let started = Instant::now();
    match recv_within(c, d) {
        Some(v) => {
            assert_eq!(v["type"], ty, "{what}: expected {ty}, got {v} after {:?}", started.elapsed());
            (v, started.elapsed())
        }
        None => panic!("{what}: no {ty} within {d:?}"),
    }
}

/// Reads for the whole of `d`; fails on any message of type `ty`, and
/// returns every message that came.
#[track_caller]
pub fn none_of_type_for(c: &mut Client, ty: &str, d: Duration, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + d;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return seen;
        }
        if let Some(v) = recv_within(c, left) {
            assert_ne!(v["type"], ty, "{what}: got {v}; before it: {seen:?}");
            seen.push(v);
        }
    }
}

/// `AUTH` with `lastSeq` on a fresh socket to `addr`: the `AUTH_OK`.
#[track_caller]
pub fn resume(addr: SocketAddr, user: &User, last_seq: u64) -> (Client, Value) {
    let mut c = Client::connect(addr);
    c.send(json!({"type": "AUTH", "id": "auth", "payload": {"token": user.token, "lastSeq": last_seq}}));
    let ok = c.recv();
    assert_eq!((ok["type"].as_str(), ok["id"].as_str()), (Some("AUTH_OK"), Some("auth")), "resume: {ok}");
    (c, ok)
}

/// `JOIN_QUEUE` in `mood`, which must be answered `QUEUE_WAITING`; returns
/// the `waiting` count.
#[track_caller]
pub fn queued(c: &mut Client, mood: &str) -> u64 {
    let r = c.request("JOIN_QUEUE", "q", json!({"mood": mood, "interests": []}));
    assert_eq!(r["type"], "QUEUE_WAITING", "{r}");
    r["payload"]["waiting"].as_u64().expect("waiting")
}

/// A `CHAT` that must be acknowledged; returns its `seq`.
#[track_caller]
pub fn chat(c: &mut Client, room: &str, id: &str, text: &str) -> u64 {
    let r = c.request("CHAT", id, json!({"roomId": room, "text": text}));
    assert_eq!(r["type"], "CHAT_ACK", "{r}");
    r["payload"]["seq"].as_u64().expect("seq")
}

/// The next message must be the partner's `CHAT` `(seq, text)`.
#[track_caller]
pub fn got_chat(c: &mut Client, seq: u64, text: &str) {
    let m = c.recv_type("CHAT");
    assert_eq!((m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()), (Some(seq), Some(text)), "{m}");
}

/// Two users, registered through the nodes their sockets go to, matched
/// in `mood` (the first waits, the second joins): their clients, users
/// and room.
#[track_caller]
pub fn pair_on(
    a: SocketAddr,
    b: SocketAddr,
    names: (&str, &str),
    mood: &str,
) -> ((Client, User), (Client, User), String) {
    let (ux, uy) =
        (super::register(a, json!({"nickname": names.0})), super::register(b, json!({"nickname": names.1})));
    let mut x = Client::authed(a, &ux);
    let mut y = Client::authed(b, &uy);
    queued(&mut x, mood);
    queued(&mut y, mood);
    let room = matched(&mut x, &mut y, names);
    ((x, ux), (y, uy), room)
}

/// Both got `MATCH_FOUND` for one room, each naming the other; the room.
#[track_caller]
pub fn matched(x: &mut Client, y: &mut Client, names: (&str, &str)) -> String {
    let fx = x.recv_type("MATCH_FOUND");
    let fy = y.recv_type("MATCH_FOUND");
    let room = fx["payload"]["roomId"].as_str().expect("roomId").to_owned();
    assert_eq!(fy["payload"]["roomId"], room.as_str(), "{fx} / {fy}");
    assert_eq!(fx["payload"]["partner"]["nickname"], names.1, "{fx}");
    assert_eq!(fy["payload"]["partner"]["nickname"], names.0, "{fy}");
    room
}

/// Asks `GET /api/health` on a fresh keep-alive connection to `addr`,
/// then upgrades that same connection to `/ws/chat`: the node the
/// connection landed on (its `node`) and the client. With `SO_REUSEPORT`
/// this tells which process serves the socket.
#[track_caller]
pub fn connect_and_tell_node(addr: SocketAddr) -> (String, Client) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: duet\r\n\r\n").expect("send");
    // Byte by byte up to the blank line, so nothing of what follows is
    // read into a buffer the WebSocket would not see.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).expect("read health head"), 1, "connection closed in the head");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .expect("Content-Length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("health body");
    let v: Value = serde_json::from_slice(&body).expect("health JSON");
    let node = v["node"].as_str().expect("node").to_owned();
    (node, Client::over(s, addr, &[]))
}
