//! Identities: of a connection ([`ConnId`]) and of a user ([`UserId`]).
//!
//! Both are plain copyable values that every layer may hold and send.
//!
//! A connection lives in a slab slot that is reused once it closes. Workers
//! answer asynchronously, so a reply can arrive after its connection is gone
//! and another socket took the slot. Every id therefore carries the slot's
//! generation (the ws-rs idea): the reactor drops anything whose generation
//! does not match the slot's current occupant.
//!
//! A user id is 128 random bits shown as a UUID; it never reaches a
//! partner (the application never puts it in a partner-facing payload).

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

/// A user's id: 128 random bits, shown as a UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(
    /// The bits, version-4 UUID layout when made by [`UserId::random`].
    pub u128,
);

impl UserId {
    pub fn random() -> UserId {
        // Version 4 / variant 1 bits, so it reads as a standard UUID.
        let raw: u128 = rand::random();
        UserId((raw & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62))
    }

    pub fn parse(s: &str) -> Option<UserId> {
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return None;
        }
        u128::from_str_radix(&hex, 16).ok().map(UserId)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(f, "{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
