//! Server payloads, exactly as the contract names their fields.
//!
//! These are the only shapes that reach clients; keeping them in one place
//! makes it easy to check that no user id leaks to a partner (`PartnerView`
//! has none by construction).

use serde::Serialize;

use super::hub::Hub;
use crate::store::{Mood, Profile, UserId};

/// `profile` in HTTP replies and `AUTH_OK`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView<'a> {
    /// The user's own id: only ever shown to that user.
    pub user_id: UserId,
    /// As stored.
    pub nickname: &'a str,
    /// Their default queue.
    pub mood: Mood,
    /// As stored.
    pub avatar: &'a str,
    /// Normalised, at most five.
    pub interests: &'a [Box<str>],
    /// Epoch ms.
    pub created_at: u64,
    /// Epoch ms.
    pub last_seen_at: u64,
    /// `offline`, `idle`, `in_queue` or `in_room` (`Hub::status`).
    pub status: &'static str,
}

impl<'a> ProfileView<'a> {
    pub fn new(user_id: UserId, p: &'a Profile, status: &'static str) -> ProfileView<'a> {
        ProfileView {
            user_id,
            nickname: &p.nickname,
            mood: p.mood,
            avatar: &p.avatar,
            interests: &p.interests,
            created_at: p.created_at,
            last_seen_at: p.last_seen_at,
            status,
        }
    }

    pub fn of(hub: &Hub, user_id: UserId, p: &'a Profile) -> ProfileView<'a> {
        ProfileView::new(user_id, p, hub.status(user_id))
    }
}

/// The partner as `MATCH_FOUND` shows them: no user id, ever.
#[derive(Debug, Serialize)]
pub struct PartnerView {
    /// The partner's nickname (`stranger` if their profile is gone).
    pub nickname: Box<str>,
    /// The mood they queued with.
    pub mood: Mood,
    /// Their avatar (a default if their profile is gone).
    pub avatar: Box<str>,
    /// The interests they queued with.
    pub interests: Box<[Box<str>]>,
}

/// `room` in `AUTH_OK` for a user who holds a room.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    /// 16 hex digits.
    pub room_id: String,
    /// Who they talk to.
    pub partner: PartnerView,
    /// The room's mood.
    pub mood: Mood,
    /// The room's last `seq`: what a resuming client compares with its own.
    pub last_seq: u64,
}

/// The `AUTH_OK` payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthOk<'a> {
    /// The authenticated user.
    pub user_id: UserId,
    /// Their profile and status.
    pub profile: ProfileView<'a>,
    /// The room they hold, when resuming one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomView>,
}

/// The `QUEUE_WAITING` payload.
#[derive(Serialize)]
pub struct QueueWaiting<'a> {
    /// The queue joined.
    pub mood: Mood,
    /// `same_mood` or `random`.
    pub mode: &'static str,
    /// What they will be matched on.
    pub interests: &'a [Box<str>],
    /// Others waiting in that queue now.
    pub waiting: usize,
}

/// The `MATCH_FOUND` payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchFound<'a> {
    /// The new room, 16 hex digits.
    pub room_id: String,
    /// The room's mood.
    pub mood: Mood,
    /// Who they were matched with.
    pub partner: PartnerView,
    /// Interests both queued with.
    pub shared_interests: &'a [Box<str>],
}

/// The `PARTNER_LEFT` payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerLeft<'a> {
    /// The room that ended.
    pub room_id: String,
    /// `left`, `next` or `disconnected`.
    pub reason: &'a str,
}

/// `{roomId}`: `ROOM_LEFT`, `PARTNER_AWAY`, `PARTNER_BACK`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef<'a> {
    /// The room meant.
    pub room_id: &'a str,
}

/// The `CHAT_ACK` payload (to the sender).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatAck<'a> {
    /// The room.
    pub room_id: &'a str,
    /// The message's place in the room's order.
    pub seq: u64,
    /// Epoch ms, as the partner sees it.
    pub sent_at: u64,
}

/// The `CHAT` payload (to the partner, and on a replay).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatPush<'a> {
    /// The room.
    pub room_id: &'a str,
    /// The message's place in the room's order.
    pub seq: u64,
    /// What the partner said.
    pub text: &'a str,
    /// Epoch ms.
    pub sent_at: u64,
}

/// The `TYPING` payload (to the partner).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingPush<'a> {
    /// The room.
    pub room_id: &'a str,
    /// The partner's typing state now.
    pub is_typing: bool,
}

/// `{reason}`: `SESSION_ENDED`, `MATCH_CANCELLED`.
#[derive(Serialize)]
pub struct Reason<'a> {
    /// Why (`idle`, `shutdown`, `timeout`, `banned`, ...).
    pub reason: &'a str,
}

/// The complete `SESSION_ENDED {reason}` frame. The reactor is given the
/// idle and shutdown ones at start (`NetConfig`), so it can end a session
/// without knowing what one is.
/// A value as JSON text (our views serialize infallibly).
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub fn session_ended(reason: &str) -> Vec<u8> {
    super::protocol::frame("SESSION_ENDED", None, &Reason { reason })
}
