//! The link to Redis, the cluster's shared engine (contract section 8):
//! commands and scripts from any thread, one subscriber thread, and the
//! node's heartbeat. Nothing here knows what a chat is: it moves bytes
//! and keys under one prefix, says whether Redis is reachable, and hands
//! what arrives on this node's channels to a [`Receiver`].
//!
//! Invariants:
//! - Every key and channel starts with `--redis-prefix` and a colon, so
//!   clusters (and tests) sharing one Redis never see each other.
//! - No caller waits long on Redis: a command has a [`CALL_TIMEOUT`]; while
//!   Redis is marked unreachable a call fails at once, without trying, and
//!   only the heartbeat thread tries to reconnect, with backoff (from
//!   [`MIN_BACKOFF`] doubling to [`MAX_BACKOFF`]). Recovery needs no restart.
//! - Connections are pooled, at most [`POOL`] idle ones; a connection that
//!   failed is dropped, never reused.
//! - The subscriber reconnects and resubscribes by itself; messages
//!   published while it was away are lost (pub/sub keeps nothing), so the
//!   receiver is told (`Receiver::resubscribed`) and resynchronises.

pub mod heartbeat;
mod subscriber;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

/// Longest a command may take before it counts as a failure.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// First wait before reconnecting after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Idle connections kept for callers, at most.
const POOL: usize = 8;

/// Why a call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis is marked unreachable, or became so during the call.
    #[error("redis unreachable: {0}")]
    Unreachable(String),
    /// Redis answered, but with an error (a script's refusal, a type).
    #[error("redis error: {0}")]
    Refused(String),
}

/// What the bus delivers to the application.
pub trait Receiver: Send + Sync {
    /// A message on one of this node's channels.
    fn message(&self, channel: &str, payload: &[u8]);
    /// The subscriber (re)connected: anything published meanwhile was
    /// lost. Called once after the first subscription too.
    fn resubscribed(&self);
}

/// Redis figures for `/metrics`.
#[derive(Clone)]
pub struct BusMetrics {
    /// Round trips of commands and scripts, seconds.
    pub round_trip: Histogram,
    /// Calls that failed (unreachable, timed out, or refused).
    pub errors: Counter,
}

/// The shared link. Cheap to clone behind an `Arc`.
pub struct Bus {
    client: redis::Client,
    /// `--redis-prefix`, with its colon.
    prefix: String,
    /// This node's name (`--node-id`).
    node: String,
    /// Whether Redis answered the last attempt.
    up: AtomicBool,
    /// Whether this node's channels are subscribed (when a subscriber was
    /// started): what the scripts publish for this node arrives only then,
    /// so without it the cluster counts as unreachable.
    listening: AtomicBool,
    /// A subscriber was started: `listening` matters.
    subscribes: AtomicBool,
    /// Idle connections for `call`.
    pool: Mutex<Vec<redis::Connection>>,
    /// When the next reconnection may be tried, and the current backoff.
    retry: Mutex<(Instant, Duration)>,
    /// Set at shutdown: the bus's threads end.
    stopping: AtomicBool,
    /// Wakes the heartbeat out of its sleep at shutdown.
    wake: (Mutex<()>, parking_lot::Condvar),
    metrics: BusMetrics,
    /// Calls made, for the figures.
    calls: AtomicU64,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("node", &self.node).field("up", &self.is_up()).finish_non_exhaustive()
    }
}

impl Bus {
    /// A link to `url`; tries to connect once, and starts marked up or down
    /// accordingly (a node may start while Redis is away).
    pub fn open(url: &str, prefix: &str, node: &str, metrics: BusMetrics) -> Result<Arc<Bus>, BusError> {
        let client =
            redis::Client::open(url).map_err(|e| BusError::Refused(format!("bad Redis URL: {e}")))?;
        let bus = Arc::new(Bus {
            client,
            prefix: format!("{prefix}:"),
            node: node.to_owned(),
            up: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            subscribes: AtomicBool::new(false),
            pool: Mutex::new(Vec::new()),
            retry: Mutex::new((Instant::now(), MIN_BACKOFF)),
            stopping: AtomicBool::new(false),
            wake: (Mutex::new(()), parking_lot::Condvar::new()),
            metrics,
            calls: AtomicU64::new(0),
        });
        match bus.connect() {
            Ok(conn) => {
                bus.pool.lock().push(conn);
                bus.up.store(true, Ordering::Release);
            }
            Err(e) => warn!("redis: unreachable at start ({e}); will retry"),
        }
        Ok(bus)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Redis answers and, if this node subscribes, its channels are heard.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
            && (!self.subscribes.load(Ordering::Acquire) || self.listening.load(Ordering::Acquire))
    }

    /// Redis answered the last attempt (whether or not this node listens).
    pub fn answers(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The subscriber says whether it is subscribed now.
    pub(crate) fn set_listening(&self, on: bool) {
        self.listening.store(on, Ordering::Release);
        let _guard = self.wake.0.lock();
        self.wake.1.notify_all();
    }

    /// Waits (at most `d`) until this node's channels are subscribed.
    pub fn wait_listening(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut guard = self.wake.0.lock();
        while !self.listening.load(Ordering::Acquire) && !self.is_stopping() {
            if self.wake.1.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        self.listening.load(Ordering::Acquire)
    }

    /// Ends the bus's threads (at their next tick).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _guard = self.wake.0.lock();
        self.wake.1.notify_all();
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sleeps `d`, or less if the bus stops meanwhile.
    pub fn sleep(&self, d: Duration) {
        let mut guard = self.wake.0.lock();
        if !self.is_stopping() {
            self.wake.1.wait_for(&mut guard, d);
        }
    }

    /// The full name of key or channel `name`.
    pub fn key(&self, name: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + name.len());
        k.push_str(&self.prefix);
        k.push_str(name);
        k
    }

    /// The prefix, with its colon (scripts build keys from it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(CALL_TIMEOUT)?;
        conn.set_read_timeout(Some(CALL_TIMEOUT))?;
        conn.set_write_timeout(Some(CALL_TIMEOUT))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection. Fails at once while Redis is
    /// marked unreachable; a connection-level failure marks it so.
    pub fn call<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        if !self.up.load(Ordering::Acquire) {
            return Err(BusError::Unreachable("marked unreachable".into()));
        }
        let pooled = self.pool.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().map_err(|e| self.lost(e))?,
        };
        let started = Instant::now();
        self.calls.fetch_add(1, Ordering::Relaxed);
        match f(&mut conn) {
            Ok(v) => {
                self.metrics.round_trip.observe(started.elapsed().as_secs_f64());
                let mut pool = self.pool.lock();
                if pool.len() < POOL {
                    pool.push(conn);
                }
                Ok(v)
            }
            Err(e) if is_connection_error(&e) => Err(self.lost(e)),
            Err(e) => {
                self.metrics.errors.inc();
                let mut pool = self.pool.lock();
                if pool.len() < POOL {
                    pool.push(conn);
                }
                Err(BusError::Refused(e.to_string()))
            }
        }
    }

    /// A connection failed: Redis is unreachable until a reconnect works.
    fn lost(&self, e: redis::RedisError) -> BusError {
        self.metrics.errors.inc();
        if self.up.swap(false, Ordering::AcqRel) {
            warn!("redis: unreachable ({e})");
        }
        self.pool.lock().clear();
        BusError::Unreachable(e.to_string())
    }

    /// Tries to reconnect if the backoff allows; true if Redis is up.
    /// Called by the heartbeat thread only.
    pub fn try_reconnect(&self) -> bool {
        if self.up.load(Ordering::Acquire) {
            return true;
        }
        let mut retry = self.retry.lock();
        if Instant::now() < retry.0 {
            return false;
        }
        match self.connect().and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|_| c)) {
            Ok(conn) => {
                self.pool.lock().push(conn);
                *retry = (Instant::now(), MIN_BACKOFF);
                self.up.store(true, Ordering::Release);
                info!("redis: reachable again");
                true
            }
            Err(_) => {
                let wait = retry.1;
                *retry = (Instant::now() + wait, (wait * 2).min(MAX_BACKOFF));
                false
            }
        }
    }

    /// Publishes `payload` on channel `name` (unprefixed); returns how
    /// many subscribers got it.
    pub fn publish(&self, name: &str, payload: &[u8]) -> Result<usize, BusError> {
        let channel = self.key(name);
        self.call(|c| redis::cmd("PUBLISH").arg(&channel).arg(payload).query(c))
    }

    /// Starts the subscriber thread on `channels` (unprefixed).
    pub fn subscribe(
        self: &Arc<Self>,
        channels: Vec<String>,
        receiver: Arc<dyn Receiver>,
    ) -> std::io::Result<()> {
        self.subscribes.store(true, Ordering::Release);
        subscriber::spawn(self.clone(), channels.iter().map(|c| self.key(c)).collect(), receiver)
    }
}

/// Errors after which a connection is not to be trusted again.
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}
