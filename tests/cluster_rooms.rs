//! Two nodes of one cluster (contract section 8) in this process, sharing
//! the machine's Redis under a prefix of their own, and one identity store
//! (identities shared through Redis are `store_redis.rs`'s subject): users
//! on different nodes are matched, chat in order with acks, type, leave
//! and go next as in one server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::store::start_over;
use common::*;
use duet::store::memory::MemoryStore;
use serde_json::{Value, json};

/// Two nodes sharing Redis (a fresh prefix) and one store.
fn two_nodes(test: &str) -> (TestServer, TestServer) {
    two_nodes_with(test, |_| {})
}

fn two_nodes_with(
    test: &str,
    tweak: impl Fn(&mut duet::Config) + Clone + 'static,
) -> (TestServer, TestServer) {
    let prefix = format!("duet-test-{test}-{}-{}", std::process::id(), now_ms());
    let store: Arc<dyn duet::store::Store> = Arc::new(MemoryStore::new());
    let node = |name: &'static str| {
        let (p, tweak) = (prefix.clone(), tweak.clone());
        start_over(store.clone(), move |c| {
            c.redis_url = Some("redis://127.0.0.1:6379".into());
            c.redis_prefix = p;
            c.node_id = Some(name.into());
            tweak(c);
        })
    };
    (node("a"), node("b"))
}

fn queued(c: &mut Client, mood: &str) {
    let r = c.request("JOIN_QUEUE", "q", json!({"mood": mood, "interests": []}));
    assert_eq!(r["type"], "QUEUE_WAITING", "{r}");
}

/// x on node a, y on node b, matched; returns their clients and the room.
fn cross_pair(a: &TestServer, b: &TestServer) -> (Client, Client, String) {
    let (ux, uy) =
        (register(a.addr, json!({"nickname": "Xan"})), register(b.addr, json!({"nickname": "Yev"})));
    let mut x = Client::authed(a.addr, &ux);
    let mut y = Client::authed(b.addr, &uy);
    queued(&mut x, "chill");
    queued(&mut y, "chill");
    let fx = x.recv_type("MATCH_FOUND");
    let fy = y.recv_type("MATCH_FOUND");
    let room = fx["payload"]["roomId"].as_str().expect("roomId").to_string();
    assert_eq!(fy["payload"]["roomId"], room.as_str());
    assert_eq!(fx["payload"]["partner"]["nickname"], "Yev", "{fx}");
    assert_eq!(fy["payload"]["partner"]["nickname"], "Xan", "{fy}");
    assert!(fx["payload"]["partner"].get("userId").is_none());
    (x, y, room)
}

#[track_caller]
fn chat(c: &mut Client, room: &str, id: &str, text: &str) -> Value {
    let r = c.request("CHAT", id, json!({"roomId": room, "text": text}));
    assert_eq!(r["type"], "CHAT_ACK", "{r}");
    r
}

#[test]
fn users_on_two_nodes_are_matched_and_chat_in_order_with_acks() {
    let (a, b) = two_nodes("chat");
    let (mut x, mut y, room) = cross_pair(&a, &b);
    assert_eq!(chat(&mut x, &room, "1", "hello from a")["payload"]["seq"], 1);
    let m = y.recv_type("CHAT");
    assert_eq!(
        (m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()),
        (Some(1), Some("hello from a"))
    );
    assert_eq!(chat(&mut y, &room, "2", "hi from b")["payload"]["seq"], 2);
    assert_eq!(x.recv_type("CHAT")["payload"]["seq"], 2);
    for i in 3..=30u64 {
        let (from, to) = if i % 2 == 0 { (&mut y, &mut x) } else { (&mut x, &mut y) };
        assert_eq!(chat(from, &room, &format!("m{i}"), &format!("text {i}"))["payload"]["seq"], i);
        assert_eq!(to.recv_type("CHAT")["payload"]["seq"], i);
    }
    x.expect_silence(Duration::from_millis(150));
}

#[test]
fn leave_room_across_nodes_tells_the_partner() {
    let (a, b) = two_nodes("leave");
    let (mut x, mut y, room) = cross_pair(&a, &b);
    let r = x.request("LEAVE_ROOM", "l", json!({"roomId": room}));
    assert_eq!(
        (r["type"].as_str(), r["payload"]["roomId"].as_str()),
        (Some("ROOM_LEFT"), Some(room.as_str()))
    );
    let left = y.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["reason"], "left");
    // Both are idle: a CHAT in the old room is refused.
    let e = y.request("CHAT", "c", json!({"roomId": room, "text": "still there?"}));
    assert_eq!(e["payload"]["code"], "NOT_IN_ROOM", "{e}");
}

#[test]
fn next_across_nodes_requeues_the_user_after_room_left() {
    let (a, b) = two_nodes("next");
    let (mut x, mut y, _room) = cross_pair(&a, &b);
    let r = x.request("NEXT", "n", json!({}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    let w = x.recv_type("QUEUE_WAITING");
    assert!(w.get("id").is_none(), "the requeue carries no id: {w}");
    assert_eq!(y.recv_type("PARTNER_LEFT")["payload"]["reason"], "next");
}

#[test]
fn typing_is_relayed_across_nodes() {
    let (a, b) = two_nodes("typing");
    let (mut x, mut y, room) = cross_pair(&a, &b);
    assert_eq!(x.request("TYPING", "t", json!({"roomId": room, "isTyping": true}))["type"], "TYPING_ACK");
    let t = y.recv_type("TYPING");
    assert_eq!(
        (t["payload"]["roomId"].as_str(), t["payload"]["isTyping"].as_bool()),
        (Some(room.as_str()), Some(true))
    );
}

#[test]
fn admin_stats_answer_for_the_whole_cluster() {
    let (a, b) = two_nodes_with("stats", |c| c.admin_token = Some("root".into()));
    let (mut x, _y, room) = cross_pair(&a, &b);
    chat(&mut x, &room, "s", "counted");
    // The nodes' figures are written by their heartbeat: poll, bounded.
    let deadline = std::time::Instant::now() + WAIT;
    let v = loop {
        let v = http(a.addr, "GET", "/api/admin/stats", Some("root"), None).json();
        let online: i64 = v["onlineUsers"].as_i64().unwrap_or(0);
        if online >= 2 || std::time::Instant::now() > deadline {
            break v;
        }
    };
    let mut ids: Vec<&str> =
        v["nodes"].as_array().expect("nodes").iter().map(|n| n["nodeId"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"], "{v}");
    assert_eq!(v["onlineUsers"], 2, "one user on each node: {v}");
    assert_eq!(v["activeRooms"], 1, "{v}");
    assert!(v["roomsCreated"].as_u64() >= Some(1) && v["messagesRelayed"].as_u64() >= Some(1), "{v}");
    assert!(v["queueSizes"]["chill"].is_number(), "{v}");
}

/// The value of an unlabelled (or fully labelled) metric line.
#[track_caller]
fn metric(addr: std::net::SocketAddr, line_start: &str) -> f64 {
    let text = metrics_text(addr);
    let line =
        text.lines().find(|l| l.starts_with(line_start)).unwrap_or_else(|| panic!("{line_start} in {text}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a number")
}

/// A node's gauges count what it holds (regression: rooms and queue sizes
/// read 0 on a cluster node, and a room counted once per member).
#[test]
fn a_nodes_metrics_count_its_rooms_and_waiters_and_each_room_once() {
    let (a, b) = two_nodes("metrics");
    let (_x, _y, _room) = cross_pair(&a, &b);
    assert_eq!(metric(a.addr, "duet_rooms_active "), 1.0);
    assert_eq!(metric(b.addr, "duet_rooms_active "), 1.0);
    let created = metric(a.addr, "duet_rooms_created_total ") + metric(b.addr, "duet_rooms_created_total ");
    assert_eq!(created, 1.0, "one room, counted once across the nodes");
    let mut w = Client::authed(a.addr, &register(a.addr, json!({"nickname": "Wes"})));
    queued(&mut w, "fire");
    assert_eq!(metric(a.addr, "duet_queue_size{mood=\"fire\"} "), 1.0);
    assert_eq!(metric(b.addr, "duet_queue_size{mood=\"fire\"} "), 0.0);
}

#[test]
fn the_registration_limit_is_shared_by_the_nodes() {
    let (a, b) = two_nodes_with("register", |c| c.register_per_minute = 2);
    register(a.addr, json!({}));
    register(b.addr, json!({}));
    let r = http(a.addr, "POST", "/api/users/registerOrUpdate", None, Some(&json!({})));
    assert_eq!(r.status, 429, "a third registration from this address, through either node");
    assert!(r.header("retry-after").is_some());
}
