//! The admin API (`/api/admin/*`), behind `--admin-token`.
//!
//! Without the option every admin path answers 404, as if it did not
//! exist. With it, a missing token is 401 `UNAUTHENTICATED` and a wrong one
//! 401 `INVALID_TOKEN`. Tokens are compared in constant time: both are
//! hashed (so lengths do not leak) and the digests compared without an
//! early exit.

use serde::Deserialize;

use super::App;
use super::http_api::store_failure;
use super::matcher::QueueKey;
use crate::base::http::{Method, Request, Response};
use crate::store::{UserId, hash_token};

/// Reports per page, at most.
const MAX_REPORTS_PAGE: usize = 500;
/// Longest ban, minutes (ten years).
const MAX_BAN_MINUTES: u64 = 10 * 365 * 24 * 60;

fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (hash_token(given), hash_token(expected));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn route(app: &App, req: &Request) -> Response {
    let Some(expected) = app.cfg.admin_token.as_deref() else {
        return Response::error(404, "NOT_FOUND", "no such resource");
    };
    match req.bearer.as_deref() {
        None => return Response::error(401, "UNAUTHENTICATED", "missing Authorization: Bearer admin token"),
        Some(t) if !same_token(t, expected) => {
            return Response::error(401, "INVALID_TOKEN", "wrong admin token");
        }
        Some(_) => {}
    }
    let path = req.path.trim_end_matches('/');
    match (path, req.method()) {
        ("/api/admin/stats", Method::Get) => stats(app),
        ("/api/admin/reports", Method::Get) => reports(app, &req.query),
        ("/api/admin/bans", Method::Post) => ban(app, &req.body),
        (p, Method::Delete) if p.starts_with("/api/admin/bans/") => {
            unban(app, &p["/api/admin/bans/".len()..])
        }
        ("/api/admin/stats" | "/api/admin/reports", _) => Response::method_not_allowed("GET"),
        ("/api/admin/bans", _) => Response::method_not_allowed("POST"),
        (p, _) if p.starts_with("/api/admin/bans/") => Response::method_not_allowed("DELETE"),
        _ => Response::error(404, "NOT_FOUND", "no such resource"),
    }
}

fn json(v: serde_json::Value) -> Response {
    Response::json(200, v.to_string().into_bytes())
}

fn stats(app: &App) -> Response {
    if let Some(cluster) = &app.cluster {
        let names: Vec<&str> = QueueKey::ALL.iter().map(|q| q.as_str()).collect();
        return match cluster.stats(&names.join(",")) {
            Ok(mut v) => {
                let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
                let sum = |k: &str| nodes.iter().map(|n| n[k].as_i64().unwrap_or(0)).sum::<i64>();
                v["onlineUsers"] = sum("onlineUsers").into();
                v["connections"] = sum("connections").into();
                v["uptimeSeconds"] = (app.clock.now() / 1000).into();
                json(v)
            }
            Err(e) => store_failure(crate::store::StoreError::Unavailable(e.to_string())),
        };
    }
    let hub = app.hub();
    let queues: serde_json::Map<String, serde_json::Value> =
        QueueKey::ALL.iter().map(|q| (q.as_str().to_string(), hub.queue_len(*q).into())).collect();
    json(serde_json::json!({
        "onlineUsers": hub.online(),
        "connections": app.metrics.connections.get(),
        "queueSizes": queues,
        "activeRooms": hub.room_count(),
        "roomsCreated": app.metrics.rooms_created.get(),
        "messagesRelayed": app.metrics.messages.get(),
        "uptimeSeconds": app.clock.now() / 1000,
    }))
}

fn reports(app: &App, query: &str) -> Response {
    let mut limit = 50;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = pair.strip_prefix("limit=") {
            match v.parse::<usize>() {
                Ok(n) if (1..=MAX_REPORTS_PAGE).contains(&n) => limit = n,
                _ => {
                    let msg = format!("limit must be 1 to {MAX_REPORTS_PAGE}");
                    return Response::error(400, "BAD_REQUEST", &msg);
                }
            }
        }
    }
    match app.store.reports(limit) {
        Ok(list) => json(serde_json::json!({ "reports": list })),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize)]
struct BanBody {
    /// Who to ban: a user id the store knows.
    #[serde(rename = "userId")]
    user_id: String,
    /// How long, 1 minute to ten years.
    minutes: u64,
    /// Shown to nobody but admins; at most 500 characters.
    reason: Option<String>,
}

fn ban(app: &App, body: &[u8]) -> Response {
    // An object only: serde would also take a struct written as an array.
    let b: BanBody = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => match serde_json::from_value(v) {
            Ok(b) => b,
            Err(e) => return Response::error(400, "BAD_REQUEST", &format!("bad body: {e}")),
        },
        Ok(_) => return Response::error(400, "BAD_REQUEST", "the body must be a JSON object"),
        Err(e) => return Response::error(400, "BAD_REQUEST", &format!("malformed JSON: {e}")),
    };
    if !(1..=MAX_BAN_MINUTES).contains(&b.minutes) {
        return Response::error(400, "BAD_REQUEST", &format!("minutes must be 1 to {MAX_BAN_MINUTES}"));
    }
    let reason = b.reason.unwrap_or_default();
    if reason.chars().count() > 500 {
        return Response::error(400, "BAD_REQUEST", "reason must be at most 500 characters");
    }
    let Some(user) = known_user(app, &b.user_id) else {
        return Response::error(404, "NOT_FOUND", "no such user");
    };
    let until = super::wall_ms() + b.minutes * 60_000;
    match app.ban(user, until, &reason, "admin") {
        Ok(()) => json(serde_json::json!({ "userId": user, "until": until })),
        Err(e) => store_failure(e),
    }
}

fn unban(app: &App, id: &str) -> Response {
    let Some(user) = known_user(app, id) else {
        return Response::error(404, "NOT_FOUND", "no such user");
    };
    match app.store.remove_ban(user) {
        Ok(_) => {
            app.changed(user);
            Response::no_content()
        }
        Err(e) => store_failure(e),
    }
}

fn known_user(app: &App, id: &str) -> Option<UserId> {
    let user = UserId::parse(id)?;
    app.store.user(user).ok().flatten().map(|_| user)
}
