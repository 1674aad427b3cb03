//! duet: an anonymous 1:1 chat server.
//!
//! Data flows `net` (one reactor thread: sockets, HTTP, WebSocket frames)
//! → `app` (a fixed worker pool: commands, matching, rooms) → back to `net`
//! through the outbox. `store` keeps identities; `config` and `metrics` are
//! shared by all. See `docs/architecture.md`.

pub mod app;
pub mod base;
pub mod config;
pub mod link;
pub mod metrics;
pub mod net;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::Server;
