//! The server side of RFC 6455 framing: encoding the frames duet sends.
//!
//! Server frames are always final and unmasked; headers are written by
//! tungstenite's `FrameHeader`. Both the reactor (pongs, closes, echo) and
//! the workers (every JSON message, built in place with
//! [`TextFrameBuilder`]) encode, so the encoder sits in the shared
//! vocabulary; decoding client frames is the reactor's alone
//! (`net::frame`).

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// RFC 6455 5.5: control frames carry at most 125 payload bytes.
pub const MAX_CONTROL: u64 = 125;

/// Appends one final, unmasked server frame to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let head = FrameHeader { opcode, ..FrameHeader::default() };
    // Writing into a Vec cannot fail.
    let _ = head.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A complete text frame holding `json`, built in one allocation: the JSON
/// is written after a 10-byte gap, then the header is placed just before it.
pub struct TextFrameBuilder {
    /// `GAP` reserved bytes, then the payload as it is written; `finish`
    /// puts the header at the end of the gap and drops the rest of it.
    buf: Vec<u8>,
}

/// The longest header of an unmasked server frame (2 + 8 length bytes).
const GAP: usize = 10;

impl TextFrameBuilder {
    pub fn new(capacity: usize) -> TextFrameBuilder {
        let mut buf = Vec::with_capacity(GAP + capacity);
        buf.resize(GAP, 0);
        TextFrameBuilder { buf }
    }

    /// Where the payload goes.
    pub fn body(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() - GAP;
        let mut head = [0u8; GAP];
        let head_len = {
            let mut w = &mut head[..];
            let h = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
            let _ = h.format(len as u64, &mut w);
            GAP - w.len()
        };
        let start = GAP - head_len;
        self.buf[start..GAP].copy_from_slice(&head[..head_len]);
        self.buf.drain(..start);
        self.buf
    }
}

/// A close frame with `code` and a reason cut (on a character boundary)
/// to fit the 125-byte control-frame limit.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL as usize - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    let mut out = Vec::with_capacity(4 + payload.len());
    encode(&mut out, OpCode::Control(Control::Close), &payload);
    out
}
