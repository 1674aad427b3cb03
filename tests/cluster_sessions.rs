//! Sessions across the nodes of one cluster (contract sections 5 and 8):
//! resume on another node within the grace, the grace running out, a
//! second `AUTH` on another node superseding the first (in a room and in
//! the queue), and an admin ban through one node of a user whose socket
//! is on another. The nodes run in this process over the machine's Redis
//! (`common::cluster`), a prefix per test, keys deleted at the end.

mod common;

use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use serde_json::json;

/// Long enough for a message to cross Redis and a node, were one coming.
const QUIET: Duration = Duration::from_millis(400);

#[test]
fn a_dropped_user_resumes_on_a_third_node_with_the_messages_it_missed() {
    let Some(n) = Nodes::start("resume", 3, |c| c.resume_grace_secs = Duration::from_secs(10)) else {
        return;
    };
    let Paired { x, mut y, ux, room, found_x, .. } = cross_pair(n.addr(0), n.addr(1));
    let mut x = x;
    assert_eq!(chat(&mut x, &room, "1", "before the drop"), 1);
    expect_chat(&mut y, &room, 1, "before the drop");
    assert_eq!(chat(&mut y, &room, "2", "seen by x"), 2);
    expect_chat(&mut x, &room, 2, "seen by x");

    drop(x);
    let away = y.recv_type("PARTNER_AWAY");
    assert_eq!(away["payload"]["roomId"], room.as_str(), "{away}");
    assert!(away.get("id").is_none(), "a push carries no id: {away}");
    // y's messages while x is away are accepted and kept.
    for (i, text) in ["missed 3", "missed 4", "missed 5"].iter().enumerate() {
        assert_eq!(chat(&mut y, &room, &format!("m{i}"), text), i as u64 + 3);
    }

    let (mut x, ok) = auth_again(n.addr(2), &ux, Some(2));
    let r = &ok["room"];
    assert_eq!(r["roomId"], room.as_str(), "{ok}");
    assert_eq!(r["mood"], "chill", "{ok}");
    assert_eq!(r["lastSeq"], 5, "the room's latest seq: {ok}");
    assert_eq!(r["partner"], found_x["partner"], "partner as in MATCH_FOUND: {ok}");
    assert!(r["partner"].get("userId").is_none(), "{ok}");
    for (seq, text) in [(3, "missed 3"), (4, "missed 4"), (5, "missed 5")] {
        expect_chat(&mut x, &room, seq, text);
    }
    let back = y.recv_type("PARTNER_BACK");
    assert_eq!(back["payload"]["roomId"], room.as_str(), "{back}");

    // The room goes on, both ways, from node c to node b.
    assert_eq!(chat(&mut x, &room, "6", "back from c"), 6);
    expect_chat(&mut y, &room, 6, "back from c");
    assert_eq!(chat(&mut y, &room, "7", "welcome back"), 7);
    expect_chat(&mut x, &room, 7, "welcome back");
    x.expect_silence(QUIET);
    y.expect_silence(Duration::from_millis(1));
}

#[test]
fn a_resume_without_last_seq_gets_every_kept_message_of_the_partner() {
    let Some(n) = Nodes::start("resume0", 2, |c| c.resume_grace_secs = Duration::from_secs(10)) else {
        return;
    };
    // Back on the node it dropped from, then on the partner's node.
    for back_on in [0, 1] {
        let Paired { x, mut y, ux, room, .. } = cross_pair(n.addr(0), n.addr(1));
        let mut x = x;
        assert_eq!(chat(&mut y, &room, "1", "one"), 1);
        expect_chat(&mut x, &room, 1, "one");
        assert_eq!(chat(&mut x, &room, "2", "mine"), 2);
        expect_chat(&mut y, &room, 2, "mine");
        drop(x);
        y.recv_type("PARTNER_AWAY");
        assert_eq!(chat(&mut y, &room, "3", "three"), 3);
        // No lastSeq: the partner's kept messages, not its own.
        let (mut x, ok) = auth_again(n.addr(back_on), &ux, None);
        assert_eq!(ok["room"]["lastSeq"], 3, "node {back_on}: {ok}");
        expect_chat(&mut x, &room, 1, "one");
        expect_chat(&mut x, &room, 3, "three");
        y.recv_type("PARTNER_BACK");
        assert_eq!(chat(&mut x, &room, "4", "here again"), 4);
        expect_chat(&mut y, &room, 4, "here again");
        x.expect_silence(QUIET);
    }
}

#[test]
fn past_the_grace_the_partner_on_another_node_gets_partner_left_disconnected() {
    let grace = Duration::from_millis(800);
    let Some(n) = Nodes::start("grace", 2, |c| c.resume_grace_secs = grace) else { return };
    let Paired { x, mut y, ux, room, .. } = cross_pair(n.addr(0), n.addr(1));
    drop(x);
    y.recv_type("PARTNER_AWAY");
    let away_at = Instant::now();
    let (left, _) = recv_within(&mut y, "PARTNER_LEFT", grace + WAIT);
    let waited = away_at.elapsed();
    assert_eq!(
        (left["payload"]["roomId"].as_str(), left["payload"]["reason"].as_str()),
        (Some(room.as_str()), Some("disconnected")),
        "{left}"
    );
    assert!(
        waited + Duration::from_millis(50) >= grace && waited < grace + Duration::from_secs(2),
        "the grace counts from PARTNER_AWAY: PARTNER_LEFT {waited:?} after it (grace {grace:?})"
    );
    // The room is gone on both sides.
    let e = y.request("CHAT", "late", json!({"roomId": room, "text": "anyone?"}));
    assert_error(&e, "NOT_IN_ROOM");
    let (_x, ok) = auth_again(n.addr(1), &ux, Some(0));
    assert!(ok.get("room").is_none(), "too late to resume: {ok}");
    y.expect_silence(QUIET);
}

#[test]
fn a_second_drop_after_a_resume_on_another_node_gets_a_full_grace_of_its_own() {
    let grace = Duration::from_millis(1000);
    let Some(n) = Nodes::start("grace2", 3, |c| c.resume_grace_secs = grace) else { return };
    let Paired { x, mut y, ux, room, .. } = cross_pair(n.addr(0), n.addr(1));
    drop(x);
    y.recv_type("PARTNER_AWAY");
    // Half the grace later (nothing may happen meanwhile), x is back on c...
    y.expect_silence(grace / 2);
    let (x, ok) = auth_again(n.addr(2), &ux, None);
    assert_eq!(ok["room"]["roomId"], room.as_str(), "{ok}");
    y.recv_type("PARTNER_BACK");
    // ...and drops again at once: the first grace's end must not end the
    // room; the second runs its full length from the second PARTNER_AWAY.
    drop(x);
    y.recv_type("PARTNER_AWAY");
    let away_at = Instant::now();
    let (left, _) = recv_within(&mut y, "PARTNER_LEFT", grace + WAIT);
    let waited = away_at.elapsed();
    assert_eq!(left["payload"]["reason"], "disconnected", "{left}");
    assert!(
        waited + Duration::from_millis(50) >= grace,
        "PARTNER_LEFT {waited:?} after the second PARTNER_AWAY (grace {grace:?})"
    );
}

#[test]
fn a_second_auth_on_another_node_supersedes_the_socket_in_a_room_without_telling_the_partner() {
    let Some(n) = Nodes::start("supersede", 3, |_| {}) else { return };
    // x on a, y on c; x's second socket on b.
    let Paired { mut x, mut y, ux, room, found_x, .. } = cross_pair(n.addr(0), n.addr(2));
    assert_eq!(chat(&mut y, &room, "1", "hello"), 1);
    expect_chat(&mut x, &room, 1, "hello");

    let (mut x2, ok) = auth_again(n.addr(1), &ux, Some(1));
    assert_eq!(ok["room"]["roomId"], room.as_str(), "the new socket holds the room: {ok}");
    assert_eq!(ok["room"]["lastSeq"], 1, "{ok}");
    assert_eq!(ok["room"]["partner"], found_x["partner"], "{ok}");
    let (code, before) = x.expect_close();
    assert_eq!(code, 4409, "before the close: {before:?}");
    assert_eq!(before, vec![json!({"type": "SESSION_ENDED", "payload": {"reason": "superseded"}})]);
    // A supersede is not a drop: the partner hears nothing.
    y.expect_silence(QUIET);

    assert_eq!(chat(&mut x2, &room, "2", "from my other tab"), 2);
    expect_chat(&mut y, &room, 2, "from my other tab");
    assert_eq!(chat(&mut y, &room, "3", "ok"), 3);
    expect_chat(&mut x2, &room, 3, "ok");
    x2.expect_silence(QUIET);
    y.expect_silence(Duration::from_millis(1));
}

#[test]
fn a_waiters_place_moves_with_a_supersede_to_another_node() {
    let Some(n) = Nodes::start("supersede-wait", 2, |_| {}) else { return };
    let (ux, uy) = (user(n.addr(0), "Xan"), user(n.addr(1), "Yev"));
    let mut x = Client::authed(n.addr(0), &ux);
    assert_eq!(join(&mut x, chill())["waiting"], 1);

    let (mut x2, ok) = auth_again(n.addr(1), &ux, None);
    assert!(ok.get("room").is_none(), "{ok}");
    let (code, before) = x.expect_close();
    assert_eq!(code, 4409, "before the close: {before:?}");
    assert_eq!(before, vec![json!({"type": "SESSION_ENDED", "payload": {"reason": "superseded"}})]);

    // Still one waiter, now on b: y's join there finds it.
    let mut y = Client::authed(n.addr(1), &uy);
    y.send(json!({"type": "JOIN_QUEUE", "id": "j", "payload": chill()}));
    let w = y.recv_type("QUEUE_WAITING");
    assert_eq!(w["payload"]["waiting"], 2, "x's place still counts: {w}");
    let fy = expect_match(&mut y);
    let fx = expect_match(&mut x2);
    assert_eq!(fx["roomId"], fy["roomId"]);
    assert_eq!(fx["partner"]["nickname"], "Yev", "{fx}");
    assert_eq!(fy["partner"]["nickname"], "Xan", "{fy}");
    let room = fx["roomId"].as_str().unwrap().to_string();
    assert_eq!(chat(&mut x2, &room, "1", "found you"), 1);
    expect_chat(&mut y, &room, 1, "found you");
}

#[track_caller]
fn ban_through(addr: std::net::SocketAddr, u: &User) {
    let body = json!({"userId": u.id, "minutes": 5, "reason": "cluster test"});
    let r = http(addr, "POST", "/api/admin/bans", Some(ADMIN), Some(&body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn an_admin_ban_through_one_node_closes_the_socket_on_another_and_ends_its_room() {
    let Some(n) = Nodes::start("ban", 2, |_| {}) else { return };
    let Paired { mut x, mut y, uy, room, .. } = cross_pair(n.addr(0), n.addr(1));
    ban_through(n.addr(0), &uy);
    let (code, before) = y.expect_close();
    assert_eq!(code, 4403, "before the close: {before:?}");
    assert_eq!(before, vec![json!({"type": "SESSION_ENDED", "payload": {"reason": "banned"}})]);
    expect_partner_left(&mut x, &room, "left");
    // The ban holds on every node.
    for i in 0..2 {
        let mut c = Client::connect(n.addr(i));
        c.send(json!({"type": "AUTH", "id": "a", "payload": {"token": uy.token}}));
        let e = c.recv_type("AUTH_ERROR");
        assert_eq!(e["payload"]["code"], "BANNED", "node {i}: {e}");
        assert_eq!(c.expect_close().0, 4403, "node {i}");
    }
    // x is idle and can queue again.
    assert_eq!(join(&mut x, chill())["waiting"], 1);
}

#[test]
fn an_admin_ban_of_a_user_away_within_the_grace_ends_its_room_at_once() {
    // As on one node (section 5: a user banned while in a room, the
    // partner gets PARTNER_LEFT {reason:"left"}), also when the banned
    // user's socket has dropped and the room waits for it.
    let Some(n) = Nodes::start("ban-away", 2, |c| c.resume_grace_secs = Duration::from_secs(30)) else {
        return;
    };
    let Paired { mut x, y, uy, room, .. } = cross_pair(n.addr(0), n.addr(1));
    drop(y);
    x.recv_type("PARTNER_AWAY");
    ban_through(n.addr(0), &uy);
    expect_partner_left(&mut x, &room, "left");
}

#[test]
fn an_admin_ban_through_one_node_cancels_a_wait_on_another() {
    let Some(n) = Nodes::start("ban-wait", 2, |_| {}) else { return };
    let (uy, uz) = (user(n.addr(1), "Yev"), user(n.addr(0), "Zed"));
    let mut y = Client::authed(n.addr(1), &uy);
    join(&mut y, chill());
    ban_through(n.addr(0), &uy);
    let (code, before) = y.expect_close();
    assert_eq!(code, 4403, "before the close: {before:?}");
    assert_eq!(
        before,
        vec![
            json!({"type": "MATCH_CANCELLED", "payload": {"reason": "banned"}}),
            json!({"type": "SESSION_ENDED", "payload": {"reason": "banned"}}),
        ]
    );
    // y left the cluster's queue: z waits alone.
    let mut z = Client::authed(n.addr(0), &uz);
    assert_eq!(join(&mut z, chill())["waiting"], 1);
    z.expect_silence(QUIET);
}

#[test]
fn a_user_resuming_on_another_node_is_shown_that_the_partner_is_typing() {
    // As on one node: the new socket shows "not typing", so a partner who
    // is typing is relayed again (regression: nothing came).
    let Some(n) = Nodes::start("resume-typing", 3, |_| {}) else { return };
    let Paired { mut x, mut y, uy, room, .. } = cross_pair(n.addr(0), n.addr(1));
    let r = x.request("TYPING", "t", json!({"roomId": room, "isTyping": true}));
    assert_eq!(r["type"], "TYPING_ACK", "{r}");
    assert_eq!(y.recv_type("TYPING")["payload"]["isTyping"], true);
    drop(y);
    x.recv_type("PARTNER_AWAY");
    let (mut y, ok) = auth_again(n.addr(2), &uy, Some(0));
    assert_eq!(ok["room"]["roomId"], room.as_str(), "{ok}");
    let t = y.recv_type("TYPING");
    assert_eq!(
        (t["payload"]["roomId"].as_str(), t["payload"]["isTyping"].as_bool()),
        (Some(room.as_str()), Some(true)),
        "{t}"
    );
    x.recv_type("PARTNER_BACK");
}
