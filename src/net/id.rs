//! Connection identity.
//!
//! A connection lives in a slab slot that is reused once it closes. Workers
//! answer asynchronously, so a reply can arrive after its connection is gone
//! and another socket took the slot. Every id therefore carries the slot's
//! generation (the ws-rs idea): the reactor drops anything whose generation
//! does not match the slot's current occupant.

use std::fmt;

/// Slot + generation of one connection; cheap to copy, hash and send.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Index into the reactor's slab (and the mio token).
    pub slot: u32,
    /// Distinguishes successive occupants of the same slot.
    pub generation: u32,
}

impl ConnId {
    pub const fn new(slot: u32, generation: u32) -> ConnId {
        ConnId { slot, generation }
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.slot, self.generation)
    }
}
