//! One socket's state as the reactor keeps it.
//!
//! Kept small on purpose (about 130 bytes): an idle connection owns no
//! buffer at all. `inbuf` holds only the bytes of an incomplete request or
//! frame, `out` only bytes the kernel has not taken yet; both are freed as
//! soon as they empty.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::frame::WsReader;
use crate::base::addr::ClientAddr;
use crate::base::clock::Millis;

/// Output a connection may have pending before it is closed with 1008.
pub const MAX_PENDING_OUT: usize = 256 * 1024;
/// Written output kept at the front of `out` at most before it is dropped
/// (a drain costs a move of what is pending, so not after every write).
const COMPACT_AT: usize = 64 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading an HTTP request.
    Http,
    /// A request went to a worker; read nothing more until it answers, so
    /// responses leave in request order.
    HttpAwaiting,
    /// Upgraded: WebSocket frames both ways.
    Ws,
    /// Our last bytes are queued: flush, half-close, then wait (bounded by
    /// the linger timer) for the peer to close so it reads everything.
    Closing,
}

pub struct Connection {
    /// The socket; registered with the poll under its slot.
    pub sock: TcpStream,
    /// Matches `ConnId::generation` of ids issued for this occupant.
    pub generation: u32,
    /// What incoming bytes mean now, and what may be read.
    pub phase: Phase,
    /// Was upgraded: the workers know it and must get one `Closed`.
    pub upgraded: bool,
    /// The workers were told it closed.
    pub notified: bool,
    /// Listed in the reactor's `dirty` list (has output to flush).
    pub dirty: bool,
    /// Stopped reading because a worker queue was full.
    pub paused: bool,
    /// Closing started by the peer (its close frame or EOF arrived).
    pub peer_closed: bool,
    /// Write side shut down after the final flush.
    pub write_shut: bool,
    /// The peer half-closed (or errored): read to the EOF, not to a short read.
    pub read_closed: bool,
    /// The TCP peer is a trusted proxy: the client address comes from each
    /// request's `X-Forwarded-For`.
    pub proxied: bool,
    /// Counted in the reactor's per-address connection counts under
    /// `client` (so closing it uncounts exactly once).
    pub counted: bool,
    /// A worker said `AUTH` succeeded: messages may be 64 KiB, not 4 KiB.
    pub authed: bool,
    /// HTTP: last progress (a request began, or response bytes were
    /// written). WebSocket: last frame received.
    pub since: Millis,
    /// When it was accepted: a keep-alive connection's life is bounded.
    pub born: Millis,
    /// Who it speaks for (contract section 7): the peer, or the address a
    /// trusted proxy forwarded.
    pub client: ClientAddr,
    /// Unconsumed input (an incomplete request or frame); empty when idle.
    pub inbuf: Vec<u8>,
    /// Pending output and how much of it was written.
    pub out: Vec<u8>,
    /// Bytes of `out` already written.
    pub out_pos: usize,
    /// WebSocket decoder state: a fragmented message being assembled.
    pub ws: WsReader,
}

/// Result of trying to write pending output.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    Done,
    WouldBlock,
    Failed,
}

impl Connection {
    pub fn new(
        sock: TcpStream,
        generation: u32,
        client: ClientAddr,
        proxied: bool,
        now: Millis,
    ) -> Connection {
        Connection {
            sock,
            generation,
            phase: Phase::Http,
            upgraded: false,
            notified: false,
            dirty: false,
            paused: false,
            peer_closed: false,
            write_shut: false,
            read_closed: false,
            proxied,
            counted: false,
            authed: false,
            since: now,
            born: now,
            client,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            ws: WsReader::default(),
        }
    }

    pub fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queues bytes; takes the buffer over when nothing is pending.
    pub fn queue(&mut self, bytes: Vec<u8>) {
        if self.pending_out() == 0 {
            self.out = bytes;
            self.out_pos = 0;
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    pub fn queue_slice(&mut self, bytes: &[u8]) {
        if self.pending_out() == 0 {
            self.out.clear();
            self.out_pos = 0;
        }
        self.out.extend_from_slice(bytes);
    }

    /// Writes as much pending output as the kernel takes.
    pub fn flush(&mut self) -> Flush {
        while self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Flush::Failed,
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // What was written goes, or a reader that keeps a little
                    // pending forever would keep all it ever read here
                    // (regression: 64 MiB in 0.6 s with an 88 KB send buffer).
                    if self.out_pos >= COMPACT_AT {
                        self.out.drain(..self.out_pos);
                        self.out_pos = 0;
                    }
                    return Flush::WouldBlock;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Flush::Failed,
            }
        }
        // Idle connections hold no output buffer.
        self.out = Vec::new();
        self.out_pos = 0;
        Flush::Done
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.sock.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}
