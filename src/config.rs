//! Command-line and environment configuration.
//!
//! Every option of the wire contract (section 1) is a flag with an environment
//! variable twin; the flag wins. Options that belong to later work (database,
//! Redis, admin, moderation) are parsed here so operators can set them today.
//! Durations are given in seconds and may be fractional (`0.2`), which lets
//! tests run with short timers; the contract's integer values are a subset.

use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, Subcommand};

use crate::base::addr::Cidr;

/// The `duet` command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "duet", version, about = "duet: an anonymous 1:1 chat server")]
pub struct Cli {
    // (Plain comments: clap would read doc comments as help text.)
    // A maintenance subcommand; none = run the server.
    #[command(subcommand)]
    pub command: Option<Command>,
    // The server's settings, flattened into the top-level flags.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands besides the default (run the server).
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve,
    /// Apply the database migrations and exit.
    Migrate {
        /// PostgreSQL URL (here or before the subcommand).
        #[arg(long, env = "DUET_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

/// Server options. Field docs are the `--help` text.
#[derive(Debug, Clone, Parser)]
pub struct Config {
    /// Address to bind (HTTP and WebSocket share it).
    #[arg(long, env = "DUET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Open connections at most (default: the open-files limit less 64).
    #[arg(long, env = "DUET_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Worker threads (default: number of CPUs).
    #[arg(long, env = "DUET_WORKERS")]
    pub workers: Option<usize>,
    /// Bearer token for /api/admin/*; unset = the admin API answers 404.
    #[arg(long, env = "DUET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// PostgreSQL URL; unset = in-memory store.
    #[arg(long, env = "DUET_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Connections in the PostgreSQL pool (workers' synchronous calls; the
    /// write-behind thread has one more of its own).
    #[arg(long, env = "DUET_DATABASE_POOL_SIZE", default_value_t = 8)]
    pub database_pool_size: u32,
    /// Write-behind queue bound (rooms, messages, reports, last-seen
    /// times waiting for the database); past it writes are dropped,
    /// logged and counted.
    #[arg(long, env = "DUET_DATABASE_QUEUE", default_value_t = 100_000)]
    pub database_queue: usize,
    /// Days of rooms and messages kept (PostgreSQL store): older day
    /// partitions are dropped whole, checked at start and every hour.
    #[arg(long, env = "DUET_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Identities cached in memory for token checks (PostgreSQL store).
    #[arg(long, env = "DUET_TOKEN_CACHE", default_value_t = 100_000)]
    pub token_cache: usize,
    /// Threads that run the request path's database calls (registration,
    /// profile, admin, AUTH on a token-cache miss, REPORT), so no worker
    /// waits on the database (PostgreSQL store only).
    #[arg(long, env = "DUET_DB_THREADS", default_value_t = 4)]
    pub db_threads: usize,
    /// Database jobs queued or running at most; past it HTTP gets 503 with
    /// Retry-After and WebSocket `ERROR UNAVAILABLE` with retryAfterMs.
    #[arg(long, env = "DUET_DB_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub db_max_in_flight: usize,
    /// Redis URL; set = this process is a node of the cluster that shares
    /// that Redis and prefix; unset = single node.
    #[arg(long, env = "DUET_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel: clusters (and tests) sharing
    /// one Redis are isolated by it.
    #[arg(long, env = "DUET_REDIS_PREFIX", default_value = "duet")]
    pub redis_prefix: String,
    /// This node's name in the cluster (default: generated, unique).
    #[arg(long, env = "DUET_NODE_ID")]
    pub node_id: Option<String>,
    /// Bind with SO_REUSEPORT, so several processes on one machine share
    /// one port (each with its own reactor).
    #[arg(long, env = "DUET_REUSE_PORT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub reuse_port: bool,
    /// Exact-interest matching window, seconds.
    #[arg(long, env = "DUET_MATCH_TIER1_SECS", default_value = "10", value_parser = parse_secs)]
    pub match_tier1_secs: Duration,
    /// Give up matching after this long and send MATCH_CANCELLED, seconds.
    #[arg(long, env = "DUET_MATCH_TIMEOUT_SECS", default_value = "30", value_parser = parse_secs)]
    pub match_timeout_secs: Duration,
    /// The same two users are not paired again within this, seconds.
    #[arg(long, env = "DUET_REMATCH_COOLDOWN_SECS", default_value = "600", value_parser = parse_secs)]
    pub rematch_cooldown_secs: Duration,
    /// Most rematch-cooldown pairs remembered; past it the oldest ends early.
    #[arg(long, env = "DUET_MAX_COOLDOWN_PAIRS", default_value_t = 1_000_000)]
    pub max_cooldown_pairs: usize,
    /// Most identities the in-memory store keeps; past it one not used
    /// recently is forgotten (its token stops working). Ignored with
    /// --database-url, where every identity is kept.
    #[arg(long, env = "DUET_MAX_IDENTITIES", default_value_t = crate::store::memory::DEFAULT_MAX_USERS)]
    pub max_identities: usize,
    /// How long a dropped user's room waits for a reconnect, seconds; 0 = end at once.
    #[arg(long, env = "DUET_RESUME_GRACE_SECS", default_value = "15", value_parser = parse_secs)]
    pub resume_grace_secs: Duration,
    /// Close a socket that has not sent AUTH by then (also bounds how long
    /// one HTTP request may take to arrive), seconds.
    #[arg(long, env = "DUET_AUTH_TIMEOUT_SECS", default_value = "10", value_parser = parse_secs)]
    pub auth_timeout_secs: Duration,
    /// Server WebSocket ping period, seconds.
    #[arg(long, env = "DUET_PING_INTERVAL_SECS", default_value = "30", value_parser = parse_secs)]
    pub ping_interval_secs: Duration,
    /// Close a socket silent this long (pongs count), seconds.
    #[arg(long, env = "DUET_IDLE_TIMEOUT_SECS", default_value = "75", value_parser = parse_secs)]
    pub idle_timeout_secs: Duration,
    /// Longest chat text, in Unicode scalar values.
    #[arg(long, env = "DUET_MAX_MESSAGE_CHARS", default_value_t = 2000)]
    pub max_message_chars: usize,
    /// Per-user CHAT token bucket refill, per second.
    #[arg(long, env = "DUET_CHAT_RATE", default_value_t = 10.0)]
    pub chat_rate: f64,
    /// Per-user CHAT token bucket size.
    #[arg(long, env = "DUET_CHAT_BURST", default_value_t = 20)]
    pub chat_burst: u32,
    /// Per-user bucket shared by JOIN_QUEUE, LEAVE_QUEUE, NEXT: refill per second.
    #[arg(long, env = "DUET_QUEUE_RATE", default_value_t = 1.0)]
    pub queue_rate: f64,
    /// Per-user queue-command bucket size.
    #[arg(long, env = "DUET_QUEUE_BURST", default_value_t = 5)]
    pub queue_burst: u32,
    /// New identities per client IP per minute.
    #[arg(long, env = "DUET_REGISTER_PER_MINUTE", default_value_t = 30)]
    pub register_per_minute: u32,
    /// Comma list of allowed Origins for WebSocket upgrades.
    #[arg(long, env = "DUET_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,
    /// Blocklist file, one word or phrase a line (# comments).
    #[arg(long, env = "DUET_BLOCKLIST")]
    pub blocklist: Option<std::path::PathBuf>,
    /// Persist chat text (otherwise only metadata). From the environment:
    /// 1/0, true/false, yes/no, on/off.
    #[arg(long, env = "DUET_STORE_MESSAGES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub store_messages: bool,
    /// Reports from distinct users within 24 h that ban a user for 24 h; 0 = off.
    #[arg(long, env = "DUET_AUTO_BAN_REPORTS", default_value_t = 3)]
    pub auto_ban_reports: u32,
    /// A report counts toward the auto-ban only when the reporter's
    /// identity is at least this old, seconds.
    #[arg(long, env = "DUET_AUTO_BAN_MIN_AGE_SECS", default_value = "600", value_parser = parse_secs)]
    pub auto_ban_min_age_secs: Duration,
    /// Open sockets per client address at most (an IPv6 address counts as
    /// its /64); past it a new socket gets HTTP 429 and is closed. 0 = no cap.
    #[arg(long, env = "DUET_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Comma list of proxy addresses or CIDRs: only for a request whose TCP
    /// peer is one of them is the client address taken from the last
    /// X-Forwarded-For entry.
    #[arg(long, env = "DUET_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,
    /// Longest life of an HTTP keep-alive connection, seconds.
    #[arg(long, env = "DUET_HTTP_KEEPALIVE_SECS", default_value = "120", value_parser = parse_secs)]
    pub http_keepalive_secs: Duration,
    /// Test-only (a build with the cargo feature `echo`): /ws/chat echoes
    /// every frame without auth, for the Autobahn conformance suite.
    /// Refused unless bound to a loopback address.
    #[cfg_attr(
        feature = "echo",
        arg(long, env = "DUET_ECHO", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())
    )]
    #[cfg_attr(not(feature = "echo"), arg(skip))]
    pub echo: bool,
    /// Whether the reactor handles SIGINT/SIGTERM (set by the binary).
    #[arg(skip)]
    pub handle_signals: bool,
}

/// One allowed origin, trimmed (lists are often written `a, b`).
fn parse_origin(s: &str) -> Result<String, String> {
    Ok(s.trim().to_owned())
}

/// Seconds as a non-negative decimal number.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(format!("seconds out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v))
}

impl Config {
    /// What tests start from: contract defaults on an ephemeral loopback
    /// port, except the rate limits and the per-address connection cap
    /// (every test client is 127.0.0.1), which are generous so that a test
    /// is about what it tests; tests of those limits set their own.
    pub fn for_tests() -> Config {
        let mut c = Config::parse_from(["duet"]);
        c.listen = "127.0.0.1:0".parse().expect("literal address");
        c.workers = Some(2);
        c.chat_rate = 1e6;
        c.chat_burst = 1_000_000;
        c.queue_rate = 1e6;
        c.queue_burst = 1_000_000;
        c.register_per_minute = 1_000_000;
        c.max_connections_per_ip = 0;
        c
    }

    /// The node id: `--node-id`, or a fresh one (host name, process id and
    /// a random suffix: unique, and readable in `/api/admin/stats`).
    pub fn node_name(&self) -> String {
        if let Some(id) = self.node_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            return id.to_owned();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let host = if host.is_empty() { "duet" } else { host };
        format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
    }

    /// Worker count, resolved.
    pub fn worker_count(&self) -> usize {
        self.workers
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::parse_from(["duet"]);
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.match_tier1_secs, Duration::from_secs(10));
        assert_eq!(c.match_timeout_secs, Duration::from_secs(30));
        assert_eq!(c.resume_grace_secs, Duration::from_secs(15));
        assert_eq!(c.idle_timeout_secs, Duration::from_secs(75));
        assert_eq!(c.max_message_chars, 2000);
        assert_eq!((c.chat_rate, c.chat_burst), (10.0, 20));
        assert_eq!(c.auto_ban_reports, 3);
    }

    #[test]
    fn fractional_seconds_are_accepted_and_negative_refused() {
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }
}
