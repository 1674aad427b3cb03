//! Sockets: the reactor and everything it needs to speak HTTP/1.1 and
//! WebSocket on one port. Nothing here knows what a chat is.
//!
//! It imports only `base` (the vocabulary), `link` (what it exchanges with
//! the workers) and `metrics`; never `app`, `store` or `server`. What it
//! must say on the application's behalf (the goodbye frames of an idle
//! close and of shutdown) it is given ready-made in `NetConfig`, and what
//! it must know about the rest of the server (is it degraded?) it asks
//! through [`Health`].

mod admit;
pub mod conn;
mod drain;
pub mod frame;
pub mod http;
mod http_phase;
mod log_limit;
pub mod reactor;
pub mod timer;
mod ws_phase;

pub use http_phase::WS_PATH;

/// How the reactor asks the rest of the server whether it is healthy, for
/// `GET /api/health` (answered on the reactor thread).
pub trait Health: Send + Sync {
    /// Why the server is degraded (it still serves, e.g. while the
    /// database is away), or `None` when it is fine. Must not block.
    fn degraded(&self) -> Option<String>;
    /// Fields the health answer adds (the node's name, a back end's
    /// state). Must not block.
    fn facts(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}
