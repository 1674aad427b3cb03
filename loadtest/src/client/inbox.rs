//! What the server says on an open WebSocket: every text message is
//! decoded (borrowed), matched to the request it answers (by echoed id, in
//! order) or taken as a push, checked (room, `seq` following by exactly 1,
//! the partner's per-sender counter, latency from the send stamp) and
//! turned into a [`Note`] for the scenario.

use super::conn::{Conn, Note, Phase, Req};
use super::ctx::Ctx;
use super::msg::{self, Payload, ServerMsg};

impl Conn {
    /// Pops the request this message answers, checking the echoed id.
    fn reply(&mut self, m: &ServerMsg<'_>, ctx: &mut Ctx) -> Option<Req> {
        let Some(id) = m.id.as_deref() else {
            self.protocol_error(ctx, format_args!("{} reply without id", m.kind), false);
            return None;
        };
        match self.expect.pop_front() {
            Some((want, req)) if id.parse::<u32>() == Ok(want) => Some(req),
            Some((want, req)) => {
                self.protocol_error(
                    ctx,
                    format_args!("{} with id {id}, expected a reply to {req:?} id {want}", m.kind),
                    false,
                );
                None
            }
            None => {
                self.protocol_error(ctx, format_args!("unsolicited {} id {id}", m.kind), false);
                None
            }
        }
    }

    /// A push must not carry an id.
    fn push(&mut self, m: &ServerMsg<'_>, ctx: &mut Ctx) {
        if m.id.is_some() {
            self.protocol_error(ctx, format_args!("push {} carries an id", m.kind), false);
        }
    }

    fn expect_reply(&mut self, m: &ServerMsg<'_>, want: Req, ctx: &mut Ctx) -> bool {
        match self.reply(m, ctx) {
            Some(r) if r == want => true,
            Some(r) => {
                self.protocol_error(ctx, format_args!("{} answering {r:?}", m.kind), false);
                false
            }
            None => false,
        }
    }

    pub(super) fn on_text(&mut self, payload: &[u8], ctx: &mut Ctx) {
        let m: ServerMsg<'_> = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => {
                let shown = String::from_utf8_lossy(&payload[..payload.len().min(120)]);
                self.protocol_error(ctx, format_args!("bad JSON ({e}): {shown}"), false);
                return;
            }
        };
        let Some(p) = m.payload.as_ref() else {
            self.protocol_error(ctx, format_args!("{} without payload", m.kind), false);
            return;
        };
        match &*m.kind {
            "AUTH_OK" => {
                if self.expect_reply(&m, Req::Auth, ctx) && self.phase == Phase::Upgraded {
                    ctx.out.counters.authed += 1;
                    self.authed = true;
                    self.phase = Phase::Ready;
                    ctx.notes.push(Note::Authed);
                }
            }
            "AUTH_ERROR" => {
                self.reply(&m, ctx);
                ctx.out.counters.error_replies += 1;
                ctx.sample(format_args!("AUTH_ERROR {:?} {:?}", p.code, p.message));
                self.fail();
            }
            "QUEUE_WAITING" => {
                if m.id.is_none() || self.expect_reply(&m, Req::Join, ctx) {
                    ctx.out.counters.queued += 1;
                    ctx.notes.push(Note::Queued);
                }
            }
            "MATCH_FOUND" => {
                self.push(&m, ctx);
                match p.room_id.as_deref() {
                    Some(r) if !r.is_empty() => {
                        if self.in_room {
                            self.protocol_error(ctx, format_args!("MATCH_FOUND while in a room"), false);
                        }
                        self.room.clear();
                        self.room.push_str(r);
                        self.in_room = true;
                        self.reset_room();
                        ctx.out.counters.matched += 1;
                        ctx.notes.push(Note::Matched);
                    }
                    _ => self.protocol_error(ctx, format_args!("MATCH_FOUND without roomId"), false),
                }
            }
            "MATCH_CANCELLED" => {
                self.push(&m, ctx);
                ctx.out.counters.cancelled += 1;
                ctx.notes.push(Note::Cancelled);
            }
            "CHAT_ACK" => {
                if self.expect_reply(&m, Req::Chat, ctx) && self.check_room(p, "CHAT_ACK", ctx) {
                    ctx.out.counters.acked += 1;
                    self.acks_in_room += 1;
                    let seq = self.check_seq(p, ctx);
                    self.last_own_seq = self.last_own_seq.max(seq);
                    ctx.notes.push(Note::Acked);
                }
            }
            "CHAT" => {
                self.push(&m, ctx);
                if self.check_room(p, "CHAT", ctx) {
                    self.check_seq(p, ctx);
                    self.on_partner_chat(p, ctx);
                }
            }
            "ROOM_LEFT" => {
                if self.expect_reply(&m, Req::Leave, ctx) {
                    self.in_room = false;
                    ctx.out.counters.left += 1;
                    ctx.notes.push(Note::RoomLeft);
                }
            }
            "PARTNER_LEFT" => {
                self.push(&m, ctx);
                if self.check_room(p, "PARTNER_LEFT", ctx) {
                    self.in_room = false;
                    ctx.out.counters.left += 1;
                    ctx.notes.push(Note::PartnerLeft);
                }
            }
            "PARTNER_AWAY" | "PARTNER_BACK" => {
                self.push(&m, ctx);
                if self.check_room(p, &m.kind, ctx) {
                    ctx.notes.push(if &*m.kind == "PARTNER_AWAY" {
                        Note::PartnerAway
                    } else {
                        Note::PartnerBack
                    });
                }
            }
            "ERROR" => {
                let req = self.reply(&m, ctx);
                ctx.out.counters.error_replies += 1;
                ctx.sample(format_args!(
                    "ERROR {} {:?} answering {req:?}",
                    p.code.as_deref().unwrap_or("?"),
                    p.message.as_deref().unwrap_or("")
                ));
                if let Some(r) = req {
                    ctx.notes.push(Note::Refused(r));
                }
            }
            "SESSION_ENDED" => {
                self.push(&m, ctx);
                ctx.out.counters.dropped += 1;
                ctx.sample(format_args!("SESSION_ENDED {:?}", p.reason));
                self.fail();
            }
            other => {
                let what = other.to_string();
                self.protocol_error(ctx, format_args!("unexpected {what}"), false);
            }
        }
    }

    fn check_room(&mut self, p: &Payload<'_>, kind: &str, ctx: &mut Ctx) -> bool {
        if self.in_room && p.room_id.as_deref() == Some(self.room.as_str()) {
            return true;
        }
        let got = p.room_id.as_deref().unwrap_or("<none>");
        ctx.out.counters.protocol_errors += 1;
        ctx.sample(format_args!(
            "protocol: {kind} for room {got}, in room {:?} (open: {})",
            self.room, self.in_room
        ));
        false
    }

    /// Every seq a socket sees in a room (its acks and its partner's chats)
    /// must follow the previous one by exactly 1.
    fn check_seq(&mut self, p: &Payload<'_>, ctx: &mut Ctx) -> u64 {
        let Some(seq) = p.seq else {
            self.protocol_error(ctx, format_args!("no seq"), false);
            return 0;
        };
        if seq != self.last_seq + 1 {
            ctx.out.counters.seq_errors += 1;
            ctx.sample(format_args!("seq {seq} after {} in room {}", self.last_seq, self.room));
        }
        self.last_seq = self.last_seq.max(seq);
        seq
    }

    /// Latency from the send stamp; duplicates and reordering from the
    /// sender's counter `n` (a 128-wide window of counters seen).
    fn on_partner_chat(&mut self, p: &Payload<'_>, ctx: &mut Ctx) {
        let Some((sent, n)) = p.text.as_deref().and_then(msg::parse_stamp) else {
            self.protocol_error(ctx, format_args!("CHAT text without a stamp"), false);
            return;
        };
        ctx.out.latency_us.record_ns(ctx.now.saturating_sub(sent));
        let c = &mut ctx.out.counters;
        if n > self.rx_max_n {
            let shift = n - self.rx_max_n;
            self.rx_seen = if shift >= 128 { 0 } else { self.rx_seen << shift };
            self.rx_seen |= 1;
            self.rx_max_n = n;
        } else {
            let back = self.rx_max_n - n;
            if back < 128 && self.rx_seen & (1u128 << back) != 0 {
                c.dup += 1;
                ctx.sample(format_args!("duplicate n={n} in room {}", self.room));
                return;
            }
            if back < 128 {
                self.rx_seen |= 1u128 << back;
            }
            c.reordered += 1;
            ctx.sample(format_args!("n={n} after n={} in room {}", self.rx_max_n, self.room));
        }
        ctx.out.counters.received += 1;
        self.rx_in_room += 1;
        ctx.notes.push(Note::Received);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_conn(ctx: &mut Ctx) -> Conn {
        let mut c = Conn::new(0);
        c.phase = Phase::Ready;
        c.on_text(
            br#"{"type":"MATCH_FOUND","payload":{"roomId":"r1","mood":"chill","partner":{"nickname":"A","mood":"chill","avatar":"x","interests":[]},"sharedInterests":[]}}"#,
            ctx,
        );
        assert!(c.in_room);
        assert_eq!(c.room, "r1");
        c
    }

    fn chat(seq: u64, n: u64) -> Vec<u8> {
        format!(r#"{{"type":"CHAT","payload":{{"roomId":"r1","seq":{seq},"text":"t=1 n={n}","sentAt":0}}}}"#)
            .into_bytes()
    }

    #[test]
    fn partner_chats_are_checked_for_dup_order_and_seq() {
        let mut ctx = Ctx::new(1, "h".into(), true, 0);
        let mut c = ready_conn(&mut ctx);
        for (seq, n) in [(1, 1), (2, 2), (3, 2), (4, 4), (5, 3), (7, 5)] {
            c.on_text(&chat(seq, n), &mut ctx);
        }
        let k = &ctx.out.counters;
        assert_eq!((k.matched, k.received, k.dup, k.reordered), (1, 5, 1, 1));
        assert_eq!(k.seq_errors, 1, "seq 7 after 5");
        assert_eq!(ctx.out.latency_us.0.len(), 6);
        assert_eq!(k.protocol_errors, 0);
        c.on_text(br#"{"type":"CHAT","payload":{"roomId":"other","seq":8,"text":"t=1 n=6"}}"#, &mut ctx);
        assert_eq!(ctx.out.counters.protocol_errors, 1);
    }

    #[test]
    fn replies_must_answer_the_oldest_request_by_id() {
        let mut ctx = Ctx::new(1, "h".into(), true, 0);
        let mut c = ready_conn(&mut ctx);
        c.chat(&mut ctx);
        c.chat(&mut ctx);
        assert_eq!(c.chats_unacked(), 2);
        c.on_text(br#"{"type":"CHAT_ACK","id":"1","payload":{"roomId":"r1","seq":1,"sentAt":0}}"#, &mut ctx);
        assert_eq!((ctx.out.counters.acked, c.last_own_seq), (1, 1));
        // Wrong id: counted, and the request is no longer awaited.
        c.on_text(br#"{"type":"CHAT_ACK","id":"7","payload":{"roomId":"r1","seq":2,"sentAt":0}}"#, &mut ctx);
        assert_eq!(ctx.out.counters.protocol_errors, 1);
        assert_eq!(c.chats_unacked(), 0);
        // A reply nobody asked for, a push with an id, an unknown type, bad JSON.
        c.on_text(br#"{"type":"ROOM_LEFT","id":"9","payload":{"roomId":"r1"}}"#, &mut ctx);
        c.on_text(br#"{"type":"MATCH_CANCELLED","id":"3","payload":{"reason":"timeout"}}"#, &mut ctx);
        c.on_text(br#"{"type":"NOPE","payload":{}}"#, &mut ctx);
        c.on_text(b"{not json", &mut ctx);
        c.on_text(br#"{"type":"PONG"}"#, &mut ctx);
        assert_eq!(ctx.out.counters.protocol_errors, 6);
        c.on_text(br#"{"type":"ERROR","payload":{"code":"RATE_LIMITED","message":"slow down"}}"#, &mut ctx);
        assert_eq!(ctx.out.counters.error_replies, 1);
        assert!(ctx.out.samples.iter().any(|s| s.contains("RATE_LIMITED")));
    }
}
