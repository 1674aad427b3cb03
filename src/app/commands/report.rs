//! `REPORT {roomId, reason, details?}` → `REPORTED {reportId}`.
//!
//! The room ends (the partner sees `PARTNER_LEFT {reason:"left"}`), the
//! pair is never matched again, and the report keeps the room's last 20
//! messages as evidence even when messages are not stored. Reports from
//! `auto-ban-reports` distinct users within 24 h ban the reported user for
//! 24 h.

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::hub::room_id_str;
use crate::app::outbox::Delivery;
use crate::app::protocol::{self, Refusal};
use crate::store::{Report, TranscriptLine};

/// Transcript lines kept with a report.
pub const TRANSCRIPT: usize = 20;
/// Longest `details`, in characters.
pub const MAX_DETAILS: usize = 1000;
const DAY_MS: u64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct ReportMsg {
    #[serde(rename = "roomId")]
    room_id: String,
    reason: String,
    details: Option<String>,
}

pub fn run(app: &App, req: &Request<'_>, p: ReportMsg) -> Result<(), Refusal> {
    let user = req.user()?;
    let reason = crate::store::report_reason(&p.reason).ok_or_else(|| {
        Refusal::bad_request("reason must be spam, abuse, inappropriate, underage or other")
    })?;
    let details = p.details.unwrap_or_default();
    if details.chars().count() > MAX_DETAILS {
        return Err(Refusal::bad_request(format!("details must be at most {MAX_DETAILS} characters")));
    }
    let ctx = app.ctx();
    let report = {
        let mut hub = app.hub.lock();
        let id = hub.own_room(user, &p.room_id)?;
        let room = hub.rooms.get(&id).ok_or_else(Refusal::not_in_room)?;
        let (me, other) = room.sides(user);
        let reported = room.members[other].user;
        let skip = room.recent.len().saturating_sub(TRANSCRIPT);
        let transcript = room
            .recent
            .iter()
            .skip(skip)
            .map(|m| TranscriptLine {
                from: if m.from as usize == me { "reporter" } else { "reported" },
                text: m.text.clone(),
                sent_at: m.sent_at,
            })
            .collect();
        let report = Report {
            report_id: format!("{:016x}", rand::random::<u64>()),
            room_id: room_id_str(id),
            reporter_id: user,
            reported_id: reported,
            reason,
            details: details.into(),
            created_at: ctx.wall,
            transcript,
        };
        let reply = serde_json::json!({ "reportId": report.report_id });
        app.out.frame(req.conn, protocol::frame("REPORTED", req.id, &reply));
        hub.end_room(id, user, "left", &ctx);
        hub.pairs.forbid(user, reported);
        report
    };
    let reported = report.reported_id;
    app.store.add_report(report).map_err(|e| Refusal::new("INTERNAL", format!("store: {e}")))?;
    let threshold = app.cfg.auto_ban_reports;
    if threshold > 0 {
        let since = ctx.wall.saturating_sub(DAY_MS);
        let reporters = app.store.reporters_since(reported, since).unwrap_or(0);
        if reporters >= threshold as usize {
            log::info!("auto-ban of {reported}: {reporters} reporters within 24 h");
            let _ = app.ban(reported, ctx.wall + DAY_MS, "reported by several users", "auto");
        }
    }
    Ok(())
}
