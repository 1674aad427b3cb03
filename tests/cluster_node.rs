//! A process as a cluster node (contract section 8): `--reuse-port`, the
//! node's name and Redis state in `/api/health`. The machine's Redis is at
//! 127.0.0.1:6379; every test uses a key prefix of its own.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::*;

/// A prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    format!("duet-test-{test}-{}-{:x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
}

#[test]
fn health_names_the_node_and_says_redis_is_ok() {
    let p = prefix("health");
    let srv = start_with(|c| {
        c.redis_url = Some("redis://127.0.0.1:6379".into());
        c.redis_prefix = p.clone();
        c.node_id = Some("node-a".into());
    });
    let h = http(srv.addr, "GET", "/api/health", None, None);
    assert_eq!(h.status, 200);
    let v = h.json();
    assert_eq!(
        (v["status"].as_str(), v["node"].as_str(), v["redis"].as_str()),
        (Some("ok"), Some("node-a"), Some("ok")),
        "{v}"
    );
}

#[test]
fn a_single_node_names_itself_without_redis_state() {
    let srv = start();
    let v = http(srv.addr, "GET", "/api/health", None, None).json();
    assert!(v["node"].as_str().is_some_and(|n| !n.is_empty()), "a generated node id: {v}");
    assert!(v.get("redis").is_none(), "no redis field without --redis-url: {v}");
}

#[test]
fn redis_away_at_start_is_degraded_not_down() {
    // A port nothing listens on.
    let port = free_port();
    let srv = start_with(|c| {
        c.redis_url = Some(format!("redis://127.0.0.1:{port}"));
        c.redis_prefix = prefix("away");
    });
    let h = http(srv.addr, "GET", "/api/health", None, None);
    assert_eq!(h.status, 200, "degraded still answers 200");
    let v = h.json();
    assert_eq!((v["status"].as_str(), v["redis"].as_str()), (Some("degraded"), Some("unreachable")), "{v}");
}

#[test]
fn reuse_port_lets_two_servers_share_one_port_and_both_serve() {
    let a = start_with(|c| {
        c.reuse_port = true;
        c.node_id = Some("one".into());
    });
    let port = a.addr.port();
    let b = start_with(|c| {
        c.reuse_port = true;
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.node_id = Some("two".into());
    });
    assert_eq!(b.addr, a.addr);
    let mut seen = HashSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 2 && Instant::now() < deadline {
        let v = http(a.addr, "GET", "/api/health", None, None).json();
        seen.insert(v["node"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        seen,
        HashSet::from(["one".to_string(), "two".to_string()]),
        "the kernel spreads connections over both"
    );
}

#[test]
fn without_reuse_port_a_second_server_cannot_take_the_port() {
    let a = start();
    let mut cfg = duet::Config::for_tests();
    cfg.listen = a.addr;
    let err = duet::Server::start(cfg).err().expect("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}
