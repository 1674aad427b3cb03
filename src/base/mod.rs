//! The shared vocabulary: the types every layer speaks and nothing else.
//!
//! Ids (`ConnId`, `UserId`), the server clock, client addresses, the HTTP
//! request and response types, and the encoder of server WebSocket frames.
//! A leaf: it imports nothing from the rest of the crate, so any module may
//! import it without making a cycle. Behaviour lives elsewhere: the HTTP
//! parser and the frame decoder are the reactor's (`net`).

pub mod addr;
pub mod clock;
pub mod frame;
pub mod http;
pub mod id;
