//! The subscriber thread: one pub/sub connection on this node's channels,
//! handed to the [`Receiver`]; reconnected and resubscribed with backoff
//! when it fails or goes silent.
//!
//! Silence is detected without a PING (which a subscribed RESP2 connection
//! may not send through this client): the heartbeat publishes a tick on
//! this node's own channel every beat, so a subscription that has heard
//! nothing for [`SILENT_AFTER`] is taken for dead and replaced.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::{Bus, CALL_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, Receiver};

/// How long a subscription may hear nothing (not even its own tick).
pub const SILENT_AFTER: Duration = Duration::from_secs(6);
/// How long one read waits, so the thread notices a stop or silence.
const READ_TICK: Duration = Duration::from_millis(500);

pub(super) fn spawn(
    bus: Arc<Bus>,
    channels: Vec<String>,
    receiver: Arc<dyn Receiver>,
) -> std::io::Result<()> {
    thread::Builder::new().name("duet-redis-sub".into()).spawn(move || {
        let mut backoff = MIN_BACKOFF;
        while !bus.is_stopping() {
            let result = listen(&bus, &channels, &*receiver);
            bus.set_listening(false);
            match result {
                Ok(()) => backoff = MIN_BACKOFF,
                Err(e) => {
                    warn!("redis: subscription lost ({e}); resubscribing in {backoff:?}");
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    })?;
    Ok(())
}

/// Subscribes and delivers until the connection fails, goes silent, or
/// the bus stops (then `Ok`).
fn listen(bus: &Bus, channels: &[String], receiver: &dyn Receiver) -> redis::RedisResult<()> {
    let mut conn = bus.client.get_connection_with_timeout(CALL_TIMEOUT)?;
    let mut sub = conn.as_pubsub();
    for ch in channels {
        sub.subscribe(ch)?;
    }
    sub.set_read_timeout(Some(READ_TICK))?;
    info!("redis: subscribed to {} channels", channels.len());
    bus.set_listening(true);
    receiver.resubscribed();
    let mut heard = Instant::now();
    loop {
        if bus.is_stopping() {
            return Ok(());
        }
        match sub.get_message() {
            Ok(msg) => {
                heard = Instant::now();
                receiver.message(msg.get_channel_name(), msg.get_payload_bytes());
            }
            Err(e) if e.is_timeout() => {
                if heard.elapsed() > SILENT_AFTER {
                    return Err(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the subscription went silent",
                    )));
                }
            }
            Err(e) => return Err(e),
        }
    }
}
