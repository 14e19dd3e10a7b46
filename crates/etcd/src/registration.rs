//! [`Registration`]: a document that exists while its process runs — a host's record
//! (`ferrocache up --host-name …`). It is bound to a lease the process keeps alive, so it
//! disappears by itself within the lease's time to live when the process dies or is cut off
//! from etcd; when etcd answers again, it is written again.
//!
//! A registration is a fact, not a decision: it is written outside the serializable
//! transactions (no comparison), and its expiry is etcd's own delete. Whoever reads it (which
//! hosts are up) reads what etcd said last.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_store::{Doc, StoreError};

use crate::client::Op;
use crate::lease::{keep, Lapsed};
use crate::store::{backend, EtcdStore, Inner};

/// How long to wait before writing a lapsed registration again.
const REGISTER_AGAIN_RETRY: Duration = Duration::from_secs(1);

/// A registered document; deleted (its lease revoked) when dropped.
#[derive(Debug)]
pub struct Registration {
    inner: Arc<Inner>,
    lease: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

/// How long dropping a registration waits for etcd to withdraw it: a process cut off from
/// etcd stops without it (the record expires with its lease).
const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let keeper = self.keeper.take();
        let (inner, lease) = (self.inner.clone(), self.lease.clone());
        let (done, withdrawn) = std::sync::mpsc::channel::<()>();
        // On a thread of its own: the keeper may be inside a call to an etcd that does not
        // answer, and so may the revocation; neither holds the process's stop up for long.
        let withdraw = std::thread::Builder::new()
            .name("withdraw-registration".into())
            .spawn(move || {
                if let Some(keeper) = keeper {
                    keeper.thread().unpark();
                    let _ = keeper.join();
                }
                let lease = lease.load(Ordering::Relaxed);
                if lease != 0 {
                    if let Err(e) = inner.etcd.revoke(lease) {
                        tracing::warn!(error = %e, "could not withdraw a registration");
                    }
                }
                let _ = done.send(());
            });
        if withdraw.is_ok() && withdrawn.recv_timeout(WITHDRAW_WAIT).is_err() {
            tracing::warn!(
                "etcd did not withdraw this registration in time: it expires with its lease"
            );
        }
    }
}

impl Inner {
    /// Writes `value` at `(table, key)` bound to a new lease of `ttl` seconds; returns the
    /// lease and until when it holds at least.
    fn write_leased(
        &self,
        table: &str,
        key: &str,
        value: &[u8],
        ttl: i64,
    ) -> Result<(i64, Instant), StoreError> {
        let sent = Instant::now();
        let lease = self.etcd.grant(ttl).map_err(backend)?;
        let ops = [
            // Through the commit key, so that transactions which read the table run again.
            Op::Put(self.commit_key.clone().into_bytes(), self.next_commit_id()),
            Op::PutLeased(self.etcd_key(table, key), value.to_vec(), lease.id),
        ];
        self.etcd.txn(&[], &ops).map_err(backend)?;
        Ok((
            lease.id,
            sent + Duration::from_secs(lease.ttl.max(1).unsigned_abs()),
        ))
    }
}

impl EtcdStore {
    /// Registers `value` at `(table, key)` for as long as the returned [`Registration`] lives
    /// (a lease of `ttl` seconds, renewed; written again after it lapsed).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] and the like when etcd does not take the first write.
    pub fn register(
        &self,
        table: &str,
        key: &str,
        value: Vec<u8>,
        ttl: i64,
    ) -> Result<Registration, StoreError> {
        let inner = Arc::clone(&self.inner);
        let (first, valid_until) = inner.write_leased(table, key, &value, ttl)?;
        let lease = Arc::new(AtomicI64::new(first));
        let stop = Arc::new(AtomicBool::new(false));
        let keeper = {
            let (inner, lease, stop) = (Arc::clone(&inner), Arc::clone(&lease), Arc::clone(&stop));
            let (table, key) = (table.to_string(), key.to_string());
            std::thread::Builder::new()
                .name("etcd-registration".into())
                .spawn(move || {
                    let mut valid_until = valid_until;
                    loop {
                        let current = lease.load(Ordering::Relaxed);
                        match keep(&inner.etcd, current, ttl, valid_until, &stop) {
                            Lapsed::Stopped => return,
                            Lapsed::Lost(why) => tracing::warn!(%table, %key, %why, "a registration lapsed; writing it again"),
                        }
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            match inner.write_leased(&table, &key, &value, ttl) {
                                Ok((new, until)) => {
                                    lease.store(new, Ordering::Relaxed);
                                    valid_until = until;
                                    tracing::info!(%table, %key, "registered again");
                                    break;
                                }
                                Err(_) => std::thread::park_timeout(REGISTER_AGAIN_RETRY),
                            }
                        }
                    }
                })
                .map_err(|e| StoreError::Backend(format!("cannot start the registration keeper: {e}")))?
        };
        Ok(Registration {
            inner,
            lease,
            stop,
            keeper: Some(keeper),
        })
    }

    /// Registers document `doc` of kind `T` at `key`, as [`EtcdStore::register`].
    ///
    /// # Errors
    /// As [`EtcdStore::register`], or [`StoreError::Codec`].
    pub fn register_doc<T: Doc>(
        &self,
        key: &str,
        doc: &T,
        ttl: i64,
    ) -> Result<Registration, StoreError> {
        let value = serde_json::to_vec(doc).map_err(|e| StoreError::Codec {
            table: T::TABLE.to_string(),
            key: key.to_string(),
            message: e.to_string(),
        })?;
        self.register(T::TABLE, key, value, ttl)
    }
}
