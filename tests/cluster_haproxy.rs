//! End to end (issue 13): the deployment `docs/operations.md` shows, run
//! as it is. Two `duet` processes, nodes of one cluster on the machine's
//! Redis (a key prefix of their own, deleted at the end), behind a real
//! HAProxy that terminates TLS with a certificate the test makes with
//! `openssl`. HAProxy runs `deploy/haproxy/duet.cfg`, the file the docs
//! include, with only its bind address, certificate path and the nodes'
//! addresses replaced. The client speaks `https://` and `wss://` (rustls,
//! trusting only the test's certificate) and nothing else: registration,
//! the WebSocket upgrade, a match and a chat across the two nodes, the
//! client address carried by `X-Forwarded-For`, and a node leaving the
//! rotation through the health checks.
//!
//! Needs `haproxy` and `openssl` (Debian's packages; `.ci/run` installs
//! them where missing): without them the test says so loudly and skips,
//! except under `CI=true`, where it fails.
//!
//! Every wait is bounded; every child is killed when the test ends, passed
//! or failed.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::haproxy::{CONFIG, Proxy, Scratch, deployed_config, make_certificate, missing_tools};
use common::process::{Spawned, command, spawn};
use common::{HttpResponse, WAIT, free_port, in_ci, metrics_text, tcp_from};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const OPERATIONS: &str = include_str!("../docs/operations.md");

const REDIS: &str = "redis://127.0.0.1:6379";
const REGISTER: &str = "/api/users/registerOrUpdate";
/// `DUET_REGISTER_PER_MINUTE` of both nodes: small, so the limit per
/// forwarded client is reached in a few requests.
const REGISTER_PER_MINUTE: u32 = 2;
/// The nodes' names, in the order of the config's servers `duet1`, `duet2`.
const NODES: [&str; 2] = ["a", "b"];
/// How long HAProxy may take to mark a stopped node DOWN: `inter 2s fall
/// 2` is two failed checks 2 s apart, plus the drain and a margin.
const CHECKS_NOTICE: Duration = Duration::from_secs(15);

/// The client addresses (all of 127/8 is loopback; HAProxy listens on
/// 127.0.0.1 and sees each as a client of its own).
fn lo(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

// ------------------------------------------------------------ the tools

/// Whether `haproxy` and `openssl` run here. Missing: a failure under
/// `CI=true`, else a loud skip.
fn tools_present() -> bool {
    let Some(tools) = missing_tools() else { return true };
    assert!(!in_ci(), "CI=true and `{tools}` does not run: .ci/run installs Debian's {tools}");
    // Straight to the stderr descriptor: libtest captures `eprintln!` of
    // passing tests, and a skip must be seen.
    let msg = format!(
        "\n*** SKIPPED: {tools} missing; install Debian's haproxy and openssl (apt-get install haproxy openssl) to run the HAProxy end-to-end test ***\n"
    );
    let _ = std::io::stderr().write_all(msg.as_bytes());
    false
}

// ------------------------------------------- what the test leaves behind

/// A Redis key prefix no other test or run uses; its keys are deleted
/// when it is dropped (after the nodes are gone).
struct Prefix(String);

impl Prefix {
    fn new(test: &str) -> Prefix {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Prefix(format!("duet-test-haproxy-{test}-{}-{nanos:x}", std::process::id()))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) else { return };
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.0))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

// ---------------------------------------------------------- the pieces

/// A cluster node as an operator starts one behind the proxy.
fn node(name: &str, prefix: &str) -> Spawned {
    let limit = REGISTER_PER_MINUTE.to_string();
    let env = [
        ("DUET_REDIS_URL", REDIS),
        ("DUET_REDIS_PREFIX", prefix),
        ("DUET_NODE_ID", name),
        ("DUET_TRUSTED_PROXIES", "127.0.0.1"),
        ("DUET_REGISTER_PER_MINUTE", limit.as_str()),
        ("DUET_MAX_CONNECTIONS_PER_IP", "256"),
    ];
    spawn(command(&[], &env)).unwrap_or_else(|log| panic!("node {name} did not start:\n{log}"))
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A client of the public address: TLS to HAProxy, trusting only the
/// test's certificate, for the name `localhost`.
struct Public {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
}

impl Public {
    fn new(addr: SocketAddr, cert: CertificateDer<'static>) -> Public {
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("the test's certificate as a root");
        // ring, not rustls' default aws-lc-rs: it builds with the C
        // compiler alone and quickly. Deprecated only for lacking
        // post-quantum key exchange, which a loopback test does not need.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Public { addr, config: Arc::new(config) }
    }

    /// A TLS connection from the client address `from`, handshake done
    /// (so a certificate problem fails here, saying so).
    #[track_caller]
    fn connect(&self, from: Ipv4Addr) -> Tls {
        let tcp = tcp_from(self.addr, from);
        let name = ServerName::try_from("localhost").expect("a server name");
        let conn = ClientConnection::new(self.config.clone(), name).expect("a TLS client");
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap_or_else(|e| panic!("TLS handshake with HAProxy: {e}"));
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "HAProxy offers HTTP/1.1 by ALPN");
        tls
    }

    /// One `https://` request from `from` (its own connection), with
    /// `extra` header lines (each ending in CRLF) and a JSON body.
    #[track_caller]
    fn request(
        &self,
        from: Ipv4Addr,
        method: &str,
        path: &str,
        extra: &str,
        body: Option<&Value>,
    ) -> HttpResponse {
        let mut tls = self.connect(from);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let port = self.addr.port();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(req.as_bytes()).expect("send the request");
        read_response(&mut tls)
    }

    #[track_caller]
    fn health(&self, from: Ipv4Addr) -> Value {
        let r = self.request(from, "GET", "/api/health", "", None);
        assert_eq!(r.status, 200, "health through the proxy: {}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// A registration from `from`, whatever its answer.
    #[track_caller]
    fn register(&self, from: Ipv4Addr, extra: &str, body: Value) -> HttpResponse {
        self.request(from, "POST", REGISTER, extra, Some(&body))
    }

    /// A registration from `from` that must succeed; the user's token.
    #[track_caller]
    fn user(&self, from: Ipv4Addr, nickname: &str) -> String {
        let r = self.register(from, "", json!({"nickname": nickname}));
        assert_eq!(r.status, 200, "register {nickname}: {} {}", r.head, String::from_utf8_lossy(&r.body));
        let cache = r.header("cache-control").unwrap_or_default();
        assert!(cache.contains("no-store"), "a token is not cached on the way: {}", r.head);
        r.json()["authToken"].as_str().expect("authToken").to_string()
    }

    /// A `wss://` WebSocket on `/ws/chat` from `from`.
    #[track_caller]
    fn websocket(&self, from: Ipv4Addr) -> Wss {
        let tls = self.connect(from);
        let url = format!("wss://localhost:{}/ws/chat", self.addr.port());
        let (ws, resp) = tungstenite::client(url, tls).unwrap_or_else(|e| panic!("wss upgrade: {e}"));
        assert_eq!(resp.status(), 101);
        Wss { ws }
    }
}

/// One HTTP/1.1 response (Content-Length framed) from a TLS stream.
#[track_caller]
fn read_response(s: &mut Tls) -> HttpResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head:?}"));
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().expect("a length"))
                })
                .unwrap_or(0);
            if buf.len() >= end + len {
                return HttpResponse { status, head, body: buf[end..end + len].to_vec() };
            }
        }
        match s.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!("no full response ({other:?}): {:?}", String::from_utf8_lossy(&buf)),
        }
    }
}

/// A WebSocket over TLS speaking duet's envelope.
struct Wss {
    ws: WebSocket<Tls>,
}

impl Wss {
    #[track_caller]
    fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    /// The next JSON message (pings and pongs skipped).
    #[track_caller]
    fn recv(&mut self) -> Value {
        loop {
            match self.ws.read().expect("a message") {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON text frame"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    #[track_caller]
    fn recv_type(&mut self, ty: &str) -> Value {
        let v = self.recv();
        assert_eq!(v["type"], ty, "unexpected message: {v}");
        v
    }

    /// A request with an id, and its reply (which must echo the id).
    #[track_caller]
    fn request(&mut self, ty: &str, id: &str, payload: Value) -> Value {
        self.send(json!({"type": ty, "id": id, "payload": payload}));
        let v = self.recv();
        assert_eq!(v["id"], id, "reply must echo the id: {v}");
        v
    }

    #[track_caller]
    fn auth(&mut self, token: &str) {
        let r = self.request("AUTH", "auth", json!({"token": token}));
        assert_eq!(r["type"], "AUTH_OK", "{r}");
    }

    /// A clean close: ours, then the server's close frame.
    #[track_caller]
    fn close(mut self) {
        self.ws.close(None).expect("close");
        let deadline = Instant::now() + WAIT;
        loop {
            match self.ws.read() {
                Ok(_) => assert!(Instant::now() < deadline, "no close answer within {WAIT:?}"),
                Err(tungstenite::Error::ConnectionClosed) => return,
                Err(e) => panic!("closing: {e}"),
            }
        }
    }
}

/// Two nodes, HAProxy before them, and a client of its TLS address.
/// Fields drop in order: the proxy, then the nodes, then the prefix's
/// keys, then the scratch directory.
struct Deployment {
    proxy: Proxy,
    nodes: [Spawned; 2],
    _prefix: Prefix,
    _dir: Scratch,
    public: Public,
}

impl Deployment {
    fn start(test: &str) -> Deployment {
        let dir = Scratch::new();
        let prefix = Prefix::new(test);
        let (pem, cert) = make_certificate(&dir.0);
        let cert = CertificateDer::from(cert);
        let nodes = NODES.map(|name| node(name, &prefix.0));
        let listen: SocketAddr = (Ipv4Addr::LOCALHOST, free_port()).into();
        let cfg = dir.0.join("duet.cfg");
        std::fs::write(&cfg, deployed_config(listen, &pem, [nodes[0].addr, nodes[1].addr]))
            .expect("write cfg");
        let proxy = Proxy::start(&cfg, listen);
        Deployment { proxy, nodes, _prefix: prefix, _dir: dir, public: Public::new(listen, cert) }
    }

    /// `duet_online_users` of each node, read from the node itself.
    fn online(&self) -> [u64; 2] {
        self.nodes.each_ref().map(|n| {
            metrics_text(n.addr)
                .lines()
                .find_map(|l| {
                    l.strip_prefix("duet_online_users ").map(|v| v.trim().parse().expect("a count"))
                })
                .expect("duet_online_users in /metrics")
        })
    }

    /// Waits for the nodes' online users to become `want`.
    #[track_caller]
    fn await_online(&self, want: [u64; 2]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.online();
            if now == want {
                return;
            }
            assert!(Instant::now() < deadline, "online users per node {now:?}, expected {want:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn the_docs_show_the_config_the_test_runs() {
    assert!(
        OPERATIONS.contains(CONFIG.trim_end()),
        "docs/operations.md must include deploy/haproxy/duet.cfg verbatim"
    );
}

#[test]
fn two_nodes_behind_haproxy_serve_https_and_wss_end_to_end() {
    if !tools_present() {
        return;
    }
    let mut d = Deployment::start("e2e");
    let p = &d.public;

    // HTTPS reaches both nodes; both are in the cluster with Redis up.
    // The proxy refuses /metrics (Prometheus scrapes each node directly).
    let mut seen = HashSet::new();
    for _ in 0..8 {
        let h = p.health(lo(6));
        assert_eq!((h["status"].as_str(), h["redis"].as_str()), (Some("ok"), Some("ok")), "{h}");
        seen.insert(h["node"].as_str().expect("node").to_string());
    }
    assert_eq!(seen, NODES.iter().map(|n| n.to_string()).collect(), "the proxy balances over both nodes");
    assert_eq!(p.request(lo(6), "GET", "/metrics", "", None).status, 403, "/metrics only for Prometheus");

    // Two users, each from an address of its own; tokens issued by either
    // node work on both.
    let (tx, ty) = (p.user(lo(2), "Xan"), p.user(lo(3), "Yev"));

    // Two wss:// sockets: leastconn puts the second on the other node.
    let mut x = p.websocket(lo(2));
    x.auth(&tx);
    let mut y = p.websocket(lo(3));
    y.auth(&ty);
    d.await_online([1, 1]);

    // Matched across the nodes.
    for c in [&mut x, &mut y] {
        let w = c.request("JOIN_QUEUE", "join", json!({"mood": "chill", "interests": []}));
        assert_eq!(w["type"], "QUEUE_WAITING", "{w}");
    }
    let (fx, fy) = (x.recv_type("MATCH_FOUND"), y.recv_type("MATCH_FOUND"));
    let room = fx["payload"]["roomId"].as_str().expect("roomId").to_string();
    assert_eq!(fy["payload"]["roomId"], room.as_str());
    assert_eq!(fx["payload"]["partner"]["nickname"], "Yev", "{fx}");
    assert_eq!(fy["payload"]["partner"]["nickname"], "Xan", "{fy}");

    // Chat both ways: each message acked with the next seq, delivered to
    // the partner in order.
    for seq in 1..=20u64 {
        let (from, to) = if seq % 2 == 1 { (&mut x, &mut y) } else { (&mut y, &mut x) };
        let text = format!("message {seq} through TLS and two nodes");
        let ack = from.request("CHAT", &format!("c{seq}"), json!({"roomId": room, "text": text}));
        assert_eq!(
            (ack["type"].as_str(), ack["payload"]["seq"].as_u64()),
            (Some("CHAT_ACK"), Some(seq)),
            "{ack}"
        );
        let m = to.recv_type("CHAT");
        assert_eq!(
            (m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()),
            (Some(seq), Some(text.as_str()))
        );
    }
    let t = x.request("TYPING", "t", json!({"roomId": room, "isTyping": true}));
    assert_eq!(t["type"], "TYPING_ACK", "{t}");
    assert_eq!(y.recv_type("TYPING")["payload"]["isTyping"], true);
    let left = x.request("LEAVE_ROOM", "l", json!({"roomId": room}));
    assert_eq!(left["type"], "ROOM_LEFT", "{left}");
    assert_eq!(y.recv_type("PARTNER_LEFT")["payload"]["reason"], "left");
    x.close();
    y.close();
    d.await_online([0, 0]);

    // The client address is the one HAProxy saw (X-Forwarded-For from a
    // trusted proxy): one client reaches its limit, and another is still
    // served. Were every request counted as the proxy's 127.0.0.1, the
    // second client would find the limit spent too. (At most two limits'
    // worth of tries: that holds whether the limit is counted per node or
    // for the cluster; `registration_limit_through_the_proxy_is_cluster_wide`
    // holds it to the contract.)
    let tries = 2 * REGISTER_PER_MINUTE as usize + 1;
    let limited = (0..tries).map(|_| p.register(lo(4), "", json!({}))).find(|r| r.status != 200);
    let r = limited.unwrap_or_else(|| panic!("{tries} registrations from one client, none limited"));
    common::assert_http_error(&r, 429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    // Another client is served, even claiming to be the limited one: its
    // own header line comes before the proxy's, and only the last counts.
    for _ in 0..REGISTER_PER_MINUTE {
        let r = p.register(lo(5), "X-Forwarded-For: 127.0.0.4\r\n", json!({}));
        assert_eq!(r.status, 200, "another client: {}", String::from_utf8_lossy(&r.body));
    }

    // Health checks: a node stopped for a rolling restart (SIGTERM: it
    // drains, then exits) leaves the rotation, and every request then
    // goes to the other node.
    d.nodes[1].sigterm();
    d.proxy.await_log("duet/duet2 is DOWN", CHECKS_NOTICE);
    for _ in 0..6 {
        assert_eq!(p.health(lo(6))["node"], NODES[0], "only node a is in the rotation");
    }
    d.nodes[1].exit_within(Instant::now(), Duration::from_secs(10));
    assert!(d.proxy.child.try_wait().expect("wait").is_none(), "haproxy still runs:\n{}", d.proxy.log_text());
}

/// Contract section 8: the per-address registration limit is
/// cluster-wide. Through the proxy, a client's registrations go to both
/// nodes by turns; the limit must still hold at `REGISTER_PER_MINUTE`,
/// and an `X-Forwarded-For` of the client's own must not get around it.
#[test]
fn registration_limit_through_the_proxy_is_cluster_wide() {
    if !tools_present() {
        return;
    }
    let d = Deployment::start("limit");
    let p = &d.public;
    for i in 0..REGISTER_PER_MINUTE {
        p.user(lo(4), &format!("Client four {i}"));
    }
    let r = p.register(lo(4), "", json!({}));
    common::assert_http_error(&r, 429, "RATE_LIMITED");
    // A client's own header line comes before the proxy's: it changes
    // nothing, whichever node answers.
    for _ in 0..2 {
        let forged = p.register(lo(4), "X-Forwarded-For: 198.51.100.9\r\n", json!({}));
        common::assert_http_error(&forged, 429, "RATE_LIMITED");
    }
    p.user(lo(5), "Client five");
}
