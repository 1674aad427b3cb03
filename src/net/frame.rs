//! WebSocket framing (RFC 6455) without a `WebSocket` object per connection:
//! the decoder of client frames (the encoder is `base::frame`).
//!
//! Headers are parsed with tungstenite's `FrameHeader::parse`; everything a
//! server must enforce on top of it lives here: client frames are masked, no
//! RSV bits (no extension is negotiated), control frames are final and at
//! most 125 bytes, and a message announced or assembled beyond the message
//! limit is refused before a byte of it is buffered. Server frames are final
//! and unmasked. The decoder keeps state only while a fragmented message is
//! being assembled, so an idle connection costs one null pointer here.

use std::io::Cursor;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::base::frame::MAX_CONTROL;
/// The encoder is the shared vocabulary's (`base::frame`): re-exported so
/// the codec reads as one module.
pub use crate::base::frame::{TextFrameBuilder, close_frame, encode};

/// Largest message (one frame or the sum of its fragments), in bytes.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Largest message before `AUTH` succeeds (contract section 7): enough for
/// any `AUTH` or `PING`, little for a socket that never authenticates.
pub const PRE_AUTH_MESSAGE: usize = 4 * 1024;

/// Why a connection must be closed: one variant per rule the peer broke
/// (as tungstenite's `ProtocolError`), so a test can tell which rule
/// refused a frame; each names its close code (RFC 6455 7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// 1002: a client frame must be masked (RFC 6455 5.1).
    #[error("protocol error: client frame not masked")]
    Unmasked,
    /// 1002: an RSV bit is set, and no extension that would define it was
    /// negotiated (5.2).
    #[error("protocol error: reserved bits set")]
    ReservedBits,
    /// 1002: opcode 0x3-0x7 or 0xB-0xF (5.2).
    #[error("protocol error: reserved opcode")]
    ReservedOpcode,
    /// 1002: a control frame with more than 125 payload bytes (5.5).
    #[error("protocol error: control frame longer than 125 bytes")]
    ControlTooLong,
    /// 1002: a control frame without FIN (5.5: never fragmented).
    #[error("protocol error: fragmented control frame")]
    FragmentedControl,
    /// 1002: a continuation frame with no fragmented message open (5.4).
    #[error("protocol error: continuation without a start")]
    ContinuationWithoutStart,
    /// 1002: a new text or binary frame while a fragmented message is
    /// still open (5.4).
    #[error("protocol error: new message inside a fragmented one")]
    NewMessageInFragmented,
    /// 1002: a close code a peer may not send (7.4: below 1000, 1004-1006,
    /// 1015, 1016-2999, 5000 and up).
    #[error("protocol error: invalid close code")]
    BadCloseCode,
    /// 1002: a close payload of one byte (a code is two bytes, 5.5.1).
    #[error("protocol error: one-byte close payload")]
    ShortClosePayload,
    /// 1007: a text message or close reason is not UTF-8.
    #[error("invalid UTF-8 in a text message")]
    BadUtf8,
    /// 1009: the message exceeds [`MAX_MESSAGE`] (or the limit in force).
    #[error("message too big")]
    TooBig,
}

impl FrameError {
    /// The close code to send the peer.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::Unmasked
            | FrameError::ReservedBits
            | FrameError::ReservedOpcode
            | FrameError::ControlTooLong
            | FrameError::FragmentedControl
            | FrameError::ContinuationWithoutStart
            | FrameError::NewMessageInFragmented
            | FrameError::BadCloseCode
            | FrameError::ShortClosePayload => 1002,
            FrameError::BadUtf8 => 1007,
            FrameError::TooBig => 1009,
        }
    }
}

/// One decoded event, borrowing from the input buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A complete text message, UTF-8 checked.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong,
    /// The peer's close: the code to echo back (1000 when it sent none).
    Close(u16),
}

/// Why [`WsReader::decode`] stopped before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The rest is an incomplete frame; keep it and read more.
    Incomplete,
    /// A complete message is next but the budget is spent; retry later
    /// with the same bytes (nothing of that frame was consumed).
    Budget,
    /// A close frame was handled; ignore what follows.
    Closed,
    /// The callback asked to stop (it is closing the connection).
    Halted,
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Partial {
    /// Text or binary: fixed by the first fragment.
    text: bool,
    /// Unmasked payload so far; never longer than [`MAX_MESSAGE`].
    bytes: Vec<u8>,
    /// Text only: `bytes[..checked]` is valid UTF-8 ending on a character
    /// boundary, so each fragment is checked once, when it arrives, and a
    /// bad one fails at once instead of when the message completes.
    checked: usize,
}

impl Partial {
    /// Checks what the last fragment added; an incomplete character at the
    /// end is fine until the next fragment (or the final one) arrives.
    fn check_utf8(&mut self) -> Result<(), FrameError> {
        if !self.text {
            return Ok(());
        }
        match std::str::from_utf8(&self.bytes[self.checked..]) {
            Ok(_) => self.checked = self.bytes.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(FrameError::BadUtf8),
        }
        Ok(())
    }
}

/// Per-connection decoder state.
#[derive(Debug, Default)]
pub struct WsReader {
    /// Only `Some` between the first and last fragment of a message.
    partial: Option<Box<Partial>>,
}

/// XOR `buf` with the repeating 4-byte `mask`, eight bytes at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Close codes a peer may send (RFC 6455 7.4): 1004-1006 and 1015 are
/// reserved for local use, 1012-2999 are unassigned.
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl WsReader {
    /// True while a fragmented message is buffered (it holds memory).
    pub fn is_assembling(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes frames from `buf` (unmasking it in place), calling `on` for
    /// each event; `on` returns false to stop right after that event.
    /// At most `budget` complete data messages are emitted.
    /// Returns the number of bytes consumed and why decoding stopped.
    pub fn decode(
        &mut self,
        buf: &mut [u8],
        budget: usize,
        on: &mut dyn FnMut(WsEvent<'_>) -> bool,
    ) -> Result<(usize, Stop), FrameError> {
        self.decode_limited(buf, budget, MAX_MESSAGE, on)
    }

    /// As [`decode`](Self::decode) with another message limit (the
    /// test-only echo mode takes the conformance suite's large messages).
    pub fn decode_limited(
        &mut self,
        buf: &mut [u8],
        mut budget: usize,
        limit: usize,
        on: &mut dyn FnMut(WsEvent<'_>) -> bool,
    ) -> Result<(usize, Stop), FrameError> {
        let mut pos = 0;
        loop {
            let mut cursor = Cursor::new(&buf[pos..]);
            let (head, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok((pos, Stop::Incomplete)),
                // tungstenite refuses only a reserved opcode here.
                Err(_) => return Err(FrameError::ReservedOpcode),
            };
            let head_len = cursor.position() as usize;
            let control = matches!(head.opcode, OpCode::Control(_));
            if head.rsv1 || head.rsv2 || head.rsv3 {
                return Err(FrameError::ReservedBits);
            }
            let Some(mask) = head.mask else {
                return Err(FrameError::Unmasked);
            };
            if control && len > MAX_CONTROL {
                return Err(FrameError::ControlTooLong);
            }
            if control && !head.is_final {
                return Err(FrameError::FragmentedControl);
            }
            let assembled = self.partial.as_ref().map_or(0, |p| p.bytes.len());
            if !control && len.saturating_add(assembled as u64) > limit as u64 {
                return Err(FrameError::TooBig);
            }
            let len = len as usize;
            if buf.len() - pos - head_len < len {
                return Ok((pos, Stop::Incomplete));
            }
            let completes = !control && head.is_final;
            if completes && budget == 0 {
                return Ok((pos, Stop::Budget));
            }
            let start = pos + head_len;
            let payload = &mut buf[start..start + len];
            apply_mask(payload, mask);
            pos = start + len;
            let go_on = match head.opcode {
                OpCode::Control(Control::Ping) => on(WsEvent::Ping(payload)),
                OpCode::Control(Control::Pong) => on(WsEvent::Pong),
                OpCode::Control(Control::Close) => {
                    on(WsEvent::Close(close_reply(payload)?));
                    return Ok((pos, Stop::Closed));
                }
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(FrameError::ReservedOpcode);
                }
                OpCode::Data(data) => {
                    if completes {
                        budget -= 1;
                    }
                    self.data_frame(data, head.is_final, payload, limit, on)?
                }
            };
            if !go_on {
                return Ok((pos, Stop::Halted));
            }
        }
    }

    /// `limit` bounds what a fragmented message may reserve, not only
    /// what it holds: a `Vec` left to double would reserve up to twice it.
    fn data_frame(
        &mut self,
        data: Data,
        fin: bool,
        payload: &[u8],
        limit: usize,
        on: &mut dyn FnMut(WsEvent<'_>) -> bool,
    ) -> Result<bool, FrameError> {
        match (data, self.partial.as_mut()) {
            (Data::Continue, None) => Err(FrameError::ContinuationWithoutStart),
            (Data::Text | Data::Binary, Some(_)) => Err(FrameError::NewMessageInFragmented),
            (Data::Text | Data::Binary, None) if fin => emit(data == Data::Text, payload, on),
            (Data::Text | Data::Binary, None) => {
                let mut partial = Partial { text: data == Data::Text, bytes: payload.to_vec(), checked: 0 };
                partial.check_utf8()?;
                self.partial = Some(Box::new(partial));
                Ok(true)
            }
            (Data::Continue, Some(partial)) => {
                let bytes = &mut partial.bytes;
                let need = bytes.len() + payload.len();
                if need > bytes.capacity() {
                    // Doubling keeps many small fragments linear; the cap
                    // keeps the reservation within the message limit.
                    let grow = (bytes.capacity() * 2).max(need).min(limit.max(need));
                    bytes.reserve_exact(grow - bytes.len());
                }
                bytes.extend_from_slice(payload);
                if !fin {
                    partial.check_utf8()?;
                    return Ok(true);
                }
                let done = self.partial.take().expect("matched Some above");
                emit(done.text, &done.bytes, on)
            }
            (Data::Reserved(_), _) => Err(FrameError::ReservedOpcode),
        }
    }
}

fn emit(text: bool, payload: &[u8], on: &mut dyn FnMut(WsEvent<'_>) -> bool) -> Result<bool, FrameError> {
    if text {
        let s = std::str::from_utf8(payload).map_err(|_| FrameError::BadUtf8)?;
        Ok(on(WsEvent::Text(s)))
    } else {
        Ok(on(WsEvent::Binary(payload)))
    }
}

/// The close code to echo for a received close payload, or why it is bad.
fn close_reply(payload: &[u8]) -> Result<u16, FrameError> {
    match payload {
        [] => Ok(1000),
        [_] => Err(FrameError::ShortClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !valid_close_code(code) {
                return Err(FrameError::BadCloseCode);
            }
            std::str::from_utf8(reason).map_err(|_| FrameError::BadUtf8)?;
            Ok(code)
        }
    }
}
