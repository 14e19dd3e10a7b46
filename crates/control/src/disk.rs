//! Free space where the nodes keep their data: an event on every cache cluster when it runs
//! low, and again when it is back.
//!
//! A snapshot, a replica's disk-based full sync and a node's save at a clean stop each write a
//! whole dataset beside the node before the old file goes; on a file system with less room
//! than that they fail (cleanly: see `docs/full-disk.md`). Users learn it from this warning
//! before they learn it from a failed snapshot. One `statvfs` every [`CHECK_EVERY`] — a
//! single call for the host, whatever the number of nodes; the events are written only when
//! the state changes, with hysteresis so a file system hovering at the mark does not flood
//! the event log. Space also counts as low while the store's own reserve is given back (see
//! `ferrocache_store::reserve`): the disk filled up, even if releasing the reserve freed more
//! than the mark.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_model::event::SourceType;
use ferrocache_model::node::NodeSpec;
use ferrocache_store::{update, ReadExt, Space, StoreError};

use crate::events;

/// How often the free space is looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
/// The low mark never exceeds this, however big the file system.
const LOW_MARK_MAX: u64 = 1 << 30;

/// `bytes` in megabytes with one decimal, for messages.
pub(crate) fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Below this many free bytes the file system counts as low: a tenth of it, at most 1 GiB.
pub fn low_mark(total: u64) -> u64 {
    (total / 10).min(LOW_MARK_MAX)
}

/// Whether space is low now, given whether it was: low below the mark, back only above twice
/// the mark.
pub fn is_low(space: Space, was_low: bool) -> bool {
    let mark = low_mark(space.total);
    if was_low {
        space.free < mark.saturating_mul(2)
    } else {
        space.free < mark
    }
}

/// The warning recorded on each cache cluster when space runs low.
pub fn low_space_text(dir: &Path, space: Space) -> String {
    format!(
        "Low free space in Ferrocache's data directory {}: {} of {} free. Snapshots, full \
         syncs of replicas and saves at a clean stop need room for a whole dataset and may fail",
        dir.display(),
        megabytes(space.free),
        megabytes(space.total)
    )
}

/// The event recorded when space is back above the mark.
pub fn space_back_text(dir: &Path, space: Space) -> String {
    format!(
        "Free space in Ferrocache's data directory {} is back: {} of {} free",
        dir.display(),
        megabytes(space.free),
        megabytes(space.total)
    )
}

/// Watches the file system of `dir` until the task is dropped, recording the events above.
pub(crate) async fn watch_free_space(store: Arc<dyn ferrocache_store::Store>, dir: PathBuf) {
    let mut low = false;
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (asked, asked_store) = (dir.clone(), store.clone());
        let looked = tokio::task::spawn_blocking(move || {
            (
                ferrocache_store::space(&asked),
                asked_store.headroom_in_place(),
            )
        })
        .await;
        let Ok((Some(space), headroom)) = looked else {
            continue;
        };
        // The store's reserve given back means the disk was full, however much room that
        // freed (8 MiB is more than a tenth of a small disk): still low until it is back.
        let now_low = is_low(space, low) || !headroom;
        if now_low == low {
            continue;
        }
        let text = if now_low {
            tracing::warn!(dir = %dir.display(), free = space.free, "low free space");
            low_space_text(&dir, space)
        } else {
            tracing::info!(dir = %dir.display(), free = space.free, "free space back");
            space_back_text(&dir, space)
        };
        // Retried on the next tick when the store cannot take it (it may be full itself).
        if record_on_every_node(store.as_ref(), &text).is_ok() {
            low = now_low;
        }
    }
}

fn record_on_every_node(store: &dyn ferrocache_store::Store, text: &str) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    update(store, |w| -> Result<(), StoreError> {
        for (_, node) in w.docs::<NodeSpec>("")? {
            events::record(
                w,
                &node.region,
                &node.id,
                SourceType::CacheCluster,
                text.to_string(),
                now,
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: low below a tenth (at most 1 GiB), back only above twice that, so a file system
    // at the mark does not flip on every look. Method: a 48 MB and a 1 TB file system.
    #[test]
    fn low_with_hysteresis() {
        let small = |free| Space {
            free,
            total: 48_000_000,
        };
        assert!(!is_low(small(20_000_000), false));
        assert!(is_low(small(4_000_000), false));
        assert!(
            is_low(small(6_000_000), true),
            "between the marks: still low"
        );
        assert!(
            !is_low(small(6_000_000), false),
            "between the marks: still fine"
        );
        assert!(!is_low(small(10_000_000), true));
        let big = |free| Space {
            free,
            total: 1 << 40,
        };
        assert!(!is_low(big(2 << 30), false), "1 GiB caps the mark");
        assert!(is_low(big(1 << 29), false));
    }
}
