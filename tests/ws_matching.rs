//! Queueing and matching (contract sections 3 and 4): `JOIN_QUEUE`,
//! `LEAVE_QUEUE`, the mood and random pools, interest tiers, the timeout,
//! the rematch cooldown, and what `MATCH_FOUND` reveals.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A registered, authenticated user.
#[track_caller]
fn user(addr: SocketAddr, profile: Value) -> (User, Client) {
    let u = register(addr, profile);
    let c = Client::authed(addr, &u);
    (u, c)
}

/// Both get MATCH_FOUND for the same room; returns (a's, b's) payloads.
#[track_caller]
fn expect_matched(a: &mut Client, b: &mut Client) -> (Value, Value) {
    let fa = a.recv_type("MATCH_FOUND");
    let fb = b.recv_type("MATCH_FOUND");
    assert!(fa.get("id").is_none() && fb.get("id").is_none(), "pushes carry no id");
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"], "same room");
    (fa["payload"].clone(), fb["payload"].clone())
}

fn room_of(found: &Value) -> String {
    found["roomId"].as_str().expect("roomId is a string").to_string()
}

#[test]
fn join_queue_replies_queue_waiting_with_request_and_waiting_count() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let w =
        ca.request("JOIN_QUEUE", "j1", json!({"mood": "chill", "interests": ["cats"], "mode": "same_mood"}));
    assert_eq!(w["type"], "QUEUE_WAITING", "{w}");
    assert_eq!(w["id"], "j1");
    assert_eq!(
        w["payload"],
        json!({"mood": "chill", "mode": "same_mood", "interests": ["cats"], "waiting": 1})
    );
    // Different interests: no pair in tier 1 (default 10 s), so both wait.
    let w = join(&mut cb, json!({"mood": "chill", "interests": ["dogs"]}));
    assert_eq!(w["waiting"], 2, "waiting counts everyone in that queue, this one included: {w}");
    assert_eq!(w["mode"], "same_mood");
}

#[test]
fn join_queue_waiting_counts_only_that_queue() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    let w = join(&mut cb, json!({"mood": "fire", "interests": []}));
    assert_eq!(w["waiting"], 1, "{w}");
}

#[test]
fn join_queue_missing_fields_default_to_profile() {
    let srv = start();
    let (u, mut c) = user(srv.addr, json!({"mood": "fire", "interests": ["Music", " rock "]}));
    let w = join(&mut c, json!({}));
    assert_eq!(w["mood"], "fire");
    assert_eq!(w["mode"], "same_mood", "mode defaults to same_mood");
    assert_eq!(w["interests"], u.profile["interests"], "{w}");
    assert_eq!(w["interests"], json!(["music", "rock"]), "{w}");
}

#[test]
fn join_queue_without_payload_defaults_to_profile() {
    let srv = start();
    let (_u, mut c) = user(srv.addr, json!({"mood": "shy", "interests": ["tea"]}));
    c.send(json!({"type": "JOIN_QUEUE", "id": "j"}));
    let w = c.recv_type("QUEUE_WAITING");
    assert_eq!(w["id"], "j");
    assert_eq!(w["payload"]["mood"], "shy");
    assert_eq!(w["payload"]["interests"], json!(["tea"]));
}

#[test]
fn join_queue_given_fields_override_profile_and_are_normalised() {
    let srv = start();
    let (_u, mut c) = user(srv.addr, json!({"mood": "fire", "interests": ["music"]}));
    let w = join(&mut c, json!({"mood": "silly", "interests": [" Board-Games ", "board-games"]}));
    assert_eq!(w["mood"], "silly");
    assert_eq!(w["interests"], json!(["board-games"]), "trimmed, lower-cased, deduplicated: {w}");
}

#[test]
fn join_queue_bad_mood_mode_or_interests_is_bad_request() {
    let srv = start();
    let (_u, mut c) = user(srv.addr, json!({}));
    let bad = [
        json!({"mood": "angry"}),
        json!({"mood": 3}),
        json!({"mode": "solo"}),
        json!({"mode": true}),
        json!({"interests": "cats"}),
        json!({"interests": ["a", "b", "c", "d", "e", "f"]}),
        json!({"interests": ["no!punct"]}),
        json!({"interests": ["x".repeat(25)]}),
        json!({"interests": ["   "]}),
        json!({"interests": [5]}),
    ];
    for (i, p) in bad.into_iter().enumerate() {
        let r = c.request("JOIN_QUEUE", &format!("b{i}"), p.clone());
        assert_error(&r, "BAD_REQUEST");
    }
    // None of them queued the user.
    let r = c.request("LEAVE_QUEUE", "l", json!({}));
    assert_error(&r, "NOT_IN_QUEUE");
    let w = join(&mut c, json!({"mood": "chill", "interests": ["x".repeat(24)]}));
    assert_eq!(w["waiting"], 1);
}

#[test]
fn join_queue_twice_is_already_in_queue() {
    let srv = start();
    let (_u, mut c) = user(srv.addr, json!({}));
    join(&mut c, json!({"mood": "chill"}));
    let r = c.request("JOIN_QUEUE", "j2", json!({"mood": "fire"}));
    assert_error(&r, "ALREADY_IN_QUEUE");
}

#[test]
fn join_queue_in_a_room_is_already_in_room() {
    let srv = start();
    let (mut a, _b, _room) = pair(srv.addr);
    let r = a.request("JOIN_QUEUE", "j", json!({"mood": "chill"}));
    assert_error(&r, "ALREADY_IN_ROOM");
}

#[test]
fn leave_queue_replies_queue_left_and_leaves() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    let r = ca.request("LEAVE_QUEUE", "l1", json!({}));
    assert_eq!(r["type"], "QUEUE_LEFT", "{r}");
    assert_eq!(r["payload"], json!({}));
    // Nobody is waiting any more: b waits alone and is not paired.
    let w = join(&mut cb, json!({"mood": "chill", "interests": []}));
    assert_eq!(w["waiting"], 1, "{w}");
    cb.expect_silence(Duration::from_millis(200));
    ca.expect_silence(Duration::from_millis(50));
}

#[test]
fn leave_queue_when_not_waiting_is_not_in_queue() {
    let srv = start();
    let (_u, mut c) = user(srv.addr, json!({}));
    assert_error(&c.request("LEAVE_QUEUE", "l1", json!({})), "NOT_IN_QUEUE");
    join(&mut c, json!({}));
    assert_eq!(c.request("LEAVE_QUEUE", "l2", json!({}))["type"], "QUEUE_LEFT");
    assert_error(&c.request("LEAVE_QUEUE", "l3", json!({})), "NOT_IN_QUEUE");
}

#[test]
fn leave_queue_in_a_room_is_not_in_queue() {
    let srv = start();
    let (mut a, _b, _room) = pair(srv.addr);
    assert_error(&a.request("LEAVE_QUEUE", "l", json!({})), "NOT_IN_QUEUE");
}

#[test]
fn same_mood_users_with_different_moods_do_not_pair() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    let w = join(&mut cb, json!({"mood": "fire", "interests": []}));
    assert_eq!(w["waiting"], 1);
    cb.expect_silence(Duration::from_millis(250));
    ca.expect_silence(Duration::from_millis(50));
}

#[test]
fn same_mood_users_with_equal_mood_pair_with_room_of_that_mood() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "shy", "interests": []}));
    join(&mut cb, json!({"mood": "shy", "interests": []}));
    let (fa, _fb) = expect_matched(&mut ca, &mut cb);
    assert_eq!(fa["mood"], "shy");
}

#[test]
fn random_mode_pairs_across_moods_in_a_random_room() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let w = join(&mut ca, json!({"mood": "chill", "mode": "random", "interests": []}));
    assert_eq!(w["mode"], "random");
    join(&mut cb, json!({"mood": "fire", "mode": "random", "interests": []}));
    let (fa, fb) = expect_matched(&mut ca, &mut cb);
    assert_eq!(fa["mood"], "random", "a room from the random pool has mood random: {fa}");
    assert_eq!(fb["mood"], "random");
    assert_eq!(fa["partner"]["mood"], "fire", "partner's mood as they queued: {fa}");
    assert_eq!(fb["partner"]["mood"], "chill", "{fb}");
}

#[test]
fn mood_random_joins_the_random_pool() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "random", "interests": []}));
    join(&mut cb, json!({"mood": "silly", "mode": "random", "interests": []}));
    let (fa, _fb) = expect_matched(&mut ca, &mut cb);
    assert_eq!(fa["mood"], "random");
    assert_eq!(fa["partner"]["mood"], "silly");
}

#[test]
fn random_pool_and_mood_queue_are_separate() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    let w = join(&mut cb, json!({"mood": "chill", "mode": "random", "interests": []}));
    assert_eq!(w["waiting"], 1, "{w}");
    cb.expect_silence(Duration::from_millis(250));
    ca.expect_silence(Duration::from_millis(50));
}

#[test]
fn tier1_pairs_equal_interest_sets_at_once() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": ["cats", "dogs"]}));
    join(&mut cb, json!({"mood": "chill", "interests": ["dogs", "cats"]}));
    let (fa, fb) = expect_matched(&mut ca, &mut cb);
    let mut shared: Vec<String> = serde_json::from_value(fa["sharedInterests"].clone()).unwrap();
    shared.sort();
    assert_eq!(shared, ["cats", "dogs"]);
    assert_eq!(fa["sharedInterests"], fb["sharedInterests"]);
}

#[test]
fn tier1_does_not_pair_overlapping_but_unequal_interests_until_tier1_ends() {
    let tier1 = Duration::from_millis(800);
    let srv = start_with(|c| c.match_tier1_secs = tier1);
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let t0 = Instant::now();
    join(&mut ca, json!({"mood": "chill", "interests": ["cats", "dogs"]}));
    join(&mut cb, json!({"mood": "chill", "interests": ["cats"]}));
    cb.expect_silence(Duration::from_millis(250));
    // After tier 1, one shared interest is enough.
    let (fa, fb) = expect_matched(&mut ca, &mut cb);
    assert!(t0.elapsed() >= tier1, "paired only after tier 1 ({:?})", t0.elapsed());
    assert_eq!(fa["sharedInterests"], json!(["cats"]), "{fa}");
    assert_eq!(fb["sharedInterests"], json!(["cats"]), "{fb}");
    assert_eq!(fa["partner"]["interests"], json!(["cats"]));
}

#[test]
fn tier1_does_not_pair_empty_with_non_empty_interests_until_tier1_ends() {
    let tier1 = Duration::from_millis(700);
    let srv = start_with(|c| c.match_tier1_secs = tier1);
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let t0 = Instant::now();
    join(&mut ca, json!({"mood": "fire", "interests": []}));
    join(&mut cb, json!({"mood": "fire", "interests": ["cats"]}));
    cb.expect_silence(Duration::from_millis(200));
    // Tier 2: anyone when either side has no interests.
    let (fa, _fb) = expect_matched(&mut ca, &mut cb);
    assert!(t0.elapsed() >= tier1, "paired only after tier 1 ({:?})", t0.elapsed());
    assert_eq!(fa["sharedInterests"], json!([]));
}

#[test]
fn tier2_never_pairs_disjoint_interests_and_both_time_out() {
    let srv = start_with(|c| {
        c.match_tier1_secs = Duration::from_millis(100);
        c.match_timeout_secs = Duration::from_millis(700);
    });
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": ["cats"]}));
    join(&mut cb, json!({"mood": "chill", "interests": ["dogs"]}));
    for c in [&mut ca, &mut cb] {
        let m = c.recv();
        assert_eq!(m["type"], "MATCH_CANCELLED", "disjoint interests never pair: {m}");
        assert_eq!(m["payload"]["reason"], "timeout");
    }
}

#[test]
fn match_found_shape_and_no_user_id_anywhere() {
    let srv = start();
    let (a, mut ca) = user(
        srv.addr,
        json!({"nickname": "Alpha", "mood": "chill", "avatar": "🦊", "interests": ["cats", "go"]}),
    );
    let (b, mut cb) = user(
        srv.addr,
        json!({"nickname": "Beta", "mood": "chill", "avatar": "owl", "interests": ["cats", "go"]}),
    );
    join(&mut ca, json!({}));
    join(&mut cb, json!({}));
    let fa = ca.recv_type("MATCH_FOUND");
    let fb = cb.recv_type("MATCH_FOUND");
    for (found, other, nick, avatar) in [(&fa, &b, "Beta", "owl"), (&fb, &a, "Alpha", "🦊")] {
        assert!(found.get("id").is_none(), "{found}");
        let p = &found["payload"];
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "exactly roomId, mood, partner, sharedInterests: {p}");
        assert!(p["roomId"].is_string(), "{p}");
        assert_eq!(p["mood"], "chill");
        let partner = p["partner"].as_object().expect("partner object");
        let mut pk: Vec<&str> = partner.keys().map(String::as_str).collect();
        pk.sort();
        assert_eq!(pk, ["avatar", "interests", "mood", "nickname"], "partner fields exactly: {p}");
        assert_eq!(partner["nickname"], nick);
        assert_eq!(partner["avatar"], avatar);
        assert_eq!(partner["mood"], "chill");
        let mut interests: Vec<String> = serde_json::from_value(partner["interests"].clone()).unwrap();
        interests.sort();
        assert_eq!(interests, ["cats", "go"]);
        let mut shared: Vec<String> = serde_json::from_value(p["sharedInterests"].clone()).unwrap();
        shared.sort();
        assert_eq!(shared, ["cats", "go"]);
        let text = found.to_string();
        assert!(!text.contains(&other.id), "the partner's user id must not appear: {text}");
        assert!(!text.contains("userId"), "no userId field anywhere: {text}");
    }
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"]);
}

#[test]
fn match_found_shows_partner_interests_and_mood_as_queued_not_profile() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({"mood": "fire", "interests": ["jazz", "cats"]}));
    let (_b, mut cb) = user(srv.addr, json!({"mood": "shy"}));
    join(&mut ca, json!({"mood": "shy", "interests": ["cats"]}));
    join(&mut cb, json!({"mood": "shy", "interests": ["cats"]}));
    let (_fa, fb) = expect_matched(&mut ca, &mut cb);
    assert_eq!(fb["partner"]["mood"], "shy", "{fb}");
    assert_eq!(fb["partner"]["interests"], json!(["cats"]), "{fb}");
}

#[test]
fn match_timeout_sends_match_cancelled_and_user_is_idle_again() {
    let srv = start_with(|c| c.match_timeout_secs = Duration::from_millis(300));
    let (u, mut c) = user(srv.addr, json!({}));
    let t0 = Instant::now();
    join(&mut c, json!({"mood": "chill", "interests": []}));
    let m = c.recv_type("MATCH_CANCELLED");
    assert!(t0.elapsed() >= Duration::from_millis(300), "not before the timeout ({:?})", t0.elapsed());
    assert!(m.get("id").is_none(), "a push carries no id: {m}");
    assert_eq!(m["payload"], json!({"reason": "timeout"}));
    let me = http(srv.addr, "GET", "/api/users/me", Some(&u.token), None);
    assert_eq!(me.status, 200, "GET /api/users/me: {}", String::from_utf8_lossy(&me.body));
    assert_eq!(me.json()["profile"]["status"], "idle", "not in a queue after the timeout");
    assert_error(&c.request("LEAVE_QUEUE", "l", json!({})), "NOT_IN_QUEUE");
    let w = join(&mut c, json!({"mood": "chill", "interests": []}));
    assert_eq!(w["waiting"], 1);
    // And the second wait times out too.
    c.recv_type("MATCH_CANCELLED");
}

#[test]
fn timed_out_user_is_not_paired_afterwards() {
    let srv = start_with(|c| c.match_timeout_secs = Duration::from_millis(200));
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    ca.recv_type("MATCH_CANCELLED");
    let w = join(&mut cb, json!({"mood": "chill", "interests": []}));
    assert_eq!(w["waiting"], 1, "{w}");
    ca.expect_silence(Duration::from_millis(100));
}

/// Pairs a and b (mood chill, no interests), then a leaves the room.
#[track_caller]
fn pair_then_leave(ca: &mut Client, cb: &mut Client) -> String {
    join(ca, json!({"mood": "chill", "interests": []}));
    join(cb, json!({"mood": "chill", "interests": []}));
    let (fa, _) = expect_matched(ca, cb);
    let room = room_of(&fa);
    let r = ca.request("LEAVE_ROOM", "lr", json!({"roomId": room}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    let pl = cb.recv_type("PARTNER_LEFT");
    assert_eq!(pl["payload"]["reason"], "left");
    room
}

#[test]
fn rematch_cooldown_keeps_the_same_two_apart() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    pair_then_leave(&mut ca, &mut cb);
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    let w = join(&mut cb, json!({"mood": "chill", "interests": []}));
    assert_eq!(w["waiting"], 2, "both wait: {w}");
    cb.expect_silence(Duration::from_millis(250));
    ca.expect_silence(Duration::from_millis(50));
}

#[test]
fn rematch_cooldown_pairs_with_a_third_user_instead() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let (_c, mut cc) = user(srv.addr, json!({}));
    let old = pair_then_leave(&mut ca, &mut cb);
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    join(&mut cb, json!({"mood": "chill", "interests": []}));
    join(&mut cc, json!({"mood": "chill", "interests": []}));
    // c may pair with either; the longest waiter (a) first by the rules.
    let fc = cc.recv_type("MATCH_FOUND");
    let fa = ca.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fc["payload"]["roomId"], "c pairs with the longest waiter a");
    assert_ne!(fa["payload"]["roomId"], old.as_str(), "a new room");
    cb.expect_silence(Duration::from_millis(250));
    assert_eq!(
        cb.request("JOIN_QUEUE", "j", json!({}))["payload"]["code"],
        "ALREADY_IN_QUEUE",
        "b keeps waiting"
    );
}

#[test]
fn rematch_cooldown_applies_after_next_too() {
    let srv = start();
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    join(&mut cb, json!({"mood": "chill", "interests": []}));
    expect_matched(&mut ca, &mut cb);
    assert_eq!(ca.request("NEXT", "n", json!({}))["type"], "ROOM_LEFT");
    ca.recv_type("QUEUE_WAITING");
    cb.recv_type("PARTNER_LEFT");
    join(&mut cb, json!({"mood": "chill", "interests": []}));
    cb.expect_silence(Duration::from_millis(250));
    ca.expect_silence(Duration::from_millis(50));
}

#[test]
fn zero_rematch_cooldown_lets_the_same_two_pair_again() {
    let srv = start_with(|c| c.rematch_cooldown_secs = Duration::ZERO);
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let old = pair_then_leave(&mut ca, &mut cb);
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    join(&mut cb, json!({"mood": "chill", "interests": []}));
    let (fa, _) = expect_matched(&mut ca, &mut cb);
    assert_ne!(room_of(&fa), old, "a fresh room");
}

#[test]
fn waiter_closing_its_socket_leaves_the_queue() {
    let srv = start();
    // The race is timing-dependent; a few rounds make it show.
    for i in 0..20 {
        let (_a, mut ca) = user(srv.addr, json!({}));
        let (_b, mut cb) = user(srv.addr, json!({}));
        let req = json!({"mood": "chill", "interests": [format!("round{i}")]});
        join(&mut ca, req.clone());
        // Clean close; once the server has answered the close it has seen it.
        ca.ws.close(None).unwrap();
        while ca.ws.read().is_ok() {}
        let w = join(&mut cb, req);
        assert_eq!(w["waiting"], 1, "round {i}: the closed waiter is still queued: {w}");
        if i == 19 {
            cb.expect_silence(Duration::from_millis(250));
        }
        assert_eq!(
            cb.request("LEAVE_QUEUE", "l", json!({}))["type"],
            "QUEUE_LEFT",
            "round {i}: b was paired"
        );
    }
}

#[test]
fn waiter_dropping_its_connection_leaves_the_queue_at_once() {
    let srv = start();
    let (a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": []}));
    // Abrupt drop: no close frame.
    drop(ca);
    // Wait (bounded, no sleep) until the server has noticed: the user goes offline.
    let deadline = Instant::now() + WAIT;
    loop {
        let me = http(srv.addr, "GET", "/api/users/me", Some(&a.token), None);
        assert_eq!(me.status, 200, "GET /api/users/me: {}", String::from_utf8_lossy(&me.body));
        if me.json()["profile"]["status"] == "offline" {
            break;
        }
        assert!(Instant::now() < deadline, "dropped waiter never went offline: {}", me.json());
    }
    let w = join(&mut cb, json!({"mood": "chill", "interests": []}));
    assert_eq!(w["waiting"], 1, "the dead waiter is gone: {w}");
    cb.expect_silence(Duration::from_millis(250));
}

#[test]
fn joiner_pairs_with_the_waiter_sharing_most_interests() {
    // Tier 2 from the start: any shared interest qualifies.
    let srv = start_with(|c| c.match_tier1_secs = Duration::ZERO);
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let (_c, mut cc) = user(srv.addr, json!({}));
    // a and b share nothing, so they wait side by side.
    join(&mut ca, json!({"mood": "chill", "interests": ["art"]}));
    join(&mut cb, json!({"mood": "chill", "interests": ["books", "chess"]}));
    join(&mut cc, json!({"mood": "chill", "interests": ["art", "books", "chess"]}));
    let (fb, fc) = expect_matched(&mut cb, &mut cc);
    let mut shared: Vec<String> = serde_json::from_value(fc["sharedInterests"].clone()).unwrap();
    shared.sort();
    assert_eq!(shared, ["books", "chess"], "{fc}");
    assert_eq!(fb["sharedInterests"].as_array().unwrap().len(), 2);
    ca.expect_silence(Duration::from_millis(200));
}

#[test]
fn joiner_pairs_with_the_longest_waiter_among_equally_good_ones() {
    let srv = start_with(|c| c.match_tier1_secs = Duration::ZERO);
    let (_a, mut ca) = user(srv.addr, json!({}));
    let (_b, mut cb) = user(srv.addr, json!({}));
    let (_c, mut cc) = user(srv.addr, json!({}));
    join(&mut ca, json!({"mood": "chill", "interests": ["art"]}));
    join(&mut cb, json!({"mood": "chill", "interests": ["books"]}));
    join(&mut cc, json!({"mood": "chill", "interests": ["art", "books"]}));
    let (fa, _) = expect_matched(&mut ca, &mut cc);
    assert_eq!(fa["sharedInterests"], json!(["art"]));
    cb.expect_silence(Duration::from_millis(200));
}
