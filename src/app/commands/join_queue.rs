//! `JOIN_QUEUE {mood?, interests?, mode?}` → `QUEUE_WAITING`, then maybe
//! `MATCH_FOUND` to both. Missing fields take the profile's values.

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::hub::Limit;
use crate::app::hub::QueueRequest;
use crate::app::protocol::Refusal;
use crate::app::validate;

#[derive(Deserialize)]
pub struct JoinQueue {
    /// Which queue; absent = the profile's mood.
    mood: Option<String>,
    /// Bounded while parsed (contract section 7).
    interests: Option<validate::InterestList>,
    /// `same_mood` (default) or `random` (the cross-mood pool).
    mode: Option<String>,
}

pub fn run(app: &App, req: &Request<'_>, p: JoinQueue) -> Result<(), Refusal> {
    let random_mode = match p.mode.as_deref() {
        None | Some("same_mood") => false,
        Some("random") => true,
        Some(_) => return Err(Refusal::bad_request("mode must be same_mood or random")),
    };
    let mood = p.mood.as_deref().map(validate::mood).transpose().map_err(Refusal::bad_request)?;
    let interests =
        p.interests.map(|l| validate::interests(&l.0)).transpose().map_err(Refusal::bad_request)?;
    let ctx = app.ctx();
    let mut hub = app.hub();
    let user = req.user_in(&hub)?;
    hub.take(user, Limit::Queue, app.clock.now())?;
    let profile =
        hub.profile(user).cloned().ok_or_else(|| Refusal::new("UNAUTHENTICATED", "send AUTH first"))?;
    let request = QueueRequest {
        mood: mood.unwrap_or(profile.mood),
        random_mode,
        interests: interests.unwrap_or_else(|| profile.interests.clone()),
    };
    hub.join(user, request, req.id, &ctx)
}
