//! The Redis store (contract section 8: "a token issued by any node works
//! on every node") against the machine's Redis at 127.0.0.1:6379: every
//! method, two store instances as two nodes, the identity bound, reports,
//! Redis stopped and back (on a private `redis-server`), and two servers
//! sharing a prefix. Every test uses a prefix of its own and deletes its
//! keys at the end. Without Redis a test says so loudly and skips, except
//! under `CI=true`, where it fails.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use duet::base::addr::ClientAddr;
use duet::bus::{Bus, BusMetrics};
use duet::metrics::Metrics;
use duet::store::redis::RedisStore;
use duet::store::{
    Ban, Mood, Profile, Report, Store, StoreError, TokenHash, TranscriptLine, UserId, UserRecord, hash_token,
    new_token,
};
use serde_json::json;

const SHARED: &str = "redis://127.0.0.1:6379";

/// Skips (loudly) or, in CI, fails a test that needs what is missing.
#[track_caller]
fn unavailable<T>(what: &str) -> Option<T> {
    assert!(!in_ci(), "CI=true and {what}: Redis tests must run in CI");
    let msg = format!("\n*** SKIPPED: {what} ***\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
    None
}

fn ping(url: &str) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    redis::cmd("PING").query::<String>(&mut conn)?;
    Ok(conn)
}

/// A key prefix of the test's own on a Redis; its keys are deleted on drop.
struct Prefix {
    name: String,
    url: String,
}

impl Prefix {
    /// On the shared Redis, or None (loudly) when it does not answer.
    #[track_caller]
    fn shared(test: &str) -> Option<Prefix> {
        if let Err(e) = ping(SHARED) {
            return unavailable(&format!("no Redis at {SHARED} ({e})"));
        }
        Some(Prefix::on(SHARED, test))
    }

    fn on(url: &str, test: &str) -> Prefix {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Prefix { name: format!("duet-test-{test}-{}-{nanos:x}", std::process::id()), url: url.to_owned() }
    }

    /// A node: a bus of its own on this prefix and a store over it.
    fn node(&self, max_identities: usize) -> Node {
        let metrics = Metrics::default();
        let figures =
            BusMetrics { round_trip: metrics.redis_round_trip.clone(), errors: metrics.redis_errors.clone() };
        let bus = Bus::open(&self.url, &self.name, "test-node", figures).expect("bus opens");
        let store = RedisStore::new(bus.clone(), max_identities, metrics.identities_evicted.clone());
        Node { bus, store, metrics }
    }

    /// This prefix's keys, sorted.
    fn keys(&self) -> Vec<String> {
        cluster::keys_of(&self.url, &self.name)
    }

    fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        let mut conn = ping(&self.url).expect("redis answers");
        cmd.query(&mut conn).expect("query")
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let keys = self.keys();
        if let Ok(mut conn) = ping(&self.url) {
            for chunk in keys.chunks(500) {
                let _ = redis::cmd("DEL").arg(chunk).query::<u64>(&mut conn);
            }
        }
    }
}

struct Node {
    bus: Arc<Bus>,
    store: RedisStore,
    metrics: Metrics,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.bus.stop();
    }
}

fn profile(nick: &str) -> Profile {
    Profile {
        nickname: nick.into(),
        mood: Mood::Fire,
        avatar: "🦊".into(),
        interests: Box::new(["music".into(), "rust, lua".into()]),
        created_at: 1_700_000_000_123,
        last_seen_at: 1_700_000_000_456,
    }
}

/// A new identity and its token.
fn user(nick: &str) -> (UserRecord, String) {
    let token = new_token();
    let record =
        UserRecord { id: UserId::random(), token_hash: hash_token(&token), profile: Arc::new(profile(nick)) };
    (record, token)
}

fn lookup(s: &dyn Store, token: &str) -> Option<UserRecord> {
    s.user_by_token(&hash_token(token)).expect("lookup")
}

fn report(reporter: UserId, reported: UserId, addr: Option<u8>, created_at: u64, counts: bool) -> Report {
    Report {
        report_id: format!("{:016x}", rand_u64()),
        room_id: "00000000000000aa".into(),
        reporter_id: reporter,
        reported_id: reported,
        reason: "spam",
        details: "they spammed".into(),
        created_at,
        transcript: vec![
            TranscriptLine {
                from: "reported", text: "buy now 🛒 \"/\u{1}".into(), sent_at: created_at - 2
            },
            TranscriptLine { from: "reporter", text: "stop it".into(), sent_at: created_at - 1 },
        ],
        reporter_addr: addr.map(|n| ClientAddr::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))),
        counts_for_ban: counts,
    }
}

fn rand_u64() -> u64 {
    UserId::random().0 as u64
}

#[track_caller]
fn assert_same_user(got: &UserRecord, want: &UserRecord) {
    assert_eq!(got.id, want.id);
    assert_eq!(got.token_hash, want.token_hash);
    assert_eq!(*got.profile, *want.profile);
}

#[test]
fn every_method_round_trips() {
    let Some(prefix) = Prefix::shared("every") else { return };
    let node = prefix.node(1000);
    let s: &dyn Store = &node.store;
    assert_eq!(s.status().degraded, None);

    let (alice, token) = user("alice");
    s.insert_user(alice.clone(), Some("192.0.2.7".parse().unwrap())).unwrap();
    assert_same_user(&lookup(s, &token).expect("found by token"), &alice);
    assert_same_user(&s.user(alice.id).unwrap().expect("found by id"), &alice);
    assert!(lookup(s, &new_token()).is_none(), "an unknown token");
    assert!(s.user(UserId::random()).unwrap().is_none(), "an unknown id");
    let stored: Vec<String> =
        prefix.query(redis::cmd("HVALS").arg(format!("{}:u:{}", prefix.name, alice.id)));
    assert!(!stored.iter().any(|v| v.contains("192.0.2.7")), "the address is not kept: {stored:?}");

    // Profile updates keep the creation time; unknown users are NotFound
    // and nothing is created for them.
    let mut p = profile("alice2");
    p.mood = Mood::Shy;
    p.interests = Box::new([]);
    p.last_seen_at = 1_800_000_000_000;
    s.update_profile(alice.id, Arc::new(p.clone())).unwrap();
    assert_eq!(*s.user(alice.id).unwrap().unwrap().profile, p);
    let ghost = UserId::random();
    assert!(matches!(s.update_profile(ghost, Arc::new(p.clone())), Err(StoreError::NotFound)));
    let mut later = p.clone();
    later.last_seen_at += 5;
    s.seen(alice.id, Arc::new(later.clone()));
    assert_eq!(lookup(s, &token).unwrap().profile.last_seen_at, later.last_seen_at);
    s.seen(ghost, Arc::new(later));
    assert!(s.user(ghost).unwrap().is_none(), "seen creates no one");

    // Bans.
    let now = now_ms();
    let ban = Ban { until: now + 60_000, reason: "rude".into(), by: "admin".into() };
    s.set_ban(alice.id, ban.clone()).unwrap();
    assert_eq!(s.ban(alice.id, now).unwrap(), Some(ban.clone()));
    assert_eq!(s.ban(alice.id, now + 60_000).unwrap(), None, "over at its end");
    let ttl: i64 = prefix.query(redis::cmd("PTTL").arg(format!("{}:ban:{}", prefix.name, alice.id)));
    assert!((1..=60_000).contains(&ttl), "Redis forgets it when it ends: {ttl}");
    assert!(s.remove_ban(alice.id).unwrap());
    assert!(!s.remove_ban(alice.id).unwrap());
    assert_eq!(s.ban(alice.id, now).unwrap(), None);
    let forever = Ban { until: u64::MAX, reason: "forever".into(), by: "admin".into() };
    s.set_ban(alice.id, forever.clone()).unwrap();
    assert_eq!(s.ban(alice.id, now).unwrap(), Some(forever));
    s.set_ban(alice.id, Ban { until: now - 1, reason: "past".into(), by: "admin".into() }).unwrap();
    assert_eq!(s.ban(alice.id, now).unwrap(), None, "a ban that already ended");
    s.set_ban(alice.id, Ban { until: 0, reason: "zero".into(), by: "admin".into() }).unwrap();
    assert_eq!(s.ban(alice.id, 0).unwrap(), None);

    // Reports, newest first; the transcript and details come back.
    let (bob, _) = user("bob");
    s.insert_user(bob.clone(), None).unwrap();
    let first = report(alice.id, bob.id, Some(1), now - 10, true);
    let second = report(bob.id, alice.id, None, now, false);
    s.add_report(first.clone()).unwrap();
    s.add_report(second.clone()).unwrap();
    s.add_report(second.clone()).unwrap(); // the same report again: once
    let all = s.reports(10).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.report_id.as_str()).collect();
    assert_eq!(ids, [second.report_id.as_str(), first.report_id.as_str()]);
    let got = &all[1];
    assert_eq!((got.reporter_id, got.reported_id, got.reason), (alice.id, bob.id, "spam"));
    assert_eq!(
        (&*got.details, got.created_at, got.room_id.as_str()),
        ("they spammed", now - 10, "00000000000000aa")
    );
    let lines: Vec<(&str, &str, u64)> =
        got.transcript.iter().map(|l| (l.from, &*l.text, l.sent_at)).collect();
    assert_eq!(lines, [("reported", "buy now 🛒 \"/\u{1}", now - 12), ("reporter", "stop it", now - 11)]);
    assert_eq!(s.reports(1).unwrap().len(), 1);
    assert!(s.reports(0).unwrap().is_empty());
    assert_eq!(s.reporters_since(bob.id, now - 10).unwrap(), 1);
    assert_eq!(s.reporters_since(bob.id, now - 9).unwrap(), 0, "before `since`");
    assert_eq!(s.reporters_since(alice.id, 0).unwrap(), 0, "a report that does not count");

    // Erasure: identity, token and ban go; the text alice wrote in her
    // report goes; the report itself (and what bob said) stays.
    s.set_ban(alice.id, ban).unwrap();
    assert!(s.delete_user(alice.id).unwrap());
    assert!(!s.delete_user(alice.id).unwrap(), "gone already");
    assert!(lookup(s, &token).is_none());
    assert!(s.user(alice.id).unwrap().is_none());
    assert_eq!(s.ban(alice.id, now).unwrap(), None);
    let erased = s.reports(10).unwrap().into_iter().find(|r| r.report_id == first.report_id).expect("kept");
    assert_eq!(&*erased.details, "");
    let lines: Vec<(&str, &str, u64)> =
        erased.transcript.iter().map(|l| (l.from, &*l.text, l.sent_at)).collect();
    assert_eq!(lines, [("reported", "buy now 🛒 \"/\u{1}", now - 12)], "rewritten by the script intact");
    assert_eq!((erased.created_at, erased.reporter_id, erased.reason), (now - 10, alice.id, "spam"));
    let other = s.reports(10).unwrap().into_iter().find(|r| r.report_id == second.report_id).unwrap();
    assert_eq!(&*other.details, "they spammed", "bob's report is untouched");
    let left = prefix.keys();
    assert!(
        !left
            .iter()
            .any(|k| k.contains(&alice.id.to_string())
                || k.contains(&format!(":t:{}", hex(&alice.token_hash)))),
        "no key of alice's is left: {left:?}"
    );
    // bob is still whole.
    assert_same_user(&s.user(bob.id).unwrap().unwrap(), &bob);
}

fn hex(h: &TokenHash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_token_registered_on_one_node_works_on_another_and_erasure_holds_on_both() {
    let Some(prefix) = Prefix::shared("nodes") else { return };
    let (a, b) = (prefix.node(1000), prefix.node(1000));
    let (u, token) = user("carol");
    a.store.insert_user(u.clone(), None).unwrap();
    assert_same_user(&lookup(&b.store, &token).expect("node b knows the token"), &u);

    // A profile change on b is what a reads.
    let mut p = profile("carol-b");
    p.mood = Mood::Chill;
    b.store.update_profile(u.id, Arc::new(p.clone())).unwrap();
    assert_eq!(*lookup(&a.store, &token).unwrap().profile, p);

    // A ban set on one node holds on the other; so does its removal.
    let now = now_ms();
    let ban = Ban { until: now + 3_600_000, reason: "abuse".into(), by: "auto".into() };
    a.store.set_ban(u.id, ban.clone()).unwrap();
    assert_eq!(b.store.ban(u.id, now).unwrap(), Some(ban));
    assert!(b.store.remove_ban(u.id).unwrap());
    assert_eq!(a.store.ban(u.id, now).unwrap(), None);

    // A report carol filed on a, with only her own lines in it.
    let mut filed = report(u.id, UserId::random(), Some(9), now, true);
    filed.transcript.retain(|l| l.from == "reporter");
    a.store.add_report(filed).unwrap();

    // Erased on b: the token stops working on both, her text is gone.
    assert!(b.store.delete_user(u.id).unwrap());
    assert!(lookup(&a.store, &token).is_none());
    assert!(lookup(&b.store, &token).is_none());
    assert!(a.store.user(u.id).unwrap().is_none());
    let erased = a.store.reports(1).unwrap().pop().expect("the report stays");
    assert_eq!((&*erased.details, erased.transcript.len(), erased.reporter_id), ("", 0, u.id));
}

#[test]
fn past_max_identities_the_least_recently_used_is_evicted_with_its_ban() {
    let Some(prefix) = Prefix::shared("evict") else { return };
    let (a, b) = (prefix.node(3), prefix.node(3));
    let users: Vec<(UserRecord, String)> = (0..4).map(|n| user(&format!("u{n}"))).collect();
    for (u, _) in &users[..3] {
        a.store.insert_user(u.clone(), None).unwrap();
    }
    // 0 is used (on the other node): 1 is now the least recently used.
    assert!(lookup(&b.store, &users[0].1).is_some());
    a.store.set_ban(users[1].0.id, Ban { until: u64::MAX, reason: "x".into(), by: "admin".into() }).unwrap();
    b.store.insert_user(users[3].0.clone(), None).unwrap();
    assert!(lookup(&a.store, &users[1].1).is_none(), "1 was least recently used");
    assert!(a.store.user(users[1].0.id).unwrap().is_none());
    assert_eq!(a.store.ban(users[1].0.id, 0).unwrap(), None, "its ban went with it");
    for n in [0, 2, 3] {
        assert!(lookup(&a.store, &users[n].1).is_some(), "{n} kept");
    }
    assert_eq!(b.metrics.identities_evicted.get(), 1, "counted by the node whose insert evicted");
    assert_eq!(a.metrics.identities_evicted.get(), 0);
    let lru: u64 = prefix.query(redis::cmd("ZCARD").arg(format!("{}:lru", prefix.name)));
    assert_eq!(lru, 3);

    // A profile update counts as a use too: 2 is spared, 3 goes.
    b.store.update_profile(users[2].0.id, users[2].0.profile.clone()).unwrap();
    assert!(lookup(&a.store, &users[0].1).is_some());
    let (fifth, fifth_token) = user("u4");
    a.store.insert_user(fifth, None).unwrap();
    assert!(lookup(&a.store, &users[3].1).is_none(), "3 was least recently used");
    assert!(lookup(&a.store, &fifth_token).is_some(), "the new one stays");
    assert_eq!(a.metrics.identities_evicted.get(), 1);

    // Many inserts stay within the bound; deleted users leave nothing.
    for n in 0..50 {
        let (u, _) = user(&format!("m{n}"));
        a.store.insert_user(u.clone(), None).unwrap();
        if n % 2 == 0 {
            assert!(a.store.delete_user(u.id).unwrap());
        }
    }
    let held: u64 = prefix.query(redis::cmd("ZCARD").arg(format!("{}:lru", prefix.name)));
    assert_eq!(held, 3);
    let identities = prefix.keys().iter().filter(|k| k.contains(":u:")).count();
    let tokens = prefix.keys().iter().filter(|k| k.contains(":t:")).count();
    assert_eq!((identities, tokens), (3, 3));
}

#[test]
fn reporters_since_counts_distinct_users_at_distinct_addresses_across_nodes() {
    let Some(prefix) = Prefix::shared("reports") else { return };
    let (a, b) = (prefix.node(1000), prefix.node(1000));
    let target = UserId::random();
    let now = now_ms();
    let r = |n: u8| UserId(u128::from(n) + 1);
    // Two users at one address count once; one user twice counts once;
    // unknown addresses are distinct; a report that does not count (a
    // too-young reporter) is left out; an old one is before `since`.
    a.store.add_report(report(r(1), target, Some(1), now - 5, true)).unwrap();
    b.store.add_report(report(r(2), target, Some(1), now - 4, true)).unwrap();
    a.store.add_report(report(r(1), target, Some(2), now - 3, true)).unwrap();
    b.store.add_report(report(r(3), target, Some(3), now - 2, true)).unwrap();
    a.store.add_report(report(r(4), target, None, now - 1, true)).unwrap();
    b.store.add_report(report(r(5), target, None, now, true)).unwrap();
    a.store.add_report(report(r(6), target, Some(6), now, false)).unwrap();
    b.store.add_report(report(r(7), target, Some(7), now - 100_000, true)).unwrap();
    assert_eq!(a.store.reporters_since(target, now - 50_000).unwrap(), 4, "r1, r3, r4, r5");
    assert_eq!(b.store.reporters_since(target, now - 50_000).unwrap(), 4);
    assert_eq!(b.store.reporters_since(target, 0).unwrap(), 5, "with r7");
    assert_eq!(a.store.reporters_since(UserId::random(), 0).unwrap(), 0);
    assert_eq!(a.store.reports(100).unwrap().len(), 8);
    // The address is in Redis only as a salted hash.
    let index: Vec<String> =
        prefix.query(redis::cmd("ZRANGE").arg(format!("{}:rep:{target}", prefix.name)).arg(0).arg(-1));
    assert!(index.iter().all(|m| !m.contains("10.0.0.")), "{index:?}");
    let ttl: i64 = prefix.query(redis::cmd("PTTL").arg(format!("{}:rep:{target}", prefix.name)));
    assert!(ttl > 0, "the per-user index expires: {ttl}");
}

#[test]
fn reports_keep_the_newest_ten_thousand() {
    let Some(prefix) = Prefix::shared("repcap") else { return };
    let node = prefix.node(1000);
    let reporter = UserId::random();
    let now = now_ms();
    let extra = 25;
    let total = duet::store::redis::MAX_REPORTS + extra;
    let mut first_ids = Vec::new();
    for n in 0..total {
        let mut r = report(reporter, UserId::random(), None, now + n as u64, true);
        r.transcript.clear();
        r.details = "".into();
        if n < extra + 1 {
            first_ids.push(r.report_id.clone());
        }
        node.store.add_report(r).unwrap();
    }
    let all = node.store.reports(usize::MAX).unwrap();
    assert_eq!(all.len(), duet::store::redis::MAX_REPORTS);
    assert_eq!(all[0].created_at, now + total as u64 - 1, "newest first");
    assert_eq!(all.last().unwrap().report_id, first_ids[extra], "the oldest kept");
    assert!(!all.iter().any(|r| first_ids[..extra].contains(&r.report_id)));
    let held: u64 = prefix.query(redis::cmd("HLEN").arg(format!("{}:repj", prefix.name)));
    let by: u64 = prefix.query(redis::cmd("SCARD").arg(format!("{}:repby:{reporter}", prefix.name)));
    assert_eq!((held, by), (10_000, 10_000), "dropped reports leave their indexes");
}

/// A `redis-server` of the test's own on a free port, without persistence,
/// which the test stops and starts (`common::nodes::PrivateRedis`, killed
/// on drop); `None` (a skip, a failure under `CI=true`) without the binary.
#[track_caller]
fn own_redis() -> Option<nodes::PrivateRedis> {
    if !nodes::PrivateRedis::available() {
        return unavailable("no redis-server binary");
    }
    Some(nodes::PrivateRedis::start())
}

#[test]
fn redis_stopped_is_unavailable_and_degraded_then_recovers_without_restart() {
    let Some(mut own) = own_redis() else { return };
    let prefix = Prefix::on(&own.url(), "away");
    let node = prefix.node(1000);
    // The heartbeat is what reconnects (with backoff).
    duet::bus::heartbeat::spawn(node.bus.clone(), "ch:test-node".into(), |_, _| {}).expect("heartbeat");
    let s: &dyn Store = &node.store;
    let (u, token) = user("dave");
    s.insert_user(u.clone(), None).unwrap();
    assert!(lookup(s, &token).is_some());

    own.stop();
    let unavailable = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Unavailable(_)));
    // The first call finds the connection gone; from then on calls fail at once.
    let started = Instant::now();
    assert!(matches!(s.user_by_token(&u.token_hash), Err(StoreError::Unavailable(_))));
    assert!(matches!(s.user(u.id), Err(StoreError::Unavailable(_))));
    assert!(unavailable(s.insert_user(user("eve").0, None)));
    assert!(unavailable(s.update_profile(u.id, u.profile.clone())));
    assert!(unavailable(s.add_report(report(u.id, UserId::random(), None, now_ms(), true))));
    assert!(unavailable(s.set_ban(u.id, Ban { until: u64::MAX, reason: "r".into(), by: "a".into() })));
    assert!(matches!(s.ban(u.id, 0), Err(StoreError::Unavailable(_))));
    assert!(matches!(s.remove_ban(u.id), Err(StoreError::Unavailable(_))));
    assert!(matches!(s.reports(10), Err(StoreError::Unavailable(_))));
    assert!(matches!(s.reporters_since(u.id, 0), Err(StoreError::Unavailable(_))));
    assert!(matches!(s.delete_user(u.id), Err(StoreError::Unavailable(_))));
    s.seen(u.id, u.profile.clone()); // best effort: no panic, no wait
    assert!(started.elapsed() < 2 * duet::bus::CALL_TIMEOUT, "calls fail fast: {:?}", started.elapsed());
    assert_eq!(s.status().degraded.as_deref(), Some("redis unreachable"));

    // Back (empty: no persistence): the store recovers by itself.
    own.restart();
    let deadline = Instant::now() + 3 * WAIT;
    while s.status().degraded.is_some() {
        assert!(Instant::now() < deadline, "the store did not recover");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lookup(s, &token).is_none(), "Redis came back empty: identities kept only there are gone");
    let (fresh, fresh_token) = user("frank");
    s.insert_user(fresh.clone(), None).unwrap();
    assert_same_user(&lookup(s, &fresh_token).unwrap(), &fresh);
}

#[test]
fn two_servers_sharing_a_prefix_accept_each_others_tokens() {
    let Some(prefix) = Prefix::shared("e2e") else { return };
    let start_node = |name: &str| {
        let p = prefix.name.clone();
        let name = name.to_owned();
        start_with(move |c| {
            c.redis_url = Some(SHARED.into());
            c.redis_prefix = p;
            c.node_id = Some(name);
        })
    };
    let (a, b) = (start_node("node-a"), start_node("node-b"));
    let u = register(a.addr, json!({"nickname": "Gina", "mood": "silly"}));
    let mut on_b = Client::authed(b.addr, &u);
    on_b.send(json!({"type":"JOIN_QUEUE","id":"j","payload":{"mood":"silly","interests":[]}}));
    assert_eq!(on_b.recv_type("QUEUE_WAITING")["id"], "j", "a working session on node b");
    // And the identity is in Redis under the prefix, not in either node.
    let keys = prefix.keys();
    assert!(keys.iter().any(|k| k.ends_with(&format!(":u:{}", u.id))), "{keys:?}");
    // Registering again on b with a's token updates the same identity.
    let r = http(
        b.addr,
        "POST",
        "/api/users/registerOrUpdate",
        Some(&u.token),
        Some(&json!({"nickname": "Gina2"})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["userId"], u.id.as_str());
    let me = http(a.addr, "GET", "/api/users/me", Some(&u.token), None);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["profile"]["nickname"], "Gina2", "node a reads what node b wrote");
}
