//! `AUTH {token, lastSeq?}` → `AUTH_OK {userId, profile, room?}`.
//!
//! A bad or missing token gets `AUTH_ERROR` and close 4401, and nothing
//! more from that socket is handled (contract section 7). A store that
//! cannot answer (token lookup, ban lookup) gets `ERROR INTERNAL` and the
//! socket stays open: a store error is never read as a permission. A user already
//! online on another socket is moved here: the old socket gets
//! `SESSION_ENDED {reason:"superseded"}` and close 4409, and this one takes
//! over its queue place or room (the partner is not told). A token the
//! store cannot check from memory (a PostgreSQL token-cache miss) is
//! checked on a database thread; the socket's later messages wait for the
//! answer, so replies stay in order.

use serde::Deserialize;

use super::{Outcome, Request};
use crate::app::App;
use crate::app::protocol::{self, Refusal};
use crate::app::room::room_id_str;
use crate::app::view::{self, AuthOk, ProfileView};
use crate::link::outbox::{Delivery, Out};
use crate::store::{TokenHash, hash_token};

#[derive(Deserialize)]
pub struct Auth {
    /// Anything but a string reads as no token (answered as a bad one).
    token: Option<serde_json::Value>,
    /// The last `seq` the client saw; kept messages after it are replayed.
    /// Absent (or not a number) reads as 0: replay everything kept.
    #[serde(rename = "lastSeq")]
    last_seq: Option<serde_json::Value>,
}

pub fn run(app: &App, req: &Request<'_>, p: Auth) -> Result<Outcome, Refusal> {
    if req.authed {
        return Err(Refusal::bad_request("this socket is already authenticated"));
    }
    let token = match p.token {
        Some(serde_json::Value::String(t)) if !t.is_empty() => t,
        _ => return reject(app, req, "a token is required"),
    };
    let hash = hash_token(&token);
    let last_seq = p.last_seq.as_ref().and_then(serde_json::Value::as_u64).unwrap_or(0);
    // A token the store cannot check from memory is checked on a database
    // thread; this socket's later messages wait for it (`app::offload`).
    if let Some(db) = &app.offload
        && app.store.cached_user_by_token(&hash).is_none()
    {
        return db.defer(app, req, Box::new(move |app, req| finish(app, req, &hash, last_seq)));
    }
    finish(app, req, &hash, last_seq)
}

/// Everything after the token is read: lookup, ban, attach, `AUTH_OK`.
fn finish(app: &App, req: &Request<'_>, hash: &TokenHash, last_seq: u64) -> Result<Outcome, Refusal> {
    let record = app.store.user_by_token(hash).map_err(|e| store_refusal(app, e))?;
    let Some(record) = record else {
        return reject(app, req, "unknown token");
    };
    let now = crate::app::wall_ms();
    let ban = app.store.ban(record.id, now).map_err(|e| store_refusal(app, e))?;
    if let Some(ban) = ban {
        let payload =
            serde_json::json!({ "code": "BANNED", "message": "this identity is banned", "until": ban.until });
        app.out.frame(req.conn, protocol::frame("AUTH_ERROR", req.id, &payload));
        app.out.close(req.conn, 4403, "banned");
        return Ok(Outcome::Closing);
    }
    let profile = app.touch(&record);
    let ctx = app.ctx();
    let mut hub = app.hub();
    let old = hub.attach(req.conn, record.id, profile.clone(), ctx.now);
    if let Some(old) = old {
        app.out.frame(old, view::session_ended("superseded"));
        app.out.close(old, 4409, "superseded");
    }
    if hub.cluster().is_some() {
        // A failure leaves the socket unauthenticated: the client may retry.
        let attached = match hub.c_attach_user(record.id, last_seq, &ctx) {
            Ok(a) => a,
            Err(refusal) => {
                hub.unbind(req.conn);
                return Err(refusal);
            }
        };
        let room = attached.room.as_ref().map(|r| {
            serde_json::json!({
                "roomId": room_id_str(r.id),
                "partner": serde_json::from_str::<serde_json::Value>(&r.partner_view).unwrap_or_default(),
                "mood": r.mood,
                "lastSeq": r.last_seq,
            })
        });
        let ok = serde_json::json!({
            "userId": record.id,
            "profile": ProfileView::of(&hub, record.id, &profile),
            "room": room,
        });
        let mut ok = ok;
        if ok["room"].is_null()
            && let Some(o) = ok.as_object_mut()
        {
            o.remove("room");
        }
        app.out.push(Out::Authed { conn: req.conn });
        app.out.frame(req.conn, protocol::frame("AUTH_OK", req.id, &ok));
        if let Some(r) = &attached.room {
            let rid = room_id_str(r.id);
            for kept in &r.missed {
                let Ok(k) = serde_json::from_str::<serde_json::Value>(kept) else { continue };
                let push = serde_json::json!({"roomId": rid, "seq": k["seq"], "text": k["text"], "sentAt": k["sentAt"]});
                app.out.frame(req.conn, protocol::frame("CHAT", None, &push));
            }
        }
        return Ok(Outcome::Authenticated);
    }
    let ok = AuthOk {
        user_id: record.id,
        profile: ProfileView::of(&hub, record.id, &profile),
        room: hub.room_view(record.id),
    };
    // The reactor takes full-size messages from this socket before the
    // client can read AUTH_OK (regression: a 10 KB message sent right after
    // AUTH_OK was refused with 1009 when the reactor wrote AUTH_OK first).
    app.out.push(Out::Authed { conn: req.conn });
    app.out.frame(req.conn, protocol::frame("AUTH_OK", req.id, &ok));
    hub.replay(record.id, req.conn, last_seq, old.is_none(), &ctx);
    Ok(Outcome::Authenticated)
}

/// A store that cannot answer refuses, never admits (section 7). On a
/// cluster node that is a shared back end away (contract section 8):
/// `UNAVAILABLE` with `retryAfterMs`, as `JOIN_QUEUE` gets. A single node
/// keeps its documented `INTERNAL` (docs/protocol.md, "A store error is
/// never a permission").
fn store_refusal(app: &App, e: crate::store::StoreError) -> Refusal {
    match e {
        crate::store::StoreError::Unavailable(_) if app.cluster.is_some() => {
            let mut r = Refusal::new("UNAVAILABLE", format!("store: {e}"));
            r.error.retry_after_ms = Some(crate::app::cluster::RETRY_AFTER_MS);
            r
        }
        e => Refusal::new("INTERNAL", format!("store: {e}")),
    }
}

fn reject(app: &App, req: &Request<'_>, message: &str) -> Result<Outcome, Refusal> {
    let payload = serde_json::json!({ "code": "INVALID_TOKEN", "message": message });
    app.out.frame(req.conn, protocol::frame("AUTH_ERROR", req.id, &payload));
    app.out.close(req.conn, 4401, "invalid token");
    Ok(Outcome::Closing)
}
