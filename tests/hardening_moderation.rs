//! Hardening of moderation (issue 11, contract section 7): durable reports
//! (row 3, rule 12), auto-ban only from aged identities over distinct
//! client addresses (row 8, rule 11), a store error never read as a
//! permission (rule 13), and a panic inside a room transition (rule 17).
//!
//! Store faults are injected with `Faulty`, the memory store with hooks
//! (`common::store`), started through `duet::Server::start_with_store`.

mod common;
mod pg;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::store::{Hooked, Hooks, start_over};
use common::*;
use duet::store::memory::MemoryStore;
use duet::store::{Ban, Report, Store, StoreError, UserId};
use pg::Schema;
use serde_json::json;

const ADMIN: &str = "hardening-admin-token";
const SILENCE: Duration = Duration::from_millis(300);
/// The identity age that lets a report count, in the aged auto-ban tests.
const MIN_AGE: Duration = Duration::from_millis(500);

#[track_caller]
fn chat_both_ways(a: &mut Client, b: &mut Client, room: &str) {
    chat_one_way(a, b, room, "from a");
    chat_one_way(b, a, room, "from b");
}

#[track_caller]
fn chat_one_way(tx: &mut Client, rx: &mut Client, room: &str, text: &str) {
    let ack = tx.request("CHAT", "c", json!({"roomId": room, "text": text}));
    assert_eq!(ack["type"], "CHAT_ACK", "chat still works: {ack}");
    assert_eq!(rx.recv_type("CHAT")["payload"]["text"], text);
}

// ------------------------------------------------------ a faulty store

/// Holds `add_report` until opened.
#[derive(Default)]
struct Gate {
    /// (calls that entered, open)
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Gate {
    /// Called by the server: waits until opened (at most 10 s, so a test
    /// that failed cannot hang a worker for ever).
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 += 1;
        self.cv.notify_all();
        let _ = self.cv.wait_timeout_while(s, Duration::from_secs(10), |s| !s.1).unwrap();
    }

    #[track_caller]
    fn wait_entered(&self, n: usize) {
        let s = self.state.lock().unwrap();
        let (s, _) = self.cv.wait_timeout_while(s, WAIT, |s| s.0 < n).unwrap();
        assert!(s.0 >= n, "add_report was never called");
    }

    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

/// Opens the gate when dropped, also when the test fails.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// `add_report` and `ban` failing or holding on demand.
#[derive(Default)]
struct Faults {
    fail_reports: AtomicBool,
    hold_reports: AtomicBool,
    fail_bans: AtomicBool,
    gate: Gate,
    /// `add_report` calls that returned Ok.
    reports_stored: AtomicUsize,
}

/// The memory store with `Faults` (which it derefs to).
type Faulty = Hooked<Faults>;

fn injected() -> StoreError {
    StoreError::Unavailable("injected fault".into())
}

impl Hooks for Faults {
    fn add_report(&self, inner: &MemoryStore, report: Report) -> Result<(), StoreError> {
        if self.fail_reports.load(SeqCst) {
            return Err(injected());
        }
        if self.hold_reports.load(SeqCst) {
            self.gate.pass();
        }
        inner.add_report(report)?;
        self.reports_stored.fetch_add(1, SeqCst);
        Ok(())
    }
    fn ban(&self, inner: &MemoryStore, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        if self.fail_bans.load(SeqCst) {
            return Err(injected());
        }
        inner.ban(user, now)
    }
}

/// A server over `store`, with the test defaults and an admin token.
#[track_caller]
fn start_faulty(store: &Arc<Faulty>) -> TestServer {
    start_over(store.clone(), |c| c.admin_token = Some(ADMIN.into()))
}

// ------------------------------------------- durable reports (rule 12)

/// Row 3 / rule 12: a report the store refuses is `ERROR INTERNAL` with the
/// message id and the room stays open; once the store works, a report is
/// `REPORTED` and ends the room.
#[test]
fn a_report_the_store_refuses_is_internal_and_the_room_stays_open() {
    let store = Arc::new(Faulty::default());
    let srv = start_faulty(&store);
    let (mut a, mut b, room) = pair(srv.addr);
    store.fail_reports.store(true, SeqCst);
    let r = a.request("REPORT", "rep-1", json!({"roomId": room, "reason": "abuse", "details": "x"}));
    assert_error(&r, "INTERNAL");
    a.expect_silence(SILENCE);
    b.expect_silence(SILENCE);
    chat_both_ways(&mut a, &mut b, &room);

    store.fail_reports.store(false, SeqCst);
    let r = a.request("REPORT", "rep-2", json!({"roomId": room, "reason": "abuse"}));
    assert_eq!(r["type"], "REPORTED", "{r}");
    let left = b.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["roomId"], room.as_str(), "{left}");
    assert_eq!(left["payload"]["reason"], "left", "{left}");
    assert_eq!(store.reports_stored.load(SeqCst), 1);
}

/// Rule 12: `REPORTED` is sent only once `add_report` has returned.
#[test]
fn reported_is_not_sent_before_the_store_has_the_report() {
    let store = Arc::new(Faulty::default());
    let srv = start_faulty(&store);
    let (mut a, mut b, room) = pair(srv.addr);
    store.hold_reports.store(true, SeqCst);
    let open = OpenOnDrop(&store.gate);
    a.send(json!({"type": "REPORT", "id": "held", "payload": {"roomId": room, "reason": "spam"}}));
    store.gate.wait_entered(1);
    a.expect_silence(SILENCE);
    assert_eq!(store.reports_stored.load(SeqCst), 0);
    drop(open);
    let r = a.recv();
    assert_eq!((r["type"].as_str(), r["id"].as_str()), (Some("REPORTED"), Some("held")), "{r}");
    assert_eq!(store.reports_stored.load(SeqCst), 1, "REPORTED arrived before add_report returned");
    assert_eq!(b.recv_type("PARTNER_LEFT")["payload"]["reason"], "left");
}

/// Locks `reports` against inserts until dropped (readers still read).
struct ReportsLocked(postgres::Client);

impl ReportsLocked {
    fn new(db: &Schema) -> ReportsLocked {
        let mut c = db.client();
        c.batch_execute("BEGIN; LOCK TABLE reports IN EXCLUSIVE MODE").expect("lock reports");
        ReportsLocked(c)
    }
}

impl Drop for ReportsLocked {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("ROLLBACK");
    }
}

/// Rule 12 with PostgreSQL: `REPORTED` waits for the commit; once it has
/// arrived the row is in `reports` (read at once, no flush, no waiting).
#[test]
fn with_postgres_reported_waits_for_the_report_row_to_be_committed() {
    let Some(db) = Schema::new() else { return };
    let srv = start_with(|c| c.database_url = Some(db.url()));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    let lock = ReportsLocked::new(&db);
    a.send(json!({"type": "REPORT", "id": "r", "payload": {"roomId": room, "reason": "abuse"}}));
    a.expect_silence(SILENCE);
    drop(lock);
    let r = a.recv();
    assert_eq!((r["type"].as_str(), r["id"].as_str()), (Some("REPORTED"), Some("r")), "{r}");
    let id = r["payload"]["reportId"].as_str().expect("reportId");
    let sql = format!(
        "SELECT count(*) FROM reports WHERE id = '{id}' AND reporter_id = '{}' AND reported_id = '{}'",
        ua.id, ub.id
    );
    assert_eq!(db.count(&sql), 1, "the report row is committed when REPORTED arrives");
    assert_eq!(b.recv_type("PARTNER_LEFT")["payload"]["reason"], "left");
}

/// Row 3 (PostgreSQL): a chat text with U+0000 is refused, and the victim's
/// report that follows is in the database when `REPORTED` arrives (it used
/// to be acknowledged, then refused by the database and skipped).
#[test]
fn with_postgres_a_report_after_a_nul_chat_text_reaches_the_database() {
    let Some(db) = Schema::new() else { return };
    let srv = start_with(|c| c.database_url = Some(db.url()));
    let (abuser, victim) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut v, room) = pair_users(srv.addr, &abuser, &victim);
    let nul = a.request("CHAT", "nul", json!({"roomId": room, "text": "hi\u{0}there"}));
    if nul["type"] == "CHAT_ACK" {
        v.recv_type("CHAT");
    }
    a.request("CHAT", "rude", json!({"roomId": room, "text": "rude words"}));
    assert_eq!(v.recv_type("CHAT")["payload"]["text"], "rude words");
    let r = v.request("REPORT", "r", json!({"roomId": room, "reason": "abuse", "details": "mean"}));
    assert_eq!(r["type"], "REPORTED", "{r}");
    let id = r["payload"]["reportId"].as_str().expect("reportId");
    let sql = format!("SELECT count(*) FROM reports WHERE id = '{id}' AND reported_id = '{}'", abuser.id);
    assert_eq!(db.count(&sql), 1, "the report reached the database before REPORTED");
    assert_error(&nul, "BAD_REQUEST");
    let lines = format!("SELECT jsonb_array_length(transcript)::bigint FROM reports WHERE id = '{id}'");
    assert_eq!(db.count(&lines), 1, "the refused text took no place in the transcript");
}

// ---------------------------------------------------- auto-ban (rule 11)

/// `user`'s authenticated WebSocket from the TCP source address `ip`
/// (any 127.0.0.N), sending `X-Forwarded-For: xff` on the upgrade.
#[track_caller]
fn authed_forwarded(addr: SocketAddr, user: &User, ip: Ipv4Addr, xff: &str) -> Client {
    let mut c = Client::over(tcp_from(addr, ip), addr, &[("X-Forwarded-For", xff)]);
    c.auth(user);
    c
}

/// Waits until every one of `users` is older than `age` by its `createdAt`
/// (the age is what the rule is about: nothing else to wait for).
fn until_older_than(users: &[User], age: Duration) {
    let newest = users.iter().map(|u| u.profile["createdAt"].as_u64().expect("createdAt")).max().unwrap();
    let ready = newest + age.as_millis() as u64 + 100;
    let now = now_ms();
    if ready > now {
        std::thread::sleep(Duration::from_millis(ready - now));
    }
}

/// x (on `cx`) is matched with each reporter in turn and reported by it;
/// x's `PARTNER_LEFT` of each room has been read.
#[track_caller]
fn reported_by_each(cx: &mut Client, reporters: Vec<Client>) {
    for (i, mut r) in reporters.into_iter().enumerate() {
        join(cx, in_mood("chill"));
        join(&mut r, in_mood("chill"));
        let room = cx.recv_type("MATCH_FOUND")["payload"]["roomId"].as_str().unwrap().to_string();
        assert_eq!(r.recv_type("MATCH_FOUND")["payload"]["roomId"], room.as_str());
        let rep = r.request("REPORT", &format!("rep{i}"), json!({"roomId": room, "reason": "abuse"}));
        assert_eq!(rep["type"], "REPORTED", "{rep}");
        assert_eq!(cx.recv_type("PARTNER_LEFT")["payload"]["roomId"], room.as_str());
    }
}

#[track_caller]
fn assert_not_banned(srv: &TestServer, x: &User, mut cx: Client) {
    cx.expect_silence(SILENCE);
    assert_eq!(cx.request("PING", "p", json!({}))["type"], "PONG", "x's socket lives");
    drop(cx);
    let mut again = Client::connect(srv.addr);
    let ok = again.request("AUTH", "a", json!({"token": x.token}));
    assert_eq!(ok["type"], "AUTH_OK", "x is not banned: {ok}");
    join(&mut again, in_mood("chill"));
}

#[track_caller]
fn assert_banned(srv: &TestServer, x: &User, mut cx: Client) {
    let (code, before) = cx.expect_close();
    assert_eq!(code, 4403, "banned; before: {before:?}");
    let mut again = Client::connect(srv.addr);
    let err = again.request("AUTH", "a", json!({"token": x.token}));
    assert_eq!(err["type"], "AUTH_ERROR", "{err}");
    assert_eq!(err["payload"]["code"], "BANNED", "{err}");
    assert_eq!(again.expect_close().0, 4403);
}

/// x, three reporters (registered now), and x's socket.
fn x_and_three(srv: &TestServer) -> (User, Client, [User; 3]) {
    let x = register(srv.addr, json!({}));
    let cx = Client::authed(srv.addr, &x);
    let rs = [(); 3].map(|_| register(srv.addr, json!({})));
    (x, cx, rs)
}

const LOOPBACKS: [Ipv4Addr; 3] =
    [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::new(127, 0, 0, 4)];

/// Row 8 / rule 11: three identities made a moment ago, from one address,
/// report a user: not banned (the default minimum age is 600 s).
#[test]
fn three_fresh_identities_from_one_address_do_not_auto_ban() {
    let srv = start_with(|c| c.auto_ban_reports = 3);
    let (x, mut cx, rs) = x_and_three(&srv);
    let reporters = rs.iter().map(|u| Client::authed(srv.addr, u)).collect();
    reported_by_each(&mut cx, reporters);
    assert_not_banned(&srv, &x, cx);
}

/// Rule 11: identities younger than the minimum age do not count even over
/// distinct addresses.
#[test]
fn fresh_identities_over_distinct_addresses_do_not_auto_ban() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 3;
        c.auto_ban_min_age_secs = Duration::from_secs(600);
    });
    let (x, mut cx, rs) = x_and_three(&srv);
    let reporters = rs.iter().zip(LOOPBACKS).map(|(u, ip)| Client::authed_from(srv.addr, u, ip)).collect();
    reported_by_each(&mut cx, reporters);
    assert_not_banned(&srv, &x, cx);
}

/// Rule 11: old enough identities of three distinct users, but all over
/// one client address: not banned.
#[test]
fn aged_identities_over_one_address_do_not_auto_ban() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 3;
        c.auto_ban_min_age_secs = MIN_AGE;
    });
    let (x, mut cx, rs) = x_and_three(&srv);
    until_older_than(&rs, MIN_AGE);
    let one = Ipv4Addr::new(127, 0, 0, 2);
    let reporters = rs.iter().map(|u| Client::authed_from(srv.addr, u, one)).collect();
    reported_by_each(&mut cx, reporters);
    assert_not_banned(&srv, &x, cx);
}

/// Rule 11: old enough identities of three distinct users over three
/// distinct client addresses: banned (AUTH_ERROR BANNED, 4403).
#[test]
fn aged_identities_over_distinct_addresses_auto_ban() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 3;
        c.auto_ban_min_age_secs = MIN_AGE;
    });
    let (x, mut cx, rs) = x_and_three(&srv);
    until_older_than(&rs, MIN_AGE);
    let reporters = rs.iter().zip(LOOPBACKS).map(|(u, ip)| Client::authed_from(srv.addr, u, ip)).collect();
    reported_by_each(&mut cx, reporters);
    assert_banned(&srv, &x, cx);
}

/// Rules 1 and 11: behind a trusted proxy the forwarded addresses are the
/// distinct client addresses.
#[test]
fn aged_identities_forwarded_by_a_trusted_proxy_from_distinct_addresses_auto_ban() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 3;
        c.auto_ban_min_age_secs = MIN_AGE;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    });
    let (x, mut cx, rs) = x_and_three(&srv);
    until_older_than(&rs, MIN_AGE);
    let local = Ipv4Addr::LOCALHOST;
    let reporters = rs
        .iter()
        .zip(["203.0.113.7", "198.51.100.1, 203.0.113.8", "192.0.2.9"])
        .map(|(u, xff)| authed_forwarded(srv.addr, u, local, xff))
        .collect();
    reported_by_each(&mut cx, reporters);
    assert_banned(&srv, &x, cx);
}

/// Rules 1 and 11: `X-Forwarded-For` from a peer that is not a trusted
/// proxy is ignored: the three reports come from one address.
#[test]
fn forwarded_addresses_from_an_untrusted_peer_do_not_make_reports_distinct() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 3;
        c.auto_ban_min_age_secs = MIN_AGE;
    });
    let (x, mut cx, rs) = x_and_three(&srv);
    until_older_than(&rs, MIN_AGE);
    let local = Ipv4Addr::LOCALHOST;
    let reporters = rs
        .iter()
        .zip(["203.0.113.7", "203.0.113.8", "203.0.113.9"])
        .map(|(u, xff)| authed_forwarded(srv.addr, u, local, xff))
        .collect();
    reported_by_each(&mut cx, reporters);
    assert_not_banned(&srv, &x, cx);
}

// ------------------------------- a store error is not a permission (13)

/// Rule 13: a failing ban lookup at AUTH is `ERROR INTERNAL`, not
/// `AUTH_OK`; the socket stays open and AUTH works once the store does.
#[test]
fn a_failing_ban_lookup_at_auth_is_internal_and_the_socket_may_retry() {
    let store = Arc::new(Faulty::default());
    let srv = start_faulty(&store);
    let u = register(srv.addr, json!({}));
    store.fail_bans.store(true, SeqCst);
    let mut c = Client::connect(srv.addr);
    let r = c.request("AUTH", "a1", json!({"token": u.token}));
    assert_error(&r, "INTERNAL");
    let r = c.request("JOIN_QUEUE", "j", json!({"mood": "chill"}));
    assert_error(&r, "UNAUTHENTICATED");
    assert_eq!(c.request("PING", "p", json!({}))["type"], "PONG", "the socket stays open");
    store.fail_bans.store(false, SeqCst);
    let ok = c.request("AUTH", "a2", json!({"token": u.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    assert_eq!(ok["payload"]["userId"], u.id.as_str());
}

/// Rule 13: a banned user whose ban cannot be looked up is not let in.
#[test]
fn a_banned_user_is_not_admitted_when_the_ban_lookup_fails() {
    let store = Arc::new(Faulty::default());
    let srv = start_faulty(&store);
    let u = register(srv.addr, json!({}));
    let ban = json!({"userId": u.id, "minutes": 60, "reason": "test"});
    assert_eq!(http(srv.addr, "POST", "/api/admin/bans", Some(ADMIN), Some(&ban)).status, 200);
    store.fail_bans.store(true, SeqCst);
    let mut c = Client::connect(srv.addr);
    let r = c.request("AUTH", "a1", json!({"token": u.token}));
    assert_error(&r, "INTERNAL");
    store.fail_bans.store(false, SeqCst);
    let r = c.request("AUTH", "a2", json!({"token": u.token}));
    assert_eq!(r["type"], "AUTH_ERROR", "{r}");
    assert_eq!(r["payload"]["code"], "BANNED", "{r}");
    assert_eq!(c.expect_close().0, 4403);
}

/// Rule 13: a failing ban lookup during a profile update is 503
/// `UNAVAILABLE`, and the profile is not changed.
#[test]
fn a_failing_ban_lookup_on_a_profile_update_is_503_unavailable() {
    let store = Arc::new(Faulty::default());
    let srv = start_faulty(&store);
    let u = register(srv.addr, json!({"nickname": "Before"}));
    store.fail_bans.store(true, SeqCst);
    let body = json!({"nickname": "After"});
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&body));
    assert_http_error(&r, 503, "UNAVAILABLE");
    store.fail_bans.store(false, SeqCst);
    let me = http(srv.addr, "GET", "/api/users/me", Some(&u.token), None).json();
    assert_eq!(me["profile"]["nickname"], "Before", "{me}");
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["profile"]["nickname"], "After");
}

// ------------------------------------------------ panic safety (rule 17)

/// Rule 17: a panic inside a room transition (holding the hub lock, the
/// room half-ended) is fatal for the sender's connection only: ERROR
/// INTERNAL then 1011, the partner gets PARTNER_LEFT disconnected, both
/// can be matched again, and the panic is counted.
#[test]
fn a_panic_inside_a_room_transition_closes_the_sender_and_frees_the_partner() {
    let srv = start();
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    a.send(json!({"type": "FAULT_PANIC_IN_ROOM", "id": "x", "payload": {"roomId": room}}));
    let r = a.recv();
    assert_eq!(r["id"], "x", "{r}");
    assert_error(&r, "INTERNAL");
    let (code, before) = a.expect_close();
    assert_eq!(code, 1011, "before: {before:?}");
    assert!(before.is_empty(), "nothing between ERROR and the close: {before:?}");
    let left = b.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["roomId"], room.as_str(), "{left}");
    assert_eq!(left["payload"]["reason"], "disconnected", "{left}");

    // The partner is matched with a third user.
    join(&mut b, in_mood("chill"));
    let mut c = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut c, in_mood("chill"));
    let room_bc = b.recv_type("MATCH_FOUND")["payload"]["roomId"].clone();
    assert_eq!(c.recv_type("MATCH_FOUND")["payload"]["roomId"], room_bc);
    // The sender signs in again, with no room to resume, and is matched.
    let mut a2 = Client::connect(srv.addr);
    let ok = a2.request("AUTH", "again", json!({"token": ua.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    assert!(ok["payload"]["room"].is_null(), "the half-ended room is gone: {ok}");
    assert_eq!(join(&mut a2, in_mood("chill"))["waiting"], 1);
    let mut d = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut d, in_mood("chill"));
    let room_ad = a2.recv_type("MATCH_FOUND")["payload"]["roomId"].clone();
    assert_eq!(d.recv_type("MATCH_FOUND")["payload"]["roomId"], room_ad);
    chat_both_ways(&mut a2, &mut d, room_ad.as_str().unwrap());

    let m = metrics_text(srv.addr);
    assert!(m.lines().any(|l| l == "duet_command_panics_total 1"), "{m}");
    assert!(m.lines().any(|l| l == "duet_rooms_active 2"), "only the two new rooms are open: {m}");
}
