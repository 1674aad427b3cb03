//! Per-address admission (contract section 7): at most
//! `--max-connections-per-ip` open sockets per client address.
//!
//! A direct peer is judged when it is accepted; a connection from a
//! trusted proxy when a request names its client (and again whenever a
//! request on it names another). A refused socket is answered 429 at once
//! and closed, without being counted, so a flood of refused sockets cannot
//! keep the count high. Counts live in `Reactor::per_ip`, one entry per
//! address with an open counted socket: bounded by the open connections.

use super::reactor::Reactor;
use crate::base::addr::ClientAddr;
use crate::base::http::Response;

/// What a refused socket is told to wait, seconds: places free up as soon
/// as any of the address's sockets closes.
const RETRY_AFTER_SECS: u64 = 1;

impl Reactor {
    /// Counts the connection in `slot` under `client`; false (and not
    /// counted) when that address is at its cap.
    pub(super) fn admit(&mut self, slot: usize, client: ClientAddr) -> bool {
        let conn = &mut self.conns[slot];
        if conn.counted && conn.client == client {
            return true;
        }
        let previous = conn.counted.then_some(conn.client);
        conn.client = client;
        conn.counted = false;
        if let Some(old) = previous {
            self.uncount(old);
        }
        let cap = self.cfg.max_per_ip;
        if cap == 0 {
            return true;
        }
        let count = self.per_ip.entry(client).or_insert(0);
        if *count as usize >= cap {
            return false;
        }
        *count += 1;
        self.conns[slot].counted = true;
        true
    }

    pub(super) fn uncount(&mut self, client: ClientAddr) {
        if let Some(count) = self.per_ip.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&client);
            }
        }
    }

    /// 429 `RATE_LIMITED` with `Retry-After`, then close.
    pub(super) fn refuse_over_cap(&mut self, slot: usize) {
        self.shared.metrics.refused_over_cap.inc();
        let body = serde_json::json!({"error": {
            "code": "RATE_LIMITED",
            "message": "too many open connections from this address",
            "retryAfterMs": RETRY_AFTER_SECS * 1000,
        }});
        let resp = Response::json(429, body.to_string().into_bytes())
            .header(format!("Retry-After: {RETRY_AFTER_SECS}"));
        let conn = &mut self.conns[slot];
        conn.queue(resp.to_bytes(true));
        self.start_closing(slot);
    }
}
