//! Restarts and shared ports with real processes (contract section 8): a
//! SIGTERM rolling restart hands rooms over instead of ending them, and
//! `--reuse-port` lets two nodes share one port. Each node is a `duet`
//! binary (`common::nodes`) on the machine's Redis, killed when the test
//! ends; the test's keys are deleted after it.
//!
//! Timings are printed (run with `--nocapture` to see them).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;
use serde_json::{Value, json};

#[track_caller]
fn reason(v: &Value, ty: &str, why: &str) {
    assert_eq!((v["type"].as_str(), v["payload"]["reason"].as_str()), (Some(ty), Some(why)), "{v}");
}

#[test]
fn sigterm_rolling_restart_hands_rooms_over_and_users_resume_on_another_node_or_the_restarted_one() {
    let cluster = Cluster::new("sigterm", REDIS_URL, &[("DUET_RESUME_GRACE_SECS", "10")]);
    let a = cluster.node("a");
    let port = free_port();
    let mut b = cluster.node_on("b", port, false);
    // Two rooms across A and B: y1 will resume on A, y2 on B restarted.
    let ((mut x1, _), (mut y1, u1), room1) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    let ((mut x2, _), (mut y2, u2), room2) = pair_on(a.addr, b.addr, ("Xia", "Yul"), "chill");
    assert_eq!(chat(&mut x1, &room1, "1", "one"), 1);
    got_chat(&mut y1, 1, "one");
    assert_eq!(chat(&mut y2, &room2, "1", "two"), 1);
    got_chat(&mut x2, 1, "two");
    // And a user waiting on B.
    let uw = register(b.addr, json!({"nickname": "Wyn"}));
    let mut w = Client::authed(b.addr, &uw);
    assert_eq!(queued(&mut w, "fire"), 1);

    let term = b.sigterm();
    let (code, before) = w.expect_close();
    assert_eq!(code, 1001, "the waiter's close: {before:?}");
    assert_eq!(before.len(), 2, "MATCH_CANCELLED then SESSION_ENDED: {before:?}");
    reason(&before[0], "MATCH_CANCELLED", "shutdown");
    reason(&before[1], "SESSION_ENDED", "shutdown");
    for (y, who) in [(&mut y1, "y1"), (&mut y2, "y2")] {
        let (code, before) = y.expect_close();
        assert_eq!(code, 1001, "{who}'s close: {before:?}");
        assert_eq!(before.len(), 1, "{who}: only SESSION_ENDED: {before:?}");
        reason(&before[0], "SESSION_ENDED", "shutdown");
    }
    let status = b.exit_within(term, Duration::from_secs(10));
    assert!(status.success(), "B exits 0 after SIGTERM: {status}");
    eprintln!("[timing] B exited {:.2} s after SIGTERM", term.elapsed().as_secs_f64());

    // The rooms are handed over, not ended.
    for (x, room, who) in [(&mut x1, &room1, "x1"), (&mut x2, &room2, "x2")] {
        let (away, _) = expect_within(x, "PARTNER_AWAY", WAIT, who);
        assert_eq!(away["payload"]["roomId"], room.as_str(), "{who}: {away}");
        eprintln!("[timing] {who} has PARTNER_AWAY {:.2} s after SIGTERM", term.elapsed().as_secs_f64());
    }
    assert_eq!(chat(&mut x1, &room1, "2", "kept 2"), 2);
    assert_eq!(chat(&mut x1, &room1, "3", "kept 3"), 3);
    assert_eq!(chat(&mut x2, &room2, "2", "kept for y2"), 2);

    // y1 reconnects to A and resumes with what x1 sent meanwhile.
    let (mut y1, ok) = resume(a.addr, &u1, 1);
    assert_eq!(ok["payload"]["room"]["roomId"], room1.as_str(), "{ok}");
    assert_eq!(ok["payload"]["room"]["partner"]["nickname"], "Xan", "{ok}");
    assert_eq!(ok["payload"]["room"]["lastSeq"], 3, "{ok}");
    got_chat(&mut y1, 2, "kept 2");
    got_chat(&mut y1, 3, "kept 3");
    assert_eq!(x1.recv_type("PARTNER_BACK")["payload"]["roomId"], room1.as_str());

    // B is started again on its port; y2 resumes there.
    let restarted = Instant::now();
    let b2 = cluster.node_on("b", port, false);
    eprintln!("[timing] B serves again {:.2} s after its restart began", restarted.elapsed().as_secs_f64());
    let (mut y2, ok) = resume(b2.addr, &u2, 1);
    assert_eq!(ok["payload"]["room"]["roomId"], room2.as_str(), "{ok}");
    assert_eq!(ok["payload"]["room"]["lastSeq"], 2, "{ok}");
    got_chat(&mut y2, 2, "kept for y2");
    assert_eq!(x2.recv_type("PARTNER_BACK")["payload"]["roomId"], room2.as_str());

    // Both rooms go on, in order, across the nodes.
    assert_eq!(chat(&mut y1, &room1, "4", "from A"), 4);
    got_chat(&mut x1, 4, "from A");
    assert_eq!(chat(&mut y2, &room2, "3", "from new B"), 3);
    got_chat(&mut x2, 3, "from new B");
    assert_eq!(chat(&mut x2, &room2, "4", "welcome back"), 4);
    got_chat(&mut y2, 4, "welcome back");

    // The cancelled waiter left the queue: joining again, it waits alone.
    let mut w = Client::authed(b2.addr, &uw);
    assert_eq!(queued(&mut w, "fire"), 1, "the cancelled wait was removed from the shared queue");
}

#[test]
fn reuse_port_two_processes_share_one_port_and_match_whatever_node_users_land_on() {
    let cluster = Cluster::new("reuse", REDIS_URL, &[]);
    let port = free_port();
    let a = cluster.node_on("a", port, true);
    let b = cluster.node_on("b", port, true);
    assert_eq!(a.addr, b.addr, "one port");
    let addr = a.addr;

    // Health answers come from both.
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let r = http(addr, "GET", "/api/health", None, None);
        assert_eq!(r.status, 200);
        seen.insert(r.json()["node"].as_str().expect("node").to_owned());
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, HashSet::from(["a".to_owned(), "b".to_owned()]), "health from both nodes");

    // Sockets through the shared port, three landed on each node.
    let mut on: HashMap<String, Vec<Client>> = HashMap::new();
    for _ in 0..200 {
        if on.values().filter(|v| v.len() >= 3).count() == 2 {
            break;
        }
        let (node, c) = connect_and_tell_node(addr);
        let list = on.entry(node).or_default();
        if list.len() < 3 {
            list.push(c);
        }
    }
    let (mut on_a, mut on_b) = (on.remove("a").unwrap_or_default(), on.remove("b").unwrap_or_default());
    assert!(
        on_a.len() == 3 && on_b.len() == 3,
        "three sockets on each node: {} / {}",
        on_a.len(),
        on_b.len()
    );
    // Users registered through the shared port too.
    let authed = |c: &mut Client, name: &str| c.auth(&register(addr, json!({"nickname": name})));
    for (i, c) in on_a.iter_mut().enumerate() {
        authed(c, &format!("A{i}"));
    }
    for (i, c) in on_b.iter_mut().enumerate() {
        authed(c, &format!("B{i}"));
    }

    // Across the nodes, and within each.
    let (mut a0, mut a1, mut a2) = {
        let mut it = on_a.into_iter();
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    let (mut b0, mut b1, mut b2) = {
        let mut it = on_b.into_iter();
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    let started = Instant::now();
    for (x, y, names) in
        [(&mut a0, &mut b0, ("A0", "B0")), (&mut b1, &mut a1, ("B1", "A1")), (&mut a2, &mut b2, ("A2", "B2"))]
    {
        queued(x, "chill");
        queued(y, "chill");
        let room = matched(x, y, names);
        assert_eq!(chat(x, &room, "1", "hi"), 1);
        got_chat(y, 1, "hi");
        assert_eq!(chat(y, &room, "2", "hello"), 2);
        got_chat(x, 2, "hello");
    }
    eprintln!(
        "[timing] three cross-node pairs matched and chatting in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn reuse_port_users_on_one_node_are_matched_with_each_other_too() {
    let cluster = Cluster::new("reuse-same", REDIS_URL, &[]);
    let port = free_port();
    let _a = cluster.node_on("a", port, true);
    let b = cluster.node_on("b", port, true);
    let addr = b.addr;
    let mut on: HashMap<String, Vec<Client>> = HashMap::new();
    for _ in 0..200 {
        if on.values().filter(|v| v.len() >= 2).count() == 2 {
            break;
        }
        let (node, c) = connect_and_tell_node(addr);
        let list = on.entry(node).or_default();
        if list.len() < 2 {
            list.push(c);
        }
    }
    for node in ["a", "b"] {
        let mut list = on.remove(node).unwrap_or_default();
        assert_eq!(list.len(), 2, "two sockets on node {node}");
        let (n0, n1) = (format!("{node}0"), format!("{node}1"));
        let mut y = list.pop().unwrap();
        let mut x = list.pop().unwrap();
        x.auth(&register(addr, json!({"nickname": n0})));
        y.auth(&register(addr, json!({"nickname": n1})));
        queued(&mut x, "chill");
        queued(&mut y, "chill");
        let room = matched(&mut x, &mut y, (&n0, &n1));
        assert_eq!(chat(&mut x, &room, "1", "same node"), 1);
        got_chat(&mut y, 1, "same node");
    }
}
