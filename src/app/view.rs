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
    pub user_id: UserId,
    pub nickname: &'a str,
    pub mood: Mood,
    pub avatar: &'a str,
    pub interests: &'a [Box<str>],
    pub created_at: u64,
    pub last_seen_at: u64,
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
    pub nickname: Box<str>,
    pub mood: Mood,
    pub avatar: Box<str>,
    pub interests: Box<[Box<str>]>,
}

/// `room` in `AUTH_OK` for a user who holds a room.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    pub room_id: String,
    pub partner: PartnerView,
    pub mood: Mood,
    pub last_seq: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthOk<'a> {
    pub user_id: UserId,
    pub profile: ProfileView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomView>,
}

#[derive(Serialize)]
pub struct QueueWaiting<'a> {
    pub mood: Mood,
    pub mode: &'static str,
    pub interests: &'a [Box<str>],
    pub waiting: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchFound<'a> {
    pub room_id: String,
    pub mood: Mood,
    pub partner: PartnerView,
    pub shared_interests: &'a [Box<str>],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerLeft<'a> {
    pub room_id: String,
    pub reason: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRef<'a> {
    pub room_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatAck<'a> {
    pub room_id: &'a str,
    pub seq: u64,
    pub sent_at: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatPush<'a> {
    pub room_id: &'a str,
    pub seq: u64,
    pub text: &'a str,
    pub sent_at: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingPush<'a> {
    pub room_id: &'a str,
    pub is_typing: bool,
}

#[derive(Serialize)]
pub struct Reason<'a> {
    pub reason: &'a str,
}

/// The complete `SESSION_ENDED {reason}` frame. The reactor is given the
/// idle and shutdown ones at start (`NetConfig`), so it can end a session
/// without knowing what one is.
pub fn session_ended(reason: &str) -> Vec<u8> {
    super::protocol::frame("SESSION_ENDED", None, &Reason { reason })
}
