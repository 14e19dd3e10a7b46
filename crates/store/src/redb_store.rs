//! [`RedbStore`]: the embedded single-file backend (redb), the default for one host.
//!
//! redb gives serializable write transactions (one writer at a time) and snapshot reads, which is
//! exactly the [`Store`] contract; every commit is durable before `update` returns.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use tokio::sync::watch;

use crate::{Reader, Store, StoreError, Writer};

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

/// The embedded store: one redb file.
pub struct RedbStore {
    /// The database file.
    db: Database,
    /// Publishes the revision after each commit; the receiver side is handed out by `subscribe`.
    revision: watch::Sender<u64>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("revision", &*self.revision.borrow())
            .finish()
    }
}

/// How long [`RedbStore::open`] waits for another process's lock on the file to go.
pub const STORE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often [`RedbStore::open`] tries again meanwhile.
const STORE_LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl RedbStore {
    /// Opens (or creates) the store file at `path`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened, e.g. another Ferrocache holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // The file lock of a Ferrocache that was just killed can outlive it briefly: a node
        // process it forked but had not yet `exec`ed shares the open file (and its lock) until
        // the exec closes it. So a held lock is waited for, boundedly, before giving up.
        let deadline = std::time::Instant::now() + STORE_LOCK_WAIT;
        let db = loop {
            match Database::create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(STORE_LOCK_POLL);
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open {}: {e} (is another ferrocache using this --data-dir?)",
                        path.display()
                    )))
                }
            }
        };
        Ok(Self {
            db,
            revision: watch::Sender::new(0),
        })
    }
}

struct ReadSide<'a> {
    txn: &'a redb::ReadTransaction,
}

impl Reader for ReadSide<'_> {
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = match self.txn.open_table(table(name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn scan(&self, name: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = match self.txn.open_table(table(name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        collect_prefix(t.range(prefix..).map_err(backend)?, prefix)
    }
}

fn collect_prefix(
    range: redb::Range<'_, &'static str, &'static [u8]>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for entry in range {
        let (k, v) = entry.map_err(backend)?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        out.push((k.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

struct WriteSide<'a> {
    txn: &'a redb::WriteTransaction,
    /// Whether anything was put or deleted: a transaction that only read commits nothing and
    /// wakes no subscriber (reconcilers that found nothing to do must not wake each other).
    wrote: bool,
}

impl Reader for WriteSide<'_> {
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.txn.open_table(table(name)).map_err(backend)?;
        let value = t.get(key).map_err(backend)?.map(|v| v.value().to_vec());
        Ok(value)
    }

    fn scan(&self, name: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.txn.open_table(table(name)).map_err(backend)?;
        let range = t.range(prefix..).map_err(backend)?;
        // Bound to a local so the range (which borrows `t`) is dropped before `t`.
        #[allow(clippy::let_and_return)]
        let out = collect_prefix(range, prefix);
        out
    }
}

impl Writer for WriteSide<'_> {
    fn put(&mut self, name: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(table(name)).map_err(backend)?;
        t.insert(key, value).map_err(backend)?;
        self.wrote = true;
        Ok(())
    }

    fn delete(&mut self, name: &str, key: &str) -> Result<bool, StoreError> {
        let mut t = self.txn.open_table(table(name)).map_err(backend)?;
        let existed = t.remove(key).map_err(backend)?.is_some();
        self.wrote |= existed;
        Ok(existed)
    }
}

impl Store for RedbStore {
    fn view(
        &self,
        f: &mut dyn FnMut(&dyn Reader) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        f(&ReadSide { txn: &txn })
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let mut side = WriteSide {
            txn: &txn,
            wrote: false,
        };
        let outcome = f(&mut side);
        let wrote = side.wrote;
        match outcome {
            Ok(()) if !wrote => {
                txn.abort().map_err(backend)?;
                Ok(*self.revision.borrow())
            }
            Ok(()) => {
                txn.commit().map_err(backend)?;
                let mut next = 0;
                self.revision.send_modify(|r| {
                    *r += 1;
                    next = *r;
                });
                Ok(next)
            }
            Err(e) => {
                txn.abort().map_err(backend)?;
                Err(e)
            }
        }
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::Counter;
    use crate::{update, view, ReadExt, WriteExt};

    #[derive(Debug, PartialEq)]
    enum DomainError {
        Exists,
        Store,
    }
    impl From<StoreError> for DomainError {
        fn from(_: StoreError) -> Self {
            DomainError::Store
        }
    }

    /// Goal: a domain error inside `update` rolls the whole transaction back, a success commits
    /// and wakes subscribers; prefix scans return keys in order and stop at the prefix.
    #[test]
    fn transactions_commit_roll_back_and_notify() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        let mut rx = store.subscribe();
        update(&store, |w| -> Result<(), DomainError> {
            w.put_doc("us-east-1/b", &Counter(2))?;
            w.put_doc("us-east-1/a", &Counter(1))?;
            w.put_doc("us-west-2/a", &Counter(9))?;
            Ok(())
        })
        .unwrap();
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        let err = update(&store, |w| -> Result<(), DomainError> {
            w.put_doc("us-east-1/c", &Counter(3))?;
            Err(DomainError::Exists)
        });
        assert_eq!(err, Err(DomainError::Exists));
        assert!(!rx.has_changed().unwrap());
        let listed = view(&store, |r| r.docs::<Counter>("us-east-1/")).unwrap();
        let keys: Vec<_> = listed.iter().map(|(k, c)| (k.as_str(), c.0)).collect();
        assert_eq!(keys, [("us-east-1/a", 1), ("us-east-1/b", 2)]);
        let missing: Option<Counter> = view(&store, |r| r.doc::<Counter>("nope")).unwrap();
        assert!(missing.is_none());
        // A transaction that only reads changes nothing and wakes nobody.
        update(&store, |w| -> Result<(), DomainError> {
            Ok(w.doc::<Counter>("us-east-1/a").map(|_| ())?)
        })
        .unwrap();
        assert!(!rx.has_changed().unwrap());
    }

    /// Goal: state survives closing and reopening the file.
    #[test]
    fn reopen_keeps_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            update(&store, |w| -> Result<(), StoreError> {
                w.put_doc("k", &Counter(7))
            })
            .unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let c: Option<Counter> = view(&store, |r| r.doc("k")).unwrap();
        assert_eq!(c.unwrap().0, 7);
    }
}
