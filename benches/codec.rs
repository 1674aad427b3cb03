//! Frame decode/encode and command parse + validate: the per-message work
//! outside the hub lock.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duet::app::protocol::{self, parse_envelope, parse_payload};
use duet::app::validate;
use duet::net::frame::{WsEvent, WsReader, apply_mask};

const CHAT: &str = r#"{"type":"CHAT","id":"123","payload":{"roomId":"00ff00ff00ff00ff","text":"hello there, how is your evening going? t=1234567890 n=42"}}"#;

/// A masked client frame carrying `payload`.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    let mut body = payload.to_vec();
    apply_mask(&mut body, mask);
    f.extend_from_slice(&body);
    f
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    let wire = client_frame(CHAT.as_bytes());
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode_chat_frame", |b| {
        let mut reader = WsReader::default();
        let mut buf = wire.clone();
        b.iter(|| {
            buf.copy_from_slice(&wire);
            let mut n = 0;
            let r = reader.decode(&mut buf, 1, &mut |e| {
                if let WsEvent::Text(t) = e {
                    n += t.len();
                }
                true
            });
            black_box((r, n))
        })
    });
    g.bench_function("encode_chat_push", |b| {
        let payload = serde_json::json!({"roomId":"00ff00ff00ff00ff","seq":42,"text":"hello there","sentAt":1795324865017u64});
        b.iter(|| black_box(protocol::frame("CHAT", None, black_box(&payload))))
    });
    let big = vec![0xAAu8; 64 * 1024];
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("unmask_64KiB", |b| {
        let mut buf = big.clone();
        b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4]))
    });
    g.finish();
}

#[derive(serde::Deserialize)]
struct Chat {
    #[serde(rename = "roomId")]
    _room_id: String,
    text: String,
}

fn commands(c: &mut Criterion) {
    c.bench_function("command/parse_validate_chat", |b| {
        b.iter(|| {
            let env = parse_envelope(black_box(CHAT)).expect("valid");
            let chat: Chat = parse_payload(env.payload).expect("valid");
            black_box(validate::chat_text(&chat.text, 2000).map(str::len))
        })
    });
}

criterion_group!(benches, frames, commands);
criterion_main!(benches);
