//! This process as a cluster node (contract section 8; the design is
//! `docs/cluster.md`): Redis holds the queues and the rooms, changed only
//! by the Lua scripts in `lua/`; this node holds its sockets and sessions,
//! and hears about its users on its own channel (`receiver.rs`).
//!
//! Invariants:
//! - Every frame about a room or a wait is published by the script that
//!   changed it, to the channel of the node holding the user, so a client
//!   receives them in the order the scripts ran: the room's `seq` order.
//! - Every call to Redis is one command or one script (one round trip,
//!   one reply): the redis crate reads every reply of a pipeline with a
//!   timeout each, so a pipeline would make a stalled Redis cost its
//!   length times `CALL_TIMEOUT`. While Redis is unreachable a call fails
//!   at once and the client gets `ERROR UNAVAILABLE` with `retryAfterMs`.

pub mod msg;
pub mod receiver;

use std::sync::Arc;

use redis::Script;

use crate::base::id::UserId;
use crate::bus::{Bus, BusError};

/// How long a room's keys outlive the resume grace when nobody renews them.
pub const ROOM_TTL_MARGIN_MS: u64 = 10_000;
/// A node unheard for this long is dead (contract: noticed within 10 s).
pub const NODE_TTL_MS: u64 = 6000;
/// Rooms (or users) per call when the heartbeat renews keys or presence
/// is written again: one script or command each, so Redis is never held
/// long by one of them, and a stalled Redis costs one call timeout (the
/// first failure marks it unreachable; later calls fail at once).
const PER_CALL: usize = 1000;
/// How long the client is told to wait while Redis is away.
pub const RETRY_AFTER_MS: u64 = 2000;
/// How long a node waits for the other node to take a pairing before it
/// aborts it (the other node is dead or slow; contract section 8).
pub const COMMIT_WITHIN_MS: u64 = 2000;

/// The scripts, loaded once (EVALSHA, with EVAL when Redis lost them).
struct Scripts {
    join: Script,
    take: Script,
    abort: Script,
    leave: Script,
    chat: Script,
    relay: Script,
    end_room: Script,
    away: Script,
    auth: Script,
    bury: Script,
    stats: Script,
    register_limit: Script,
    restore: Script,
    beat: Script,
    renew: Script,
    epoch: Script,
    transcript: Script,
    leave_cluster: Script,
}

/// The node's handle on the cluster.
pub struct Cluster {
    pub bus: Arc<Bus>,
    scripts: Scripts,
    /// Resume grace, ms: how long an away member's room waits.
    pub grace: u64,
    /// Tier-1 window, ms.
    pub tier1: u64,
    /// Rematch cooldown, ms (0 = none).
    pub cooldown: u64,
    /// The Redis epoch this node last saw (`P:epoch`): a different one
    /// means Redis came back empty.
    epoch: parking_lot::Mutex<Option<String>>,
    /// Redis's clock minus this node's, ms, measured every beat: a
    /// script's deadline is given in Redis's time.
    clock_offset: std::sync::atomic::AtomicI64,
    /// Beats so far (the first finds no key of its own, and that is fine).
    beats: std::sync::atomic::AtomicU64,
}

/// A same-node room as `restore` writes it back.
pub struct Restore<'a> {
    /// The room's `a` and `b` members.
    pub a: UserId,
    pub b: UserId,
    /// How each is shown to the other (`MATCH_FOUND`'s `partner`), JSON.
    pub a_view: &'a str,
    pub b_view: &'a str,
    /// The room's mood and shared interests (a JSON array).
    pub mood: &'a str,
    pub shared: &'a str,
    /// The last seq taken.
    pub seq: u64,
    /// Kept-message JSON of the messages taken while Redis was away.
    pub taken: &'a [String],
}

/// A join's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Joined {
    Waiting,
    Offered,
}

/// What `auth` found for a user who authenticated on this node.
#[derive(Debug, Default)]
pub struct Attached {
    /// The node that held the user before, if another.
    pub previous: Option<String>,
    /// `(queue, since)` when the user waits (its place moved here).
    pub waiting: Option<(String, u64)>,
    /// The room the user holds, if any.
    pub room: Option<AttachedRoom>,
}

#[derive(Debug)]
pub struct AttachedRoom {
    pub id: u64,
    /// The partner as `MATCH_FOUND` showed them (JSON).
    pub partner_view: String,
    pub mood: String,
    pub last_seq: u64,
    /// A resume after a drop (the partner was told `PARTNER_BACK`), not a
    /// supersede.
    pub back: bool,
    /// The partner, and whether the user is the room's `a` side (for a
    /// room that goes on here while Redis is away: `hub::local_rooms`).
    pub partner: Option<UserId>,
    pub first: bool,
    /// Since when the partner is away (epoch ms), if it is: its grace is
    /// run by this node from now on.
    pub partner_away: Option<u64>,
    /// Kept messages the partner sent after the client's `lastSeq`, JSON
    /// `{seq, from, text, sentAt}`, oldest first.
    pub missed: Vec<String>,
}

fn unavailable(e: &BusError) -> bool {
    matches!(e, BusError::Unreachable(_))
}

impl Cluster {
    pub fn new(bus: Arc<Bus>, grace: u64, tier1: u64, cooldown: u64) -> Cluster {
        let s = |code| Script::new(code);
        Cluster {
            bus,
            scripts: Scripts {
                join: s(include_str!("lua/join.lua")),
                take: s(include_str!("lua/take.lua")),
                abort: s(include_str!("lua/abort.lua")),
                leave: s(include_str!("lua/leave.lua")),
                chat: s(include_str!("lua/chat.lua")),
                relay: s(include_str!("lua/relay.lua")),
                end_room: s(include_str!("lua/end_room.lua")),
                away: s(include_str!("lua/away.lua")),
                auth: s(include_str!("lua/auth.lua")),
                bury: s(include_str!("lua/bury.lua")),
                stats: s(include_str!("lua/stats.lua")),
                register_limit: s(include_str!("lua/register_limit.lua")),
                restore: s(include_str!("lua/restore.lua")),
                beat: s(include_str!("lua/beat.lua")),
                renew: s(include_str!("lua/renew.lua")),
                epoch: s(include_str!("lua/epoch.lua")),
                transcript: s(include_str!("lua/transcript.lua")),
                leave_cluster: s(include_str!("lua/leave_cluster.lua")),
            },
            grace,
            tier1,
            cooldown,
            epoch: parking_lot::Mutex::new(None),
            clock_offset: std::sync::atomic::AtomicI64::new(0),
            beats: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The deadline of a call made now, in Redis's time (ms): the call's
    /// timeout, less a margin for the clock offset's error.
    fn deadline(&self) -> u64 {
        let offset = self.clock_offset.load(std::sync::atomic::Ordering::Relaxed);
        let timeout = crate::bus::CALL_TIMEOUT.as_millis() as i64;
        (crate::app::wall_ms() as i64 + offset + timeout - 50).max(0) as u64
    }

    /// Whether Redis lost its data since this node last looked (it came
    /// back empty): sets the epoch if there is none, and remembers it.
    /// `on_change` runs before anyone else may look again: a second
    /// caller (the subscriber after a resubscription, the heartbeat after
    /// an outage) waits until the first has dealt with it.
    pub fn epoch_changed(&self, on_change: impl FnOnce()) -> Result<bool, BusError> {
        let fresh = new_id();
        let now = self.run(&self.scripts.epoch, &[&fresh])?.into_iter().next().unwrap_or_default();
        let mut seen = self.epoch.lock();
        let changed = seen.as_ref().is_some_and(|s| *s != now);
        *seen = Some(now);
        if changed {
            on_change();
        }
        Ok(changed)
    }

    /// Presence for users this node holds, written again (after Redis
    /// came back empty).
    pub fn announce(&self, users: &[UserId]) -> Result<(), BusError> {
        // One MSET per chunk: a stalled Redis costs one call timeout (the
        // first failure marks it unreachable and the rest fail at once).
        for chunk in users.chunks(PER_CALL) {
            self.bus.call(|c| {
                let mut cmd = redis::cmd("MSET");
                for u in chunk {
                    cmd.arg(self.bus.key(&format!("p:{u}"))).arg(self.node());
                }
                cmd.query::<()>(c)
            })?;
        }
        Ok(())
    }

    pub fn node(&self) -> &str {
        self.bus.node()
    }

    /// A room's keys outlive the grace a little, so an away member can
    /// still resume at its last moment. They matter only when no node
    /// holds the room: a holder's heartbeat renews them every beat.
    fn room_ttl(&self) -> u64 {
        self.grace + ROOM_TTL_MARGIN_MS
    }

    fn run(&self, script: &Script, args: &[&str]) -> Result<Vec<String>, BusError> {
        let prefix = self.bus.prefix().to_owned();
        self.bus.call(|c| {
            let mut inv = script.prepare_invoke();
            inv.arg(&prefix);
            for a in args {
                inv.arg(*a);
            }
            inv.invoke::<Vec<redis::Value>>(c).map(|vals| vals.into_iter().map(text).collect())
        })
    }

    /// `JOIN_QUEUE` (or, with `retry`, a waiter crossing tier 1).
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &self,
        user: UserId,
        queue: &str,
        now: u64,
        interests: &str,
        view: &str,
        retry: bool,
        waiting_frame: (&str, &str),
    ) -> Result<Joined, BusError> {
        let (u, n, t1, pair) = (user.to_string(), now.to_string(), self.tier1.to_string(), new_id());
        let args = [
            u.as_str(),
            self.node(),
            queue,
            &n,
            &t1,
            interests,
            view,
            &pair,
            if retry { "1" } else { "0" },
            waiting_frame.0,
            waiting_frame.1,
        ];
        let out = self.run(&self.scripts.join, &args)?;
        Ok(if out.first().map(String::as_str) == Some("offered") { Joined::Offered } else { Joined::Waiting })
    }

    /// Takes the offered pairing for `user`: "waiting", "committed", "gone".
    pub fn take(&self, pair: &str, user: UserId, now: u64) -> Result<String, BusError> {
        let (u, n, ttl) = (user.to_string(), now.to_string(), self.room_ttl().to_string());
        let out = self.run(&self.scripts.take, &[pair, &u, &n, &ttl])?;
        Ok(out.into_iter().next().unwrap_or_default())
    }

    /// Aborts a pairing not taken in time (`leaver` None) or left by one
    /// of the two.
    pub fn abort(&self, pair: &str, leaver: Option<UserId>) -> Result<(), BusError> {
        let l = leaver.map(|u| u.to_string()).unwrap_or_default();
        self.run(&self.scripts.abort, &[pair, &l]).map(drop)
    }

    /// The user leaves its queue (or the pairing it is in).
    pub fn leave(&self, user: UserId) -> Result<bool, BusError> {
        let u = user.to_string();
        let out = self.run(&self.scripts.leave, &[&u, self.node()])?;
        if let Some(pair) = out.get(1) {
            self.abort(pair, Some(user))?;
        }
        Ok(out.first().map(String::as_str) == Some("left"))
    }

    /// A `CHAT`: its seq, or None when the user is not in that room.
    pub fn chat(
        &self,
        room: &str,
        user: UserId,
        text_json: &str,
        sent_at: u64,
        id_json: &str,
    ) -> Result<Option<u64>, BusError> {
        let (u, s) = (user.to_string(), sent_at.to_string());
        let deadline = self.deadline().to_string();
        let out =
            self.run(&self.scripts.chat, &[room, &u, text_json, &s, id_json, &deadline, self.node()])?;
        Ok(match out.first().map(String::as_str) {
            Some("ok") => out.get(1).and_then(|s| s.parse().ok()),
            Some("moved") => return Err(BusError::Refused("moved".into())),
            Some("late") => {
                return Err(BusError::Unreachable("redis answered past the call's deadline".into()));
            }
            _ => None,
        })
    }

    /// A frame for `user`'s partner in `room` (a `TYPING`).
    pub fn relay(&self, room: &str, user: UserId, frame_json: &str) -> Result<(), BusError> {
        let u = user.to_string();
        self.run(&self.scripts.relay, &[room, &u, frame_json]).map(drop)
    }

    /// Ends `room` for `user` (see `end_room.lua`); true if it ended now.
    #[allow(clippy::too_many_arguments)]
    pub fn end_room(
        &self,
        room: &str,
        user: UserId,
        reason: &str,
        reply: &str,
        effect: &str,
        cooldown_until: &str,
        away: Option<u64>,
    ) -> Result<bool, BusError> {
        let (u, a) = (user.to_string(), away.map(|t| t.to_string()).unwrap_or_default());
        let out = self.run(&self.scripts.end_room, &[room, &u, reason, reply, effect, cooldown_until, &a])?;
        Ok(out.first().map(String::as_str) == Some("ended"))
    }

    /// A room that went on here while Redis was away, written back (see
    /// `lua/restore.lua`): `room.taken` are the kept-message JSON of the
    /// messages taken meanwhile.
    pub fn restore(&self, id: u64, room: &Restore<'_>, now: u64) -> Result<bool, BusError> {
        let rid = crate::app::room::room_id_str(id);
        let (a, b) = (room.a.to_string(), room.b.to_string());
        let (seq, ttl, now) = (room.seq.to_string(), self.room_ttl().to_string(), now.to_string());
        let mut args: Vec<&str> = vec![
            &rid,
            &a,
            &b,
            self.node(),
            room.a_view,
            room.b_view,
            room.mood,
            room.shared,
            &seq,
            &ttl,
            &now,
        ];
        args.extend(room.taken.iter().map(String::as_str));
        let out = self.run(&self.scripts.restore, &args)?;
        Ok(out.first().map(String::as_str) == Some("ok"))
    }

    /// `user`'s socket dropped from this node while in `room`.
    pub fn away(&self, room: &str, user: UserId, now: u64) -> Result<(), BusError> {
        let (u, n) = (user.to_string(), now.to_string());
        self.run(&self.scripts.away, &[room, &u, &n, self.node()]).map(drop)
    }

    /// `user` authenticated here: presence, a wait or a room move here.
    pub fn auth(&self, user: UserId, last_seq: u64) -> Result<Attached, BusError> {
        let (u, l, ttl) = (user.to_string(), last_seq.to_string(), self.room_ttl().to_string());
        let out = self.run(&self.scripts.auth, &[&u, self.node(), &l, &ttl])?;
        let mut it = out.into_iter();
        let previous = it.next().filter(|p| !p.is_empty() && p != self.node());
        let waiting = it.next().filter(|w| !w.is_empty()).and_then(|w| {
            let (q, since) = w.split_once(' ')?;
            Some((q.to_owned(), since.parse().ok()?))
        });
        let room =
            it.next().filter(|r| !r.is_empty()).and_then(|r| u64::from_str_radix(&r, 16).ok()).map(|id| {
                let partner_view = it.next().unwrap_or_default();
                let mood = it.next().unwrap_or_default();
                let last_seq = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let back = it.next().as_deref() == Some("back");
                let partner = it.next().and_then(|p| UserId::parse(&p));
                let first = it.next().as_deref() == Some("a");
                let partner_away = it.next().and_then(|a| a.parse().ok());
                AttachedRoom {
                    id,
                    partner_view,
                    mood,
                    last_seq,
                    back,
                    partner,
                    first,
                    partner_away,
                    missed: it.collect(),
                }
            });
        Ok(Attached { previous, waiting, room })
    }

    /// One beat (every 2 s, the heartbeat thread): this node is alive for
    /// the next 6 s, with `info` (JSON) for the cluster's stats; nodes
    /// unheard for 6 s are buried.
    /// `rooms` are the rooms this node's users hold: their keys are kept
    /// alive while someone holds them. Returns the live nodes and whether
    /// this node had been taken for dead (its key was gone: its users must
    /// be attached again).
    pub fn beat(&self, now: u64, info: &str, rooms: &[(u64, UserId)]) -> Result<(usize, bool), BusError> {
        let cut = now.saturating_sub(NODE_TTL_MS);
        let (ttl_node, now_s, cut_s) = (NODE_TTL_MS.to_string(), now.to_string(), cut.to_string());
        let out = self.run(&self.scripts.beat, &[self.node(), info, &ttl_node, &now_s, &cut_s])?;
        let [sec, usec, previous, live, stale @ ..] = out.as_slice() else {
            return Err(BusError::Refused(format!("beat: unexpected reply {out:?}")));
        };
        let redis_ms = sec.parse::<u64>().unwrap_or(0) * 1000 + usec.parse::<u64>().unwrap_or(0) / 1000;
        if redis_ms > 0 {
            self.clock_offset.store(redis_ms as i64 - now as i64, std::sync::atomic::Ordering::Relaxed);
        }
        self.renew(rooms)?;
        for dead in stale.iter().filter(|d| *d != self.node()) {
            self.bury(dead, now)?;
        }
        let first = self.beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
        Ok((live.parse().unwrap_or(0), previous.is_empty() && !first))
    }

    /// The keys of the rooms this node's users hold live another room TTL.
    fn renew(&self, rooms: &[(u64, UserId)]) -> Result<(), BusError> {
        let ttl = self.room_ttl().to_string();
        for chunk in rooms.chunks(PER_CALL) {
            let mut args: Vec<String> = Vec::with_capacity(1 + 2 * chunk.len());
            args.push(ttl.clone());
            for (room, user) in chunk {
                args.push(format!("{room:016x}"));
                args.push(user.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&self.scripts.renew, &args)?;
        }
        Ok(())
    }

    /// A clean exit: this node's key goes at once (nothing is left to
    /// bury: its waiters were cancelled and its rooms handed over).
    pub fn leave_cluster(&self) {
        let _ = self.run(&self.scripts.leave_cluster, &[self.node()]);
    }

    /// A banned or erased user's room and wait end in Redis, wherever its
    /// socket is, or none is (away within the grace): the partner gets
    /// `PARTNER_LEFT {reason:"left"}` at once, as on a single node.
    pub fn end_everything_of(&self, user: UserId, now: u64) -> Result<(), BusError> {
        let room: Option<String> =
            self.bus.call(|c| redis::cmd("GET").arg(self.bus.key(&format!("ur:{user}"))).query(c))?;
        if let Some(room) = room {
            let until = (now + self.cooldown).to_string();
            self.end_room(&room, user, "left", "", "idle", &until, None)?;
        }
        let u = user.to_string();
        self.run(&self.scripts.leave, &[&u, ""])?;
        Ok(())
    }

    /// Tells the node holding `user`'s socket, if another, to evict it.
    pub fn evict_remote(&self, user: UserId, reason: &str, code: u16) -> Result<(), BusError> {
        let node: Option<String> =
            self.bus.call(|c| redis::cmd("GET").arg(self.bus.key(&format!("p:{user}"))).query(c))?;
        match node {
            Some(n) if n != self.node() => self
                .bus
                .publish(&format!("ch:{n}"), format!("evict {user} {reason} {code}").as_bytes())
                .map(drop),
            _ => Ok(()),
        }
    }

    /// For a `REPORT`: the partner of `user` in `room` and the room's last
    /// `lines` kept messages, as `user` reports them.
    pub fn transcript(
        &self,
        room: u64,
        user: UserId,
        lines: usize,
    ) -> Result<(UserId, Vec<crate::store::TranscriptLine>), BusError> {
        let (room, lines) = (format!("{room:016x}"), lines.to_string());
        let out = self.run(&self.scripts.transcript, &[&room, &lines])?;
        let [a, b, kept @ ..] = out.as_slice() else {
            return Err(BusError::Refused(format!("transcript: unexpected reply {out:?}")));
        };
        let (a, b) = (UserId::parse(a), UserId::parse(b));
        let (me, partner) = match (a, b) {
            (Some(a), Some(b)) if a == user => ("a", b),
            (Some(a), Some(b)) if b == user => ("b", a),
            _ => return Err(BusError::Refused("not in that room".into())),
        };
        let lines = kept
            .iter()
            .filter_map(|k| serde_json::from_str::<serde_json::Value>(k).ok())
            .map(|k| crate::store::TranscriptLine {
                from: if k["from"] == me { "reporter" } else { "reported" },
                text: k["text"].as_str().unwrap_or_default().into(),
                sent_at: k["sentAt"].as_u64().unwrap_or(0),
            })
            .collect();
        Ok((partner, lines))
    }

    /// What Redis says of `user`'s partner in `room`: None if the room is
    /// gone, else Some(away since, epoch ms) with None while the partner has
    /// a node.
    pub fn partner_state(&self, room: u64, user: UserId) -> Result<Option<(UserId, Option<u64>)>, BusError> {
        let rk = self.bus.key(&format!("r:{room:016x}"));
        let r: Vec<Option<String>> = self.bus.call(|c| {
            redis::cmd("HMGET")
                .arg(&rk)
                .arg("a")
                .arg("b")
                .arg("a_node")
                .arg("b_node")
                .arg("a_away")
                .arg("b_away")
                .query(c)
        })?;
        let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let me = user.to_string();
        let (other, node, away) = if get(0) == me {
            (get(1), get(3), get(5))
        } else if get(1) == me {
            (get(0), get(2), get(4))
        } else {
            return Ok(None);
        };
        let Some(other) = UserId::parse(&other) else { return Ok(None) };
        Ok(Some((other, if node.is_empty() { away.parse().ok() } else { None })))
    }

    /// The cluster's figures for `/api/admin/stats` (see `lua/stats.lua`).
    pub fn stats(&self, queues: &str) -> Result<serde_json::Value, BusError> {
        let prefix = self.bus.prefix().to_owned();
        let text: String =
            self.bus.call(|c| self.scripts.stats.prepare_invoke().arg(&prefix).arg(queues).invoke(c))?;
        serde_json::from_str(&text).map_err(|e| BusError::Refused(e.to_string()))
    }

    /// Takes a token from the cluster-wide registration bucket of
    /// `client`: 0, or how many ms until one is there.
    pub fn register_take(&self, client: &str, now: u64, burst: u32, per_ms: f64) -> Result<u64, BusError> {
        let prefix = self.bus.prefix().to_owned();
        self.bus.call(|c| {
            self.scripts
                .register_limit
                .prepare_invoke()
                .arg(&prefix)
                .arg(client)
                .arg(now)
                .arg(burst)
                .arg(per_ms)
                .invoke(c)
        })
    }

    /// A node stopped beating: its waiters and rooms are seen to.
    pub fn bury(&self, dead: &str, now: u64) -> Result<(), BusError> {
        let n = now.to_string();
        self.run(&self.scripts.bury, &[dead, &n]).map(drop)
    }

    pub fn is_unavailable(e: &BusError) -> bool {
        unavailable(e)
    }
}

/// A script's reply element as text (integers too).
fn text(v: redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Okay => "OK".into(),
        _ => String::new(),
    }
}

/// A fresh pairing (and room) id: 16 hex digits, as rooms are spelled.
pub fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
