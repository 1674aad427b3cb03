//! A cluster's faults with real processes (contract section 8): a node
//! killed with SIGKILL mid-chat and mid-wait, and Redis stopped and
//! started again (a private `redis-server`, which comes back empty) or
//! paused. Each node is a `duet` binary (`common::nodes`), killed when the
//! test ends; the machine's Redis keys of a test are deleted after it.
//!
//! Timings are printed (run with `--nocapture` to see them).

mod common;

use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;
use serde_json::json;

/// The contract's bound on noticing a dead node.
const DEATH_NOTICED: Duration = Duration::from_secs(10);

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[test]
fn sigkill_mid_chat_partner_away_then_back_when_the_user_resumes_on_another_node() {
    let cluster = Cluster::new("kill-resume", REDIS_URL, &[("DUET_RESUME_GRACE_SECS", "4")]);
    let a = cluster.node("a");
    let mut b = cluster.node("b");
    let c = cluster.node("c");
    let ((mut x, _), (mut y, uy), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");
    assert_eq!(chat(&mut y, &room, "2", "reply"), 2);
    got_chat(&mut x, 2, "reply");

    let killed = b.kill9();
    drop(y);
    let (away, took) = expect_within(&mut x, "PARTNER_AWAY", DEATH_NOTICED, "x after B's SIGKILL");
    eprintln!("[timing] PARTNER_AWAY {} after SIGKILL of the partner's node", secs(took));
    assert_eq!(away["payload"]["roomId"], room.as_str(), "{away}");
    let away_at = Instant::now();

    // While y is away, x's messages are kept for the resume.
    assert_eq!(chat(&mut x, &room, "3", "are you there?"), 3);

    // y comes back on a third node, C, within the grace.
    let (mut y, ok) = resume(c.addr, &uy, 2);
    let r = &ok["payload"]["room"];
    assert_eq!(r["roomId"], room.as_str(), "AUTH_OK carries the room: {ok}");
    assert_eq!(r["partner"]["nickname"], "Xan", "{ok}");
    assert_eq!(r["lastSeq"], 3, "{ok}");
    got_chat(&mut y, 3, "are you there?");
    let (back, took) = expect_within(&mut x, "PARTNER_BACK", WAIT, "x after y resumed on C");
    assert_eq!(back["payload"]["roomId"], room.as_str(), "{back}");
    eprintln!("[timing] PARTNER_BACK {} after the resume's AUTH_OK", secs(took));

    // The grace timer that ran on A must not end the resumed room.
    let past_grace = Duration::from_secs(4).saturating_sub(away_at.elapsed()) + Duration::from_millis(1500);
    x.expect_silence(past_grace);
    y.expect_silence(Duration::from_millis(10));
    assert_eq!(chat(&mut y, &room, "4", "back from C"), 4);
    got_chat(&mut x, 4, "back from C");
    assert_eq!(chat(&mut x, &room, "5", "welcome"), 5);
    got_chat(&mut y, 5, "welcome");
    eprintln!("[timing] whole test {} after the kill", secs(killed.elapsed()));
}

#[test]
fn sigkill_mid_chat_nobody_returns_partner_left_disconnected_after_the_grace() {
    const GRACE: Duration = Duration::from_secs(3);
    let cluster = Cluster::new("kill-left", REDIS_URL, &[("DUET_RESUME_GRACE_SECS", "3")]);
    let a = cluster.node("a");
    let mut b = cluster.node("b");
    let ((mut x, _), (mut y, uy), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "hello"), 1);
    got_chat(&mut y, 1, "hello");

    b.kill9();
    drop(y);
    let (_, took) = expect_within(&mut x, "PARTNER_AWAY", DEATH_NOTICED, "x after B's SIGKILL");
    eprintln!("[timing] PARTNER_AWAY {} after SIGKILL of the partner's node", secs(took));
    let (left, after) = expect_within(&mut x, "PARTNER_LEFT", GRACE + WAIT, "x once the grace ran out");
    eprintln!("[timing] PARTNER_LEFT {} after PARTNER_AWAY (grace {})", secs(after), secs(GRACE));
    assert_eq!(
        (left["payload"]["roomId"].as_str(), left["payload"]["reason"].as_str()),
        (Some(room.as_str()), Some("disconnected")),
        "{left}"
    );
    assert!(after + Duration::from_millis(300) >= GRACE, "the grace counts from PARTNER_AWAY: {after:?}");

    // The room is over for both: x is idle, and y's token finds no room.
    let e = x.request("CHAT", "late", json!({"roomId": room, "text": "anyone?"}));
    assert_error(&e, "NOT_IN_ROOM");
    let (_y, ok) = resume(a.addr, &uy, 1);
    assert!(ok["payload"].get("room").is_none_or(|r| r.is_null()), "no room to resume after the grace: {ok}");
    // x can be matched again.
    let uz = register(a.addr, json!({"nickname": "Zed"}));
    let mut z = Client::authed(a.addr, &uz);
    queued(&mut x, "chill");
    queued(&mut z, "chill");
    matched(&mut x, &mut z, ("Xan", "Zed"));
}

#[test]
fn sigkill_mid_wait_no_ghost_match_and_the_queue_still_pairs() {
    let cluster = Cluster::new("kill-wait", REDIS_URL, &[]);
    let a = cluster.node("a");
    let mut b = cluster.node("b");
    let uy = register(b.addr, json!({"nickname": "Ghost"}));
    let mut y = Client::authed(b.addr, &uy);
    assert_eq!(queued(&mut y, "chill"), 1);

    let killed = b.kill9();
    drop(y);
    // z joins on A at once, before B can be known dead: y may be offered
    // to it, but B never takes, so no MATCH_FOUND may come.
    let uz = register(a.addr, json!({"nickname": "Zed"}));
    let mut z = Client::authed(a.addr, &uz);
    let waiting = queued(&mut z, "chill");
    eprintln!("[info] z joined {} after the kill; waiting = {waiting}", secs(killed.elapsed()));
    let seen = none_of_type_for(
        &mut z,
        "MATCH_FOUND",
        DEATH_NOTICED.saturating_sub(killed.elapsed()),
        "z must not be matched with a user of a dead node",
    );
    eprintln!("[info] z saw {seen:?} in the 10 s after the kill");

    // By now y has left the queue: w counts only z and itself, and the two
    // users on A are matched with each other.
    let uw = register(a.addr, json!({"nickname": "Wes"}));
    let mut w = Client::authed(a.addr, &uw);
    let started = Instant::now();
    let waiting = queued(&mut w, "chill");
    assert_eq!(waiting, 2, "the dead node's waiter left the queue: only z and w wait");
    let room = matched(&mut z, &mut w, ("Zed", "Wes"));
    eprintln!("[timing] z and w matched {} after w's JOIN_QUEUE", secs(started.elapsed()));
    assert_eq!(chat(&mut z, &room, "1", "hi"), 1);
    got_chat(&mut w, 1, "hi");
}

// ---- Redis away ------------------------------------------------------

/// A private Redis, or None when `redis-server` is missing (outside CI).
fn private_redis() -> Option<PrivateRedis> {
    if PrivateRedis::available() {
        return Some(PrivateRedis::start());
    }
    assert!(!in_ci(), "redis-server is needed in CI");
    eprintln!("skipped: redis-server is not installed");
    None
}

/// Both nodes say Redis is unreachable (degraded, 200) within `limit`.
#[track_caller]
fn degraded(nodes: &[&Node], since: Instant, limit: Duration) {
    for n in nodes {
        let ((status, v), _) = n.health_until(limit, |_, v| v["status"] == "degraded");
        assert_eq!(status, 200, "degraded answers 200: {v}");
        assert_eq!(
            (v["redis"].as_str(), v["node"].as_str()),
            (Some("unreachable"), Some(n.id.as_str())),
            "{v}"
        );
        eprintln!("[timing] node {} degraded {} after Redis went away", n.id, secs(since.elapsed()));
    }
}

/// Both nodes say `ok` again within `limit`.
#[track_caller]
fn recovered(nodes: &[&Node], since: Instant, limit: Duration) {
    for n in nodes {
        let ((status, v), _) = n.health_until(limit, |s, v| s == 200 && v["status"] == "ok");
        assert_eq!(v["redis"], "ok", "{status} {v}");
        eprintln!("[timing] node {} ok again {} after Redis came back", n.id, secs(since.elapsed()));
    }
}

#[track_caller]
fn assert_unavailable(v: &serde_json::Value, what: &str) {
    assert_error_ctx(v, "UNAVAILABLE", what);
    assert!(v["payload"]["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0), "{what}: retryAfterMs: {v}");
}

#[test]
fn redis_stopped_degrades_and_refuses_what_needs_it_then_recovers_empty_without_restart() {
    let Some(mut redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-away", &redis.url(), &[]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    for n in [&a, &b] {
        assert_eq!(n.health().1["redis"], "ok");
    }
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");
    let uu = register(a.addr, json!({"nickname": "Una"}));
    let mut u = Client::authed(a.addr, &uu);

    let stopped = redis.stop();
    degraded(&[&a, &b], stopped, WAIT);

    let r = u.request("JOIN_QUEUE", "j", json!({"mood": "chill", "interests": []}));
    assert_unavailable(&r, "JOIN_QUEUE while Redis is away");
    // Identities are in Redis here: an AUTH cannot be checked, and says so
    // in a way the client may retry (regression: ERROR INTERNAL).
    let mut again = Client::connect(b.addr);
    let r = again.request("AUTH", "a", json!({"token": uu.token}));
    assert_unavailable(&r, "AUTH while Redis (the identity store) is away");
    let r = x.request("CHAT", "c", json!({"roomId": room, "text": "lost?"}));
    assert_unavailable(&r, "a CHAT for a partner on another node while Redis is away");
    let r = x.request("TYPING", "t", json!({"roomId": room, "isTyping": true}));
    assert_eq!(r["type"], "TYPING_ACK", "a TYPING is acknowledged: {r}");
    y.expect_silence(Duration::from_millis(500));

    // Redis comes back on the same port, empty.
    redis.restart();
    let back = Instant::now();
    recovered(&[&a, &b], back, Duration::from_secs(20));
    assert_eq!(redis.dbsize().map(|n| n > 0), Some(true), "the nodes wrote their keys again");

    // New users work across the nodes (the old identities went with Redis).
    let ((mut m, _), (mut n, _), room2) = pair_on(a.addr, b.addr, ("Mia", "Ned"), "fire");
    assert_eq!(chat(&mut m, &room2, "1", "after"), 1);
    got_chat(&mut n, 1, "after");
    assert_eq!(chat(&mut n, &room2, "2", "works"), 2);
    got_chat(&mut m, 2, "works");
    eprintln!("[timing] cross-node match and chat {} after Redis came back", secs(back.elapsed()));
}

#[test]
fn redis_away_a_room_whose_users_share_a_node_goes_on() {
    let Some(mut redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-same", &redis.url(), &[]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut p, _), (mut q, _), room) = pair_on(a.addr, a.addr, ("Pia", "Quin"), "chill");
    assert_eq!(chat(&mut p, &room, "1", "before"), 1);
    got_chat(&mut q, 1, "before");

    let stopped = redis.stop();
    degraded(&[&a, &b], stopped, WAIT);
    assert_eq!(chat(&mut p, &room, "2", "while away"), 2);
    got_chat(&mut q, 2, "while away");
    assert_eq!(q.request("TYPING", "t", json!({"roomId": room, "isTyping": true}))["type"], "TYPING_ACK");
    let t = p.recv_type("TYPING");
    assert_eq!(t["payload"]["isTyping"], true, "{t}");
    assert_eq!(chat(&mut q, &room, "3", "still here"), 3);
    got_chat(&mut p, 3, "still here");

    // And after Redis comes back (empty), the same-node room still goes on.
    redis.restart();
    recovered(&[&a, &b], Instant::now(), Duration::from_secs(20));
    assert_eq!(chat(&mut p, &room, "4", "after"), 4);
    got_chat(&mut q, 4, "after");
}

/// A same-node room that went on while Redis did not answer is written
/// back when it does: its seq goes on from where the node took it (no
/// seq handed out twice), and a member resuming on another node gets the
/// messages sent meanwhile.
#[test]
fn redis_paused_a_same_node_room_goes_on_and_is_written_back_for_a_resume_elsewhere() {
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-back", &redis.url(), &[("DUET_RESUME_GRACE_SECS", "30")]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut p, _), (mut q, uq), room) = pair_on(a.addr, a.addr, ("Pia", "Quin"), "chill");
    assert_eq!(chat(&mut p, &room, "1", "before"), 1);
    got_chat(&mut q, 1, "before");

    redis.pause(true);
    let paused = Instant::now();
    degraded(&[&a], paused, Duration::from_secs(10));
    assert_eq!(chat(&mut p, &room, "2", "while away"), 2);
    got_chat(&mut q, 2, "while away");
    redis.pause(false);
    recovered(&[&a, &b], Instant::now(), Duration::from_secs(20));

    // Through Redis again: seq 3, not a second 2.
    assert_eq!(chat(&mut p, &room, "3", "after"), 3);
    got_chat(&mut q, 3, "after");

    // q drops having read only seq 1, and resumes on B.
    drop(q);
    p.recv_type("PARTNER_AWAY");
    let (mut q, ok) = resume(b.addr, &uq, 1);
    assert_eq!(ok["payload"]["room"]["roomId"], room.as_str(), "{ok}");
    assert_eq!(ok["payload"]["room"]["lastSeq"], 3, "{ok}");
    got_chat(&mut q, 2, "while away");
    got_chat(&mut q, 3, "after");
    p.recv_type("PARTNER_BACK");
    assert_eq!(chat(&mut q, &room, "4", "from B"), 4);
    got_chat(&mut p, 4, "from B");
}

/// Redis away for longer than a room's keys live (grace + 10 s): a room
/// whose members share a node and that took no message meanwhile still
/// goes on (regression: it ended with PARTNER_LEFT when the node compared
/// its rooms with Redis, which had let the keys expire).
#[test]
fn redis_away_longer_than_a_rooms_keys_live_a_quiet_same_node_room_goes_on() {
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-long", &redis.url(), &[("DUET_RESUME_GRACE_SECS", "1")]);
    let a = cluster.node("a");
    let ((mut p, _), (mut q, _), room) = pair_on(a.addr, a.addr, ("Pia", "Quin"), "chill");
    assert_eq!(chat(&mut p, &room, "1", "before"), 1);
    got_chat(&mut q, 1, "before");

    redis.pause(true);
    let paused = Instant::now();
    degraded(&[&a], paused, Duration::from_secs(10));
    // The room's keys live grace (1 s) + 10 s from the last renewal.
    let expired = Duration::from_secs(12).saturating_sub(paused.elapsed());
    p.expect_silence(expired);
    redis.pause(false);
    recovered(&[&a], Instant::now(), Duration::from_secs(20));

    assert_eq!(chat(&mut p, &room, "2", "still here?"), 2);
    got_chat(&mut q, 2, "still here?");
    assert_eq!(chat(&mut q, &room, "3", "yes"), 3);
    got_chat(&mut p, 3, "yes");
    q.expect_silence(Duration::from_millis(300));
}

/// A node holding many rooms and serving no request notices a stalled
/// Redis within one beat and one call timeout (regression: its beat was one
/// pipeline, and the redis crate waits for every reply of a pipeline with a
/// timeout each, so ten rooms, 35 commands, kept the node `ok` for 17 s,
/// long enough for the other nodes' keys to expire meanwhile).
#[test]
fn redis_stalls_a_node_holding_many_rooms_says_degraded_within_one_beat() {
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-many", &redis.url(), &[]);
    let a = cluster.node("a");
    let _rooms: Vec<_> =
        (0..10).map(|i| pair_on(a.addr, a.addr, (&format!("Xan{i}"), &format!("Yev{i}")), "chill")).collect();
    redis.pause(true);
    let paused = Instant::now();
    // BEAT (1.5 s) + CALL_TIMEOUT (0.5 s), with room for a slow machine.
    degraded(&[&a], paused, Duration::from_secs(5));
    redis.pause(false);
    recovered(&[&a], Instant::now(), Duration::from_secs(20));
}

/// Both members dropped, the second with no partner's node to run its
/// grace; the first resumes and is told PARTNER_LEFT when the other's
/// grace ends (regression: nobody ran it, and the room stayed open
/// forever).
#[test]
fn both_away_the_one_who_resumes_learns_the_other_left_after_its_grace() {
    let cluster = Cluster::new("both-away", REDIS_URL, &[("DUET_RESUME_GRACE_SECS", "3")]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, ux), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "hi"), 1);
    got_chat(&mut y, 1, "hi");

    // x drops first: y's node runs x's grace. Then y drops: x has no node
    // to run y's grace on.
    drop(x);
    y.recv_type("PARTNER_AWAY");
    drop(y);
    let y_left = Instant::now();
    // x comes back within its grace.
    let (mut x, ok) = resume(b.addr, &ux, 1);
    assert_eq!(ok["payload"]["room"]["roomId"], room.as_str(), "{ok}");
    let (left, took) = expect_within(&mut x, "PARTNER_LEFT", WAIT, "x after y's grace");
    assert_eq!(
        (left["payload"]["roomId"].as_str(), left["payload"]["reason"].as_str()),
        (Some(room.as_str()), Some("disconnected")),
        "{left}"
    );
    let after = y_left.elapsed();
    eprintln!("[timing] PARTNER_LEFT {} after y dropped ({} after the resume)", secs(after), secs(took));
    assert!(after >= Duration::from_millis(2900), "not before y's grace ran out: {after:?}");
}

#[test]
fn redis_back_empty_ends_rooms_that_spanned_nodes() {
    let Some(mut redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-empty", &redis.url(), &[]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");

    let stopped = redis.stop();
    degraded(&[&a, &b], stopped, WAIT);
    redis.restart();
    let back = Instant::now();
    recovered(&[&a, &b], back, Duration::from_secs(20));
    for (c, who) in [(&mut x, "x"), (&mut y, "y")] {
        let (left, _) = expect_within(c, "PARTNER_LEFT", Duration::from_secs(10), who);
        assert_eq!(
            (left["payload"]["roomId"].as_str(), left["payload"]["reason"].as_str()),
            (Some(room.as_str()), Some("disconnected")),
            "{who}: {left}"
        );
        eprintln!("[timing] {who} got PARTNER_LEFT {} after Redis came back", secs(back.elapsed()));
    }
    // Both are idle and free to queue again.
    let r = x.request("CHAT", "c", json!({"roomId": room, "text": "gone?"}));
    assert_error(&r, "NOT_IN_ROOM");
}

#[test]
fn redis_back_empty_every_request_about_the_lost_room_is_answered() {
    let Some(mut redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-lost", &redis.url(), &[]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");
    let stopped = redis.stop();
    degraded(&[&a, &b], stopped, WAIT);
    redis.restart();
    recovered(&[&a, &b], Instant::now(), Duration::from_secs(20));

    // Whatever became of the room, x gets an answer and can queue again.
    x.send(json!({"type": "LEAVE_ROOM", "id": "l", "payload": {"roomId": room}}));
    let mut replies = Vec::new();
    while let Some(v) = recv_within(&mut x, WAIT) {
        let done = v["id"] == "l";
        replies.push(v);
        if done {
            break;
        }
    }
    let reply = replies.iter().find(|v| v["id"] == "l");
    assert!(
        reply.is_some_and(|v| v["type"] == "ROOM_LEFT" || v["payload"]["code"] == "NOT_IN_ROOM"),
        "LEAVE_ROOM answered ROOM_LEFT or NOT_IN_ROOM; got {replies:?}"
    );
    assert_eq!(queued(&mut x, "chill"), 1);
}

#[test]
fn redis_paused_a_refused_chat_takes_no_seq_and_the_room_goes_on_when_it_answers_again() {
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-pause", &redis.url(), &[("DUET_RESUME_GRACE_SECS", "30")]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");

    redis.pause(true);
    let paused = Instant::now();
    degraded(&[&a, &b], paused, Duration::from_secs(10));
    let r = x.request("CHAT", "c", json!({"roomId": room, "text": "refused"}));
    assert_unavailable(&r, "a cross-node CHAT while Redis does not answer");
    redis.pause(false);
    let resumed = Instant::now();
    recovered(&[&a, &b], resumed, Duration::from_secs(20));

    // The room kept its state: the refused message took no seq and was
    // never delivered.
    assert_eq!(chat(&mut x, &room, "2", "after"), 2);
    got_chat(&mut y, 2, "after");
    assert_eq!(chat(&mut y, &room, "3", "reply"), 3);
    got_chat(&mut x, 3, "reply");
}

#[test]
fn redis_stalls_during_a_chat_a_chat_answered_unavailable_is_never_delivered() {
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-stall", &redis.url(), &[("DUET_RESUME_GRACE_SECS", "30")]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");

    // Redis stops answering while the node still believes it is up: the
    // CHAT's script is sent, and its call times out.
    redis.pause(true);
    let sent = Instant::now();
    let r = x.request("CHAT", "c", json!({"roomId": room, "text": "refused"}));
    eprintln!("[timing] the stalled CHAT was answered {} later: {r}", secs(sent.elapsed()));
    assert_unavailable(&r, "a cross-node CHAT while Redis stalls");
    degraded(&[&a, &b], sent, Duration::from_secs(10));
    redis.pause(false);
    recovered(&[&a, &b], Instant::now(), Duration::from_secs(20));

    // The refused message must not reach y nor take a seq.
    let late = recv_within(&mut y, Duration::from_secs(1));
    assert!(late.is_none(), "y got a message x was told was refused: {late:?}");
    assert_eq!(chat(&mut x, &room, "2", "after"), 2, "the refused CHAT took no seq");
    got_chat(&mut y, 2, "after");
}

#[test]
fn redis_away_when_a_user_drops_the_partner_learns_it_once_redis_answers() {
    const GRACE: Duration = Duration::from_secs(3);
    let Some(redis) = private_redis() else { return };
    let cluster = Cluster::new("redis-drop", &redis.url(), &[("DUET_RESUME_GRACE_SECS", "3")]);
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, _), room) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    assert_eq!(chat(&mut x, &room, "1", "before"), 1);
    got_chat(&mut y, 1, "before");

    redis.pause(true);
    degraded(&[&b], Instant::now(), Duration::from_secs(10));
    drop(y); // y's socket drops from B while B cannot reach Redis
    std::thread::sleep(Duration::from_millis(300));
    redis.pause(false);
    let back = Instant::now();
    recovered(&[&a, &b], back, Duration::from_secs(20));

    // x must learn y is gone: away, then left once the grace ran out.
    let (away, _) =
        expect_within(&mut x, "PARTNER_AWAY", DEATH_NOTICED, "x after y dropped while Redis was away");
    assert_eq!(away["payload"]["roomId"], room.as_str(), "{away}");
    let (left, _) = expect_within(&mut x, "PARTNER_LEFT", GRACE + WAIT, "x once the grace ran out");
    assert_eq!(left["payload"]["reason"], "disconnected", "{left}");
    eprintln!("[timing] PARTNER_LEFT {} after Redis answered again", secs(back.elapsed()));
}

#[test]
fn a_room_outlives_its_key_ttl_quiet_or_active_and_still_resumes() {
    // grace 5 s: the room's keys live 15 s without a renewal (grace +
    // ROOM_TTL_MARGIN_MS); the test outlives that twice over.
    let cluster = Cluster::new(
        "room-ttl",
        REDIS_URL,
        &[
            ("DUET_RESUME_GRACE_SECS", "5"),
            ("DUET_IDLE_TIMEOUT_SECS", "600"),
            ("DUET_PING_INTERVAL_SECS", "300"),
        ],
    );
    let a = cluster.node("a");
    let b = cluster.node("b");
    let ((mut x, _), (mut y, uy), active) = pair_on(a.addr, b.addr, ("Xan", "Yev"), "chill");
    let ((mut p, _), (mut q, _), quiet) = pair_on(a.addr, b.addr, ("Pia", "Quin"), "chill");
    let started = Instant::now();
    let mut seq = 0;
    while started.elapsed() < Duration::from_secs(32) {
        seq += 1;
        assert_eq!(chat(&mut x, &active, &seq.to_string(), "tick"), seq);
        got_chat(&mut y, seq, "tick");
        std::thread::sleep(Duration::from_secs(4));
    }
    // The quiet room is still there for both.
    assert_eq!(chat(&mut p, &quiet, "1", "still here?"), 1, "a quiet room is not forgotten");
    got_chat(&mut q, 1, "still here?");
    // y drops from the active room and resumes on A within the grace.
    drop(y);
    expect_within(&mut x, "PARTNER_AWAY", WAIT, "x after y dropped");
    let (mut y, ok) = resume(a.addr, &uy, seq);
    assert_eq!(ok["payload"]["room"]["roomId"], active.as_str(), "an old active room resumes: {ok}");
    assert_eq!(x.recv_type("PARTNER_BACK")["payload"]["roomId"], active.as_str());
    assert_eq!(chat(&mut y, &active, "back", "back"), seq + 1);
    got_chat(&mut x, seq + 1, "back");
}
