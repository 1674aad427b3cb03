//! The WebSocket handshake keys: a random `Sec-WebSocket-Key` (16 random
//! bytes, base64) and the `Sec-WebSocket-Accept` the server must answer
//! with (base64 of SHA-1 of key + GUID, RFC 6455 section 4.2.2).
//!
//! Both are done by kept crates, not by hand: `base64` encodes the key and
//! tungstenite's `derive_accept_key` (SHA-1 + base64, the server's own
//! helper) computes the answer to check.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::rng::Rng;

/// A fresh client key: 24 base64 characters.
pub fn new_key(rng: &mut Rng) -> [u8; 24] {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let mut out = [0u8; 24];
    // 16 bytes always encode to exactly 24 characters (with "==").
    let written = STANDARD.encode_slice(raw, &mut out).unwrap_or(0);
    debug_assert_eq!(written, 24);
    out
}

/// The accept value for a key: 28 base64 characters.
pub fn accept_for(key: &[u8]) -> [u8; 28] {
    let derived = tungstenite::handshake::derive_accept_key(key);
    let mut out = [0u8; 28];
    // SHA-1 is 20 bytes, 28 characters in base64; anything else is a bug
    // in the crate and makes every handshake check fail loudly.
    if derived.len() == out.len() {
        out.copy_from_slice(derived.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example_accept() {
        // RFC 6455 section 1.3.
        assert_eq!(&accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn keys_are_base64_of_16_bytes() {
        let mut rng = Rng::new(3);
        let k = new_key(&mut rng);
        assert_eq!(&k[22..], b"==");
        assert_eq!(STANDARD.decode(k).map(|raw| raw.len()).ok(), Some(16));
        assert_ne!(k, new_key(&mut rng));
    }
}
