//! What this node hears on its channel, applied like a worker would: the
//! effect on the user's session first (under the hub lock), then the frame
//! to the user's socket through the reactor's outgoing queue. Runs on the
//! bus's subscriber thread, in channel order, which is the order the
//! scripts ran in.

use std::sync::Arc;

use log::warn;

use super::msg::{Effect, NodeMsg};
use super::{COMMIT_WITHIN_MS, Cluster};
use crate::app::App;
use crate::app::protocol;
use crate::bus::Receiver;
use crate::link::command::AppTimer;
use crate::link::outbox::Delivery;

pub struct ClusterReceiver {
    pub app: Arc<App>,
    pub cluster: Arc<Cluster>,
}

impl Receiver for ClusterReceiver {
    fn message(&self, _channel: &str, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else { return };
        match NodeMsg::parse(text) {
            Some(msg) => self.apply(msg),
            None => warn!("cluster: an unreadable message on this node's channel: {:.80}", text),
        }
    }

    /// Anything published while the channel was not subscribed is lost:
    /// compare this node's rooms with Redis.
    fn resubscribed(&self) {
        check_epoch(&self.app, &self.cluster);
        let ctx = self.app.ctx();
        self.app.hub().c_resync(&ctx);
    }
}

/// After an outage: if Redis came back empty, the rooms and waits that
/// spanned nodes are gone (`Hub::c_reset`) and this node's presence is
/// written again.
pub fn check_epoch(app: &App, cluster: &Cluster) {
    let reset = || {
        log::warn!("redis came back empty: rooms and waits spanning the cluster are gone");
        let ctx = app.ctx();
        let held = app.hub().c_reset(&ctx);
        if let Err(e) = cluster.announce(&held) {
            log::warn!("cluster: presence could not be written again: {e}");
        }
    };
    if let Err(e) = cluster.epoch_changed(reset) {
        log::warn!("cluster: the Redis epoch could not be read: {e}");
    }
}

impl ClusterReceiver {
    fn apply(&self, msg: NodeMsg<'_>) {
        let app = &*self.app;
        let ctx = app.ctx();
        match msg {
            NodeMsg::Tick => {}
            NodeMsg::Frame { user, effect, room, json, reply, seq } => {
                app.metrics.cluster_frames.inc();
                let mut hub = app.hub();
                let mut requeue = None;
                if let (Some(seq), Some(r)) = (seq, room) {
                    hub.l_seen(r, seq);
                }
                match (effect, room) {
                    (Effect::InRoom { partner }, Some(r)) if !hub.c_matched(user, r, partner, &ctx) => {
                        // Left while the pairing was being taken: the room
                        // opened without it; end it at once.
                        drop(hub);
                        let until = (ctx.wall + self.cluster.cooldown).to_string();
                        let rid = crate::app::room::room_id_str(r);
                        let _ = self.cluster.end_room(&rid, user, "left", "", "idle", &until, None);
                        return;
                    }
                    (Effect::Idle, Some(r)) => {
                        hub.c_room_ended(user, r);
                    }
                    (Effect::Next, Some(r)) => requeue = hub.c_room_ended(user, r),
                    (Effect::Back, Some(r)) => hub.c_partner_back(r, user, &ctx),
                    (Effect::Away { who, at }, Some(r)) => {
                        hub.c_told_away(user, at);
                        let timer = AppTimer::ClusterGrace { user, room: r, away: who, at };
                        ctx.out.timer(ctx.now + self.cluster.grace, timer);
                    }
                    _ => {}
                }
                if let Some(conn) = hub.c_conn(user) {
                    ctx.out.frame(conn, protocol::json_frame(json));
                }
                if reply {
                    hub.c_reply_done(user, &ctx);
                }
                if let Some(request) = requeue
                    && let Err(r) = hub.join(user, request, None, &ctx)
                {
                    warn!("cluster: NEXT could not queue the user again: {}", r.error.message);
                }
            }
            NodeMsg::Offer { user, pair } => {
                let Ok(pair_id) = u64::from_str_radix(pair, 16) else { return };
                let offered = app.hub().c_offered(user, pair_id);
                if offered.is_none() {
                    let _ = self.cluster.abort(pair, Some(user));
                    return;
                }
                match self.cluster.take(pair, user, ctx.wall).as_deref() {
                    Ok("waiting") => {
                        ctx.out.timer(
                            ctx.now + COMMIT_WITHIN_MS,
                            AppTimer::ClusterCommit { user, pair: pair_id },
                        );
                    }
                    Ok("committed") => {}
                    _ => {
                        app.hub().c_requeued(user);
                    }
                }
            }
            NodeMsg::Requeued { user } => {
                let mut hub = app.hub();
                if hub.c_requeued(user) {
                    hub.tier_up_now(user, &ctx);
                }
            }
            NodeMsg::Supersede { user } => app.hub().c_superseded(user, &ctx),
            NodeMsg::Changed { user } => {
                app.store.refresh(user);
                if let Ok(Some(record)) = app.store.user(user) {
                    app.hub().set_profile(user, record.profile);
                }
            }
            NodeMsg::Evict { user, reason, code } => app.hub().evict(user, reason, code, &ctx),
        }
    }
}
