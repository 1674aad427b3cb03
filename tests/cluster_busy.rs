//! A cluster node behind on its channel (contract sections 6 and 8): a
//! node busy with cross-node traffic reads its Redis channel late, and
//! that must change nothing a client sees.
//!
//! - Reply order (section 6: messages a client sends are handled in the
//!   order sent, each with one direct reply). Some replies travel through
//!   the node's channel (`QUEUE_WAITING`, `CHAT_ACK`, `ROOM_LEFT`,
//!   published by the scripts), others go straight from the worker
//!   (`QUEUE_LEFT`, `TYPING_ACK`, `PONG`): a later reply must not overtake
//!   an earlier one.
//! - A superseded socket whose node has not heard of the supersede yet
//!   must not have its messages answered on the new socket, nor, when it
//!   drops, take away the wait or the room the new socket holds.
//! - A waiter whose node takes a pairing late (section 8: "never lost")
//!   must not be lost; a waiter who leaves before its node reads the
//!   offer is not matched, and its would-be partner keeps its place.
//!
//! The backlog is made by publishing on the node's channel just before
//! the client's messages: heartbeat echoes ("tick", read and ignored), or
//! offers for users the node does not hold (each costs it a call to
//! Redis), see `Nodes::backlog` and `Nodes::slow_down`.

mod common;

use std::time::Duration;

use common::cluster::*;
use common::*;
use serde_json::json;

/// Messages on the channel ahead of the client's: well under Redis's
/// pub/sub output-buffer limit (8 MB), a few hundred ms of reading.
const BACKLOG: usize = 20_000;

#[test]
fn join_then_leave_are_answered_in_order_while_the_channel_is_busy() {
    let Some(n) = Nodes::start("order-queue", 1, |_| {}) else { return };
    let mut x = Client::authed(n.addr(0), &user(n.addr(0), "Xan"));
    n.backlog("a", BACKLOG);
    x.send(json!({"type": "JOIN_QUEUE", "id": "j", "payload": chill()}));
    x.send(json!({"type": "LEAVE_QUEUE", "id": "l", "payload": {}}));
    let (first, second) = (x.recv(), x.recv());
    assert_eq!(
        (first["id"].as_str(), second["id"].as_str()),
        (Some("j"), Some("l")),
        "QUEUE_WAITING, then QUEUE_LEFT: got {first} then {second}"
    );
    assert_eq!(
        (first["type"].as_str(), second["type"].as_str()),
        (Some("QUEUE_WAITING"), Some("QUEUE_LEFT"))
    );
}

#[test]
fn chat_typing_ping_are_answered_in_order_while_the_channel_is_busy() {
    let Some(n) = Nodes::start("order-chat", 2, |_| {}) else { return };
    let Paired { mut x, mut y, room, .. } = cross_pair(n.addr(0), n.addr(1));
    n.backlog("a", BACKLOG);
    x.send(json!({"type": "CHAT", "id": "c", "payload": {"roomId": room, "text": "first"}}));
    x.send(json!({"type": "TYPING", "id": "t", "payload": {"roomId": room, "isTyping": false}}));
    x.send(json!({"type": "PING", "id": "p", "payload": {}}));
    let got: Vec<_> = (0..3).map(|_| x.recv()).collect();
    let ids: Vec<_> = got.iter().map(|m| m["id"].as_str().unwrap_or("?")).collect();
    assert_eq!(ids, ["c", "t", "p"], "CHAT_ACK, TYPING_ACK, PONG: got {got:?}");
    expect_chat(&mut y, &room, 1, "first");
}

#[test]
fn chat_then_leave_room_are_answered_in_order_while_the_channel_is_busy() {
    // Both replies travel through the channel: in order.
    let Some(n) = Nodes::start("order-leave", 2, |_| {}) else { return };
    let Paired { mut x, mut y, room, .. } = cross_pair(n.addr(0), n.addr(1));
    n.backlog("a", BACKLOG);
    x.send(json!({"type": "CHAT", "id": "c", "payload": {"roomId": room, "text": "bye"}}));
    x.send(json!({"type": "LEAVE_ROOM", "id": "l", "payload": {"roomId": room}}));
    let (first, second) = (x.recv(), x.recv());
    assert_eq!(
        (first["type"].as_str(), second["type"].as_str()),
        (Some("CHAT_ACK"), Some("ROOM_LEFT")),
        "{first} then {second}"
    );
    expect_chat(&mut y, &room, 1, "bye");
    expect_partner_left(&mut y, &room, "left");
}

#[test]
fn a_superseded_socket_whose_node_has_not_heard_yet_gets_no_reply_on_the_new_socket() {
    let Some(n) = Nodes::start("stale-chat", 3, |_| {}) else { return };
    let Paired { mut x, mut y, ux, room, .. } = cross_pair(n.addr(0), n.addr(1));
    // Node a reads its channel late: the supersede reaches it after x's
    // old socket has sent a CHAT.
    n.backlog("a", BACKLOG);
    let (mut x2, ok) = auth_again(n.addr(2), &ux, Some(0));
    assert_eq!(ok["room"]["roomId"], room.as_str(), "{ok}");
    x.send(
        json!({"type": "CHAT", "id": "from-the-old-socket", "payload": {"roomId": room, "text": "stale"}}),
    );
    // The old socket is closed as superseded (after at most an ERROR for
    // its CHAT), and the new socket is not answered for what it never sent.
    let (code, before) = x.expect_close();
    assert_eq!(code, 4409, "before: {before:?}");
    x2.expect_silence(Duration::from_millis(500));
    // The new socket holds the room; its own CHAT gets the next seq.
    let seq = chat(&mut x2, &room, "new", "from the new socket");
    loop {
        let m = y.recv_type("CHAT");
        if m["payload"]["seq"] == seq {
            assert_eq!(m["payload"]["text"], "from the new socket", "{m}");
            break;
        }
    }
}

#[test]
fn a_waiter_whose_node_takes_a_pairing_late_is_not_lost() {
    let Some(n) = Nodes::start("slow-take", 2, |_| {}) else { return };
    let (ux, uy) = (user(n.addr(0), "Xan"), user(n.addr(1), "Yev"));
    let mut y = Client::authed(n.addr(1), &uy);
    assert_eq!(join(&mut y, chill())["waiting"], 1);
    // Node b reads its channel for several seconds (past the 2 s within
    // which a pairing must be taken by both nodes) before it reads the
    // offer for y.
    n.slow_down("b", 60_000);
    let mut x = Client::authed(n.addr(0), &ux);
    assert_eq!(join(&mut x, chill())["waiting"], 2);
    // Both are alive and waiting in one queue: they end up in one room,
    // once b has caught up.
    let late = Duration::from_secs(20);
    let (fx, _) = recv_within(&mut x, "MATCH_FOUND", late);
    let (fy, _) = recv_within(&mut y, "MATCH_FOUND", late);
    assert_eq!(fx["payload"]["roomId"], fy["payload"]["roomId"], "{fx} {fy}");
    assert_eq!(fx["payload"]["partner"]["nickname"], "Yev", "{fx}");
}

#[test]
fn a_waiter_who_leaves_while_its_node_has_a_pairing_unread_is_not_matched_and_the_partner_keeps_its_place() {
    let Some(n) = Nodes::start("leave-offered", 3, |_| {}) else { return };
    let mut x = Client::authed(n.addr(0), &user(n.addr(0), "Xan"));
    let mut y = Client::authed(n.addr(1), &user(n.addr(1), "Yev"));
    assert_eq!(join(&mut x, chill())["waiting"], 1);
    // Node a reads the offer pairing x with y only after x has left.
    n.backlog("a", BACKLOG);
    assert_eq!(join(&mut y, chill())["waiting"], 2);
    let r = x.request("LEAVE_QUEUE", "l", json!({}));
    assert_eq!(r["type"], "QUEUE_LEFT", "{r}");
    x.expect_silence(Duration::from_millis(800));
    // y waits on: the next user is matched with it.
    let mut z = Client::authed(n.addr(2), &user(n.addr(2), "Zed"));
    assert_eq!(join(&mut z, chill())["waiting"], 2, "y counts, x does not");
    let fz = expect_match(&mut z);
    let fy = expect_match(&mut y);
    assert_eq!(fz["roomId"], fy["roomId"], "{fz} {fy}");
    assert_eq!(fy["partner"]["nickname"], "Zed", "{fy}");
    x.expect_silence(Duration::from_millis(1));
}

#[test]
fn a_waiters_old_socket_dropping_after_a_supersede_does_not_take_the_new_sockets_place() {
    let Some(n) = Nodes::start("supersede-drop", 2, |_| {}) else { return };
    let (ux, uy) = (user(n.addr(0), "Xan"), user(n.addr(1), "Yev"));
    let mut x = Client::authed(n.addr(0), &ux);
    assert_eq!(join(&mut x, chill())["waiting"], 1);
    // Node a hears of the supersede late; x's old socket drops meanwhile
    // (a client that reconnects elsewhere and lets the old socket go).
    n.backlog("a", BACKLOG);
    let (mut x2, ok) = auth_again(n.addr(1), &ux, None);
    assert!(ok.get("room").is_none(), "{ok}");
    drop(x);
    // The wait is x2's now: y's join finds it.
    let mut y = Client::authed(n.addr(1), &uy);
    y.send(json!({"type": "JOIN_QUEUE", "id": "j", "payload": chill()}));
    let w = y.recv_type("QUEUE_WAITING");
    assert_eq!(w["payload"]["waiting"], 2, "x's place still counts: {w}");
    let fy = expect_match(&mut y);
    let fx = expect_match(&mut x2);
    assert_eq!(fx["roomId"], fy["roomId"], "{fx} {fy}");
}

#[test]
fn a_room_holders_old_socket_dropping_after_a_supersede_does_not_send_the_partner_away() {
    let Some(n) = Nodes::start("supersede-drop-room", 3, |_| {}) else { return };
    let Paired { x, mut y, ux, room, .. } = cross_pair(n.addr(0), n.addr(1));
    n.backlog("a", BACKLOG);
    let (mut x2, ok) = auth_again(n.addr(2), &ux, None);
    assert_eq!(ok["room"]["roomId"], room.as_str(), "{ok}");
    drop(x);
    // A supersede, not a drop: the partner hears nothing, the room goes on.
    y.expect_silence(Duration::from_millis(800));
    assert_eq!(chat(&mut y, &room, "1", "still here"), 1);
    expect_chat(&mut x2, &room, 1, "still here");
}
