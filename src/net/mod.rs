//! Sockets: the reactor and everything it needs to speak HTTP/1.1 and
//! WebSocket on one port. Nothing here knows what a chat is.

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
