//! Leadership of a store in etcd: exactly one process acts on a store at a time.
//!
//! The leader holds the key `<prefix>/.leader`, created in a transaction that succeeds only if
//! the key does not exist, and bound to a lease the leader keeps alive. Every store transaction
//! of the leader also checks that the key still has the creation revision it had when the
//! leader took it (the fence), so a process that lost the key can never commit again, whatever
//! its clocks or its threads believe. And the leader stops acting on its own before its lease
//! could have expired in etcd: it measures the lease from the moment it *sent* each renewal
//! (etcd measures from when it received it, later), and calls its `on_lost` a margin before
//! then; only after the lease expires can another process create the key.
//!
//! A process that finds the key held waits, trying again every so often, until the holder
//! lets go or its lease runs out. A holder that names this very process (same `holder`
//! string: the previous run of this host and data directory, killed before it could let go)
//! is taken over at once by revoking its lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Compare, EtcdError, Op};
use crate::lease::{keep, Lapsed};
use crate::store::{backend, EtcdStore, Inner};
use ferrocache_store::StoreError;

/// How often a process waiting for leadership looks again.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// The key a leader holds, as every transaction of the leader checks it.
#[derive(Debug, Clone)]
pub struct Fence {
    /// `<prefix>/.leader`.
    pub key: Vec<u8>,
    /// Its creation revision when this process took it.
    pub create_revision: i64,
}

/// What the leadership key says.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Holder {
    holder: String,
    lease: i64,
}

/// Leadership held by this process; let go (the lease revoked) when dropped.
#[derive(Debug)]
pub struct Leadership {
    inner: Arc<Inner>,
    lease: i64,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Leadership {
    /// The lease the leadership lives by.
    pub fn lease(&self) -> i64 {
        self.lease
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(renewer) = self.renewer.take() {
            renewer.thread().unpark();
            let _ = renewer.join();
        }
        depose(&self.inner);
        if let Err(e) = self.inner.etcd.revoke(self.lease) {
            tracing::warn!(error = %e, "could not let go of the store's leadership");
        }
    }
}

impl EtcdStore {
    /// Who leads the store now, as its leadership key says (`None`: nobody).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] and the like when etcd does not answer.
    pub fn leader(&self) -> Result<Option<String>, StoreError> {
        self.inner.leader_holder()
    }

    /// Takes the store's leadership for `holder` (a name that identifies this host and data
    /// directory), waiting while another holds it, and keeps it with a lease of `ttl` seconds.
    /// `on_lost` runs (once, from another thread) when it can no longer be sure it still
    /// holds it: it must stop every action at once.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when etcd cannot be reached.
    pub fn lead(
        &self,
        holder: &str,
        ttl: i64,
        on_lost: Box<dyn FnOnce(String) + Send>,
    ) -> Result<Leadership, StoreError> {
        self.lead_unless(
            holder,
            ttl,
            on_lost,
            &std::sync::atomic::AtomicBool::new(false),
        )
    }

    /// [`EtcdStore::lead`], giving up the wait once `given_up` is set (a host stopped while it
    /// waited must not take the leadership afterwards).
    ///
    /// # Errors
    /// As [`EtcdStore::lead`]; [`StoreError::Fenced`] once `given_up` is set.
    pub fn lead_unless(
        &self,
        holder: &str,
        ttl: i64,
        on_lost: Box<dyn FnOnce(String) + Send>,
        given_up: &std::sync::atomic::AtomicBool,
    ) -> Result<Leadership, StoreError> {
        let inner = &self.inner;
        let key = inner.leader_key();
        let mut waiting_for: Option<String> = None;
        loop {
            let current = inner.etcd.get(&key).map_err(backend)?;
            if let Some(kv) = current.kvs.first() {
                let held: Option<Holder> = serde_json::from_slice(&kv.value).ok();
                match held {
                    Some(held) if held.holder == holder => {
                        tracing::info!(
                            lease = held.lease,
                            "taking over the store's leadership from this host's previous run"
                        );
                        inner.etcd.revoke(held.lease).or_else(ignore_gone)?;
                    }
                    other => {
                        let name = other.map_or_else(|| "?".to_string(), |h| h.holder);
                        if waiting_for.as_deref() != Some(&name) {
                            tracing::warn!(leader = %name, "another process leads the store; waiting for it to let go");
                            waiting_for = Some(name);
                        }
                        std::thread::sleep(WAIT_POLL);
                        if given_up.load(std::sync::atomic::Ordering::Acquire) {
                            return Err(StoreError::Fenced("stopped while waiting to lead".into()));
                        }
                    }
                }
                continue;
            }
            let sent = Instant::now();
            let lease = inner.etcd.grant(ttl).map_err(backend)?;
            let value = serde_json::to_vec(&Holder {
                holder: holder.to_string(),
                lease: lease.id,
            })
            .map_err(|e| StoreError::Backend(e.to_string()))?;
            let taken = inner
                .etcd
                .txn(
                    &[Compare::CreateRevision(key.clone(), 0)],
                    &[Op::PutLeased(key.clone(), value, lease.id)],
                )
                .map_err(backend)?;
            if !taken.succeeded {
                inner.etcd.revoke(lease.id).or_else(ignore_gone)?;
                continue;
            }
            let fence = Fence {
                key: key.clone(),
                create_revision: taken.header.revision,
            };
            *inner.fence.write().unwrap_or_else(|p| p.into_inner()) = Some(fence);
            let stop = Arc::new(AtomicBool::new(false));
            let renewer = {
                let (inner, stop) = (Arc::clone(inner), Arc::clone(&stop));
                let valid_until = sent + Duration::from_secs(lease.ttl.max(1).unsigned_abs());
                std::thread::Builder::new()
                    .name("etcd-lease".into())
                    .spawn(move || {
                        if let Lapsed::Lost(why) =
                            keep(&inner.etcd, lease.id, ttl, valid_until, &stop)
                        {
                            depose(&inner);
                            on_lost(format!("the store's leadership lapsed: {why}"));
                        }
                    })
                    .map_err(|e| {
                        StoreError::Backend(format!("cannot start the lease renewer: {e}"))
                    })?
            };
            tracing::info!(lease = lease.id, ttl, "leading the store");
            return Ok(Leadership {
                inner: Arc::clone(inner),
                lease: lease.id,
                stop,
                renewer: Some(renewer),
            });
        }
    }
}

/// The fence's creation revision once the leadership lapsed: no key was ever created at it.
pub(crate) const DEPOSED: i64 = -1;

/// From now on every transaction of this process fails (at once, without asking etcd) until
/// it leads again.
fn depose(inner: &Inner) {
    if let Some(fence) = inner
        .fence
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
    {
        fence.create_revision = DEPOSED;
    }
}

impl Inner {
    /// `<prefix>/.leader`.
    fn leader_key(&self) -> Vec<u8> {
        format!("{}.leader", self.key_prefix).into_bytes()
    }

    /// The holder named by the leadership key (`None`: nobody leads).
    pub(crate) fn leader_holder(&self) -> Result<Option<String>, StoreError> {
        let answer = self.etcd.get(&self.leader_key()).map_err(backend)?;
        Ok(answer.kvs.first().map(|kv| {
            serde_json::from_slice::<Holder>(&kv.value)
                .map_or_else(|_| "?".to_string(), |h| h.holder)
        }))
    }
}

fn ignore_gone(e: EtcdError) -> Result<(), StoreError> {
    match e {
        EtcdError::Refused { ref message, .. } if message.contains("lease not found") => Ok(()),
        other => Err(backend(other)),
    }
}
