//! The Redis store: identities, bans and reports in the cluster's Redis
//! (contract section 8), so a token issued by any node works on every node.
//! Chosen when `--redis-url` is set without `--database-url`.
//!
//! Keys (`P` is `--redis-prefix`; see `docs/cluster.md`, "Identity"):
//!
//! | key | type | what |
//! |---|---|---|
//! | `P:u:<id>` | hash | an identity: `t` token hash (hex), `n` nickname, `m` mood, `a` avatar, `i` interests (JSON array), `c` created, `s` last seen (epoch ms) |
//! | `P:t:<token hash hex>` | string | → the user id |
//! | `P:lru` | zset | id → use clock of its last use (registration, token lookup, profile update) |
//! | `P:lruclock` | string | the use clock (`INCR`): a counter, so the order holds whatever the nodes' clocks say |
//! | `P:ban:<id>` | string | JSON `{until, reason, by}`, `PXAT until` |
//! | `P:rep` | list | the newest `MAX_REPORTS` reports, newest first, as entries `<reportId> <reporterId>` |
//! | `P:repj` | hash | entry → the report's JSON (what `/api/admin/reports` shows) |
//! | `P:repby:<id>` | set | the entries of the reports a user filed (to erase their text) |
//! | `P:rep:<id>` | zset | reports about a user: `<reportId> <reporterId> <address hash> <counts 1/0>` → created (ms); newest `MAX_REPORTS_PER_USER`, expires `REPORT_INDEX_TTL` after the last |
//! | `P:ipsalt` | string | the cluster's salt for report addresses, made once |
//!
//! Every call is one round trip: a plain command or one Lua script (atomic,
//! so two nodes never interleave inside an insert, an eviction or an
//! erasure). There is no local cache: a lookup is one `EVALSHA`, and a
//! cache would need invalidating across nodes (a profile change, an
//! erasure, a ban) for the little it saves on an `AUTH`.
//!
//! Bound: at most `--max-identities` identities; past it the least
//! recently used (lowest in `P:lru`) is forgotten with its token, its ban
//! and its report indexes (its reports stay in `P:rep`), and counted in
//! `duet_identities_evicted` by the node whose insert evicted it. Reports:
//! the newest `MAX_REPORTS`, as in the memory store.
//!
//! The address an identity registered from is not stored (nothing reads
//! it); a reporter's address is stored only as a salted SHA-1 (the script
//! hashes it; the salt is the cluster's, in `P:ipsalt`), enough for
//! auto-bans to count distinct addresses.
//!
//! While Redis is unreachable (the bus says so) every call fails at once
//! with `Unavailable` and the store is degraded ("redis unreachable");
//! the bus reconnects by itself. If Redis comes back empty, identities
//! are gone (contract section 8: run Redis with persistence, or use
//! PostgreSQL).

use std::net::IpAddr;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use redis::Script;

use super::{
    Ban, Mood, Profile, Report, Store, StoreError, StoreStatus, TokenHash, TranscriptLine, UserId, UserRecord,
};
use crate::bus::{Bus, BusError};

/// Reports kept, newest first (the memory store's bound).
pub const MAX_REPORTS: usize = 10_000;
/// Reports about one user kept for auto-ban counting, newest first.
pub const MAX_REPORTS_PER_USER: usize = 1_000;
/// How long the index of reports about a user outlives its last report,
/// ms; auto-bans count the last 24 hours.
pub const REPORT_INDEX_TTL: u64 = 7 * 24 * 3600 * 1000;
/// Most identities one insert evicts (a bound lowered across a restart is
/// reached over several inserts instead of in one long script).
const MOST_EVICTIONS_PER_INSERT: usize = 64;
/// Ban ends later than this (epoch ms, far beyond any real date) are
/// stored without expiry: Redis refuses times near `i64::MAX`.
const MAX_PXAT: u64 = 1 << 52;

/// The scripts that include `forget` get it in front.
macro_rules! with_forget {
    ($file:literal) => {
        concat!(include_str!("forget.lua"), include_str!($file))
    };
}

struct Scripts {
    insert: Script,
    lookup: Script,
    update: Script,
    seen: Script,
    delete: Script,
    report: Script,
    reports: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            insert: Script::new(with_forget!("insert.lua")),
            lookup: Script::new(include_str!("lookup.lua")),
            update: Script::new(include_str!("update.lua")),
            seen: Script::new(include_str!("seen.lua")),
            delete: Script::new(with_forget!("delete.lua")),
            report: Script::new(include_str!("report.lua")),
            reports: Script::new(include_str!("reports.lua")),
        }
    }
}

pub struct RedisStore {
    bus: Arc<Bus>,
    scripts: Scripts,
    /// `--max-identities`.
    max_users: usize,
    /// `duet_identities_evicted`.
    evicted: Counter,
    /// Becomes the cluster's address salt if it has none yet.
    salt: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("bus", &self.bus).field("max_users", &self.max_users).finish()
    }
}

/// The fields of `P:u:<id>`, in the order lookups read them.
const USER_FIELDS: [&str; 7] = ["t", "n", "m", "a", "i", "c", "s"];

impl RedisStore {
    /// A store on `bus` of at most `max_users` identities; `evicted`
    /// counts the ones forgotten to stay within it. Needs no round trip:
    /// a node may start while Redis is away.
    pub fn new(bus: Arc<Bus>, max_users: usize, evicted: Counter) -> RedisStore {
        let salt: [u8; 16] = rand::random();
        RedisStore { bus, scripts: Scripts::new(), max_users: max_users.max(1), evicted, salt: hex(&salt) }
    }

    fn key(&self, name: &str) -> String {
        self.bus.key(name)
    }

    fn user_key(&self, id: UserId) -> String {
        self.key(&format!("u:{id}"))
    }

    fn call<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.bus.call(f).map_err(unavailable)
    }
}

fn unavailable(e: BusError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<TokenHash> {
    let mut out = [0u8; 16];
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn interests_json(p: &Profile) -> String {
    serde_json::to_string(&p.interests).unwrap_or_else(|_| "[]".into())
}

/// An identity from its id and `USER_FIELDS`; None if the hash is not
/// what duet writes (which reads as "no such user").
fn user_record(id: &str, f: &[Option<String>]) -> Option<UserRecord> {
    let [t, n, m, a, i, c, s] = f else { return None };
    let interests: Vec<String> = serde_json::from_str(i.as_deref()?).ok()?;
    let profile = Profile {
        nickname: n.as_deref()?.into(),
        mood: Mood::parse(m.as_deref()?)?,
        avatar: a.as_deref()?.into(),
        interests: interests.into_iter().map(String::into_boxed_str).collect(),
        created_at: c.as_deref()?.parse().ok()?,
        last_seen_at: s.as_deref()?.parse().ok()?,
    };
    Some(UserRecord { id: UserId::parse(id)?, token_hash: unhex(t.as_deref()?)?, profile: Arc::new(profile) })
}

/// A stored report's JSON, back as a report (its address and its
/// `counts_for_ban`, never shown, are in the per-user index, not here).
fn parse_report(json: &str) -> Option<Report> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    // An erased report's empty transcript comes back from Lua as `{}`.
    let lines = v.get("transcript").and_then(|t| t.as_array()).map(Vec::as_slice).unwrap_or_default();
    let transcript = lines
        .iter()
        .filter_map(|l| {
            let from = match l.get("from")?.as_str()? {
                "reporter" => "reporter",
                _ => "reported",
            };
            let text = l.get("text")?.as_str()?.into();
            Some(TranscriptLine { from, text, sent_at: l.get("sentAt")?.as_f64()? as u64 })
        })
        .collect();
    Some(Report {
        report_id: s("reportId")?.to_owned(),
        room_id: s("roomId")?.to_owned(),
        reporter_id: UserId::parse(s("reporterId")?)?,
        reported_id: UserId::parse(s("reportedId")?)?,
        reason: super::report_reason(s("reason")?)?,
        details: s("details").unwrap_or_default().into(),
        created_at: v.get("createdAt")?.as_f64()? as u64,
        transcript,
        reporter_addr: None,
        counts_for_ban: true,
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct BanJson {
    until: u64,
    reason: String,
    by: String,
}

impl Store for RedisStore {
    fn insert_user(&self, user: UserRecord, _from: Option<IpAddr>) -> Result<(), StoreError> {
        let p = &user.profile;
        let token = hex(&user.token_hash);
        let mut inv = self.scripts.insert.prepare_invoke();
        inv.key(self.user_key(user.id))
            .key(self.key(&format!("t:{token}")))
            .key(self.key("lru"))
            .key(self.key("lruclock"))
            .arg(self.bus.prefix())
            .arg(user.id.to_string())
            .arg(&token)
            .arg(self.max_users)
            .arg(MOST_EVICTIONS_PER_INSERT)
            .arg(&*p.nickname)
            .arg(p.mood.as_str())
            .arg(&*p.avatar)
            .arg(interests_json(p))
            .arg(p.created_at)
            .arg(p.last_seen_at);
        let evicted: u64 = self.call(|c| inv.invoke(c))?;
        self.evicted.inc_by(evicted);
        Ok(())
    }

    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError> {
        let p = &profile;
        let mut inv = self.scripts.update.prepare_invoke();
        inv.key(self.user_key(id))
            .key(self.key("lru"))
            .key(self.key("lruclock"))
            .arg(id.to_string())
            .arg(&*p.nickname)
            .arg(p.mood.as_str())
            .arg(&*p.avatar)
            .arg(interests_json(p))
            .arg(p.last_seen_at);
        let found: u8 = self.call(|c| inv.invoke(c))?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        let mut inv = self.scripts.lookup.prepare_invoke();
        inv.key(self.key(&format!("t:{}", hex(hash))))
            .key(self.key("lru"))
            .key(self.key("lruclock"))
            .arg(self.bus.prefix());
        let found: Option<Vec<Option<String>>> = self.call(|c| inv.invoke(c))?;
        Ok(found.and_then(|v| {
            let (id, fields) = v.split_first()?;
            user_record(id.as_deref()?, fields)
        }))
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let key = self.user_key(id);
        let fields: Vec<Option<String>> =
            self.call(|c| redis::cmd("HMGET").arg(&key).arg(&USER_FIELDS).query(c))?;
        if fields.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        Ok(user_record(&id.to_string(), &fields))
    }

    fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut inv = self.scripts.delete.prepare_invoke();
        inv.key(self.user_key(id))
            .key(self.key("repj"))
            .key(self.key(&format!("repby:{id}")))
            .arg(self.bus.prefix())
            .arg(id.to_string());
        let existed: u8 = self.call(|c| inv.invoke(c))?;
        Ok(existed == 1)
    }

    /// Stored (in Redis, atomically with its indexes) before it returns.
    fn add_report(&self, r: Report) -> Result<(), StoreError> {
        let json = serde_json::to_string(&r).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Entries are split on spaces: a report id never has one (16 hex
        // digits), but a space must not break the index if it did.
        let entry = format!("{} {}", r.report_id.replace(char::is_whitespace, "_"), r.reporter_id);
        let addr = r.reporter_addr.map(|a| a.to_string()).unwrap_or_default();
        let mut inv = self.scripts.report.prepare_invoke();
        inv.key(self.key("rep"))
            .key(self.key("repj"))
            .key(self.key(&format!("repby:{}", r.reporter_id)))
            .key(self.key(&format!("rep:{}", r.reported_id)))
            .key(self.key("ipsalt"))
            .arg(self.bus.prefix())
            .arg(&entry)
            .arg(&json)
            .arg(r.created_at)
            .arg(u8::from(r.counts_for_ban))
            .arg(&addr)
            .arg(&self.salt)
            .arg(MAX_REPORTS)
            .arg(MAX_REPORTS_PER_USER)
            .arg(REPORT_INDEX_TTL);
        let _: u8 = self.call(|c| inv.invoke(c))?;
        Ok(())
    }

    fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        let limit = limit.min(MAX_REPORTS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inv = self.scripts.reports.prepare_invoke();
        inv.key(self.key("rep")).key(self.key("repj")).arg(limit);
        let found: Vec<String> = self.call(|c| inv.invoke(c))?;
        Ok(found.iter().filter_map(|j| parse_report(j)).collect())
    }

    fn reporters_since(&self, user: UserId, since: u64) -> Result<usize, StoreError> {
        let key = self.key(&format!("rep:{user}"));
        let members: Vec<String> =
            self.call(|c| redis::cmd("ZRANGEBYSCORE").arg(&key).arg(since).arg("+inf").query(c))?;
        let counted = members.iter().filter_map(|m| {
            let mut parts = m.split(' ');
            let (_report, reporter, addr, counts) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if counts != "1" {
                return None;
            }
            let addr = (addr != "-").then_some(addr);
            Some((UserId::parse(reporter)?, addr))
        });
        Ok(super::distinct_reporters(counted))
    }

    fn set_ban(&self, user: UserId, ban: Ban) -> Result<(), StoreError> {
        let key = self.key(&format!("ban:{user}"));
        let until = ban.until;
        let json = BanJson { until, reason: ban.reason.into(), by: ban.by.into() };
        let json = serde_json::to_string(&json).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.call(|c| {
            if until == 0 {
                // Over before it began (Redis refuses a zero expiry).
                return redis::cmd("DEL").arg(&key).query::<()>(c);
            }
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(&json);
            // Redis forgets the ban when it ends (at once if it already
            // has); one that never does, past what Redis takes as a time,
            // is kept without expiry.
            if until <= MAX_PXAT {
                cmd.arg("PXAT").arg(until);
            }
            cmd.query::<()>(c)
        })
    }

    fn ban(&self, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        let key = self.key(&format!("ban:{user}"));
        let json: Option<String> = self.call(|c| redis::cmd("GET").arg(&key).query(c))?;
        let ban = json.and_then(|j| serde_json::from_str::<BanJson>(&j).ok());
        Ok(ban.filter(|b| b.until > now).map(|b| Ban {
            until: b.until,
            reason: b.reason.into(),
            by: b.by.into(),
        }))
    }

    fn remove_ban(&self, user: UserId) -> Result<bool, StoreError> {
        let key = self.key(&format!("ban:{user}"));
        let n: u64 = self.call(|c| redis::cmd("DEL").arg(&key).query(c))?;
        Ok(n > 0)
    }

    /// Only the last-seen time, best effort (the lookup before it already
    /// marked the identity used).
    fn seen(&self, id: UserId, profile: Arc<Profile>) {
        let mut inv = self.scripts.seen.prepare_invoke();
        inv.key(self.user_key(id)).arg(profile.last_seen_at);
        let _ = self.call(|c| inv.invoke::<u8>(c));
    }

    fn status(&self) -> StoreStatus {
        StoreStatus { degraded: (!self.bus.is_up()).then(|| "redis unreachable".to_owned()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_survive_hex() {
        let h = crate::store::hash_token("secret");
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"é".repeat(16)), None, "not ASCII");
    }

    #[test]
    fn an_erased_report_whose_transcript_lua_wrote_as_an_object_reads_as_empty() {
        let id = UserId::random();
        let json = format!(
            r#"{{"reportId":"ab","roomId":"cd","reporterId":"{id}","reportedId":"{id}","reason":"spam",
                "details":"","createdAt":1700000000123,"transcript":{{}}}}"#
        );
        let r = parse_report(&json).expect("parses");
        assert!(r.transcript.is_empty());
        assert_eq!((r.created_at, r.reason), (1_700_000_000_123, "spam"));
        assert!(parse_report(&json.replace("spam", "nonsense")).is_none(), "an unknown reason");
    }

    #[test]
    fn a_user_hash_missing_a_field_reads_as_no_user() {
        let id = UserId::random();
        let f = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        let tok = hex(&[7u8; 16]);
        let ok = f(&[&tok, "n", "fire", "a", r#"["x"]"#, "1", "2"]);
        let r = user_record(&id.to_string(), &ok).expect("whole");
        assert_eq!((r.id, &*r.profile.interests[0], r.profile.last_seen_at), (id, "x", 2));
        let mut missing = ok.clone();
        missing[2] = None;
        assert!(user_record(&id.to_string(), &missing).is_none());
        assert!(user_record(&id.to_string(), &ok[..6]).is_none());
    }
}
