//! Room order under concurrency (contract section 3: "everything a client
//! receives about one room arrives in room order"). Since issue 12 a
//! `CHAT`'s frames are serialized and queued after the hub is unlocked,
//! under the room's gate; these tests have both members of several rooms
//! send at once, so that the two sides of a room are handled by different
//! workers at the same time, and check what each client receives.

mod common;

use std::thread;

use common::raw::{Raw, masked};
use common::*;
use serde_json::{Value, json};

/// Messages each member sends.
const EACH: u64 = 300;
/// Rooms at once: with two workers, some rooms have a member on each.
const ROOMS: usize = 6;

/// Two raw clients in one room (authenticated, matched); the room id.
fn raw_pair(addr: std::net::SocketAddr) -> (Raw, Raw, String) {
    let (ua, ub) = (register(addr, json!({})), register(addr, json!({})));
    let (mut a, mut b) = (Raw::connect(addr), Raw::connect(addr));
    a.auth(&ua);
    b.auth(&ub);
    // A mood of their own per pair would need a free queue; pair them
    // one after the other in the same one instead.
    for c in [&mut a, &mut b] {
        c.send_json(json!({"type":"JOIN_QUEUE","id":"q","payload":{"mood":"chill","interests":[]}}));
        assert_eq!(c.json()["type"], "QUEUE_WAITING");
    }
    let room = a.json()["payload"]["roomId"].as_str().expect("MATCH_FOUND roomId").to_string();
    assert_eq!(b.json()["payload"]["roomId"], room.as_str());
    (a, b, room)
}

/// All of one member's `CHAT`s as one write, sent from another thread.
fn send_all(c: &Raw, room: &str, who: &str) -> thread::JoinHandle<()> {
    let mut s = c.s.try_clone().expect("clone the socket for writing");
    let mut bytes = Vec::new();
    for i in 0..EACH {
        let msg = json!({"type":"CHAT","id": format!("{who}{i}"),"payload":{"roomId": room,"text": format!("{who} {i}")}});
        bytes.extend(masked(true, 1, msg.to_string().as_bytes()));
    }
    thread::spawn(move || std::io::Write::write_all(&mut s, &bytes).expect("send the chats"))
}

/// Reads until `want` messages of these types arrived; returns them.
#[track_caller]
fn read_types(c: &mut Raw, want: usize, types: &[&str]) -> Vec<Value> {
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        let v = c.json();
        let ty = v["type"].as_str().unwrap_or("?");
        assert!(types.contains(&ty), "unexpected message: {v}");
        got.push(v);
    }
    got
}

/// The seqs a client saw, in arrival order, are 1, 2, 3, ... with none
/// missing: its own (acks) and its partner's (CHAT) interleaved.
#[track_caller]
fn assert_room_order(seen: &[Value], who: &str) {
    let seqs: Vec<u64> = seen.iter().map(|v| v["payload"]["seq"].as_u64().expect("seq")).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "{who} saw the room out of order");
}

#[test]
fn both_members_sending_at_once_see_one_room_order() {
    let srv = start();
    let pairs: Vec<_> = (0..ROOMS).map(|_| raw_pair(srv.addr)).collect();
    let mut senders = Vec::new();
    for (a, b, room) in &pairs {
        senders.push(send_all(a, room, "a"));
        senders.push(send_all(b, room, "b"));
    }
    for (mut a, mut b, _) in pairs {
        let seen_a = read_types(&mut a, 2 * EACH as usize, &["CHAT_ACK", "CHAT"]);
        let seen_b = read_types(&mut b, 2 * EACH as usize, &["CHAT_ACK", "CHAT"]);
        assert_room_order(&seen_a, "a");
        assert_room_order(&seen_b, "b");
        // Each side's own messages come back as acks, in its send order.
        let acks: Vec<&str> =
            seen_a.iter().filter(|v| v["type"] == "CHAT_ACK").map(|v| v["id"].as_str().unwrap()).collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("a{i}")).collect();
        assert_eq!(acks, sent);
    }
    for s in senders {
        s.join().expect("sender");
    }
}

/// A member leaves while the other is sending: the partner's
/// `PARTNER_LEFT` comes after every `CHAT` of the room it received, and
/// nothing of the room after it.
#[test]
fn partner_left_comes_after_the_rooms_last_chat() {
    let srv = start();
    let pairs: Vec<_> = (0..ROOMS).map(|_| raw_pair(srv.addr)).collect();
    let mut senders = Vec::new();
    for (a, b, room) in &pairs {
        senders.push(send_all(b, room, "b"));
        // a sends a few, then leaves while b's messages are in flight.
        let mut s = a.s.try_clone().unwrap();
        let mut bytes = Vec::new();
        for i in 0..20 {
            let msg = json!({"type":"CHAT","id": format!("a{i}"),"payload":{"roomId": room,"text":"x"}});
            bytes.extend(masked(true, 1, msg.to_string().as_bytes()));
        }
        bytes.extend(masked(
            true,
            1,
            json!({"type":"LEAVE_ROOM","id":"bye","payload":{"roomId": room}}).to_string().as_bytes(),
        ));
        senders.push(thread::spawn(move || std::io::Write::write_all(&mut s, &bytes).expect("send")));
    }
    for (_a, mut b, room) in pairs {
        let mut seen = Vec::new();
        loop {
            let v = b.json();
            match v["type"].as_str() {
                Some("PARTNER_LEFT") => {
                    assert_eq!(v["payload"]["roomId"], room.as_str());
                    break;
                }
                Some("CHAT_ACK" | "CHAT") => seen.push(v),
                Some("ERROR") => panic!("an ERROR before PARTNER_LEFT: {v}"),
                _ => panic!("unexpected message: {v}"),
            }
        }
        assert_room_order(&seen, "b");
        // After PARTNER_LEFT only refusals of b's remaining messages.
        let rest = EACH as usize - seen.iter().filter(|v| v["type"] == "CHAT_ACK").count();
        for v in read_types(&mut b, rest, &["ERROR"]) {
            assert_eq!(v["payload"]["code"], "NOT_IN_ROOM", "{v}");
        }
    }
    for s in senders {
        s.join().expect("sender");
    }
}
