//! `REPORT {roomId, reason, details?}` → `REPORTED {reportId}`.
//!
//! The report is stored first (contract section 7: `REPORTED` only once it
//! is; if the store fails, `ERROR INTERNAL` and the room stays open). Then
//! the room ends (the partner sees `PARTNER_LEFT {reason:"left"}`), the
//! pair is never matched again, and the report keeps the room's last 20
//! messages as evidence even when messages are not stored. Reports within
//! 24 h from `auto-ban-reports` distinct users with distinct client
//! addresses, whose identities were at least `auto-ban-min-age-secs` old,
//! ban the reported user for 24 h.

use serde::Deserialize;

use super::{Outcome, Request};
use crate::app::App;
use crate::app::protocol::{self, Refusal};
use crate::app::room::room_id_str;
use crate::app::validate;
use crate::link::outbox::Delivery;
use crate::store::{Report, UserId};

/// Transcript lines kept with a report.
pub const TRANSCRIPT: usize = 20;
/// Longest `details`, in characters.
pub const MAX_DETAILS: usize = 1000;
const DAY_MS: u64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct ReportMsg {
    /// The reporter's current room: its partner is the one reported.
    #[serde(rename = "roomId")]
    room_id: String,
    /// One of `REPORT_REASONS`.
    reason: String,
    /// Free text, at most `MAX_DETAILS` characters.
    details: Option<String>,
}

pub fn run(app: &App, req: &Request<'_>, p: ReportMsg) -> Result<Outcome, Refusal> {
    let reason = crate::store::report_reason(&p.reason).ok_or_else(|| {
        Refusal::bad_request("reason must be spam, abuse, inappropriate, underage or other")
    })?;
    let details = p.details.unwrap_or_default();
    if details.chars().count() > MAX_DETAILS {
        return Err(Refusal::bad_request(format!("details must be at most {MAX_DETAILS} characters")));
    }
    if !validate::free_text_ok(&details) {
        return Err(Refusal::bad_request("details must not contain control characters but tab and newlines"));
    }
    let ctx = app.ctx();
    let (user, room_id, report) = {
        let hub = app.hub();
        let user = req.user_in(&hub)?;
        let id = hub.own_room(user, &p.room_id)?;
        let (reported_id, transcript) = match hub.cluster() {
            Some(cluster) => cluster.transcript(id, user, TRANSCRIPT).map_err(|e| {
                if crate::app::cluster::Cluster::is_unavailable(&e) {
                    crate::app::hub::unavailable()
                } else {
                    Refusal::not_in_room()
                }
            })?,
            None => {
                let room = hub.room(id).ok_or_else(Refusal::not_in_room)?;
                (room.partner_of(user).user(), room.transcript(user, TRANSCRIPT))
            }
        };
        // Throwaway identities do not count toward an auto-ban.
        let created = hub.profile(user).map_or(ctx.wall, |p| p.created_at);
        let report = Report {
            report_id: format!("{:016x}", rand::random::<u64>()),
            room_id: room_id_str(id),
            reporter_id: user,
            reported_id,
            reason,
            details: details.into(),
            created_at: ctx.wall,
            transcript,
            reporter_addr: Some(req.client),
            counts_for_ban: ctx.wall.saturating_sub(created) >= app.cfg.auto_ban_min_age,
        };
        (user, id, report)
    };
    let room_str = p.room_id;
    // The store waits on the database: that part runs on a database
    // thread, and this socket's later messages wait for it.
    if let Some(db) = &app.offload {
        return db.defer(
            app,
            req,
            Box::new(move |app, req| commit(app, req, user, room_id, &room_str, report)),
        );
    }
    commit(app, req, user, room_id, &room_str, report)
}

/// Stores the report, then ends the room and answers `REPORTED`.
fn commit(
    app: &App,
    req: &Request<'_>,
    user: UserId,
    room_id: u64,
    room_str: &str,
    report: Report,
) -> Result<Outcome, Refusal> {
    // Stored (committed) before anything is said or ended: if the store
    // fails, the reporter learns so and the room stays open.
    let reported = report.reported_id;
    let report_id = report.report_id.clone();
    app.store
        .add_report(report)
        .map_err(|e| Refusal::new("INTERNAL", format!("the report was not stored: {e}")))?;
    let ctx = app.ctx();
    {
        let mut hub = app.hub();
        let reply = serde_json::json!({ "reportId": report_id });
        let json = protocol::frame_json("REPORTED", req.id, &reply);
        // On a cluster node the script ends the room, records the
        // never-rematch pair and sends REPORTED after PARTNER_LEFT.
        if let Some(done) = hub.cluster_end_room(room_id, user, "left", &json, "idle", true, &ctx) {
            drop(hub);
            done?;
            auto_ban(app, reported, ctx.wall);
            return Ok(Outcome::Replied);
        }
        // The room may have ended while the report was stored.
        if hub.own_room(user, room_str).is_ok() {
            hub.end_room(room_id, user, "left", &ctx);
        }
        hub.forbid_pair(user, reported);
        app.out.frame(req.conn, protocol::frame("REPORTED", req.id, &reply));
    }
    auto_ban(app, reported, ctx.wall);
    Ok(Outcome::Replied)
}

/// Bans `reported` for 24 h once enough reports count (contract section
/// 7). A store that cannot count leaves the user unbanned and says so in
/// the log: the report itself is stored and will count next time.
fn auto_ban(app: &App, reported: UserId, now: u64) {
    let threshold = app.cfg.auto_ban_reports;
    if threshold == 0 {
        return;
    }
    match app.store.reporters_since(reported, now.saturating_sub(DAY_MS)) {
        Ok(n) if n >= threshold as usize => {
            log::info!("auto-ban of {reported}: {n} reporters from distinct addresses within 24 h");
            if let Err(e) = app.ban(reported, now + DAY_MS, "reported by several users", "auto") {
                log::error!("auto-ban of {reported} failed: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => log::error!("auto-ban: cannot count the reports about {reported}: {e}"),
    }
}
