//! RFC 6455 framing as a client needs it: encode masked frames (a client
//! must mask every frame) and decode the server's frames, which must be
//! unmasked. Decoding works on whatever bytes have arrived so far and says
//! "need more" until a whole frame is there.

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// One decoded frame header; the payload is `buf[header_len..header_len + payload_len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub header_len: usize,
    pub payload_len: usize,
}

impl Header {
    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Why a byte stream is not a valid frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    ReservedBits,
    BadOpcode(u8),
    ControlTooLong,
    ControlFragmented,
    TooLarge(u64),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::ReservedBits => write!(f, "frame with reserved bits set"),
            FrameError::BadOpcode(op) => write!(f, "frame with unknown opcode {op:#x}"),
            FrameError::ControlTooLong => write!(f, "control frame over 125 bytes"),
            FrameError::ControlFragmented => write!(f, "fragmented control frame"),
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes is over the limit"),
        }
    }
}

/// Parses the frame at the start of `buf`. `Ok(None)`: the frame (header
/// and payload) is not complete yet.
pub fn parse(buf: &[u8], max_payload: usize) -> Result<Option<Header>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let control = opcode & 0x8 != 0;
    match opcode {
        OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
        other => return Err(FrameError::BadOpcode(other)),
    }
    let masked = b1 & 0x80 != 0;
    let len7 = u64::from(b1 & 0x7F);
    let (len, mut pos) = match len7 {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (n, 2),
    };
    if control && len > 125 {
        return Err(FrameError::ControlTooLong);
    }
    if control && !fin {
        return Err(FrameError::ControlFragmented);
    }
    if len > max_payload as u64 {
        return Err(FrameError::TooLarge(len));
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    let h = Header { fin, opcode, mask, header_len: pos, payload_len: len as usize };
    Ok(if buf.len() >= h.total_len() { Some(h) } else { None })
}

/// XORs `data` with the mask, as both masking and unmasking do.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Appends one final, masked frame carrying `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// Appends a masked close frame with a status code.
pub fn encode_close(out: &mut Vec<u8>, code: u16, mask: [u8; 4]) {
    encode(out, OP_CLOSE, &code.to_be_bytes(), mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an unmasked (server-side) frame.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            v.push(len as u8);
        } else if len <= 0xFFFF {
            v.push(126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn mask_round_trip_all_sizes() {
        for len in [0usize, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mask = [0x12, 0x34, 0xAB, 0xCD];
            let mut out = Vec::new();
            encode(&mut out, OP_TEXT, &payload, mask);
            let h = parse(&out, usize::MAX).unwrap().unwrap();
            assert!(h.fin);
            assert_eq!(h.opcode, OP_TEXT);
            assert_eq!(h.mask, Some(mask));
            assert_eq!(h.payload_len, len);
            assert_eq!(h.total_len(), out.len());
            if len > 0 {
                assert_ne!(&out[h.header_len..], &payload[..], "payload must be masked");
            }
            let mut body = out[h.header_len..].to_vec();
            apply_mask(&mut body, mask);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn close_frame_carries_code() {
        let mut out = Vec::new();
        encode_close(&mut out, 1000, [1, 2, 3, 4]);
        let h = parse(&out, 125).unwrap().unwrap();
        let mut body = out[h.header_len..].to_vec();
        apply_mask(&mut body, [1, 2, 3, 4]);
        assert_eq!((h.opcode, body), (OP_CLOSE, vec![0x03, 0xE8]));
    }

    /// Decodes a stream fed in two parts, keeping unconsumed bytes like a
    /// connection does; returns (opcode, fin, payload) per frame.
    fn decode_split(stream: &[u8], split: usize) -> Vec<(u8, bool, Vec<u8>)> {
        let mut pending: Vec<u8> = Vec::new();
        let mut frames = Vec::new();
        for part in [&stream[..split], &stream[split..]] {
            pending.extend_from_slice(part);
            let mut pos = 0;
            while let Some(h) = parse(&pending[pos..], 1 << 20).unwrap() {
                assert_eq!(h.mask, None);
                let p = &pending[pos + h.header_len..pos + h.total_len()];
                frames.push((h.opcode, h.fin, p.to_vec()));
                pos += h.total_len();
            }
            pending.drain(..pos);
        }
        assert!(pending.is_empty());
        frames
    }

    #[test]
    fn server_frames_split_at_every_byte() {
        let big: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
        let expected = vec![
            (OP_TEXT, true, br#"{"type":"AUTH_OK","payload":{}}"#.to_vec()),
            (OP_PING, true, b"hb".to_vec()),
            (OP_TEXT, true, big.clone()),
            (OP_TEXT, false, b"frag-".to_vec()),
            (OP_CONT, true, b"end".to_vec()),
            (OP_TEXT, true, Vec::new()),
            (OP_CLOSE, true, vec![0x03, 0xE8]),
        ];
        let mut stream = Vec::new();
        for (op, fin, p) in &expected {
            stream.extend(server_frame(*fin, *op, p));
        }
        for split in 0..=stream.len() {
            assert_eq!(decode_split(&stream, split), expected, "split at {split}");
        }
    }

    #[test]
    fn long_length_frame_split_near_its_header() {
        let huge = vec![b'z'; 70_000];
        let stream = server_frame(true, OP_TEXT, &huge);
        for split in (0..=16).chain([1000, 69_999, stream.len() - 1, stream.len()]) {
            assert_eq!(decode_split(&stream, split), vec![(OP_TEXT, true, huge.clone())]);
        }
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(parse(&[0xC1, 0], 10), Err(FrameError::ReservedBits));
        assert_eq!(parse(&[0x83, 0], 10), Err(FrameError::BadOpcode(3)));
        assert_eq!(parse(&[0x09, 0], 10), Err(FrameError::ControlFragmented));
        assert_eq!(parse(&[0x89, 126, 0, 200], 1000), Err(FrameError::ControlTooLong));
        assert_eq!(parse(&[0x81, 126, 1, 0], 100), Err(FrameError::TooLarge(256)));
        assert_eq!(parse(&[0x81], 100), Ok(None));
        assert_eq!(parse(&[0x81, 5, b'a'], 100), Ok(None));
    }
}
