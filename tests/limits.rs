//! Rate limits (per user for chat and queue commands, per IP for
//! registrations) and the blocklist.

mod common;

use std::io::Write;

use common::*;
use serde_json::json;

#[test]
fn chat_past_the_burst_is_rate_limited_with_retry_after() {
    let srv = start_with(|c| {
        c.chat_rate = 1.0;
        c.chat_burst = 3;
    });
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..3 {
        assert_eq!(
            a.request("CHAT", &i.to_string(), json!({"roomId": room, "text": "hi"}))["type"],
            "CHAT_ACK"
        );
        b.recv_type("CHAT");
    }
    let refused = a.request("CHAT", "x", json!({"roomId": room, "text": "hi"}));
    assert_error(&refused, "RATE_LIMITED");
    let wait = refused["payload"]["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!((1..=1000).contains(&wait), "retryAfterMs {wait}");
    // A refused CHAT takes no seq and reaches nobody.
    b.expect_silence(std::time::Duration::from_millis(100));
}

#[test]
fn more_than_fifty_refusals_in_a_row_close_with_4429() {
    let (_srv, mut c) = queue_limited(1);
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({}))["type"], "QUEUE_WAITING");
    for i in 0..50 {
        let r = c.request("LEAVE_QUEUE", &i.to_string(), json!({}));
        assert_eq!(r["payload"]["code"], "RATE_LIMITED", "refusal {i}");
    }
    c.send(json!({"type":"LEAVE_QUEUE","id":"last","payload":{}}));
    let (code, before) = c.expect_close();
    assert_eq!(code, 4429);
    assert_eq!(before.last().expect("the 51st refusal")["payload"]["code"], "RATE_LIMITED");
}

#[test]
fn queue_commands_share_one_bucket() {
    let (_srv, mut c) = queue_limited(2);
    assert_eq!(c.request("JOIN_QUEUE", "1", json!({}))["type"], "QUEUE_WAITING");
    assert_eq!(c.request("LEAVE_QUEUE", "2", json!({}))["type"], "QUEUE_LEFT");
    assert_eq!(c.request("JOIN_QUEUE", "3", json!({}))["payload"]["code"], "RATE_LIMITED");
}

#[test]
fn registrations_per_ip_are_limited_with_429_and_retry_after() {
    let srv = start_with(|c| c.register_per_minute = 2);
    register(srv.addr, json!({}));
    let u = register(srv.addr, json!({}));
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", None, Some(&json!({})));
    assert_http_error(&r, 429, "RATE_LIMITED");
    assert_eq!(r.header("retry-after").as_deref(), Some("30"));
    // Updates do not count against the registration limit.
    let upd = http(
        srv.addr,
        "POST",
        "/api/users/registerOrUpdate",
        Some(&u.token),
        Some(&json!({"nickname":"Zed"})),
    );
    assert_eq!(upd.status, 200);
}

#[test]
fn blocklisted_words_are_refused_on_word_boundaries() {
    let dir = std::env::temp_dir().join(format!("duet-blocklist-{}", std::process::id()));
    let mut f = std::fs::File::create(&dir).unwrap();
    writeln!(f, "# test list\nbadword\nvery evil phrase").unwrap();
    let path = dir.clone();
    let srv = start_with(move |c| c.blocklist = Some(path));
    let (mut a, mut b, room) = pair(srv.addr);
    for text in ["a BADWORD here", "that very  evil phrase"] {
        let r = a.request("CHAT", "x", json!({"roomId": room, "text": text}));
        if text.contains("  ") {
            // Whitespace inside a phrase must match literally; this one does not.
            assert_eq!(r["type"], "CHAT_ACK");
            b.recv_type("CHAT");
        } else {
            assert_eq!(r["payload"]["code"], "CONTENT_REJECTED");
        }
    }
    let ok = a.request("CHAT", "y", json!({"roomId": room, "text": "badwords and notbadword are fine"}));
    assert_eq!(ok["type"], "CHAT_ACK");
    assert_eq!(ok["payload"]["seq"], 2, "refused messages take no seq");
    let _ = std::fs::remove_file(dir);
}
