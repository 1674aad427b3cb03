//! Two cluster nodes over one PostgreSQL database (contract section 8:
//! identities live in PostgreSQL when `--database-url` is set). Each node
//! caches tokens and bans; a change on one node reaches the other's caches
//! through the cluster's control channel.

mod common;
mod pg;

use common::*;
use pg::Schema;
use serde_json::json;

fn two_nodes(db: &Schema, test: &str) -> (TestServer, TestServer) {
    let prefix = format!("duet-test-pg-{test}-{}-{}", std::process::id(), now_ms());
    let node = |name: &str| {
        let (p, url, name) = (prefix.clone(), db.url(), name.to_owned());
        start_with(move |c| {
            c.database_url = Some(url);
            c.redis_url = Some("redis://127.0.0.1:6379".into());
            c.redis_prefix = p;
            c.node_id = Some(name);
            c.admin_token = Some("root".into());
        })
    };
    (node("a"), node("b"))
}

/// Polls `f` until it is true, at most `WAIT` (the change crosses pub/sub).
#[track_caller]
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        std::thread::yield_now();
    }
}

#[test]
fn a_ban_and_an_unban_on_one_node_hold_on_the_other() {
    let Some(db) = Schema::new() else { return };
    let (a, b) = two_nodes(&db, "ban");
    let u = register(a.addr, json!({}));
    // b caches the identity.
    drop(Client::authed(b.addr, &u));
    let ban = json!({"userId": u.id, "minutes": 60, "reason": "test"});
    assert_eq!(http(a.addr, "POST", "/api/admin/bans", Some("root"), Some(&ban)).status, 200);
    eventually("the ban reaching node b", || {
        let mut c = Client::connect(b.addr);
        c.send(json!({"type":"AUTH","id":"a","payload":{"token": u.token}}));
        c.recv()["type"] == "AUTH_ERROR"
    });
    assert_eq!(http(a.addr, "DELETE", &format!("/api/admin/bans/{}", u.id), Some("root"), None).status, 204);
    eventually("the unban reaching node b", || {
        let mut c = Client::connect(b.addr);
        c.send(json!({"type":"AUTH","id":"a","payload":{"token": u.token}}));
        c.recv()["type"] == "AUTH_OK"
    });
}

#[test]
fn a_profile_update_and_an_erasure_on_one_node_hold_on_the_other() {
    let Some(db) = Schema::new() else { return };
    let (a, b) = two_nodes(&db, "profile");
    let u = register(a.addr, json!({"nickname": "Before"}));
    assert_eq!(
        http(b.addr, "GET", "/api/users/me", Some(&u.token), None).json()["profile"]["nickname"],
        "Before"
    );
    let body = json!({"nickname": "After"});
    assert_eq!(http(a.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&body)).status, 200);
    eventually("the new nickname on node b", || {
        http(b.addr, "GET", "/api/users/me", Some(&u.token), None).json()["profile"]["nickname"] == "After"
    });
    assert_eq!(http(a.addr, "DELETE", "/api/users/me", Some(&u.token), None).status, 204);
    eventually("the erased token refused on node b", || {
        http(b.addr, "GET", "/api/users/me", Some(&u.token), None).status == 401
    });
}
