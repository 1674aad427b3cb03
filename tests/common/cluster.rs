//! Nodes of one cluster (contract section 8) in this process: servers
//! sharing the machine's Redis (127.0.0.1:6379) under a key prefix of the
//! test's own, with the identity store in Redis too (no database URL), so
//! a token registered on one node works on every node. `Nodes` stops its
//! servers and deletes the prefix's keys when dropped.
//!
//! Without Redis a test says so loudly and skips, except under `CI=true`,
//! where it fails (as `store_redis.rs` does).

use std::net::SocketAddr;
use std::ops::Index;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Client, TestServer, User, WAIT, in_ci, join, register, start_with};

/// The machine's Redis.
pub const REDIS: &str = "redis://127.0.0.1:6379";
/// The admin token every node of a `Nodes` accepts.
pub const ADMIN: &str = "cluster-admin-token";

/// A connection to `url` that answered `PING`.
pub fn ping(url: &str) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    redis::cmd("PING").query::<String>(&mut conn)?;
    Ok(conn)
}

/// A prefix no other test (or run) uses.
pub fn fresh_prefix(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("duet-test-{test}-{}-{nanos:x}", std::process::id())
}

/// The keys under `prefix` on `url`, sorted.
pub fn keys_of(url: &str, prefix: &str) -> Vec<String> {
    let Ok(mut conn) = ping(url) else { return Vec::new() };
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Deletes every key under `prefix` on `url`.
pub fn delete_prefix(url: &str, prefix: &str) {
    let keys = keys_of(url, prefix);
    if let Ok(mut conn) = ping(url) {
        for chunk in keys.chunks(500) {
            let _ = redis::cmd("DEL").arg(chunk).query::<u64>(&mut conn);
        }
    }
}

/// Servers of one cluster, named "a", "b", "c", ... in start order.
pub struct Nodes {
    nodes: Vec<TestServer>,
    pub prefix: String,
}

impl Nodes {
    /// `n` nodes on a fresh prefix, each with the test defaults, the admin
    /// token `ADMIN`, and `tweak`; None (loudly) when Redis does not answer
    /// outside CI.
    #[track_caller]
    pub fn start(test: &str, n: usize, tweak: impl Fn(&mut duet::Config)) -> Option<Nodes> {
        if let Err(e) = ping(REDIS) {
            assert!(!in_ci(), "CI=true and no Redis at {REDIS} ({e}): cluster tests must run in CI");
            let msg = format!("\n*** SKIPPED: no Redis at {REDIS} ({e}) ***\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            return None;
        }
        let prefix = fresh_prefix(test);
        let mut nodes = Nodes { nodes: Vec::new(), prefix: prefix.clone() };
        for i in 0..n {
            let name = ((b'a' + i as u8) as char).to_string();
            let p = prefix.clone();
            nodes.nodes.push(start_with(|c| {
                c.redis_url = Some(REDIS.into());
                c.redis_prefix = p;
                c.node_id = Some(name);
                c.admin_token = Some(ADMIN.into());
                tweak(c);
            }));
        }
        Some(nodes)
    }

    /// The address of node `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// This cluster's keys in Redis, sorted.
    pub fn keys(&self) -> Vec<String> {
        keys_of(REDIS, &self.prefix)
    }
}

impl Index<usize> for Nodes {
    type Output = TestServer;
    fn index(&self, i: usize) -> &TestServer {
        &self.nodes[i]
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // The servers first: a running node writes its keys again.
        self.nodes.clear();
        delete_prefix(REDIS, &self.prefix);
    }
}

/// A user registered through the node at `addr` with this nickname.
#[track_caller]
pub fn user(addr: SocketAddr, nick: &str) -> User {
    register(addr, json!({"nickname": nick}))
}

/// Two users matched in one room.
pub struct Paired {
    pub x: Client,
    pub y: Client,
    pub ux: User,
    pub uy: User,
    pub room: String,
    /// `MATCH_FOUND`'s payload as x saw it.
    pub found_x: Value,
}

/// x ("Xan") on the node at `ax`, y ("Yev") on the node at `ay`, both in
/// mood chill with no interests, matched; both `MATCH_FOUND`s agree.
#[track_caller]
pub fn cross_pair(ax: SocketAddr, ay: SocketAddr) -> Paired {
    let (ux, uy) = (user(ax, "Xan"), user(ay, "Yev"));
    pair_on(ax, ay, ux, uy)
}

/// `ux` on the node at `ax` and `uy` on the node at `ay` join mood chill
/// (no interests) and are matched.
#[track_caller]
pub fn pair_on(ax: SocketAddr, ay: SocketAddr, ux: User, uy: User) -> Paired {
    let mut x = Client::authed(ax, &ux);
    let mut y = Client::authed(ay, &uy);
    join(&mut x, chill());
    join(&mut y, chill());
    let fx = x.recv_type("MATCH_FOUND");
    let fy = y.recv_type("MATCH_FOUND");
    let room = fx["payload"]["roomId"].as_str().expect("roomId").to_string();
    assert_eq!(fy["payload"]["roomId"], room.as_str(), "both told of one room: {fx} {fy}");
    assert_eq!(fx["payload"]["partner"]["nickname"], uy.profile["nickname"], "{fx}");
    assert_eq!(fy["payload"]["partner"]["nickname"], ux.profile["nickname"], "{fy}");
    Paired { x, y, ux, uy, room, found_x: fx["payload"].clone() }
}

/// `JOIN_QUEUE` mood chill, no interests.
pub fn chill() -> Value {
    json!({"mood": "chill", "interests": []})
}

/// `JOIN_QUEUE` mood chill with these interests.
pub fn chill_with(interests: &[&str]) -> Value {
    json!({"mood": "chill", "interests": interests})
}

/// A `CHAT` that must be acknowledged; returns its `seq`.
#[track_caller]
pub fn chat(c: &mut Client, room: &str, id: &str, text: &str) -> u64 {
    let r = c.request("CHAT", id, json!({"roomId": room, "text": text}));
    assert_eq!(r["type"], "CHAT_ACK", "{r}");
    assert_eq!(r["payload"]["roomId"], room, "{r}");
    r["payload"]["seq"].as_u64().expect("seq")
}

/// The next message must be the partner's `CHAT` with this seq and text.
#[track_caller]
pub fn expect_chat(c: &mut Client, room: &str, seq: u64, text: &str) {
    let m = c.recv_type("CHAT");
    assert_eq!(
        (m["payload"]["roomId"].as_str(), m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()),
        (Some(room), Some(seq), Some(text)),
        "{m}"
    );
}

/// A fresh socket on `addr` sending `AUTH` for `u` (with `lastSeq` if
/// given); returns the client and `AUTH_OK`'s payload.
#[track_caller]
pub fn auth_again(addr: SocketAddr, u: &User, last_seq: Option<u64>) -> (Client, Value) {
    let mut c = Client::connect(addr);
    let mut payload = json!({"token": u.token});
    if let Some(s) = last_seq {
        payload["lastSeq"] = json!(s);
    }
    c.send(json!({"type": "AUTH", "id": "again", "payload": payload}));
    let ok = c.recv_type("AUTH_OK");
    assert_eq!(ok["id"], "again", "{ok}");
    (c, ok["payload"].clone())
}

/// The next message, which must be `PARTNER_LEFT` for `room` with `reason`.
#[track_caller]
pub fn expect_partner_left(c: &mut Client, room: &str, reason: &str) {
    let m = c.recv_type("PARTNER_LEFT");
    assert_eq!(
        (m["payload"]["roomId"].as_str(), m["payload"]["reason"].as_str()),
        (Some(room), Some(reason)),
        "{m}"
    );
}

/// The next message, which must be `MATCH_FOUND`; returns its payload.
#[track_caller]
pub fn expect_match(c: &mut Client) -> Value {
    c.recv_type("MATCH_FOUND")["payload"].clone()
}

/// The next message must be `type` and arrive within `within` (the read
/// timeout is `within` for this one read).
#[track_caller]
pub fn recv_within(c: &mut Client, ty: &str, within: Duration) -> (Value, Duration) {
    let started = Instant::now();
    c.ws.get_mut().set_read_timeout(Some(within)).unwrap();
    let v = c.recv();
    c.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(v["type"], ty, "unexpected message: {v}");
    (v, started.elapsed())
}

impl Nodes {
    /// Publishes `count` heartbeat echoes ("tick", which a node reads and
    /// ignores) on node `node`'s channel ("a", "b", ...): a backlog its
    /// subscriber reads through before anything published after it, as on
    /// a node busy with cross-node traffic.
    #[track_caller]
    pub fn backlog(&self, node: &str, count: usize) {
        let mut conn = ping(REDIS).expect("redis answers");
        let channel = format!("{}:ch:{node}", self.prefix);
        let mut pipe = redis::pipe();
        for _ in 0..count {
            pipe.cmd("PUBLISH").arg(&channel).arg("tick").ignore();
        }
        pipe.query::<()>(&mut conn).expect("PUBLISH");
    }

    /// Makes node `node`'s subscriber slow for a while: publishes `count`
    /// offers of pairings for users it does not hold on its channel; it
    /// answers each with a call to Redis (aborting the unknown pairing,
    /// which changes nothing), one at a time, before it reads anything
    /// published after them. About 80 us each here (debug build).
    #[track_caller]
    pub fn slow_down(&self, node: &str, count: u32) {
        let mut conn = ping(REDIS).expect("redis answers");
        let channel = format!("{}:ch:{node}", self.prefix);
        let mut pipe = redis::pipe();
        for i in 0..count {
            let msg = format!("offer 00000000-0000-4000-8000-{i:012x} 00000000{i:08x}");
            pipe.cmd("PUBLISH").arg(&channel).arg(msg).ignore();
        }
        pipe.query::<()>(&mut conn).expect("PUBLISH");
    }
}
