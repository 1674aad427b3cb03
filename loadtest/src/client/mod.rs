//! The mio client: codec, handshake, messages, one connection's state
//! machine, and the driver that runs thousands of them on one thread.

pub mod conn;
pub mod ctx;
pub mod driver;
pub mod frame;
pub mod http;
mod inbox;
pub mod msg;
pub mod wskey;
