//! The server's clock: milliseconds since start, the one time unit the
//! reactor's timer heap and the workers' rules share.
//!
//! Monotonic (an `Instant` underneath), so a wall-clock step never fires a
//! timeout early or late; wall-clock times that clients see are made
//! by the application.

use std::time::Instant;

/// Milliseconds since the server's start; u64 never wraps in practice.
pub type Millis = u64;

/// Monotonic clock anchored at server start, shared by reactor and workers.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The instant `now()` counts from; copies share it, so every thread
    /// reads the same time line.
    start: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock { start: Instant::now() }
    }

    pub fn now(&self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
