//! Proof that this process is in touch with a quorum of etcd, renewed a few times a second.
//!
//! A host that other hosts may replace (their leader promotes a replica of its primaries when
//! it falls silent) must stop serving writes *before* that can happen, and must know it from
//! its own clock: the moment it loses touch, it can ask nobody. [`EtcdStore::probe_contact`]
//! asks etcd a linearizable question (a read of the commit key, which etcd answers only
//! after confirming with a quorum that its leader still leads) every [`PROBE_EVERY`], and
//! publishes when the last answered one was *sent*: counting from the sending, not the
//! answer, the host's idea of its last contact is never later than etcd's. A probe counts
//! only once this process's copy of the store holds every commit the answer names (a host
//! back from a partition must not serve the routes it had before it).
//!
//! The probe's answer to a member that lost its quorum is a refusal or silence (requests carry
//! etcd's require-leader mark), so a member on the wrong side of a partition proves nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::EtcdStore;

/// How often the probe asks.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How long one probe waits for an answer (a later one proves nothing about now).
const PROBE_PATIENCE: Duration = Duration::from_millis(500);

impl EtcdStore {
    /// Starts probing etcd every [`PROBE_EVERY`], while `wanted` holds, on a thread of its
    /// own; the receiver holds when the last probe that etcd answered was sent (`None` before
    /// the first). The probe stops when every receiver is dropped, or with the store.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn probe_contact(
        &self,
        wanted: Arc<AtomicBool>,
    ) -> std::io::Result<watch::Receiver<Option<Instant>>> {
        let (confirmed, receiver) = watch::channel(None);
        let inner = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("etcd-contact".into())
            .spawn(move || loop {
                if confirmed.is_closed() {
                    return;
                }
                if !wanted.load(Ordering::Relaxed) {
                    std::thread::sleep(PROBE_EVERY);
                    continue;
                }
                let Some(store) = inner.upgrade() else {
                    return;
                };
                let sent = Instant::now();
                let answered = store
                    .etcd
                    .quorum_read(store.commit_key.as_bytes(), PROBE_PATIENCE)
                    .is_some_and(|latest| store.copy_reaches(latest, sent + PROBE_PATIENCE));
                drop(store);
                if answered {
                    confirmed.send_replace(Some(sent));
                }
                std::thread::sleep((sent + PROBE_EVERY).saturating_duration_since(Instant::now()));
            })?;
        Ok(receiver)
    }
}
