//! WebSocket frames as bytes, for tests of the codec and tests that write
//! raw frames: client frames built by hand, server frames taken apart,
//! the decoder's events owned, and a stream decoded chunk by chunk.

use std::fmt;

use duet::net::frame::{FrameError, Stop, WsEvent, WsReader};
use serde_json::json;

/// WebSocket opcodes, for tests that write raw frames.
pub mod opcode {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A client frame: `first` is FIN|RSV|opcode; the payload is masked with
/// `mask` when given (a server must refuse unmasked client frames).
pub fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    encode_frame(first, mask, payload.len() as u64, false, payload)
}

/// A frame header announcing `len` (in the shortest encoding, or with
/// `wide` in the 16- or 64-bit one even where 7 bits would do), then
/// `payload` masked with `mask` when given. `len` need not be the
/// payload's length: a test can announce more or less than it sends.
pub fn encode_frame(first: u8, mask: Option<[u8; 4]>, len: u64, wide: bool, payload: &[u8]) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match len {
        0..=125 if !wide => out.push(m | len as u8),
        0..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(mask) = mask {
        out.extend_from_slice(&mask);
    }
    let mask = mask.unwrap_or_default();
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Splits one whole server frame into (first byte, payload), checking it
/// is unmasked, its length field is in the shortest form and it has no
/// byte beyond its payload.
#[track_caller]
pub fn split_server_frame(f: &[u8]) -> (u8, &[u8]) {
    assert!(f.len() >= 2, "a frame has at least 2 bytes: {f:?}");
    assert_eq!(f[1] & 0x80, 0, "server frames are not masked");
    let (len, head) = match f[1] & 0x7f {
        126 => (u16::from_be_bytes([f[2], f[3]]) as usize, 4),
        127 => (u64::from_be_bytes(f[2..10].try_into().unwrap()) as usize, 10),
        n => (n as usize, 2),
    };
    let shortest = match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    assert_eq!(head, shortest, "length {len} not in its shortest form");
    assert_eq!(f.len(), head + len, "length field {len}, frame {} bytes", f.len());
    (f[0], &f[head..])
}

/// A `PING` envelope (with `id` when given) padded with JSON whitespace
/// to exactly `len` bytes.
#[track_caller]
pub fn padded_ping(id: Option<&str>, len: usize) -> Vec<u8> {
    let v = match id {
        Some(id) => json!({"type": "PING", "id": id, "payload": {}}),
        None => json!({"type": "PING", "payload": {}}),
    };
    let mut b = v.to_string().into_bytes();
    assert!(b.len() <= len, "{len} is too short for a PING");
    b.resize(len, b' ');
    b
}

/// Owned copy of a `WsEvent`, to compare decoded streams. Its `Debug`
/// shows a long payload by its length and first bytes only.
#[derive(Clone, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(u16),
}

impl fmt::Debug for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |b: &[u8]| match b.len() {
            0..=64 => format!("\"{}\"", b.escape_ascii()),
            n => format!("{n} bytes \"{}\"...", b[..32].escape_ascii()),
        };
        match self {
            Ev::Text(t) => write!(f, "Text({})", short(t.as_bytes())),
            Ev::Binary(b) => write!(f, "Binary({})", short(b)),
            Ev::Ping(b) => write!(f, "Ping({})", short(b)),
            Ev::Pong => write!(f, "Pong"),
            Ev::Close(c) => write!(f, "Close({c})"),
        }
    }
}

pub fn own(e: WsEvent<'_>) -> Ev {
    match e {
        WsEvent::Text(t) => Ev::Text(t.to_owned()),
        WsEvent::Binary(b) => Ev::Binary(b.to_vec()),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong => Ev::Pong,
        WsEvent::Close(c) => Ev::Close(c),
    }
}

/// Feeds `chunks` in turn the way the reactor does (the unconsumed rest of
/// one is kept before the next), with an unlimited budget; returns the
/// events, the last stop and how many bytes were left over. Every stop
/// must be `Incomplete` until a `Closed` ends the stream.
#[track_caller]
pub fn decode_chunks(chunks: &[&[u8]]) -> Result<(Vec<Ev>, Stop, usize), FrameError> {
    let mut r = WsReader::default();
    let mut keep: Vec<u8> = Vec::new();
    let mut evs = Vec::new();
    let mut stop = Stop::Incomplete;
    for chunk in chunks {
        keep.extend_from_slice(chunk);
        let (used, s) = r.decode(&mut keep, usize::MAX, &mut |e| {
            evs.push(own(e));
            true
        })?;
        assert!(used <= keep.len());
        keep.drain(..used);
        stop = s;
        match s {
            Stop::Closed => break,
            Stop::Incomplete => {}
            other => panic!("{other:?} with an unlimited budget and a callback that never halts"),
        }
    }
    Ok((evs, stop, keep.len()))
}
