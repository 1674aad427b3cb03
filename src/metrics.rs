//! Process-wide metrics, kept in `prometheus-client` types so `/metrics`
//! is encoded by that library, not by hand.
//!
//! Counters and the connection gauge are updated where things happen
//! (atomics, any thread). Gauges of live state (online users, queue sizes,
//! active rooms) are read from the hub when scraped, so they cost nothing
//! in between.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of `duet_queue_size`.
pub type MoodLabel = Vec<(&'static str, &'static str)>;
/// Label set of `duet_ws_closes_total`: the close code.
pub type CodeLabel = Vec<(&'static str, u16)>;

pub struct Metrics {
    /// Open TCP connections (HTTP and WebSocket); the reactor keeps it.
    pub connections: Gauge,
    /// WebSocket upgrades accepted since start.
    pub websockets: Counter,
    /// Rooms created since start.
    pub rooms_created: Counter,
    /// Chat messages relayed since start.
    pub messages: Counter,
    /// Commands that panicked (answered INTERNAL).
    pub panics: Counter,
    /// Inconsistencies fixed in the hub after a panic inside a transition.
    pub hub_repairs: Counter,
    /// Rematch cooldowns ended early by `--max-cooldown-pairs`.
    pub cooldowns_cut: Counter,
    /// Identities the memory store forgot to stay within `--max-identities`.
    pub identities_evicted: Counter,
    /// Write-behind jobs waiting for the database (PostgreSQL store).
    pub store_backlog: Gauge,
    /// Write-behind jobs dropped because the queue was full.
    pub store_dropped: Counter,
    /// Rows the database refused for their content (logged, skipped).
    pub store_failed: Counter,
    /// The same rows, under the name issue 14 asked for: each one was
    /// refused alone after its batch was split (logged with the reason).
    pub store_rejected: Counter,
    /// Write-behind batches written (one round trip each).
    pub store_batches: Counter,
    /// 1 while the database is unreachable.
    pub store_degraded: Gauge,
    /// Statements the request path ran on the database, by kind
    /// (`insert_user`, `insert_users` = one group commit, `add_report`):
    /// how well registrations are grouped.
    pub store_statements: Family<MoodLabel, Counter>,
    /// Jobs on the database threads now (queued or running), at most
    /// `--db-max-in-flight`.
    pub db_in_flight: Gauge,
    /// Requests refused because `--db-max-in-flight` jobs were in flight
    /// (HTTP 503, WebSocket `ERROR UNAVAILABLE`).
    pub db_refused: Counter,
    /// Users with an authenticated socket; set when scraped.
    pub online_users: Gauge,
    /// Rooms open now; set when scraped.
    pub rooms_active: Gauge,
    /// Waiters per queue; set when scraped.
    pub queue_size: Family<MoodLabel, Gauge>,
    /// Time from `JOIN_QUEUE` to `MATCH_FOUND`, per matched user.
    pub match_wait: Histogram,
    /// Cluster nodes heard from within the last 6 s (this one included).
    pub cluster_nodes: Gauge,
    /// Frames this node delivered from its cluster channel (published by
    /// a script, possibly run on another node).
    pub cluster_frames: Counter,
    /// Redis round trips (cluster nodes), seconds.
    pub redis_round_trip: Histogram,
    /// Redis calls that failed (unreachable, timed out, refused).
    pub redis_errors: Counter,
    /// Sockets refused by `--max-connections-per-ip` (answered 429).
    pub refused_over_cap: Counter,
    /// WebSockets the server closed on a client, by close code (protocol
    /// violations, slow readers, rate limits, idle): the log shows only a
    /// few a minute, this counts them all.
    pub ws_closes: Family<CodeLabel, Counter>,
    /// What `/metrics` encodes: every metric above, registered once.
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("connections", &self.connections.get()).finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            connections: Gauge::default(),
            websockets: Counter::default(),
            rooms_created: Counter::default(),
            messages: Counter::default(),
            panics: Counter::default(),
            hub_repairs: Counter::default(),
            cooldowns_cut: Counter::default(),
            identities_evicted: Counter::default(),
            store_backlog: Gauge::default(),
            store_dropped: Counter::default(),
            store_failed: Counter::default(),
            store_rejected: Counter::default(),
            store_batches: Counter::default(),
            store_degraded: Gauge::default(),
            store_statements: Family::default(),
            db_in_flight: Gauge::default(),
            db_refused: Counter::default(),
            online_users: Gauge::default(),
            rooms_active: Gauge::default(),
            queue_size: Family::default(),
            // 50 ms .. ~105 s: a wait is bounded by match-timeout-secs.
            match_wait: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            refused_over_cap: Counter::default(),
            // 50 µs .. ~400 ms: a loopback round trip is ~0.1 ms.
            redis_round_trip: Histogram::new(exponential_buckets(0.00005, 2.0, 14)),
            redis_errors: Counter::default(),
            cluster_nodes: Gauge::default(),
            cluster_frames: Counter::default(),
            ws_closes: Family::default(),
            registry: Registry::default(),
        };
        let mut r = Registry::default();
        r.register("duet_connections", "Open TCP connections", m.connections.clone());
        r.register("duet_websockets", "WebSocket upgrades accepted", m.websockets.clone());
        r.register("duet_online_users", "Users with an authenticated socket", m.online_users.clone());
        r.register("duet_queue_size", "Users waiting, per queue", m.queue_size.clone());
        r.register("duet_rooms_active", "Rooms open now", m.rooms_active.clone());
        r.register("duet_rooms_created", "Rooms created", m.rooms_created.clone());
        r.register("duet_messages", "Chat messages relayed", m.messages.clone());
        r.register("duet_command_panics", "Commands that panicked", m.panics.clone());
        r.register("duet_hub_repairs", "Hub inconsistencies fixed after a panic", m.hub_repairs.clone());
        r.register(
            "duet_cooldowns_cut",
            "Rematch cooldowns ended early by --max-cooldown-pairs",
            m.cooldowns_cut.clone(),
        );
        r.register(
            "duet_identities_evicted",
            "Identities the memory store forgot to stay within --max-identities",
            m.identities_evicted.clone(),
        );
        r.register(
            "duet_store_backlog",
            "Write-behind jobs waiting for the database",
            m.store_backlog.clone(),
        );
        r.register(
            "duet_store_writes_dropped",
            "Write-behind jobs dropped: queue full",
            m.store_dropped.clone(),
        );
        r.register("duet_store_writes_failed", "Rows the database refused (skipped)", m.store_failed.clone());
        r.register(
            "duet_store_rows_rejected",
            "Rows the database refused alone after their batch was split (logged, skipped)",
            m.store_rejected.clone(),
        );
        r.register("duet_store_batches", "Write-behind batches written", m.store_batches.clone());
        r.register("duet_store_degraded", "1 while the database is unreachable", m.store_degraded.clone());
        r.register(
            "duet_store_statements",
            "Request-path database statements, by kind",
            m.store_statements.clone(),
        );
        r.register("duet_db_in_flight", "Jobs on the database threads", m.db_in_flight.clone());
        r.register("duet_db_refused", "Requests refused: --db-max-in-flight reached", m.db_refused.clone());
        r.register("duet_match_wait_seconds", "Time from JOIN_QUEUE to MATCH_FOUND", m.match_wait.clone());
        r.register(
            "duet_connections_refused_per_ip",
            "Sockets refused by --max-connections-per-ip (HTTP 429)",
            m.refused_over_cap.clone(),
        );
        r.register("duet_redis_round_trip_seconds", "Redis round trips", m.redis_round_trip.clone());
        r.register("duet_redis_errors", "Redis calls that failed", m.redis_errors.clone());
        r.register("duet_cluster_nodes", "Cluster nodes heard from within 6 s", m.cluster_nodes.clone());
        r.register(
            "duet_cluster_frames_delivered",
            "Frames delivered from this node's cluster channel",
            m.cluster_frames.clone(),
        );
        r.register(
            "duet_ws_closes",
            "WebSockets closed by the server on a client, by code",
            m.ws_closes.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
