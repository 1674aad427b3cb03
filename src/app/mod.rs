//! The application: everything workers do with a command.
//!
//! `App` is shared by all workers. Its live state is the `Hub` behind one
//! lock; identities are in the `Store`; everything a client receives leaves
//! through the `Outbox`. Handlers never touch sockets.

pub mod admin;
pub mod blocklist;
pub mod cluster;
pub mod commands;
pub mod guard;
pub mod http_api;
pub mod hub;
pub mod limits;
pub mod matcher;
pub mod offload;
pub mod pairs;
pub mod protocol;
pub mod room;
pub mod sockets;
pub mod typing;
pub mod validate;
pub mod view;
pub mod web;
pub mod worker;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use log::error;
use parking_lot::Mutex;

use self::commands::Outcome;
use self::guard::{HubGuard, take_repaired};
use self::hub::{Ctx, Hub};
use self::protocol::{ErrorPayload, Refusal};
use self::sockets::{MAX_REFUSALS, Socket, Sockets};
use crate::base::clock::Clock;
use crate::base::id::ConnId;
use crate::link::command::{AppTimer, Command};
use crate::link::outbox::{self, Delivery, Outbox};
use crate::metrics::Metrics;
use crate::store::{Ban, Profile, Store, StoreError, UserId, UserRecord};

/// Milliseconds since the Unix epoch (what clients see as times).
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Settings handlers read.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Longest `CHAT` text, in characters (`--max-message-chars`).
    pub max_message_chars: usize,
    /// Distinct reporters within 24 h that ban a user; 0 = off.
    pub auto_ban_reports: u32,
    /// `--admin-token`; None = the admin API answers 404.
    pub admin_token: Option<String>,
    /// `--store-messages`: a persisting store gets the chat text too.
    pub store_messages: bool,
    /// `--auto-ban-min-age-secs`, in ms: younger reporters do not count.
    pub auto_ban_min_age: u64,
    /// `--register-per-minute` (a cluster node keeps the bucket in Redis).
    pub register_per_minute: u32,
}

pub struct App {
    /// What handlers read of the configuration.
    pub cfg: AppConfig,
    /// Chat words refused with `CONTENT_REJECTED`; loaded once at start.
    pub blocklist: blocklist::Blocklist,
    /// Registrations per client address.
    pub registrations: Mutex<limits::IpLimiter>,
    /// The server clock, shared with the reactor, for buckets and timers.
    pub clock: Clock,
    /// Identities, bans, reports; and `record` for rooms and messages.
    pub store: Arc<dyn Store>,
    /// Taken only through [`App::hub`].
    hub: Mutex<Hub>,
    /// Everything a client receives leaves through it.
    pub out: Outbox,
    /// Counters handlers bump and `/metrics` encodes.
    pub metrics: Arc<Metrics>,
    /// Set on a cluster node (`--redis-url`).
    pub cluster: Option<Arc<cluster::Cluster>>,
    /// The bundled web client, rendered once at start.
    pub web: web::WebClient,
    /// The database threads, with a `blocking` store (PostgreSQL); None =
    /// every call runs on the worker (memory, Redis).
    pub offload: Option<offload::Offload>,
}

impl App {
    pub fn new(
        cfg: &crate::config::Config,
        store: Arc<dyn Store>,
        out: Outbox,
        metrics: Arc<Metrics>,
        clock: Clock,
        blocklist: blocklist::Blocklist,
        cluster: Option<Arc<cluster::Cluster>>,
    ) -> App {
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let rules = hub::Rules {
            resume_grace: ms(cfg.resume_grace_secs),
            chat: limits::Rate { per_sec: cfg.chat_rate, burst: cfg.chat_burst },
            queue: limits::Rate { per_sec: cfg.queue_rate, burst: cfg.queue_burst },
            tier1: ms(cfg.match_tier1_secs),
            match_timeout: ms(cfg.match_timeout_secs),
            cooldown: ms(cfg.rematch_cooldown_secs),
            max_cooldowns: cfg.max_cooldown_pairs,
        };
        let offload = store.blocking().then(|| offload::Offload::new(cfg.db_threads, cfg.db_max_in_flight));
        App {
            offload,
            cfg: AppConfig {
                max_message_chars: cfg.max_message_chars,
                auto_ban_reports: cfg.auto_ban_reports,
                admin_token: cfg.admin_token.clone().filter(|t| !t.is_empty()),
                store_messages: cfg.store_messages,
                auto_ban_min_age: ms(cfg.auto_ban_min_age_secs),
                register_per_minute: cfg.register_per_minute,
            },
            blocklist,
            registrations: Mutex::new(limits::IpLimiter::per_minute(cfg.register_per_minute)),
            clock,
            store,
            hub: Mutex::new(Hub::new(rules, cluster.clone())),
            cluster,
            out,
            metrics,
            web: web::WebClient::new(cfg),
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            out: &self.out,
            metrics: &self.metrics,
            store: &*self.store,
            now: self.clock.now(),
            wall: wall_ms(),
        }
    }

    /// Records that the user was seen now; returns the updated profile.
    pub fn touch(&self, record: &UserRecord) -> Arc<Profile> {
        let mut p = (*record.profile).clone();
        p.last_seen_at = wall_ms();
        let p = Arc::new(p);
        self.store.seen(record.id, p.clone());
        p
    }

    /// The hub, locked. A panic while it is held repairs it before the
    /// lock is let go (see `guard`).
    /// A direct answer to a message on `conn` (see `Hub::reply`): on a
    /// cluster node it waits behind answers its channel has yet to bring.
    pub fn reply(&self, conn: ConnId, frame: Vec<u8>) {
        if self.cluster.is_some() {
            let ctx = self.ctx();
            self.hub().reply(conn, frame, &ctx);
        } else {
            self.out.frame(conn, frame);
        }
    }

    pub fn hub(&self) -> HubGuard<'_> {
        HubGuard { hub: self.hub.lock(), app: self }
    }

    /// Bans `user` until `until` (epoch ms) and ends what they hold now.
    pub fn ban(&self, user: UserId, until: u64, reason: &str, by: &str) -> Result<(), StoreError> {
        self.store.set_ban(user, Ban { until, reason: reason.into(), by: by.into() })?;
        self.changed(user);
        let ctx = self.ctx();
        self.evict_everywhere(user, "banned", 4403, &ctx);
        Ok(())
    }

    /// On a cluster node, tells every node that `user`'s identity changed
    /// here (profile, ban, erasure), so cached copies go (contract section
    /// 8: such a change holds on all nodes within 2 s).
    pub fn changed(&self, user: UserId) {
        if let Some(cluster) = &self.cluster
            && let Err(e) = cluster.bus.publish("ctl", format!("changed {user}").as_bytes())
        {
            log::warn!("cluster: the other nodes could not be told {user} changed: {e}");
        }
    }

    /// Ends what `user` holds here, and on a cluster node also on the node
    /// holding the user's socket (contract section 8: a ban through any
    /// node closes the socket wherever it is).
    pub fn evict_everywhere(&self, user: UserId, reason: &'static str, code: u16, ctx: &Ctx<'_>) {
        self.hub().evict(user, reason, code, ctx);
        if let Some(cluster) = &self.cluster {
            if let Err(e) = cluster.evict_remote(user, reason, code) {
                log::warn!("cluster: could not reach the node holding {user}: {e}");
            }
            if let Err(e) = cluster.end_everything_of(user, ctx.wall) {
                log::warn!("cluster: the room or wait of {user} could not be ended: {e}");
            }
        }
    }

    /// Runs one command for a worker whose connections' state is
    /// `sockets`. A panic is caught, logged and counted; a client message
    /// that panicked is answered `INTERNAL`, and if the panic crossed the
    /// hub lock (the hub had to be repaired) its socket is closed (1011).
    pub fn handle(&self, cmd: Command, sockets: &mut Sockets) {
        let label = cmd.label();
        let conn = cmd.conn();
        let done = catch_unwind(AssertUnwindSafe(|| self.run(cmd, sockets)));
        if done.is_err() {
            self.metrics.panics.inc();
            error!("panic while handling {label} for {}", conn.map_or_else(String::new, conn_label));
            let repaired = take_repaired();
            // A client message gets its one reply in `on_text`'s own catch;
            // here only what no client waits on (timers, closes) panicked.
            if repaired && let Some(conn) = conn {
                self.out.close(conn, 1011, "internal error");
            }
        }
    }

    fn run(&self, cmd: Command, sockets: &mut Sockets) {
        match cmd {
            Command::Text { conn, text } => match sockets.get(conn) {
                Some(socket) if socket.busy && !socket.done => offload::settle::hold(sockets, conn, text),
                Some(socket) => self.on_text(conn, &text, socket),
                None => self.on_text(conn, &text, &mut Socket::default()),
            },
            Command::Opened { conn, client } => sockets.open(conn, client),
            Command::Settled { conn, how } => offload::settle::settle(self, conn, how, sockets),
            Command::Http { conn, client, req } => {
                let close = req.close;
                if let Some(db) = &self.offload
                    && http_api::uses_database(&req)
                {
                    return http_api::offload(self, db, conn, client, req);
                }
                let resp = catch_unwind(AssertUnwindSafe(|| http_api::route(self, client, &req)))
                    .unwrap_or_else(|_| {
                        self.metrics.panics.inc();
                        take_repaired();
                        error!("panic while serving {} {}", conn_label(conn), req.path);
                        crate::base::http::Response::error(500, "INTERNAL", "internal error")
                    });
                self.out.http(conn, resp.to_bytes(close), close);
            }
            Command::AuthTimeout { conn } => {
                if self.hub().user_of(conn).is_none() {
                    self.out.close(conn, 4401, "auth timeout");
                }
            }
            Command::Closed { conn, echo } => {
                sockets.close(conn);
                let ctx = self.ctx();
                self.hub().detach(conn, &ctx);
                if let Some(code) = echo {
                    self.out.close(conn, code, "");
                }
            }
            Command::Drain => {
                let ctx = self.ctx();
                self.hub().drain(&ctx);
                self.out.push(outbox::Out::DrainReady);
            }
            Command::Timer(timer) => {
                let ctx = self.ctx();
                let mut hub = self.hub();
                match timer {
                    AppTimer::TierUp { user, ticket } => hub.tier_up(user, ticket, &ctx),
                    AppTimer::MatchTimeout { user, ticket } => hub.match_timeout(user, ticket, &ctx),
                    AppTimer::TypingRetry { user, room } => hub.typing_retry(room, user, &ctx),
                    AppTimer::ResumeExpired { user, room, conn } => {
                        hub.resume_expired(user, room, conn, &ctx)
                    }
                    AppTimer::ClusterGrace { room, away, at, .. } => {
                        drop(hub);
                        if let Some(cluster) = &self.cluster {
                            let until = (ctx.wall + cluster.cooldown).to_string();
                            let rid = room::room_id_str(room);
                            if let Err(e) =
                                cluster.end_room(&rid, away, "disconnected", "", "idle", &until, Some(at))
                            {
                                log::warn!("cluster: a room whose grace ran out could not be ended: {e}");
                            }
                        }
                    }
                    AppTimer::ClusterCommit { user, pair } => {
                        let pending = hub.c_pending(user, pair);
                        drop(hub);
                        if pending && let Some(cluster) = &self.cluster {
                            let _ = cluster.abort(&format!("{pair:016x}"), None);
                        }
                    }
                }
            }
        }
    }

    fn on_text(&self, conn: ConnId, text: &str, socket: &mut Socket) {
        // A busy socket's messages never get here: they are held
        // (`offload::settle`) and replayed once it settles.
        if socket.done {
            return;
        }
        let env = match protocol::parse_envelope(text) {
            Ok(env) => env,
            Err(bad) => {
                self.refuse(conn, bad.id.as_deref(), Refusal::bad_request(bad.message), socket);
                return;
            }
        };
        let id = env.id.as_deref();
        let req = commands::Request { conn, id, authed: socket.authed, client: socket.client };
        let outcome = catch_unwind(AssertUnwindSafe(|| commands::dispatch(self, &req, &env.ty, env.payload)));
        match outcome {
            Ok(Ok(Outcome::Replied)) => socket.refused = 0,
            Ok(Ok(Outcome::Authenticated)) => {
                socket.refused = 0;
                socket.authed = true;
            }
            Ok(Ok(Outcome::Closing)) => socket.done = true,
            Ok(Ok(Outcome::Deferred)) => socket.busy = true,
            Ok(Err(refusal)) => self.refuse(conn, id, refusal, socket),
            Err(_) => {
                self.metrics.panics.inc();
                error!("panic while handling {} from {}", env.ty, conn_label(conn));
                self.refuse(conn, id, Refusal::new("INTERNAL", "internal error"), socket);
                if take_repaired() {
                    self.out.close(conn, 1011, "internal error");
                    socket.done = true;
                }
            }
        }
    }

    /// Sends the `ERROR`; a run of more than [`MAX_REFUSALS`] refused
    /// messages (`RATE_LIMITED`, `BAD_REQUEST`) closes with 4429, any other
    /// reply ends the run (contract section 7).
    fn refuse(&self, conn: ConnId, id: Option<&str>, refusal: Refusal, socket: &mut Socket) {
        let payload: &ErrorPayload = &refusal.error;
        self.reply(conn, protocol::frame("ERROR", id, payload));
        self.tally_refusal(conn, matches!(payload.code, "RATE_LIMITED" | "BAD_REQUEST"), socket);
    }

    /// Counts a refused message toward the run that closes with 4429
    /// (`counted`), or ends the run.
    fn tally_refusal(&self, conn: ConnId, counted: bool, socket: &mut Socket) {
        if !counted {
            socket.refused = 0;
            return;
        }
        socket.refused = socket.refused.saturating_add(1);
        if socket.refused > MAX_REFUSALS {
            self.out.close(conn, 4429, "too many refused messages");
            socket.done = true;
        }
    }
}

fn conn_label(conn: ConnId) -> String {
    format!("{conn:?}")
}
