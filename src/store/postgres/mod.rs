//! The PostgreSQL store (`--database-url`): identities, bans, reports,
//! rooms and messages survive restarts.
//!
//! How calls reach the database:
//! - Registration, profile updates, bans, reports and admin reads run
//!   through an r2d2 pool (`--database-pool-size` connections) on the
//!   database threads (`app::offload`; this store is `blocking`), never on
//!   a worker. Concurrent registrations are committed by one statement
//!   (`batch.rs`).
//! - Token checks go to a bounded in-process cache first (a `MemoryStore`
//!   of at most `--token-cache` identities, CLOCK eviction);
//!   a miss reads the database and fills the cache.
//! - Bans in force are loaded at start and written through, so `AUTH`
//!   never waits on the database for them.
//! - Rooms, messages, reports and last-seen times go through the
//!   write-behind queue (`writer.rs`); the chat path never waits on it.
//!
//! While the database is away the store is degraded: calls that need it
//! fail at once with `Unavailable` (503 for registration) instead of each
//! waiting for a connection; live chat goes on from memory; the writer
//! keeps probing and clears the state when the database answers again.
//! The cache assumes one instance per database: a profile change or an
//! erasure made by another instance is not seen by this one's cache.

mod batch;
pub mod migrate;
pub mod partitions;
mod sql;
pub mod writer;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use log::info;
use parking_lot::RwLock;
use postgres::{Client, NoTls};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use r2d2::Pool;
use r2d2_postgres::PostgresConnectionManager;
use sha2::{Digest, Sha256};

use self::sql::{is_transient, millis, time, user_id, user_record, uuid};
use self::writer::{Job, Shared, Writer};
use super::memory::MemoryStore;
use super::{
    Ban, Event, Profile, Report, Store, StoreError, StoreStatus, TokenHash, TranscriptLine, UserId,
    UserRecord,
};
use crate::metrics::{Metrics, MoodLabel};

/// Longest a new connection may take before the database counts as away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a worker waits for a pooled connection.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a worker waits for the write-behind queue (reads, erasure).
const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// What `--database-*` options configure.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `--database-url`.
    pub url: String,
    /// Connections the workers' blocking calls share.
    pub pool_size: u32,
    /// Write-behind queue bound, in jobs.
    pub queue: usize,
    /// Identities kept in the token cache.
    pub token_cache: usize,
    /// Days of rooms and messages kept (`--retention-days`).
    pub retention_days: u32,
}

pub struct PgStore {
    /// For the calls workers wait on (lookups, inserts, bans, reports).
    pool: Pool<PostgresConnectionManager<NoTls>>,
    /// Identities by token, bounded; the database has them all.
    cache: MemoryStore,
    /// Bans in force, loaded at start and written through.
    bans: RwLock<HashMap<UserId, Ban>>,
    /// The write-behind queue `record` pushes to.
    writer: Writer,
    /// Counters and health shared with the persistence thread.
    shared: Arc<Shared>,
    /// Per-deployment salt of `users.ip_hash` (table `settings`).
    ip_salt: String,
    /// `duet_store_statements_total`, by kind.
    statements: Family<MoodLabel, Counter>,
}

fn parse_config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StoreError::Unavailable(format!("bad database URL: {e}")))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    Ok(config)
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `duet migrate`: applies the migrations and returns the versions applied.
pub fn migrate_only(url: &str) -> Result<Vec<i32>, StoreError> {
    let mut client = parse_config(url)?.connect(NoTls).map_err(unavailable)?;
    migrate::run(&mut client).map_err(unavailable)
}

impl PgStore {
    /// Connects, migrates, closes rooms a crash left open, loads bans and
    /// starts the persistence thread. Fails if the database is away: a
    /// server configured for one does not start without it.
    pub fn open(opts: &PgOptions, metrics: &Metrics) -> Result<PgStore, StoreError> {
        let config = parse_config(&opts.url)?;
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = Pool::builder()
            .max_size(opts.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(POOL_TIMEOUT)
            .build(manager)
            .map_err(|e| unavailable(format!("cannot connect to the database: {e}")))?;
        let mut client = pool.get().map_err(unavailable)?;
        let applied = migrate::run(&mut client).map_err(unavailable)?;
        let closed = client
            .execute(
                "UPDATE rooms SET ended_at = now(), end_reason = 'server_restart' WHERE ended_at IS NULL",
                &[],
            )
            .map_err(unavailable)?;
        let ip_salt: String = client
            .query_one("SELECT value FROM settings WHERE name = 'ip_salt'", &[])
            .and_then(|r| r.try_get(0))
            .map_err(unavailable)?;
        let mut bans = HashMap::new();
        for row in client
            .query("SELECT user_id, until, reason, by_whom FROM bans WHERE until > now()", &[])
            .map_err(unavailable)?
        {
            let ban = Ban {
                until: millis(row.get(1)),
                reason: row.get::<_, String>(2).into(),
                by: row.get::<_, String>(3).into(),
            };
            bans.insert(user_id(row.get(0)), ban);
        }
        info!(
            "database: ready (migrations applied now: {applied:?}; rooms closed as server_restart: {closed}; bans in force: {})",
            bans.len()
        );
        drop(client);
        let shared = Arc::new(Shared::new(
            metrics.store_backlog.clone(),
            metrics.store_dropped.clone(),
            metrics.store_failed.clone(),
            metrics.store_rejected.clone(),
            metrics.store_batches.clone(),
            metrics.store_degraded.clone(),
        ));
        let writer =
            Writer::spawn(config, shared.clone(), opts.queue, opts.retention_days).map_err(unavailable)?;
        Ok(PgStore {
            pool,
            cache: MemoryStore::bounded(opts.token_cache, Counter::default()),
            bans: RwLock::new(bans),
            writer,
            shared,
            ip_salt,
            statements: metrics.store_statements.clone(),
        })
    }

    /// Runs `f` on a pooled connection; fails at once while degraded.
    fn db<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>) -> Result<T, StoreError> {
        self.shared.usable()?;
        let mut conn = self.pool.get().map_err(|e| StoreError::Unavailable(self.shared.unreachable(&e)))?;
        f(&mut conn).map_err(|e| {
            if is_transient(&e) {
                self.shared.unreachable(&e);
            }
            StoreError::Unavailable(e.to_string())
        })
    }

    /// Counts one request-path statement of `kind`.
    fn counted(&self, kind: &'static str) {
        self.statements.get_or_create(&vec![("kind", kind)]).inc();
    }

    fn ip_hash(&self, ip: IpAddr) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(self.ip_salt.as_bytes());
        h.update(ip.to_string().as_bytes());
        h.finalize()[..16].to_vec()
    }

    fn one_user(
        &self,
        sql: &str,
        key: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Option<UserRecord>, StoreError> {
        let query = format!("SELECT {} FROM users WHERE {sql}", sql::USER_COLUMNS);
        let row = self.db(|c| c.query_opt(query.as_str(), &[key]))?;
        let record = row.as_ref().and_then(user_record);
        if let Some(r) = &record {
            // Cache it (a store insert into memory cannot fail).
            let _ = self.cache.insert_user(r.clone(), None);
        }
        Ok(record)
    }
}

impl Store for PgStore {
    fn insert_user(&self, user: UserRecord, from: Option<IpAddr>) -> Result<(), StoreError> {
        let p = &user.profile;
        let ip = from.map(|ip| self.ip_hash(ip));
        self.db(|c| {
            self.counted("insert_user");
            c.execute(
                "INSERT INTO users (id, token_hash, nickname, mood, avatar, interests, created_at, last_seen_at, ip_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &uuid(user.id),
                    &&user.token_hash[..],
                    &&*p.nickname,
                    &p.mood.as_str(),
                    &&*p.avatar,
                    &sql::interests(p),
                    &time(p.created_at),
                    &time(p.last_seen_at),
                    &ip,
                ],
            )
        })?;
        self.cache.insert_user(user, None)
    }

    fn insert_users(&self, users: &[(UserRecord, Option<IpAddr>)]) -> Vec<Result<(), StoreError>> {
        batch::insert_users(self, users)
    }

    fn blocking(&self) -> bool {
        true
    }

    fn cached_user_by_token(&self, hash: &TokenHash) -> Option<UserRecord> {
        self.cache.user_by_token(hash).ok().flatten()
    }

    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError> {
        let p = &profile;
        let n = self.db(|c| {
            c.execute(
                "UPDATE users SET nickname = $2, mood = $3, avatar = $4, interests = $5, last_seen_at = $6 WHERE id = $1",
                &[&uuid(id), &&*p.nickname, &p.mood.as_str(), &&*p.avatar, &sql::interests(p), &time(p.last_seen_at)],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let _ = self.cache.update_profile(id, profile);
        Ok(())
    }

    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        if let Some(hit) = self.cache.user_by_token(hash)? {
            return Ok(Some(hit));
        }
        self.one_user("token_hash = $1", &&hash[..])
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        if let Some(hit) = self.cache.user(id)? {
            return Ok(Some(hit));
        }
        self.one_user("id = $1", &uuid(id))
    }

    fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let existed = self.writer.delete(id, QUEUE_WAIT)?;
        let _ = self.cache.delete_user(id);
        self.bans.write().remove(&id);
        Ok(existed)
    }

    /// Written at once and committed before it returns (contract section
    /// 7: `REPORTED` only for a stored report), not through the write-behind
    /// queue.
    fn add_report(&self, r: Report) -> Result<(), StoreError> {
        let transcript = serde_json::to_string(&r.transcript).unwrap_or_else(|_| "[]".into());
        let addr = r.reporter_addr.map(|a| self.ip_hash(a.ip()));
        self.db(|c| {
            self.counted("add_report");
            c.execute(
                "INSERT INTO reports (id, room_id, reporter_id, reported_id, reason, details, created_at,
                                      transcript, reporter_addr, counts_for_ban)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $10)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &r.report_id,
                    &r.room_id,
                    &uuid(r.reporter_id),
                    &uuid(r.reported_id),
                    &r.reason,
                    &&*r.details,
                    &time(r.created_at),
                    &transcript,
                    &addr,
                    &r.counts_for_ban,
                ],
            )
        })?;
        Ok(())
    }

    fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.db(|c| {
            c.query(
                "SELECT id, room_id, reporter_id, reported_id, reason, details, created_at, transcript::text
                 FROM reports ORDER BY created_at DESC, id LIMIT $1",
                &[&limit],
            )
        })?;
        Ok(rows.iter().filter_map(report).collect())
    }

    fn reporters_since(&self, user: UserId, since: u64) -> Result<usize, StoreError> {
        let rows = self.db(|c| {
            c.query(
                "SELECT reporter_id, reporter_addr FROM reports
                 WHERE reported_id = $1 AND created_at >= $2 AND counts_for_ban ORDER BY created_at",
                &[&uuid(user), &time(since)],
            )
        })?;
        let counted = rows.iter().map(|r| (user_id(r.get(0)), r.get::<_, Option<Vec<u8>>>(1)));
        Ok(super::distinct_reporters(counted))
    }

    fn set_ban(&self, user: UserId, ban: Ban) -> Result<(), StoreError> {
        self.db(|c| {
            c.execute(
                "INSERT INTO bans (user_id, until, reason, by_whom) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id) DO UPDATE SET until = $2, reason = $3, by_whom = $4",
                &[&uuid(user), &time(ban.until), &&*ban.reason, &&*ban.by],
            )
        })?;
        self.bans.write().insert(user, ban);
        Ok(())
    }

    fn ban(&self, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        Ok(self.bans.read().get(&user).filter(|b| b.until > now).cloned())
    }

    fn remove_ban(&self, user: UserId) -> Result<bool, StoreError> {
        let n = self.db(|c| c.execute("DELETE FROM bans WHERE user_id = $1", &[&uuid(user)]))?;
        let was = self.bans.write().remove(&user).is_some();
        Ok(n > 0 || was)
    }

    /// The token cache and the ban map are this node's: another node's
    /// change reaches them here (cluster control channel).
    fn refresh(&self, user: UserId) {
        let _ = self.cache.delete_user(user);
        let row = self.db(|c| {
            c.query_opt(
                "SELECT until, reason, by_whom FROM bans WHERE user_id = $1 AND until > now()",
                &[&uuid(user)],
            )
        });
        match row {
            Ok(Some(r)) => {
                let ban = Ban {
                    until: millis(r.get(0)),
                    reason: r.get::<_, String>(1).into(),
                    by: r.get::<_, String>(2).into(),
                };
                self.bans.write().insert(user, ban);
            }
            Ok(None) => {
                self.bans.write().remove(&user);
            }
            Err(e) => log::warn!("database: a cluster change to {user} could not be read: {e}"),
        }
    }

    fn record(&self, event: Event) {
        self.writer.push(Job::Event(event));
    }

    fn seen(&self, id: UserId, profile: Arc<Profile>) {
        let at = profile.last_seen_at;
        let _ = self.cache.update_profile(id, profile);
        self.record(Event::Seen { user: id, at });
    }

    fn flush(&self, within: Duration) -> Result<(), StoreError> {
        self.writer.barrier(within)
    }

    fn status(&self) -> StoreStatus {
        StoreStatus { degraded: self.shared.degraded() }
    }
}

/// A `reports` row; None if it is not what duet writes.
fn report(row: &postgres::Row) -> Option<Report> {
    let transcript: String = row.try_get(7).ok()?;
    let lines: Vec<serde_json::Value> = serde_json::from_str(&transcript).ok()?;
    let transcript = lines
        .iter()
        .filter_map(|l| {
            let from = match l.get("from")?.as_str()? {
                "reporter" => "reporter",
                _ => "reported",
            };
            let text = l.get("text")?.as_str()?.into();
            Some(TranscriptLine { from, text, sent_at: l.get("sentAt")?.as_u64()? })
        })
        .collect();
    let reason: String = row.try_get(4).ok()?;
    Some(Report {
        report_id: row.try_get(0).ok()?,
        room_id: row.try_get(1).ok()?,
        reporter_id: user_id(row.try_get(2).ok()?),
        reported_id: user_id(row.try_get(3).ok()?),
        reason: super::report_reason(&reason)?,
        details: row.try_get::<_, String>(5).ok()?.into(),
        created_at: millis(row.try_get(6).ok()?),
        transcript,
        reporter_addr: None,
        counts_for_ban: true,
    })
}
