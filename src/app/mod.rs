//! The application: everything workers do with a command.
//!
//! `App` is shared by all workers. Its live state is the `Hub` behind one
//! lock; identities are in the `Store`; everything a client receives leaves
//! through the `Outbox`. Handlers never touch sockets.

pub mod admin;
pub mod blocklist;
pub mod command;
pub mod commands;
pub mod http_api;
pub mod hub;
pub mod limits;
pub mod matcher;
pub mod outbox;
pub mod pairs;
pub mod protocol;
pub mod validate;
pub mod view;
pub mod web;
pub mod worker;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use log::error;
use parking_lot::Mutex;

use self::command::{AppTimer, Command};
use self::hub::{Ctx, Hub};
use self::outbox::{Delivery, Outbox};
use self::protocol::{ErrorPayload, Refusal};
use crate::metrics::Metrics;
use crate::net::id::ConnId;
use crate::net::timer::Clock;
use crate::store::{Ban, Profile, Store, StoreError, UserId, UserRecord};

/// Milliseconds since the Unix epoch (what clients see as times).
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Settings handlers read.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub max_message_chars: usize,
    /// Distinct reporters within 24 h that ban a user; 0 = off.
    pub auto_ban_reports: u32,
    /// `--admin-token`; None = the admin API answers 404.
    pub admin_token: Option<String>,
    /// `--store-messages`: a persisting store gets the chat text too.
    pub store_messages: bool,
}

pub struct App {
    pub cfg: AppConfig,
    /// Chat words refused with `CONTENT_REJECTED`; loaded once at start.
    pub blocklist: blocklist::Blocklist,
    /// Registrations per client IP.
    pub registrations: Mutex<limits::IpLimiter>,
    pub clock: Clock,
    pub store: Arc<dyn Store>,
    pub hub: Mutex<Hub>,
    pub out: Outbox,
    pub metrics: Arc<Metrics>,
    /// The bundled web client, rendered once at start.
    pub web: web::WebClient,
}

impl App {
    pub fn new(
        cfg: &crate::config::Config,
        store: Arc<dyn Store>,
        out: Outbox,
        metrics: Arc<Metrics>,
        clock: Clock,
        blocklist: blocklist::Blocklist,
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
        App {
            cfg: AppConfig {
                max_message_chars: cfg.max_message_chars,
                auto_ban_reports: cfg.auto_ban_reports,
                admin_token: cfg.admin_token.clone().filter(|t| !t.is_empty()),
                store_messages: cfg.store_messages,
            },
            blocklist,
            registrations: Mutex::new(limits::IpLimiter::per_minute(cfg.register_per_minute)),
            clock,
            store,
            hub: Mutex::new(Hub::new(rules)),
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

    /// Bans `user` until `until` (epoch ms) and ends what they hold now.
    pub fn ban(&self, user: UserId, until: u64, reason: &str, by: &str) -> Result<(), StoreError> {
        self.store.set_ban(user, Ban { until, reason: reason.into(), by: by.into() })?;
        let ctx = self.ctx();
        self.hub.lock().evict(user, "banned", 4403, &ctx);
        Ok(())
    }

    /// Runs one command; a panic is caught, logged and answered `INTERNAL`.
    pub fn handle(&self, cmd: Command) {
        match cmd {
            Command::Text { conn, text } => self.on_text(conn, &text),
            Command::Http { conn, peer, req } => {
                let close = req.close;
                let resp = catch_unwind(AssertUnwindSafe(|| http_api::route(self, peer, &req)))
                    .unwrap_or_else(|_| {
                        self.metrics.panics.inc();
                        error!("panic while serving {} {}", conn_label(conn), req.path);
                        crate::net::http::Response::error(500, "INTERNAL", "internal error")
                    });
                self.out.http(conn, resp.to_bytes(close), close);
            }
            Command::AuthTimeout { conn } => {
                if self.hub.lock().user_of(conn).is_none() {
                    self.out.close(conn, 4401, "auth timeout");
                }
            }
            Command::Closed { conn, echo } => {
                let ctx = self.ctx();
                self.hub.lock().detach(conn, &ctx);
                if let Some(code) = echo {
                    self.out.close(conn, code, "");
                }
            }
            Command::Drain => {
                let ctx = self.ctx();
                self.hub.lock().drain(&ctx);
                self.out.push(outbox::Out::DrainReady);
            }
            Command::Timer(timer) => {
                let ctx = self.ctx();
                let mut hub = self.hub.lock();
                match timer {
                    AppTimer::TierUp { user, ticket } => hub.tier_up(user, ticket, &ctx),
                    AppTimer::MatchTimeout { user, ticket } => hub.match_timeout(user, ticket, &ctx),
                    AppTimer::ResumeExpired { user, room, conn } => {
                        hub.resume_expired(user, room, conn, &ctx)
                    }
                }
            }
        }
    }

    fn on_text(&self, conn: ConnId, text: &str) {
        let env = match protocol::parse_envelope(text) {
            Ok(env) => env,
            Err(bad) => {
                self.refuse(conn, bad.id.as_deref(), Refusal::bad_request(bad.message));
                return;
            }
        };
        let id = env.id.as_deref();
        let user = self.hub.lock().user_of(conn);
        let req = commands::Request { conn, id, user };
        let outcome = catch_unwind(AssertUnwindSafe(|| commands::dispatch(self, &req, &env.ty, env.payload)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => self.refuse(conn, id, refusal),
            Err(_) => {
                self.metrics.panics.inc();
                error!("panic while handling {} from {}", env.ty, conn_label(conn));
                self.refuse(conn, id, Refusal::new("INTERNAL", "internal error"));
            }
        }
    }

    fn refuse(&self, conn: ConnId, id: Option<&str>, refusal: Refusal) {
        let payload: &ErrorPayload = &refusal.error;
        self.out.frame(conn, protocol::frame("ERROR", id, payload));
        if let Some(code) = refusal.close {
            self.out.close(conn, code, "rate limit");
        }
    }
}

fn conn_label(conn: ConnId) -> String {
    format!("{conn:?}")
}
