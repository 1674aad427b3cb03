//! duet: an anonymous 1:1 chat server.
//!
//! Data flows `net` (one reactor thread: sockets, HTTP, WebSocket frames)
//! → `app` (a fixed worker pool: commands, matching, rooms) → back to `net`
//! through the outbox. The modules are layers that import only downward,
//! bottom to top: `base` (the shared vocabulary: ids, clock, addresses,
//! HTTP types, the frame encoder) and `metrics`; `store` (identities) and
//! `link` (the reactor↔worker boundary: commands, outbox, worker queues,
//! lifecycle flags); `config`; `net` and `app`, which never import each
//! other; `server`, which wires them. `loadtest/scripts/import_graph.py`
//! checks it. See `docs/architecture.md`.

pub mod app;
pub mod base;
pub mod bus;
pub mod config;
pub mod link;
pub mod metrics;
pub mod net;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::Server;
