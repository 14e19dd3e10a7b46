//! A host cut off from the others stops serving its endpoints before another host could take
//! its primaries over.
//!
//! Every host serves every endpoint, so a host cut off from the others would otherwise go on
//! sending its clients' writes to a primary that the leader, on the other side, replaces
//! with a replica: two primaries taking writes for one shard. The rule that prevents it is a
//! pair of clocks:
//!
//! - this host keeps two proofs of contact, each counted from when its question was *sent*:
//!   the last probe a quorum of etcd answered (`ferrocache_etcd::contact`), and the last beat
//!   of its event stream the leading host said it heard (`server`; the leading host itself
//!   has that contact while it leads). [`SELF_FENCE_AFTER`] after the later of the two
//!   without a newer one, it is *fenced* — its router drops every connection and takes no new
//!   one until contact is proven again;
//! - the leader counts from the last line it heard from the host and takes a silent host's
//!   nodes for gone only [`SILENT_HOST_LOST_AFTER`] later (`client`), longer than the fence
//!   by more than a beat's interval and a margin for timers.
//!
//! Either proof alone keeps the endpoints serving: an etcd election (no quorum answers for a
//! second or two) changes nothing while the leader hears the host, and the leading host's
//! death changes nothing while etcd answers — no other host promotes a replica before a new
//! leader's lease, and that leader hears the host before it acts.
//!
//! A host alone in its store (no other host registered in its copy) is never fenced: nobody
//! can promote a replica of its primaries, and a single host keeps serving through an etcd
//! outage, as one host always has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_model::host::HostRecord;
use ferrocache_store::{view, ReadExt, Store};
use tokio::sync::watch;
use tokio::time::Instant;

/// Time without an answer from a quorum after which a host with company stops serving its
/// endpoints.
pub const SELF_FENCE_AFTER: Duration = Duration::from_millis(1000);

/// Silence on a host's event stream after which the leader takes the host's nodes for gone
/// (and fails its primaries over): [`SELF_FENCE_AFTER`], plus one beat interval (the beat
/// heard last may be older than the host's last answer from etcd), plus a margin for timers
/// that fire late on a busy machine.
pub const SILENT_HOST_LOST_AFTER: Duration = Duration::from_millis(1600);

/// The next proof of contact from `source`; none, once its sender is gone.
async fn proof(source: &mut watch::Receiver<Option<Instant>>) {
    if source.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether other hosts than `own` are registered in `store` (one of them could lead and
/// replace this host's primaries).
fn has_company(store: &dyn Store, own: &str) -> bool {
    view(store, |r| {
        Ok::<_, ferrocache_store::StoreError>(
            r.docs::<HostRecord>("")?
                .into_iter()
                .any(|(_, host)| host.name != own),
        )
    })
    .unwrap_or(true)
}

/// Follows `quorum` (when the last probe a quorum of etcd answered was sent; the probe is
/// asked for, through `probe_wanted`, only while other hosts are registered) and `leader`
/// (when the last beat the leading host heard was sent) and says whether this host, `own` in
/// `store`, is fenced: the receiver turns `true` [`SELF_FENCE_AFTER`] after the later of the
/// two while other hosts are registered, and `false` at the next proof of either; and `true`
/// for good once `stopping` turns true (a stopping host's agent ends its event stream, and
/// the leader fails its primaries over at once). The task ends when every receiver is
/// dropped.
pub fn follow_contact(
    store: Arc<dyn Store>,
    own: String,
    mut quorum: watch::Receiver<Option<Instant>>,
    mut leader: watch::Receiver<Option<Instant>>,
    mut stopping: watch::Receiver<bool>,
    probe_wanted: Arc<AtomicBool>,
) -> watch::Receiver<bool> {
    let (fenced, receiver) = watch::channel(false);
    // The store was just read whole to open it: that counts as touch.
    let started = Instant::now();
    // When other hosts appeared (the probe starts then): a proof is given a moment to come.
    let mut company_since = started;
    let mut had_company = true;
    tokio::spawn(async move {
        loop {
            if *stopping.borrow_and_update() {
                fenced.send_replace(true);
                return;
            }
            let was_fenced = *fenced.borrow();
            let quorum_last = quorum.borrow_and_update().unwrap_or(started);
            let leader_last = leader.borrow_and_update().unwrap_or(started);
            // Serving, either proof keeps it so; fenced, only a quorum's answer ends it — it
            // comes with a copy of the store holding every commit made meanwhile (a failover
            // the leader made while this host was away), which the leader's hearing does not.
            let last = match was_fenced {
                false => quorum_last.max(leader_last),
                true => quorum_last,
            };
            let company = has_company(store.as_ref(), &own);
            probe_wanted.store(company, Ordering::Relaxed);
            if company && !had_company {
                company_since = Instant::now();
            }
            had_company = company;
            let last = last.max(company_since);
            let fence_at = last + SELF_FENCE_AFTER;
            let now_fenced = Instant::now() >= fence_at && company;
            fenced.send_if_modified(|f| std::mem::replace(f, now_fenced) != now_fenced);
            match (was_fenced, now_fenced) {
                (false, true) => tracing::error!(
                    silence = ?last.elapsed(),
                    "neither a quorum of the store nor the leading host heard from: this host's endpoints stop serving (another host may take its primaries over)"
                ),
                (true, false) => {
                    tracing::info!("in touch again: this host's endpoints serve")
                }
                _ => {}
            }
            // Fenced: only a proof changes that. Out of touch but alone: look for
            // company again a while later (a host may have registered meanwhile).
            let now = Instant::now();
            let wake_at = match (now_fenced, now < fence_at) {
                (true, _) => None,
                (false, true) => Some(fence_at),
                (false, false) => Some(now + SELF_FENCE_AFTER),
            };
            let wait_fence = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = proof(&mut quorum) => {}
                () = proof(&mut leader) => {}
                changed = stopping.changed() => if changed.is_err() { return },
                () = wait_fence => {}
                () = fenced.closed() => return,
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_store::{update, RedbStore, WriteExt};

    fn store_of(hosts: &[&str]) -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("s.redb")).unwrap());
        update(store.as_ref(), |w| {
            for name in hosts {
                w.put_doc(name, &host(name))?;
            }
            Ok::<_, ferrocache_store::StoreError>(())
        })
        .unwrap();
        (dir, store)
    }

    fn host(name: &str) -> HostRecord {
        HostRecord {
            name: name.into(),
            zone: "us-east-1a".into(),
            address: "10.0.0.1".into(),
            data_dir: "/d".into(),
            registered: "2026-12-07T00:00:00Z".into(),
            version: "0".into(),
            agent: None,
            memory: None,
        }
    }

    /// Host "a"'s fence over `store`: the senders of its quorum proofs, its leader proofs and
    /// its stop, and the fence.
    struct Followed {
        confirm: watch::Sender<Option<Instant>>,
        hear: watch::Sender<Option<Instant>>,
        stop: watch::Sender<bool>,
        fenced: watch::Receiver<bool>,
    }

    fn follow(store: Arc<dyn Store>) -> Followed {
        let (confirm, quorum) = watch::channel(Some(Instant::now()));
        let (hear, leader) = watch::channel(None);
        let (stop, stopping) = watch::channel(false);
        let fenced = follow_contact(
            store,
            "a".into(),
            quorum,
            leader,
            stopping,
            Arc::new(AtomicBool::new(false)),
        );
        Followed {
            confirm,
            hear,
            stop,
            fenced,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_with_company_is_fenced_without_contact_and_serves_again_with_it() {
        let (_dir, store) = store_of(&["a", "b"]);
        let Followed {
            confirm,
            hear,
            stop: _stop,
            mut fenced,
        } = follow(store);
        assert!(!*fenced.borrow_and_update());
        tokio::time::sleep(SELF_FENCE_AFTER / 2).await;
        confirm.send_replace(Some(Instant::now()));
        tokio::time::sleep(SELF_FENCE_AFTER * 3 / 4).await;
        assert!(!*fenced.borrow(), "contact renewed half-way: still serving");
        // The leader hears the host while etcd does not answer: still serving.
        hear.send_replace(Some(Instant::now()));
        tokio::time::sleep(SELF_FENCE_AFTER * 3 / 4).await;
        assert!(
            !*fenced.borrow(),
            "the leader heard the host: still serving"
        );
        fenced.changed().await.unwrap();
        assert!(
            *fenced.borrow_and_update(),
            "no contact for the whole time: fenced"
        );
        // Fenced, the leader's hearing alone does not end it (the copy may be stale).
        hear.send_replace(Some(Instant::now()));
        tokio::time::sleep(SELF_FENCE_AFTER / 4).await;
        assert!(
            *fenced.borrow(),
            "the leader's hearing alone lifts no fence"
        );
        confirm.send_replace(Some(Instant::now()));
        fenced.changed().await.unwrap();
        assert!(!*fenced.borrow());
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_alone_is_never_fenced() {
        let (_dir, store) = store_of(&["a"]);
        let Followed {
            confirm: _confirm,
            hear: _hear,
            stop,
            mut fenced,
        } = follow(store);
        tokio::time::sleep(SELF_FENCE_AFTER * 5).await;
        assert!(!*fenced.borrow());
        stop.send_replace(true);
        fenced.changed().await.unwrap();
        assert!(*fenced.borrow(), "a stopping host is fenced");
    }
}
