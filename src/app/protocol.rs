//! The JSON envelope both ways (contract section 3).
//!
//! Client messages are parsed in two steps: the envelope (type, id, raw
//! payload), so the reply can echo the id even when the payload is bad; then
//! the payload of the known type. Server messages are serialized straight
//! into a complete WebSocket frame.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::base::frame::TextFrameBuilder;

/// Longest client `id`, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// A client message before its payload is looked at. Every field is
/// borrowed from the message: parsing the envelope allocates nothing.
#[derive(serde::Deserialize)]
struct RawEnvelope<'a> {
    /// Any JSON value: a non-string is refused with the id still echoed.
    #[serde(rename = "type", borrow)]
    ty: Option<&'a RawValue>,
    /// Raw, so a bad id is refused without failing the whole parse.
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    /// Raw: parsed only once the type is known.
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

/// A parsed envelope, borrowing from the message (a string with escapes
/// is the one thing that must be copied).
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The message type, to dispatch on.
    pub ty: Cow<'a, str>,
    /// The id to echo, already checked.
    pub id: Option<Cow<'a, str>>,
    /// Parsed by the handler of `ty`.
    pub payload: Option<&'a RawValue>,
}

/// Why an envelope was refused, and whether its id may be echoed.
#[derive(Debug, PartialEq, Eq)]
pub struct BadEnvelope {
    /// What the `ERROR BAD_REQUEST` says.
    pub message: String,
    /// The id to echo, when it could be read and was valid.
    pub id: Option<String>,
}

/// Parses `{type, id?, payload?}`.
pub fn parse_envelope(text: &str) -> Result<Envelope<'_>, BadEnvelope> {
    let raw: RawEnvelope<'_> = serde_json::from_str(text)
        .map_err(|e| BadEnvelope { message: format!("malformed message: {e}"), id: None })?;
    let id = match raw.id {
        None => None,
        Some(r) if r.get() == "null" => None,
        Some(r) => match json_str(r) {
            Some(s) if s.chars().count() <= MAX_ID_CHARS => Some(s),
            _ => {
                return Err(BadEnvelope {
                    message: format!("id must be a string of at most {MAX_ID_CHARS} characters"),
                    id: None,
                });
            }
        },
    };
    let Some(ty) = raw.ty.and_then(json_str) else {
        return Err(BadEnvelope { message: "type must be a string".into(), id: id.map(Cow::into_owned) });
    };
    Ok(Envelope { ty, id, payload: raw.payload })
}

/// A JSON string, borrowed when it has no escapes; None if not a string.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if let Ok(s) = serde_json::from_str::<&str>(text) {
        return Some(Cow::Borrowed(s));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// Parses a payload into `T` (which may borrow from it); an absent
/// payload reads as `{}`.
pub fn parse_payload<'a, T: Deserialize<'a>>(payload: Option<&'a RawValue>) -> Result<T, String> {
    let text = payload.map_or("{}", |p| p.get());
    if !text.trim_start().starts_with('{') {
        return Err("payload must be an object".into());
    }
    serde_json::from_str(text).map_err(|e| format!("bad payload: {e}"))
}

#[derive(Serialize)]
struct OutEnvelope<'a, P> {
    /// The message type.
    #[serde(rename = "type")]
    ty: &'a str,
    /// The client's id, on a direct reply only.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// The contract's payload for `ty`.
    payload: &'a P,
}

/// A complete text frame carrying `{type, id?, payload}`.
pub fn frame<P: Serialize>(ty: &str, id: Option<&str>, payload: &P) -> Vec<u8> {
    frame_sized(ty, id, payload, 128)
}

/// As [`frame`], with room for `capacity` bytes of JSON, so a frame whose
/// size is known up front costs exactly one allocation.
pub fn frame_sized<P: Serialize>(ty: &str, id: Option<&str>, payload: &P, capacity: usize) -> Vec<u8> {
    let mut b = TextFrameBuilder::new(capacity);
    // Our payload types serialize infallibly (no maps with non-string keys).
    let _ = serde_json::to_writer(b.body(), &OutEnvelope { ty, id, payload });
    b.finish()
}

/// The JSON of `{type, id?, payload}` alone, not framed (for a script to
/// publish, or to wrap later with [`json_frame`]).
pub fn frame_json<P: Serialize>(ty: &str, id: Option<&str>, payload: &P) -> String {
    serde_json::to_string(&OutEnvelope { ty, id, payload }).unwrap_or_default()
}

/// A complete text frame carrying JSON that is already written.
pub fn json_frame(json: &str) -> Vec<u8> {
    let mut b = TextFrameBuilder::new(json.len());
    b.body().extend_from_slice(json.as_bytes());
    b.finish()
}

/// The payload of `ERROR`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// The contract's error code (`BAD_REQUEST`, `RATE_LIMITED`, ...).
    pub code: &'static str,
    /// For humans; clients act on `code`.
    pub message: String,
    /// With `RATE_LIMITED`: when the bucket has a token again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// A refused client message: what becomes its `ERROR` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `ERROR` payload it becomes.
    pub error: ErrorPayload,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        let error = ErrorPayload { code, message: message.into(), retry_after_ms: None };
        Refusal { error }
    }

    pub fn rate_limited(retry_after_ms: u64) -> Refusal {
        let mut r = Refusal::new("RATE_LIMITED", "slow down");
        r.error.retry_after_ms = Some(retry_after_ms);
        r
    }

    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new("BAD_REQUEST", message)
    }

    pub fn not_in_room() -> Refusal {
        Refusal::new("NOT_IN_ROOM", "you are not in that room")
    }
}

/// An empty payload object.
#[derive(Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_echoes_a_valid_id_and_refuses_a_long_one() {
        let env = parse_envelope(r#"{"type":"PING","id":"a1","payload":{}}"#).unwrap();
        assert_eq!((&*env.ty, env.id.as_deref()), ("PING", Some("a1")));
        let long = "x".repeat(65);
        let err = parse_envelope(&format!(r#"{{"type":"PING","id":"{long}"}}"#)).unwrap_err();
        assert_eq!(err.id, None);
        let err = parse_envelope(r#"{"type":"PING","id":7}"#).unwrap_err();
        assert_eq!(err.id, None);
    }

    #[test]
    fn missing_type_keeps_the_id_for_the_error() {
        let err = parse_envelope(r#"{"id":"k"}"#).unwrap_err();
        assert_eq!(err.id.as_deref(), Some("k"));
    }

    #[test]
    fn payload_must_be_an_object() {
        #[derive(serde::Deserialize)]
        struct P {}
        assert!(parse_payload::<P>(None).is_ok());
        let raw = RawValue::from_string("[1]".into()).unwrap();
        assert!(parse_payload::<P>(Some(&raw)).is_err());
    }

    #[test]
    fn frame_is_a_final_text_frame_with_exact_length() {
        for len in [0usize, 100, 200, 70_000] {
            let text = "a".repeat(len);
            let f = frame("CHAT", None, &serde_json::json!({ "text": text }));
            assert_eq!(f[0], 0x81);
            let (head, body) = match f[1] {
                126 => (4, u16::from_be_bytes([f[2], f[3]]) as usize),
                127 => (10, u64::from_be_bytes(f[2..10].try_into().unwrap()) as usize),
                n => (2, n as usize),
            };
            assert_eq!(f.len(), head + body);
            let v: serde_json::Value = serde_json::from_slice(&f[head..]).unwrap();
            assert_eq!(v["payload"]["text"].as_str().unwrap().len(), len);
        }
    }
}
