//! Process-wide counters, updated with relaxed atomics from any thread.
//!
//! These are the raw numbers behind `/api/admin/stats` and `/metrics`;
//! gauges are kept where they change, so reading them costs nothing.

use std::sync::atomic::{AtomicI64, AtomicU64};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Open TCP connections (HTTP and WebSocket).
    pub connections: AtomicI64,
    /// WebSocket upgrades accepted since start.
    pub websockets: AtomicU64,
    /// Rooms created since start.
    pub rooms_created: AtomicU64,
    /// Chat messages relayed since start.
    pub messages: AtomicU64,
    /// Commands that panicked (answered INTERNAL).
    pub panics: AtomicU64,
}
