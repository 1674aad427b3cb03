//! The JSON messages: borrowed (allocation-free) decoding of what the
//! server sends, and writers for what the client sends, into a reused
//! buffer. Chat text carries its send stamp: `t=<mono ns> n=<counter>`.

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;

/// A JSON string that borrows from the input unless it had escapes
/// (serde's own `Option<Cow<str>>` always allocates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A server envelope. Fields borrow from the frame where JSON allows.
#[derive(Debug, Deserialize)]
pub struct ServerMsg<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Str<'a>,
    #[serde(default, borrow)]
    pub id: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub payload: Option<Payload<'a>>,
}

/// The union of the payload fields the harness reads; others are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload<'a> {
    #[serde(default, borrow)]
    pub room_id: Option<Str<'a>>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub text: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub code: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub message: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub reason: Option<Str<'a>>,
}

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Starts `{"type":"T","id":"N","payload":` (the caller closes it).
fn begin(out: &mut Vec<u8>, kind: &str, id: u32) {
    let _ = write!(out, "{{\"type\":\"{kind}\",\"id\":\"{id}\",\"payload\":");
}

pub fn write_auth(out: &mut Vec<u8>, id: u32, token: &str) {
    begin(out, "AUTH", id);
    out.extend_from_slice(b"{\"token\":");
    json_str(out, token);
    out.extend_from_slice(b"}}");
}

/// `payload` is a complete JSON object, e.g. `{"mood":"chill"}`.
pub fn write_join(out: &mut Vec<u8>, id: u32, payload: &str) {
    begin(out, "JOIN_QUEUE", id);
    out.extend_from_slice(payload.as_bytes());
    out.push(b'}');
}

/// A chat whose text is `t=<sent_ns> n=<n>` followed by `pad` dots.
pub fn write_chat(out: &mut Vec<u8>, id: u32, room: &str, sent_ns: u64, n: u64, pad: usize) {
    begin(out, "CHAT", id);
    out.extend_from_slice(b"{\"roomId\":");
    json_str(out, room);
    let _ = write!(out, ",\"text\":\"t={sent_ns} n={n}");
    if pad > 0 {
        out.push(b' ');
        out.resize(out.len() + pad, b'.');
    }
    out.extend_from_slice(b"\"}}");
}

pub fn write_leave_room(out: &mut Vec<u8>, id: u32, room: &str) {
    begin(out, "LEAVE_ROOM", id);
    out.extend_from_slice(b"{\"roomId\":");
    json_str(out, room);
    out.extend_from_slice(b"}}");
}

/// Reads `(t, n)` back from a chat text written by [`write_chat`].
pub fn parse_stamp(text: &str) -> Option<(u64, u64)> {
    let rest = text.strip_prefix("t=")?;
    let (t, rest) = rest.split_once(" n=")?;
    let n = rest.split(' ').next()?;
    Some((t.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_round_trips_through_server_shape() {
        let mut out = Vec::new();
        write_chat(&mut out, 7, "r\"1", 123_456_789, 42, 3);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "CHAT");
        assert_eq!(v["id"], "7");
        assert_eq!(v["payload"]["roomId"], "r\"1");
        let text = v["payload"]["text"].as_str().unwrap();
        assert_eq!(parse_stamp(text), Some((123_456_789, 42)));
        assert_eq!(parse_stamp("t=5 n=6"), Some((5, 6)));
        assert_eq!(parse_stamp("hello"), None);
    }

    #[test]
    fn decodes_server_messages_without_owning() {
        let raw = br#"{"type":"CHAT","payload":{"roomId":"abc","seq":3,"text":"t=1 n=2","sentAt":9,"extra":{"a":[1]}}}"#;
        let m: ServerMsg = serde_json::from_slice(raw).unwrap();
        assert_eq!(&*m.kind, "CHAT");
        assert!(m.id.is_none());
        let p = m.payload.unwrap();
        assert!(matches!(p.room_id, Some(Str(Cow::Borrowed("abc")))));
        assert!(matches!(p.text, Some(Str(Cow::Borrowed("t=1 n=2")))));
        assert_eq!(p.seq, Some(3));
        let m: ServerMsg =
            serde_json::from_slice(br#"{"type":"ERROR","id":"4","payload":{"code":"X","message":"a\"b"}}"#)
                .unwrap();
        assert_eq!(m.id.as_deref(), Some("4"));
        assert_eq!(m.payload.unwrap().message.as_deref(), Some("a\"b"));
        let m: ServerMsg = serde_json::from_slice(br#"{"type":"X","payload":{}}"#).unwrap();
        assert!(matches!(m.kind, Str(Cow::Borrowed("X"))));
        let mut out = Vec::new();
        write_auth(&mut out, 1, "tok");
        write_join(&mut out, 2, "{\"mood\":\"chill\"}");
        write_leave_room(&mut out, 3, "r");
        assert!(std::str::from_utf8(&out).unwrap().contains("\"payload\":{\"mood\":\"chill\"}}"));
    }
}
