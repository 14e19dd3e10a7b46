//! Keeping a lease: renewals every third of its time to live, and giving up *before* the lease
//! could have expired in etcd.
//!
//! The lease is measured from the moment each renewal was *sent* (etcd measures from when it
//! received it, later); [`keep`] returns a sixth of the time to live before the lease could
//! have run out without a renewal that got through, so whoever acts under the lease stops
//! while etcd still holds it for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::Client;

/// Why [`keep`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Lapsed {
    /// It was asked to stop.
    Stopped,
    /// The lease is lost, or may be soon: the reason.
    Lost(String),
}

/// Renews lease `lease` (of `ttl` seconds, valid until `valid_until` as last renewed) until
/// `stop` is set or the lease can no longer be counted on.
pub fn keep(
    etcd: &Client,
    lease: i64,
    ttl: i64,
    mut valid_until: Instant,
    stop: &AtomicBool,
) -> Lapsed {
    let ttl = Duration::from_secs(ttl.max(1).unsigned_abs());
    let every = ttl / 3;
    let margin = ttl / 6;
    let mut last_error = String::from("no renewal got through");
    loop {
        let give_up_at = valid_until - margin;
        let next = (Instant::now() + every).min(give_up_at);
        while Instant::now() < next {
            if stop.load(Ordering::Relaxed) {
                return Lapsed::Stopped;
            }
            std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
        }
        if stop.load(Ordering::Relaxed) {
            return Lapsed::Stopped;
        }
        if Instant::now() >= give_up_at {
            return Lapsed::Lost(format!(
                "its lease could not be renewed in time ({last_error})"
            ));
        }
        let sent = Instant::now();
        // Bounded by the moment the lease can no longer be relied on: a renewal still in
        // flight then (a member cut off) must not keep the holder acting past it.
        match etcd.keep_alive_until(lease, Some(give_up_at)) {
            Ok(answer) if answer.ttl > 0 => {
                valid_until = sent + Duration::from_secs(answer.ttl.unsigned_abs());
            }
            Ok(_) => return Lapsed::Lost("its lease has expired".into()),
            Err(e) => {
                tracing::warn!(error = %e, lease, "renewing a lease failed");
                last_error = e.to_string();
            }
        }
    }
}
