//! The HTTP API the workers serve (contract section 2), health excepted.
//!
//! Each route returns a `Response`; the worker hands it to the reactor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::Deserialize;

use super::App;
use super::matcher::QueueKey;
use super::offload::{Job, Offload};
use super::validate;
use super::view::ProfileView;
use crate::base::addr::ClientAddr;
use crate::base::http::{Method, Request, Response};
use crate::base::id::ConnId;
use crate::store::{Mood, Profile, StoreError, UserId, UserRecord, hash_token, new_token};

pub fn route(app: &App, client: ClientAddr, req: &Request) -> Response {
    match (req.path.as_str(), req.method()) {
        ("/api/users/registerOrUpdate", Method::Post) => register_or_update(app, client, req),
        ("/api/users/registerOrUpdate", _) => Response::method_not_allowed("POST"),
        ("/api/users/me", Method::Get) => me(app, req),
        ("/api/users/me", Method::Delete) => delete_me(app, req),
        ("/api/users/me", _) => Response::method_not_allowed("GET, DELETE"),
        ("/metrics", Method::Get) => metrics(app),
        ("/metrics", _) => Response::method_not_allowed("GET"),
        (path, _) if path.starts_with("/api/admin/") || path == "/api/admin" => super::admin::route(app, req),
        (path, method) if super::web::serves(path) => app.web.respond(path, method),
        _ => Response::error(404, "NOT_FOUND", "no such resource"),
    }
}

/// 429 with `Retry-After` (whole seconds, rounded up) and `retryAfterMs`.
pub fn rate_limited(wait_ms: u64) -> Response {
    let body = serde_json::json!({"error": {
        "code": "RATE_LIMITED",
        "message": "too many new identities from this address",
        "retryAfterMs": wait_ms,
    }});
    Response::json(429, body.to_string().into_bytes())
        .header(format!("Retry-After: {}", wait_ms.div_ceil(1000)))
}

fn json(value: &impl serde::Serialize) -> Response {
    Response::json(200, serde_json::to_vec(value).unwrap_or_default())
}

/// A store failure: 503 while the database is away (try again later),
/// 404 for a user that is gone, else 500.
pub fn store_failure(e: StoreError) -> Response {
    match e {
        StoreError::Unavailable(why) => Response::error(
            503,
            "UNAVAILABLE",
            &format!("the database is unavailable, try again later: {why}"),
        )
        .header("Retry-After: 5".into()),
        StoreError::NotFound => Response::error(404, "NOT_FOUND", "no such user"),
    }
}

/// The user behind the request's bearer token, or the 401 to send.
fn authenticate(app: &App, req: &Request) -> Result<UserRecord, Response> {
    let token = req
        .bearer
        .as_deref()
        .ok_or_else(|| Response::error(401, "UNAUTHENTICATED", "missing Authorization: Bearer token"))?;
    match app.store.user_by_token(&hash_token(token)) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Response::error(401, "INVALID_TOKEN", "unknown token")),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize, Default)]
struct ProfileBody {
    /// Each field absent = keep (update) or generate/default (register).
    nickname: Option<String>,
    /// A mood name.
    mood: Option<String>,
    /// One emoji.
    avatar: Option<String>,
    /// Bounded while parsed (contract section 7).
    interests: Option<validate::InterestList>,
}

/// The validated fields of a profile body.
struct Changes {
    /// Validated; None = not given.
    nickname: Option<Box<str>>,
    /// Parsed mood; None = not given.
    mood: Option<Mood>,
    /// Validated; None = not given.
    avatar: Option<Box<str>>,
    /// Normalised; None = not given.
    interests: Option<Box<[Box<str>]>>,
}

fn parse_body(body: &[u8]) -> Result<Changes, String> {
    let b: ProfileBody = if body.iter().all(u8::is_ascii_whitespace) {
        ProfileBody::default()
    } else {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
        if !v.is_object() {
            return Err("the body must be a JSON object".into());
        }
        serde_json::from_value(v).map_err(|e| format!("bad field: {e}"))?
    };
    Ok(Changes {
        nickname: b.nickname.as_deref().map(validate::nickname).transpose()?,
        mood: b.mood.as_deref().map(validate::mood).transpose()?,
        avatar: b.avatar.as_deref().map(validate::avatar).transpose()?,
        interests: b.interests.map(|l| validate::interests(&l.0)).transpose()?,
    })
}

fn register_or_update(app: &App, client: ClientAddr, req: &Request) -> Response {
    let changes = match parse_body(&req.body) {
        Ok(c) => c,
        Err(message) => return Response::error(400, "BAD_REQUEST", &message),
    };
    let now = super::wall_ms();
    if req.bearer.is_none() {
        let new = match prepare_registration(app, client, changes, now) {
            Ok(new) => new,
            Err(resp) => return resp,
        };
        if let Err(e) = app.store.insert_user(new.record.clone(), Some(new.from)) {
            return store_failure(e);
        }
        return registered(app, &new);
    }
    let user = match authenticate(app, req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    // A ban lookup that fails refuses: it never reads as "not banned".
    match app.store.ban(user.id, now) {
        Ok(Some(ban)) => return banned(ban.until),
        Ok(None) => {}
        Err(e) => return store_failure(e),
    }
    let old = &user.profile;
    let profile = Arc::new(Profile {
        nickname: changes.nickname.unwrap_or_else(|| old.nickname.clone()),
        mood: changes.mood.unwrap_or(old.mood),
        avatar: changes.avatar.unwrap_or_else(|| old.avatar.clone()),
        interests: changes.interests.unwrap_or_else(|| old.interests.clone()),
        created_at: old.created_at,
        last_seen_at: now,
    });
    if let Err(e) = app.store.update_profile(user.id, profile.clone()) {
        return store_failure(e);
    }
    app.hub().set_profile(user.id, profile.clone());
    app.changed(user.id);
    answer(app, user.id, req.bearer.clone().unwrap_or_default(), &profile)
}

/// A new identity, made and checked, not yet stored.
pub struct NewUser {
    /// What the store keeps.
    pub record: UserRecord,
    /// The address it registered from (kept only as a salted hash).
    pub from: std::net::IpAddr,
    /// Its token, shown once in the answer.
    token: String,
}

/// The registration's answer once `new` is stored.
pub fn registered(app: &App, new: &NewUser) -> Response {
    answer(app, new.record.id, new.token.clone(), &new.record.profile)
}

fn answer(app: &App, user: UserId, token: String, profile: &Profile) -> Response {
    let status = app.hub().status(user);
    // A response with a token must not be kept by any cache on the way.
    json(&serde_json::json!({
        "userId": user,
        "authToken": token,
        "profile": ProfileView::new(user, profile, status),
    }))
    .header("Cache-Control: no-store".into())
}

/// Everything a registration does before the database: the address's
/// bucket, the generated fields, the token.
fn prepare_registration(
    app: &App,
    client: ClientAddr,
    changes: Changes,
    now: u64,
) -> Result<NewUser, Response> {
    if let Some(cluster) = &app.cluster {
        // The bucket is the cluster's (contract section 8).
        let per_minute = app.cfg.register_per_minute;
        match cluster.register_take(&client.to_string(), now, per_minute, per_minute as f64 / 60_000.0) {
            Ok(0) => {}
            Ok(wait_ms) => return Err(rate_limited(wait_ms)),
            Err(e) => return Err(store_failure(StoreError::Unavailable(e.to_string()))),
        }
    } else if let Err(wait_ms) = app.registrations.lock().take(client, app.clock.now()) {
        return Err(rate_limited(wait_ms));
    }
    let (gen_nick, gen_avatar) = validate::generated_identity();
    let profile = Arc::new(Profile {
        nickname: changes.nickname.unwrap_or(gen_nick),
        mood: changes.mood.unwrap_or(Mood::Random),
        avatar: changes.avatar.unwrap_or(gen_avatar),
        interests: changes.interests.unwrap_or_default(),
        created_at: now,
        last_seen_at: now,
    });
    let token = new_token();
    let record = UserRecord { id: UserId::random(), token_hash: hash_token(&token), profile };
    Ok(NewUser { record, from: client.ip(), token })
}

/// Whether the route may wait on the database (run on a database thread
/// when the store is `blocking`); static assets and `/metrics` never do.
pub fn uses_database(req: &Request) -> bool {
    req.path.starts_with("/api/users/") || req.path.starts_with("/api/admin")
}

/// Hands a database route to the database threads: a new registration is
/// checked here and only its insert goes (to be grouped with others);
/// any other route goes whole. Past the bound: 503 with `Retry-After`.
pub(super) fn offload(app: &App, db: &Offload, conn: ConnId, client: ClientAddr, req: Box<Request>) {
    let close = req.close;
    let new_user =
        req.path == "/api/users/registerOrUpdate" && req.method() == Method::Post && req.bearer.is_none();
    let job = if new_user {
        let prepared = catch_unwind(AssertUnwindSafe(|| {
            let changes = parse_body(&req.body).map_err(|m| Response::error(400, "BAD_REQUEST", &m))?;
            prepare_registration(app, client, changes, super::wall_ms())
        }));
        match prepared {
            Ok(Ok(new)) => Job::Register { conn, close, new: Box::new(new) },
            Ok(Err(resp)) => return app.out.http(conn, resp.to_bytes(close), close),
            Err(_) => {
                app.metrics.panics.inc();
                super::guard::take_repaired();
                log::error!("panic while serving {conn:?} {}", req.path);
                let resp = Response::error(500, "INTERNAL", "internal error");
                return app.out.http(conn, resp.to_bytes(close), close);
            }
        }
    } else {
        Job::Http { conn, close, client, req }
    };
    if db.submit(app, job).is_err() {
        app.out.http(conn, super::offload::busy_response().to_bytes(close), close);
    }
}

fn banned(until: u64) -> Response {
    let body = serde_json::json!({"error": {"code": "BANNED", "message": "this identity is banned", "until": until}});
    Response::json(403, body.to_string().into_bytes())
}

/// `DELETE /api/users/me`: erase the identity; its token stops working, an
/// open room ends for the partner, an open socket is told and closed.
fn delete_me(app: &App, req: &Request) -> Response {
    let user = match authenticate(app, req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    // The token stops working first, so no new socket can take the
    // identity over while its live state is being removed.
    if let Err(e) = app.store.delete_user(user.id) {
        return store_failure(e);
    }
    app.changed(user.id);
    let ctx = app.ctx();
    app.evict_everywhere(user.id, "deleted", 1000, &ctx);
    Response::no_content()
}

/// `GET /metrics`: live gauges are read from the hub now.
fn metrics(app: &App) -> Response {
    {
        let hub = app.hub();
        let m = &app.metrics;
        m.online_users.set(hub.online() as i64);
        m.rooms_active.set(hub.room_count() as i64);
        for q in QueueKey::ALL {
            m.queue_size.get_or_create(&vec![("mood", q.as_str())]).set(hub.queue_len(q) as i64);
        }
    }
    Response::with_type(200, "text/plain; version=0.0.4; charset=utf-8", app.metrics.encode().into_bytes())
}

fn me(app: &App, req: &Request) -> Response {
    let user = match authenticate(app, req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let status = app.hub().status(user.id);
    json(&serde_json::json!({ "profile": ProfileView::new(user.id, &user.profile, status) }))
}
