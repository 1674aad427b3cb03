//! Matching across the nodes of one cluster (contract sections 4 and 8):
//! never-rematch after a report, cooldowns, the cluster-wide `waiting`
//! count, tiers, the match timeout and `LEAVE_QUEUE`, and concurrent joins
//! on every node with no double match and no lost waiter. The nodes run in
//! this process over the machine's Redis (`common::cluster`), a prefix per
//! test, keys deleted at the end.

mod common;

use std::collections::HashMap;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use serde_json::{Value, json};

/// Long enough for a match to cross Redis and two nodes, were one coming.
const QUIET: Duration = Duration::from_millis(500);

/// `JOIN_QUEUE` with `payload`: `QUEUE_WAITING`'s `waiting`.
#[track_caller]
fn waiting(c: &mut Client, payload: Value) -> u64 {
    join(c, payload)["waiting"].as_u64().expect("waiting")
}

#[track_caller]
fn assert_matched(a: &mut Client, b: &mut Client, a_nick: &str, b_nick: &str) -> String {
    let fa = expect_match(a);
    let fb = expect_match(b);
    assert_eq!(fa["roomId"], fb["roomId"], "{fa} {fb}");
    assert_eq!(fa["partner"]["nickname"], b_nick, "{fa}");
    assert_eq!(fb["partner"]["nickname"], a_nick, "{fb}");
    fa["roomId"].as_str().unwrap().to_string()
}

/// A newcomer `z` ("Zed") is matched with one of `x` ("Xan") and `y`
/// ("Yev"), both waiting; the other hears nothing. Which one is not
/// asserted: x joined first, but both may have joined in the same
/// millisecond (see `the_longest_waiter_is_preferred_within_one_millisecond`).
/// Returns the one left waiting.
#[track_caller]
fn matched_with_one<'a>(z: &mut Client, x: &'a mut Client, y: &'a mut Client) -> &'a mut Client {
    let fz = expect_match(z);
    let (chosen, other) = match fz["partner"]["nickname"].as_str() {
        Some("Xan") => (x, y),
        Some("Yev") => (y, x),
        _ => panic!("z matched with x or y: {fz}"),
    };
    let f = expect_match(chosen);
    assert_eq!(f["roomId"], fz["roomId"], "{f} {fz}");
    assert_eq!(f["partner"]["nickname"], "Zed", "{f}");
    other.expect_silence(QUIET);
    other
}

#[test]
fn a_report_across_nodes_ends_the_room_and_the_two_are_never_matched_again() {
    // No cooldown: only the report keeps the two apart.
    let Some(n) = Nodes::start("report", 3, |c| c.rematch_cooldown_secs = Duration::ZERO) else { return };
    let Paired { mut x, mut y, ux, uy, room, .. } = cross_pair(n.addr(0), n.addr(1));
    assert_eq!(chat(&mut x, &room, "1", "hi"), 1);
    expect_chat(&mut y, &room, 1, "hi");
    assert_eq!(chat(&mut y, &room, "2", "rude words"), 2);
    expect_chat(&mut x, &room, 2, "rude words");

    let r = x.request("REPORT", "rep", json!({"roomId": room, "reason": "abuse", "details": "cross-node"}));
    assert_eq!(r["type"], "REPORTED", "{r}");
    let report_id = r["payload"]["reportId"].as_str().expect("reportId").to_string();
    expect_partner_left(&mut y, &room, "left");
    let e = x.request("CHAT", "c", json!({"roomId": room, "text": "gone?"}));
    assert_error(&e, "NOT_IN_ROOM");

    // The report is stored for the cluster, with the room's transcript.
    let list = http(n.addr(2), "GET", "/api/admin/reports", Some(ADMIN), None);
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let reports = list.json()["reports"].clone();
    let got = reports.as_array().and_then(|a| a.iter().find(|r| r["reportId"] == report_id.as_str()));
    let got = got.unwrap_or_else(|| panic!("report {report_id} listed: {reports}"));
    assert_eq!(
        (got["reporterId"].as_str(), got["reportedId"].as_str(), got["roomId"].as_str()),
        (Some(ux.id.as_str()), Some(uy.id.as_str()), Some(room.as_str())),
        "{got}"
    );
    let lines: Vec<(&str, &str)> = got["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .map(|l| (l["from"].as_str().unwrap_or("?"), l["text"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(lines, [("reporter", "hi"), ("reported", "rude words")], "{got}");

    // Both queue again: never matched with each other.
    assert_eq!(waiting(&mut x, chill()), 1);
    assert_eq!(waiting(&mut y, chill()), 2, "both wait, unmatched");
    x.expect_silence(QUIET);
    y.expect_silence(Duration::from_millis(1));
    // A third user is matched with one of them...
    let mut z = Client::authed(n.addr(2), &user(n.addr(2), "Zed"));
    assert_eq!(waiting(&mut z, chill()), 3);
    let other = matched_with_one(&mut z, &mut x, &mut y);
    // ...and a fourth with the other.
    let mut w = Client::authed(n.addr(0), &user(n.addr(0), "Wes"));
    assert_eq!(waiting(&mut w, chill()), 2);
    let fw = expect_match(&mut w);
    let fo = expect_match(other);
    assert_eq!(fw["roomId"], fo["roomId"], "{fw} {fo}");
    assert_eq!(fo["partner"]["nickname"], "Wes", "{fo}");
}

#[test]
fn during_the_cooldown_two_users_on_different_nodes_are_not_matched_again() {
    let Some(n) = Nodes::start("cooldown", 3, |c| c.rematch_cooldown_secs = Duration::from_secs(60)) else {
        return;
    };
    let Paired { mut x, mut y, room, .. } = cross_pair(n.addr(0), n.addr(1));
    let r = x.request("LEAVE_ROOM", "l", json!({"roomId": room}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    expect_partner_left(&mut y, &room, "left");

    assert_eq!(waiting(&mut x, chill()), 1);
    assert_eq!(waiting(&mut y, chill()), 2, "both wait, unmatched");
    x.expect_silence(QUIET);
    y.expect_silence(Duration::from_millis(1));
    let mut z = Client::authed(n.addr(2), &user(n.addr(2), "Zed"));
    assert_eq!(waiting(&mut z, chill()), 3);
    matched_with_one(&mut z, &mut x, &mut y);
}

#[test]
fn without_a_cooldown_the_same_two_are_matched_again_across_nodes() {
    let Some(n) = Nodes::start("no-cooldown", 2, |c| c.rematch_cooldown_secs = Duration::ZERO) else {
        return;
    };
    let Paired { mut x, mut y, room, .. } = cross_pair(n.addr(0), n.addr(1));
    let r = y.request("LEAVE_ROOM", "l", json!({"roomId": room}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    expect_partner_left(&mut x, &room, "left");
    assert_eq!(waiting(&mut x, chill()), 1);
    assert_eq!(waiting(&mut y, chill()), 2);
    let again = assert_matched(&mut x, &mut y, "Xan", "Yev");
    assert_ne!(again, room, "a new room");
}

#[test]
fn waiting_counts_the_clusters_queue() {
    // Different interest sets never pair within tier 1 (60 s here).
    let Some(n) = Nodes::start("waiting", 3, |c| c.match_tier1_secs = Duration::from_secs(60)) else {
        return;
    };
    let mut c: Vec<Client> = (0..5)
        .map(|i| {
            let addr = n.addr(i % 3);
            Client::authed(addr, &user(addr, &format!("w{i}")))
        })
        .collect();
    assert_eq!(waiting(&mut c[0], chill_with(&["alpha"])), 1, "on a");
    assert_eq!(waiting(&mut c[1], chill_with(&["beta"])), 2, "on b, with a's");
    assert_eq!(waiting(&mut c[2], chill_with(&["gamma"])), 3, "on c, with a's and b's");
    // One leaves (on b): the next join (on a) counts the rest.
    assert_eq!(c[1].request("LEAVE_QUEUE", "l", json!({}))["type"], "QUEUE_LEFT");
    assert_eq!(waiting(&mut c[3], chill_with(&["delta"])), 3, "a, c and this one");
    // Another mood's queue is another count.
    assert_eq!(waiting(&mut c[4], json!({"mood": "fire", "interests": ["alpha"]})), 1);
    for cl in &mut c {
        cl.expect_silence(Duration::from_millis(100));
    }
}

#[test]
fn tier_one_pairs_equal_sets_across_nodes_and_one_shared_interest_waits_for_tier_two() {
    let tier1 = Duration::from_millis(1500);
    let Some(n) = Nodes::start("tiers", 2, |c| c.match_tier1_secs = tier1) else { return };
    let (a, b) = (n.addr(0), n.addr(1));
    let mut x = Client::authed(a, &user(a, "Xan"));
    let mut y = Client::authed(b, &user(b, "Yev"));
    let mut z = Client::authed(b, &user(b, "Zed"));
    let mut w = Client::authed(a, &user(a, "Wes"));

    join(&mut x, chill_with(&["music", "games"]));
    let y_joined = Instant::now();
    join(&mut y, chill_with(&["music", "art"]));
    // z's set equals x's (in another order): tier 1 pairs them at once,
    // though y (on z's own node) shares "music" with both.
    join(&mut z, chill_with(&["games", "music"]));
    let fz = expect_match(&mut z);
    let fx = expect_match(&mut x);
    assert_eq!(fx["roomId"], fz["roomId"]);
    assert_eq!(fz["partner"]["nickname"], "Xan", "{fz}");
    let mut shared: Vec<String> =
        serde_json::from_value(fz["sharedInterests"].clone()).expect("sharedInterests");
    shared.sort();
    assert_eq!(shared, ["games", "music"], "{fz}");

    // w shares one interest with y: not within tier 1...
    join(&mut w, chill_with(&["art", "books"]));
    let quiet_until = y_joined + tier1 - Duration::from_millis(300);
    w.expect_silence(quiet_until.saturating_duration_since(Instant::now()));
    y.expect_silence(Duration::from_millis(1));
    // ...but once y has waited past it.
    let fw = expect_match(&mut w);
    let fy = expect_match(&mut y);
    let waited = y_joined.elapsed();
    assert!(waited + Duration::from_millis(100) >= tier1, "matched after {waited:?}, tier 1 is {tier1:?}");
    assert_eq!(fw["roomId"], fy["roomId"]);
    assert_eq!(fw["partner"]["nickname"], "Yev", "{fw}");
    assert_eq!(fy["partner"]["nickname"], "Wes", "{fy}");
    assert_eq!(fw["sharedInterests"], json!(["art"]), "{fw}");
    assert_eq!(fy["sharedInterests"], json!(["art"]), "{fy}");
    assert_eq!(fy["partner"]["interests"], json!(["art", "books"]), "as w queued: {fy}");
}

#[test]
fn a_waiter_on_a_cluster_node_is_cancelled_at_the_match_timeout_and_leaves_the_queue() {
    let timeout = Duration::from_millis(1000);
    let Some(n) = Nodes::start("timeout", 2, |c| c.match_timeout_secs = timeout) else { return };
    // Different interest sets (tier 1 is 10 s): nobody pairs them.
    let mut x = Client::authed(n.addr(0), &user(n.addr(0), "Xan"));
    let joined = Instant::now();
    assert_eq!(waiting(&mut x, chill_with(&["solo"])), 1);
    let (m, _) = recv_within(&mut x, "MATCH_CANCELLED", timeout + WAIT);
    let waited = joined.elapsed();
    assert_eq!(m["payload"]["reason"], "timeout", "{m}");
    assert!(m.get("id").is_none(), "a push: {m}");
    assert!(
        waited + Duration::from_millis(50) >= timeout && waited < timeout + Duration::from_secs(2),
        "MATCH_CANCELLED after {waited:?}, timeout {timeout:?}"
    );
    // Out of the cluster's queue: a user with the same interests (a tier-1
    // partner) on the other node waits alone, and x is idle.
    let mut y = Client::authed(n.addr(1), &user(n.addr(1), "Yev"));
    assert_eq!(waiting(&mut y, chill_with(&["solo"])), 1, "x no longer counts");
    assert_error(&x.request("LEAVE_QUEUE", "l", json!({})), "NOT_IN_QUEUE");
    x.expect_silence(Duration::from_millis(200));
    y.expect_silence(Duration::from_millis(1));
}

#[test]
fn leave_queue_on_a_cluster_node_answers_queue_left_and_the_user_is_not_matched() {
    let Some(n) = Nodes::start("leave-queue", 2, |_| {}) else { return };
    let mut x = Client::authed(n.addr(0), &user(n.addr(0), "Xan"));
    assert_eq!(waiting(&mut x, chill()), 1);
    let r = x.request("LEAVE_QUEUE", "l", json!({}));
    assert_eq!(r["type"], "QUEUE_LEFT", "{r}");
    assert_eq!(r["payload"], json!({}), "{r}");
    // y on the other node, who would take anyone, finds nobody.
    let mut y = Client::authed(n.addr(1), &user(n.addr(1), "Yev"));
    assert_eq!(waiting(&mut y, chill()), 1, "x no longer counts");
    y.expect_silence(QUIET);
    x.expect_silence(Duration::from_millis(1));
    // Leaving twice: not waiting.
    assert_error(&x.request("LEAVE_QUEUE", "l2", json!({})), "NOT_IN_QUEUE");
    // x may queue again, and is matched with y.
    assert_eq!(waiting(&mut x, chill()), 2);
    assert_matched(&mut x, &mut y, "Xan", "Yev");
}

#[test]
fn the_longest_waiter_is_preferred_within_one_millisecond() {
    // Tier 2 from the start: x and y share nothing and wait; z shares one
    // interest with each, so only the wait decides, and x joined first
    // (its QUEUE_WAITING came before y's JOIN_QUEUE was sent). Joins less
    // than a millisecond apart are common here; 40 trials.
    let Some(n) = Nodes::start("longest", 3, |c| c.match_tier1_secs = Duration::ZERO) else { return };
    let mut wrong = Vec::new();
    for i in 0..40 {
        let mut x = Client::authed(n.addr(0), &user(n.addr(0), "Xan"));
        let mut y = Client::authed(n.addr(1), &user(n.addr(1), "Yev"));
        let mut z = Client::authed(n.addr(2), &user(n.addr(2), "Zed"));
        // y's interest sorts first: z's candidates are read y's first.
        let (p, q) = (format!("p{i}"), format!("q{i}"));
        join(&mut x, chill_with(&[&q]));
        join(&mut y, chill_with(&[&p]));
        join(&mut z, chill_with(&[&p, &q]));
        let fz = expect_match(&mut z);
        if fz["partner"]["nickname"] != "Xan" {
            wrong.push(i);
            expect_match(&mut y);
        } else {
            expect_match(&mut x);
        }
        // Whoever is left leaves, so later trials see only their own.
        for c in [&mut x, &mut y] {
            let _ = c.request("LEAVE_QUEUE", "l", json!({}));
        }
    }
    assert!(wrong.is_empty(), "z was matched with y, who joined after x, in trials {wrong:?} of 40");
}

#[test]
fn concurrent_joins_on_three_nodes_pair_everyone_exactly_once() {
    const PER_NODE: usize = 28;
    let Some(n) = Nodes::start("concurrent", 3, |_| {}) else { return };
    let total = 3 * PER_NODE;
    let nicks: Vec<String> = (0..total).map(|i| format!("u{i}")).collect();
    let clients: Vec<Client> = nicks
        .iter()
        .enumerate()
        .map(|(i, nick)| {
            let addr = n.addr(i % 3);
            Client::authed(addr, &user(addr, nick))
        })
        .collect();
    let barrier = Barrier::new(total);
    let started = Instant::now();
    let results: Vec<(Value, Value, Client)> = thread::scope(|s| {
        let handles: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    c.send(json!({"type": "JOIN_QUEUE", "id": format!("j{i}"), "payload": chill()}));
                    let w = c.recv();
                    let f = c.recv();
                    (w, f, c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a client thread")).collect()
    });
    let took = started.elapsed();

    let mut room_of = HashMap::new();
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (w, f, _)) in results.iter().enumerate() {
        assert_eq!((w["type"].as_str(), w["id"].as_str()), (Some("QUEUE_WAITING"), Some(&*format!("j{i}"))));
        assert_eq!(f["type"], "MATCH_FOUND", "user {i}: {f}");
        let room = f["payload"]["roomId"].as_str().expect("roomId").to_string();
        room_of.insert(nicks[i].clone(), (room.clone(), f["payload"]["partner"]["nickname"].clone()));
        members.entry(room).or_default().push(i);
    }
    assert_eq!(members.len(), total / 2, "every room has two users: {members:?}");
    let mut cross = 0;
    for (room, users) in &members {
        assert_eq!(users.len(), 2, "room {room}: {users:?}");
        let (a, b) = (users[0], users[1]);
        assert_eq!(room_of[&nicks[a]].1, nicks[b].as_str(), "partners agree in {room}");
        assert_eq!(room_of[&nicks[b]].1, nicks[a].as_str(), "partners agree in {room}");
        cross += usize::from(a % 3 != b % 3);
    }
    eprintln!("{total} users on 3 nodes matched in {took:?}; {cross} of {} rooms span two nodes", total / 2);
    // Nobody gets a second MATCH_FOUND, and nobody is left in a queue or
    // a pending pairing.
    let mut results = results;
    thread::scope(|s| {
        for (_, _, c) in results.iter_mut() {
            s.spawn(move || c.expect_silence(QUIET));
        }
    });
    let left: Vec<String> = n
        .keys()
        .into_iter()
        .filter(|k| k.contains(":q:") || k.contains(":w:") || k.contains(":pend:"))
        .collect();
    assert!(left.is_empty(), "waits or pairings left in Redis: {left:?}");
}
