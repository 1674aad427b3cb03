//! The core loop end to end: register, authenticate, queue, pair, chat.

mod common;

use common::*;
use serde_json::json;

#[test]
fn two_users_pair_and_chat_both_ways() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let ack = a.request("CHAT", "m1", json!({"roomId": room, "text": "  hello  "}));
    assert_eq!(ack["type"], "CHAT_ACK");
    assert_eq!(ack["payload"]["seq"], 1);
    let got = b.recv_type("CHAT");
    assert_eq!(got["payload"]["text"], "hello");
    assert_eq!(got["payload"]["seq"], 1);
    assert!(got.get("id").is_none(), "pushes carry no id");
    let ack = b.request("CHAT", "m2", json!({"roomId": room, "text": "hi!"}));
    assert_eq!(ack["payload"]["seq"], 2);
    assert_eq!(a.recv_type("CHAT")["payload"]["seq"], 2);
}

#[test]
fn thousand_messages_arrive_in_order_with_matching_seq() {
    let srv = start_with(|c| {
        c.chat_rate = 1e9;
        c.chat_burst = 1_000_000;
    });
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..1000 {
        a.ws.write(tungstenite::Message::text(
            json!({"type":"CHAT","id": i.to_string(),"payload":{"roomId": room,"text": format!("m{i}")}})
                .to_string(),
        ))
        .unwrap();
    }
    a.ws.flush().unwrap();
    for i in 0..1000u64 {
        let m = b.recv_type("CHAT");
        assert_eq!(m["payload"]["seq"], i + 1);
        assert_eq!(m["payload"]["text"], format!("m{i}"));
    }
    for i in 0..1000u64 {
        let ack = a.recv_type("CHAT_ACK");
        assert_eq!(ack["id"], i.to_string());
        assert_eq!(ack["payload"]["seq"], i + 1);
    }
}
