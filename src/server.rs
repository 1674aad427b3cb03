//! Wiring: builds the store, the app, the worker pool and the reactor, and
//! gives the caller a handle to find the bound address and stop it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};

use log::info;
use mio::{Poll, Waker};

use crate::app::blocklist::Blocklist;
use crate::app::cluster::Cluster;
use crate::app::cluster::receiver::ClusterReceiver;
use crate::app::{App, view, worker};
use crate::base::addr::TrustedProxies;
use crate::base::clock::Clock;
use crate::bus::{Bus, BusMetrics, heartbeat};
use crate::config::Config;
use crate::link::lifecycle::Lifecycle;
use crate::link::outbox;
use crate::metrics::Metrics;
use crate::net::Health;
use crate::net::reactor::{NetConfig, Reactor, Shared, WAKER};
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::redis::RedisStore;

/// Health as the reactor asks for it: the store's status (which never
/// blocks, `Store::status`), this node's name and, in a cluster, whether
/// Redis is reachable (a flag the bus keeps; no round trip).
struct ServerHealth {
    store: Arc<dyn Store>,
    node: String,
    bus: Option<Arc<Bus>>,
}

impl Health for ServerHealth {
    fn degraded(&self) -> Option<String> {
        if let Some(reason) = self.store.status().degraded {
            return Some(reason);
        }
        match &self.bus {
            Some(bus) if !bus.is_up() => Some("redis unreachable".into()),
            _ => None,
        }
    }

    fn facts(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut facts = vec![("node", self.node.clone().into())];
        if let Some(bus) = &self.bus {
            facts.push(("redis", if bus.is_up() { "ok" } else { "unreachable" }.into()));
        }
        facts
    }
}

/// How long the write-behind queue may take to drain at exit; with the
/// reactor's drain deadline it keeps shutdown inside the contract's 10 s.
const FLUSH_WITHIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// The store `cfg` asks for: PostgreSQL with `--database-url`; else, in a
/// cluster (a `bus`, from `--redis-url`), Redis; else memory.
fn open_store(cfg: &Config, metrics: &Metrics, bus: Option<&Arc<Bus>>) -> io::Result<Arc<dyn Store>> {
    let Some(url) = cfg.database_url.as_deref().filter(|u| !u.is_empty()) else {
        let evicted = metrics.identities_evicted.clone();
        return Ok(match bus {
            Some(bus) => Arc::new(RedisStore::new(bus.clone(), cfg.max_identities, evicted)),
            None => Arc::new(MemoryStore::bounded(cfg.max_identities, evicted)),
        });
    };
    let opts = PgOptions {
        url: url.to_owned(),
        pool_size: cfg.database_pool_size,
        queue: cfg.database_queue,
        retention_days: cfg.retention_days,
        token_cache: cfg.token_cache,
    };
    let store = PgStore::open(&opts, metrics).map_err(|e| io::Error::other(format!("database: {e}")))?;
    Ok(Arc::new(store))
}

/// A running server.
pub struct Server {
    /// Where it listens (port 0 resolved).
    addr: SocketAddr,
    /// Lifecycle flags shared with the reactor.
    state: Arc<Lifecycle>,
    /// Wakes the reactor so it sees a flag just set.
    waker: Arc<Waker>,
    /// Joined (once) by `join` or `stop`.
    reactor: Option<JoinHandle<()>>,
    /// Kept so it can be inspected (tests) and outlives the threads.
    pub app: Arc<App>,
}

/// Echo mode's message limit: the conformance suite sends up to 16 MiB.
const ECHO_MAX_MESSAGE: usize = 20 * 1024 * 1024;

/// Pending connections the kernel may queue before `accept`.
const LISTEN_BACKLOG: i32 = 4096;

/// Descriptors kept back from connections for the listener, logs, etc.
const FD_RESERVE: usize = 64;

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// Raises the open-files soft limit to the hard limit; returns the limit.
pub fn raise_fd_limit() -> usize {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur as usize
    }
}

/// The Redis link with `--redis-url`: this process is then a cluster node.
fn open_bus(cfg: &Config, node: &str, metrics: &Metrics) -> io::Result<Option<Arc<Bus>>> {
    let Some(url) = cfg.redis_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let figures =
        BusMetrics { round_trip: metrics.redis_round_trip.clone(), errors: metrics.redis_errors.clone() };
    let bus =
        Bus::open(url, &cfg.redis_prefix, node, figures).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Some(bus))
}

/// Starts this node's subscriber and heartbeat.
fn join_cluster(bus: &Arc<Bus>, cluster: &Arc<Cluster>, app: &Arc<App>, node: &str) -> io::Result<()> {
    let channel = format!("ch:{node}");
    let receiver = Arc::new(ClusterReceiver { app: app.clone(), cluster: cluster.clone() });
    bus.subscribe(vec![channel.clone(), "ctl".into()], receiver)?;
    // What the scripts publish for this node is lost until it listens: a
    // node that starts with Redis up serves only once it does.
    if bus.answers() && !bus.wait_listening(std::time::Duration::from_secs(2)) {
        log::warn!("redis: not subscribed 2 s after start; the cluster counts as unreachable until it is");
    }
    let (cluster, app) = (cluster.clone(), app.clone());
    heartbeat::spawn(bus.clone(), channel, move |_bus, recovered| {
        if recovered {
            crate::app::cluster::receiver::check_epoch(&app, &cluster);
        }
        let (online, rooms) = {
            let hub = app.hub();
            (hub.online(), hub.c_rooms_held())
        };
        let info = serde_json::json!({"connections": app.metrics.connections.get(), "onlineUsers": online});
        match cluster.beat(crate::app::wall_ms(), &info.to_string(), &rooms) {
            Ok((live, taken_for_dead)) => {
                app.metrics.cluster_nodes.set(live as i64);
                if recovered || taken_for_dead {
                    let ctx = app.ctx();
                    app.hub().c_recovered(taken_for_dead, &ctx);
                }
            }
            Err(e) => log::warn!("cluster: heartbeat failed: {e}"),
        }
    })
}

/// The listening socket. A burst of connects beyond the backlog costs
/// each client a one-second SYN retry, so it asks for `LISTEN_BACKLOG`
/// (Linux caps it at net.core.somaxconn). With `reuse_port`, several
/// processes bind the same port and the kernel spreads connections over
/// them (`SO_REUSEPORT`).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// `--echo` exists only in a build with the cargo feature `echo`, and even
/// there binds only loopback: it is an unauthenticated echo server.
fn check_echo(cfg: &Config) -> io::Result<()> {
    let refuse = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    if !cfg!(feature = "echo") {
        if cfg.echo {
            return refuse("echo mode needs a build with the cargo feature `echo`".into());
        }
        // The flag does not exist in this build; its variable must not be
        // silently ignored either.
        let truthy = |v: &str| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "y" | "t")
        };
        if std::env::var("DUET_ECHO").is_ok_and(|v| truthy(&v)) {
            return refuse("DUET_ECHO is set, but this build has no echo mode (cargo feature `echo`)".into());
        }
        return Ok(());
    }
    if cfg.echo {
        if !cfg.listen.ip().is_loopback() {
            return refuse(format!(
                "--echo is a test mode and only binds loopback addresses, not {}",
                cfg.listen
            ));
        }
        log::warn!("ECHO MODE: /ws/chat echoes every frame to anyone, without authentication (test only)");
    }
    Ok(())
}

impl Server {
    pub fn start(cfg: Config) -> io::Result<Server> {
        let metrics = Arc::new(Metrics::default());
        let node = cfg.node_name();
        let bus = open_bus(&cfg, &node, &metrics)?;
        let store = open_store(&cfg, &metrics, bus.as_ref())?;
        Server::start_on(cfg, store, metrics, node, bus)
    }

    /// Starts with a store the caller built (tests wrap one to inject
    /// faults); `metrics` must be the registry the store reports to.
    pub fn start_with_store(cfg: Config, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> io::Result<Server> {
        let node = cfg.node_name();
        let bus = open_bus(&cfg, &node, &metrics)?;
        Server::start_on(cfg, store, metrics, node, bus)
    }

    /// Starts node `node` on `store`, linked to the cluster by `bus`.
    fn start_on(
        cfg: Config,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        node: String,
        bus: Option<Arc<Bus>>,
    ) -> io::Result<Server> {
        check_echo(&cfg)?;
        let fds = raise_fd_limit();
        let max_conns = cfg.max_connections.unwrap_or(fds.saturating_sub(FD_RESERVE).max(16));
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let listener = bind(cfg.listen, cfg.reuse_port)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Lifecycle::default());
        let clock = Clock::new();
        let health: Arc<dyn Health> =
            Arc::new(ServerHealth { store: store.clone(), node: node.clone(), bus: bus.clone() });
        let (out, inbox) = outbox::channel(waker.clone());
        let blocklist = match &cfg.blocklist {
            Some(path) => Blocklist::load(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read blocklist {}: {e}", path.display()))
            })?,
            None => Blocklist::empty(),
        };
        if !blocklist.is_empty() {
            info!("blocklist: {} entries", blocklist.len());
        }
        let cluster = bus.as_ref().map(|b| {
            let ms = |d: std::time::Duration| d.as_millis() as u64;
            let cooldown = ms(cfg.rematch_cooldown_secs);
            Arc::new(Cluster::new(b.clone(), ms(cfg.resume_grace_secs), ms(cfg.match_tier1_secs), cooldown))
        });
        let app = Arc::new(App::new(&cfg, store, out, metrics.clone(), clock, blocklist, cluster.clone()));
        if let (Some(bus), Some(cluster)) = (&bus, &cluster) {
            join_cluster(bus, cluster, &app, &node)?;
        }
        let workers = cfg.worker_count();
        let (senders, _handles) = worker::spawn(app.clone(), workers);
        if let Some(db) = &app.offload {
            db.start(Arc::downgrade(&app), senders.iter().map(|l| l.injector()).collect())?;
        }
        let net = NetConfig {
            auth_timeout: ms(cfg.auth_timeout_secs),
            ping_interval: ms(cfg.ping_interval_secs).max(1),
            idle_timeout: ms(cfg.idle_timeout_secs).max(1),
            linger: 2000,
            allowed_origins: cfg.allowed_origins.clone(),
            max_conns,
            handle_signals: cfg.handle_signals,
            echo: cfg.echo,
            max_message: if cfg.echo { ECHO_MAX_MESSAGE } else { crate::net::frame::MAX_MESSAGE },
            max_pending_out: if cfg.echo { 2 * ECHO_MAX_MESSAGE } else { crate::net::conn::MAX_PENDING_OUT },
            max_per_ip: cfg.max_connections_per_ip,
            trusted: TrustedProxies::new(cfg.trusted_proxies.clone()),
            keepalive: ms(cfg.http_keepalive_secs),
            idle_goodbye: view::session_ended("idle"),
            shutdown_goodbye: view::session_ended("shutdown"),
        };
        let reactor = Reactor::new(
            poll,
            listener,
            net,
            senders,
            inbox,
            Shared { life: state.clone(), clock, metrics, health },
        )?;
        let handle = thread::Builder::new().name("duet-reactor".into()).spawn(move || reactor.run())?;
        info!(
            "duet listening on {addr} with {workers} workers; up to {max_conns} connections (open-files limit {fds})"
        );
        Ok(Server { addr, state, waker, reactor: Some(handle), app })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The lifecycle flags (`draining` is what health reports).
    pub fn state(&self) -> &Lifecycle {
        &self.state
    }

    /// Starts a graceful shutdown, as SIGTERM does; `join` waits for it.
    pub fn drain(&self) {
        self.state.drain_requested.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Blocks until the reactor stops, then flushes the store.
    pub fn join(mut self) {
        self.wait_and_flush();
    }

    /// Waits for the reactor (once), then writes out what the store has
    /// queued, the rooms the drain ended included.
    fn wait_and_flush(&mut self) {
        let Some(h) = self.reactor.take() else { return };
        let _ = h.join();
        if let Some(cluster) = &self.app.cluster {
            cluster.leave_cluster();
            cluster.bus.stop();
        }
        if let Err(e) = self.app.store.flush(FLUSH_WITHIN) {
            log::error!("store: not everything was written before exit: {e}");
        }
    }

    /// Stops the reactor (closing every socket) and waits for it. Workers
    /// end once the reactor's queues to them are dropped.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.state.stopping.store(true, Ordering::Release);
        let _ = self.waker.wake();
        self.wait_and_flush();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}
