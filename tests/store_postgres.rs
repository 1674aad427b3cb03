//! The PostgreSQL store against a real server: migrations, restarts,
//! write-behind batching, account erasure, and the database going away
//! mid-run. Each test works in a schema of its own (see `pg`).

mod common;
mod pg;

use std::time::{Duration, Instant};

use common::*;
use pg::{OwnServer, Schema};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token";

/// A server on `url` with an admin token and a short resume grace.
#[track_caller]
fn start_on(url: &str, tweak: impl FnOnce(&mut duet::Config)) -> TestServer {
    let url = url.to_owned();
    start_with(move |c| {
        c.database_url = Some(url);
        c.admin_token = Some(ADMIN.into());
        c.resume_grace_secs = Duration::from_millis(200);
        tweak(c);
    })
}

#[track_caller]
fn flush(srv: &TestServer) {
    srv.server.app.store.flush(Duration::from_secs(5)).expect("store flushes");
}

#[track_caller]
fn health(srv: &TestServer) -> Value {
    http(srv.addr, "GET", "/api/health", None, None).json()
}

/// Polls `cond` until it holds or `WAIT` passes (the test then fails).
#[track_caller]
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + 4 * WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn migrations_apply_to_an_empty_schema_once_even_from_two_instances_at_once() {
    let Some(db) = Schema::new() else { return };
    let url = db.url();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| duet::store::postgres::migrate_only(&url));
        let b = s.spawn(|| duet::store::postgres::migrate_only(&url));
        (a.join().unwrap().expect("migrate a"), b.join().unwrap().expect("migrate b"))
    });
    let mut both = [a, b];
    both.sort();
    assert_eq!(both, [vec![], vec![1, 2, 3]], "exactly one of the two applied every version");
    assert_eq!(duet::store::postgres::migrate_only(&url).expect("re-run"), Vec::<i32>::new());
    assert_eq!(db.count("SELECT count(*) FROM duet_migrations"), 3);
    for table in ["users", "rooms", "messages", "reports", "bans", "settings"] {
        let sql = format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name = '{table}'",
            db.name
        );
        assert_eq!(db.count(&sql), 1, "table {table} exists");
    }
    let idx = format!("SELECT count(*) FROM pg_indexes WHERE schemaname = '{}'", db.name);
    assert!(db.count(&idx) >= 10, "lookup indexes exist");
}

#[test]
fn a_restart_keeps_identities_bans_and_reports() {
    let Some(db) = Schema::new() else { return };
    let srv = start_on(&db.url(), |_| {});
    let (a, b, c) = (
        register(srv.addr, json!({"nickname": "Ana"})),
        register(srv.addr, json!({})),
        register(srv.addr, json!({})),
    );
    let (mut ca, mut cb, room) = pair_users(srv.addr, &a, &b);
    ca.request("CHAT", "1", json!({"roomId": room, "text": "rude words"}));
    cb.recv_type("CHAT");
    let reported = cb.request("REPORT", "r", json!({"roomId": room, "reason": "abuse", "details": "mean"}));
    assert_eq!(reported["type"], "REPORTED");
    let ban = json!({"userId": c.id, "minutes": 60, "reason": "test"});
    assert_eq!(http(srv.addr, "POST", "/api/admin/bans", Some(ADMIN), Some(&ban)).status, 200);
    drop((ca, cb));
    srv.server.stop();

    let srv = start_on(&db.url(), |_| {});
    let again = Client::authed(srv.addr, &a);
    drop(again);
    let me = http(srv.addr, "GET", "/api/users/me", Some(&a.token), None);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["profile"]["userId"], a.id.as_str());
    assert_eq!(me.json()["profile"]["nickname"], "Ana");
    let mut banned = Client::connect(srv.addr);
    banned.send(json!({"type": "AUTH", "payload": {"token": c.token}}));
    let err = banned.recv_type("AUTH_ERROR");
    assert_eq!(err["payload"]["code"], "BANNED");
    let reports = http(srv.addr, "GET", "/api/admin/reports?limit=10", Some(ADMIN), None).json();
    let list = reports["reports"].as_array().expect("reports");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["reporterId"], b.id.as_str());
    assert_eq!(list[0]["reportedId"], a.id.as_str());
    assert_eq!(list[0]["details"], "mean");
    assert_eq!(list[0]["transcript"][0]["text"], "rude words");
    assert_eq!(list[0]["transcript"][0]["from"], "reported");
    assert_eq!(db.count("SELECT count(*) FROM users WHERE ip_hash IS NOT NULL AND length(ip_hash) = 16"), 3);
    assert_eq!(db.count("SELECT count(*) FROM users WHERE token_hash = sha256(''::bytea)"), 0);
}

#[test]
fn rooms_a_crash_left_open_are_closed_as_server_restart() {
    let Some(db) = Schema::new() else { return };
    duet::store::postgres::migrate_only(&db.url()).expect("migrate");
    db.client()
        .batch_execute(
            "INSERT INTO rooms (id, user_a, user_b, mood, started_at)
             VALUES ('00000000000000aa', gen_random_uuid(), gen_random_uuid(), 'chill', now())",
        )
        .expect("an open room");
    let _srv = start_on(&db.url(), |_| {});
    // The writer's first partition upkeep may be moving the row out of the
    // DEFAULT partition meanwhile: a query planned before that commit does
    // not see the new partition (PostgreSQL attaches it under a lock that
    // lets queries run), so the row can be briefly invisible. It is never
    // open again: poll, bounded, for it to show as closed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let open = db.count("SELECT count(*) FROM rooms WHERE ended_at IS NULL");
        let closed = db.count("SELECT count(*) FROM rooms WHERE end_reason = 'server_restart'");
        assert_eq!(open, 0, "a room a crash left open is still open");
        if closed == 1 || std::time::Instant::now() > deadline {
            assert_eq!(closed, 1, "the room is closed as server_restart");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn write_behind_batches_rooms_and_messages_and_keeps_text_only_when_asked() {
    let Some(db) = Schema::new() else { return };
    let srv = start_on(&db.url(), |_| {});
    let (mut a, mut b, room) = pair(srv.addr);
    const N: u64 = 500;
    for i in 0..N {
        a.send(json!({"type": "CHAT", "id": i.to_string(), "payload": {"roomId": room, "text": format!("m{i}")}}));
    }
    for _ in 0..N {
        a.recv_type("CHAT_ACK");
    }
    for _ in 0..N {
        b.recv_type("CHAT");
    }
    assert_eq!(a.request("LEAVE_ROOM", "l", json!({"roomId": room}))["type"], "ROOM_LEFT");
    flush(&srv);
    let rows = format!(
        "SELECT count(*) FROM messages WHERE room_id = '{room}' AND text IS NULL AND length BETWEEN 2 AND 4"
    );
    assert_eq!(db.count(&rows), N as i64, "every message has a row, without its text");
    assert_eq!(db.count("SELECT max(seq) FROM messages"), N as i64);
    let batches = srv.server.app.metrics.store_batches.get();
    assert!(batches < N / 5, "{N} messages took {batches} batches: not batched");
    let metrics = metrics_text(srv.addr);
    assert!(
        metrics.contains("duet_store_rows_rejected_total 0"),
        "the rejected-rows counter is exported: {metrics}"
    );
    let ended = format!(
        "SELECT count(*) FROM rooms WHERE id = '{room}' AND end_reason = 'left' AND ended_at >= started_at"
    );
    assert_eq!(db.count(&ended), 1);
    let seen = db.count("SELECT count(*) FROM users WHERE last_seen_at > created_at");
    assert_eq!(seen, 2, "AUTH recorded lastSeenAt for both");

    let Some(db2) = Schema::new() else { return };
    let srv = start_on(&db2.url(), |c| c.store_messages = true);
    let (mut a, _b, room) = pair(srv.addr);
    a.request("CHAT", "1", json!({"roomId": room, "text": "kept ✓"}));
    flush(&srv);
    assert_eq!(db2.count("SELECT count(*) FROM messages WHERE text = 'kept ✓' AND length = 6"), 1);
}

#[test]
fn deleting_an_account_erases_its_rows_and_the_text_of_its_reports() {
    let Some(db) = Schema::new() else { return };
    let srv = start_on(&db.url(), |_| {});
    let (a, b) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut ca, mut cb, room) = pair_users(srv.addr, &a, &b);
    ca.request("CHAT", "1", json!({"roomId": room, "text": "from a"}));
    cb.recv_type("CHAT");
    cb.request("CHAT", "2", json!({"roomId": room, "text": "from b"}));
    ca.recv_type("CHAT");
    // a reports b, then deletes the account.
    ca.request("REPORT", "r", json!({"roomId": room, "reason": "spam", "details": "a's words"}));
    flush(&srv);
    assert_eq!(db.count("SELECT count(*) FROM messages"), 2);
    assert_eq!(http(srv.addr, "DELETE", "/api/users/me", Some(&a.token), None).status, 204);
    let uid = format!("'{}'::uuid", a.id);
    assert_eq!(db.count(&format!("SELECT count(*) FROM users WHERE id = {uid}")), 0);
    assert_eq!(db.count(&format!("SELECT count(*) FROM rooms WHERE user_a = {uid} OR user_b = {uid}")), 0);
    assert_eq!(db.count("SELECT count(*) FROM messages"), 0, "the room's messages went with it");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM reports WHERE details = '' AND reporter_id = {uid}")),
        1
    );
    let reporter_lines = db.count(
        "SELECT count(*) FROM reports, jsonb_array_elements(transcript) l WHERE l->>'from' = 'reporter'",
    );
    assert_eq!(reporter_lines, 0, "none of a's text is left in the report");
    let reported_lines = db.count(
        "SELECT count(*) FROM reports, jsonb_array_elements(transcript) l WHERE l->>'text' = 'from b'",
    );
    assert_eq!(reported_lines, 1, "the reported user's lines stay as evidence");
    assert_eq!(http(srv.addr, "GET", "/api/users/me", Some(&a.token), None).status, 401);
    flush(&srv);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM rooms WHERE user_a = {uid} OR user_b = {uid}")),
        0,
        "no row came back"
    );
}

#[test]
fn with_the_database_stopped_chat_goes_on_and_the_backlog_is_written_after() {
    let Some(pg) = OwnServer::start() else { return };
    let srv = start_on(&pg.url(), |_| {});
    let (mut a, mut b, room) = pair(srv.addr);
    a.request("CHAT", "0", json!({"roomId": room, "text": "before"}));
    b.recv_type("CHAT");
    flush(&srv);
    assert_eq!(health(&srv)["status"], "ok");

    pg.stop();
    // Chat goes on from memory, both ways.
    for i in 1..=20 {
        let ack = a.request("CHAT", &i.to_string(), json!({"roomId": room, "text": format!("during {i}")}));
        assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
        assert_eq!(b.recv_type("CHAT")["payload"]["seq"], i + 1);
    }
    assert_eq!(b.request("CHAT", "b", json!({"roomId": room, "text": "still here"}))["type"], "CHAT_ACK");
    eventually("health to report degraded", || health(&srv)["status"] == "degraded");
    let h = health(&srv);
    assert!(h["reason"].as_str().is_some_and(|r| r.contains("database")), "{h}");
    let reg = http(srv.addr, "POST", "/api/users/registerOrUpdate", None, Some(&json!({})));
    assert_http_error(&reg, 503, "UNAVAILABLE");
    let metrics = metrics_text(srv.addr);
    assert!(metrics.contains("duet_store_degraded 1"), "{metrics}");
    let backlog =
        metrics.lines().find_map(|l| l.strip_prefix("duet_store_backlog ")).expect("backlog metric");
    assert!(
        backlog.parse::<i64>().unwrap() >= 21,
        "the 21 messages of the outage wait in the queue: {backlog}"
    );

    pg.restart();
    eventually("health to be ok again", || health(&srv)["status"] == "ok");
    flush(&srv);
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).expect("own server");
    let n: i64 = c.query_one("SELECT count(*) FROM messages", &[]).unwrap().get(0);
    assert_eq!(n, 22, "every acknowledged message reached the database");
    assert_eq!(srv.server.app.metrics.store_dropped.get(), 0);
    assert_eq!(register(srv.addr, json!({})).token.len(), 64, "registration works again");
}

#[test]
fn graceful_shutdown_records_open_rooms_and_flushes_the_queue_before_exit() {
    let Some(db) = Schema::new() else { return };
    let srv = start_on(&db.url(), |_| {});
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..50 {
        a.send(json!({"type": "CHAT", "id": i.to_string(), "payload": {"roomId": room, "text": "x"}}));
    }
    for _ in 0..50 {
        a.recv_type("CHAT_ACK");
    }
    srv.server.drain();
    let ended = std::iter::repeat_with(|| b.recv()).find(|m| m["type"] != "CHAT").expect("a push");
    assert_eq!(ended["type"], "SESSION_ENDED");
    assert_eq!(ended["payload"]["reason"], "shutdown");
    srv.server.join();
    // join() returned: everything is written without another flush.
    assert_eq!(db.count("SELECT count(*) FROM messages"), 50);
    let ended = format!("SELECT count(*) FROM rooms WHERE id = '{room}' AND end_reason = 'shutdown'");
    assert_eq!(db.count(&ended), 1);
}

#[test]
fn past_the_queue_bound_writes_are_dropped_counted_and_chat_goes_on() {
    let Some(pg) = OwnServer::start() else { return };
    let srv = start_on(&pg.url(), |c| c.database_queue = 5);
    let (mut a, mut b, room) = pair(srv.addr);
    flush(&srv);
    pg.stop();
    for i in 1..=30 {
        let ack = a.request("CHAT", &i.to_string(), json!({"roomId": room, "text": "x"}));
        assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
        assert_eq!(b.recv_type("CHAT")["payload"]["seq"], i);
    }
    let dropped = srv.server.app.metrics.store_dropped.get();
    assert!(dropped >= 20, "30 writes into a queue of 5 (+ one batch in flight): {dropped} dropped");
    let metrics = metrics_text(srv.addr);
    assert!(metrics.contains(&format!("duet_store_writes_dropped_total {dropped}")), "{metrics}");
}

#[test]
fn duet_migrate_applies_the_schema_then_finds_it_up_to_date() {
    let Some(db) = Schema::new() else { return };
    let migrate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_duet"))
            .args(["migrate", "--database-url", &db.url()])
            .env_remove("DUET_DATABASE_URL")
            .output()
            .expect("run duet migrate");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(migrate().trim(), "duet migrate: applied [1, 2, 3]");
    assert_eq!(migrate().trim(), "duet migrate: the schema is up to date");
    assert_eq!(db.count("SELECT count(*) FROM duet_migrations WHERE version = 1 AND name = 'init'"), 1);
}
