//! A batch: the rows of consecutive write-behind jobs, merged so no row is
//! touched twice in one write.
//!
//! Invariants: messages keep their queue order (per-room order is the
//! order the COPY writes them); a room's open and close become one row
//! whose `ended` is the latest seen; a user's last-seen time is the
//! greatest queued. `len` counts rows after merging and is what
//! `MAX_BATCH` bounds.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::store::{Event, MessageRow, RoomRow, UserId};

/// Rows written together.
#[derive(Default)]
pub struct Batch {
    /// Room id → its latest row (an open and a close become one row).
    pub rooms: HashMap<u64, RoomRow>,
    /// In the order sent.
    pub messages: Vec<MessageRow>,
    /// User → latest last-seen time.
    pub seen: HashMap<UserId, u64>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.rooms.len() + self.messages.len() + self.seen.len()
    }

    pub fn add(&mut self, event: Event) {
        match event {
            Event::Room(row) => match self.rooms.entry(row.id) {
                Entry::Vacant(slot) => {
                    slot.insert(row);
                }
                Entry::Occupied(mut slot) if row.ended.is_some() => slot.get_mut().ended = row.ended,
                Entry::Occupied(_) => {}
            },
            Event::Message(m) => self.messages.push(m),
            Event::Seen { user, at } => {
                let t = self.seen.entry(user).or_insert(at);
                *t = (*t).max(at);
            }
        }
    }
}
