//! The heartbeat thread: every [`BEAT`] it reconnects to Redis if it is
//! away (with the bus's backoff), runs the application's beat (presence
//! and liveness writes, the dead-node check), and publishes a tick on this
//! node's own channel so the subscriber can tell a silent subscription.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Bus;

/// How often the node beats.
pub const BEAT: Duration = Duration::from_millis(1500);
/// The tick's payload; receivers ignore it.
pub const TICK: &[u8] = b"{\"t\":\"tick\"}";

/// Starts the heartbeat; `beat` runs once a beat while Redis is reachable
/// (and `recovered` is true the first time after it was not).
pub fn spawn(
    bus: Arc<Bus>,
    own_channel: String,
    mut beat: impl FnMut(&Bus, bool) + Send + 'static,
) -> std::io::Result<()> {
    thread::Builder::new().name("duet-heartbeat".into()).spawn(move || {
        let mut was_up = bus.is_up();
        let mut first = true;
        while !bus.is_stopping() {
            if bus.try_reconnect() {
                beat(&bus, first || !was_up);
                first = false;
                let _ = bus.publish(&own_channel, TICK);
            }
            was_up = bus.is_up();
            bus.sleep(BEAT);
        }
    })?;
    Ok(())
}
