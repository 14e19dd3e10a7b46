//! [`RedbStore`]: the embedded single-file backend (redb), the default for one host.
//!
//! redb gives serializable write transactions (one writer at a time) and snapshot reads, which is
//! exactly the [`Store`] contract; every commit is durable before `update` returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError, TableHandle};
use tokio::sync::{broadcast, watch};

use crate::reserve::Reserve;
use crate::{Change, Commit, Reader, Store, StoreError, Writer, CHANGE_FEED_CAPACITY};

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// What a failed redb call means for the store.
enum Failure {
    /// The call failed on I/O: redb refuses every later transaction of this `Database`
    /// ("Previous I/O error occurred"), so it must be opened again. `no_space` when the file
    /// system was full.
    Io { no_space: bool, message: String },
    /// Anything else (a missing table, a value too large, corruption).
    Other(String),
}

fn classify(e: impl Into<redb::Error>) -> Failure {
    let e: redb::Error = e.into();
    match &e {
        redb::Error::Io(io) => Failure::Io {
            no_space: matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            message: e.to_string(),
        },
        redb::Error::PreviousIo => Failure::Io {
            no_space: false,
            message: e.to_string(),
        },
        _ => Failure::Other(e.to_string()),
    }
}

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

/// The embedded store: one redb file.
///
/// An I/O error (a full disk, a failed write) poisons a redb `Database`: it refuses every later
/// transaction. The store then closes it and opens the file again (redb repairs it to the last
/// commit), at once or, if that fails too, on the next call — so a failed write never leaves
/// the control plane wedged, and once space is back everything resumes by itself.
pub struct RedbStore {
    /// The store file.
    path: PathBuf,
    /// The open database; `None` while it could not be opened again after an I/O error. Every
    /// transaction holds the read side; reopening takes the write side (no transaction runs).
    db: RwLock<Option<Database>>,
    /// Publishes the revision after each commit; the receiver side is handed out by `subscribe`.
    revision: watch::Sender<u64>,
    /// Publishes every commit with its changes; receivers are handed out by `watch`.
    feed: broadcast::Sender<Arc<Commit>>,
    /// Held from the start of a write transaction until its commit is published, so commits
    /// reach the feed in the order they were made (redb serializes writers too; this only
    /// extends that to the publication).
    writer: std::sync::Mutex<()>,
    /// Headroom given back when a commit finds the disk full.
    reserve: Reserve,
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
                Err(e @ redb::DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open {}: {e} (is another ferrocache using this --data-dir?)",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open {}: {e}",
                        path.display()
                    )))
                }
            }
        };
        Ok(Self {
            reserve: Reserve::beside(path),
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            revision: watch::Sender::new(0),
            feed: broadcast::Sender::new(CHANGE_FEED_CAPACITY),
            writer: std::sync::Mutex::new(()),
        })
    }
}

impl RedbStore {
    /// Every document of every table, as `(table, key, value)`: the whole state, to copy it
    /// into another store.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn documents(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let guard = self.database()?;
        let db = guard.as_ref().expect("database() returns an open database");
        let txn = db.begin_read().map_err(backend)?;
        let mut out = Vec::new();
        for handle in txn.list_tables().map_err(backend)? {
            let name = handle.name().to_string();
            let t = txn.open_table(table(&name)).map_err(backend)?;
            for entry in t.iter().map_err(backend)? {
                let (k, v) = entry.map_err(backend)?;
                out.push((name.clone(), k.value().to_string(), v.value().to_vec()));
            }
        }
        Ok(out)
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
        collect_prefix(t.range(prefix..).map_err(backend)?, prefix, usize::MAX)
    }

    fn scan_from(
        &self,
        name: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = match self.txn.open_table(table(name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(backend(e)),
        };
        let start = if from > prefix { from } else { prefix };
        collect_prefix(t.range(start..).map_err(backend)?, prefix, limit)
    }

    fn count(&self, name: &str, prefix: &str) -> Result<usize, StoreError> {
        let t = match self.txn.open_table(table(name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(backend(e)),
        };
        count_prefix(t.range(prefix..).map_err(backend)?, prefix)
    }
}

fn count_prefix(
    range: redb::Range<'_, &'static str, &'static [u8]>,
    prefix: &str,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for entry in range {
        let (k, _) = entry.map_err(backend)?;
        if !k.value().starts_with(prefix) {
            break;
        }
        n += 1;
    }
    Ok(n)
}

fn collect_prefix(
    range: redb::Range<'_, &'static str, &'static [u8]>,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for entry in range {
        if out.len() >= limit {
            break;
        }
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
    /// What the transaction changed, in first-write order; empty for a transaction that only
    /// read, which then commits nothing and wakes no subscriber (reconcilers that found
    /// nothing to do must not wake each other).
    changes: Vec<Change>,
    /// Position in `changes` of each `(table, key)` written, so a key written twice is one
    /// change.
    positions: HashMap<(String, String), usize>,
}

impl WriteSide<'_> {
    /// Records that `(name, key)` went from `old` to `new`.
    fn record(&mut self, name: &str, key: &str, old: Option<Vec<u8>>, new: Option<Vec<u8>>) {
        match self.positions.get(&(name.to_string(), key.to_string())) {
            Some(&i) => self.changes[i].new = new,
            None => {
                self.positions
                    .insert((name.to_string(), key.to_string()), self.changes.len());
                self.changes.push(Change {
                    table: name.to_string(),
                    key: key.to_string(),
                    old,
                    new,
                });
            }
        }
    }
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
        let out = collect_prefix(range, prefix, usize::MAX);
        out
    }

    fn scan_from(
        &self,
        name: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.txn.open_table(table(name)).map_err(backend)?;
        let start = if from > prefix { from } else { prefix };
        let range = t.range(start..).map_err(backend)?;
        #[allow(clippy::let_and_return)]
        let out = collect_prefix(range, prefix, limit);
        out
    }

    fn count(&self, name: &str, prefix: &str) -> Result<usize, StoreError> {
        let t = self.txn.open_table(table(name)).map_err(backend)?;
        let range = t.range(prefix..).map_err(backend)?;
        #[allow(clippy::let_and_return)]
        let out = count_prefix(range, prefix);
        out
    }
}

impl Writer for WriteSide<'_> {
    fn put(&mut self, name: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let old = {
            let mut t = self.txn.open_table(table(name)).map_err(backend)?;
            let old = t
                .insert(key, value)
                .map_err(backend)?
                .map(|v| v.value().to_vec());
            old
        };
        if old.as_deref() != Some(value) {
            self.record(name, key, old, Some(value.to_vec()));
        }
        Ok(())
    }

    fn delete(&mut self, name: &str, key: &str) -> Result<bool, StoreError> {
        let old = {
            let mut t = self.txn.open_table(table(name)).map_err(backend)?;
            let old = t.remove(key).map_err(backend)?.map(|v| v.value().to_vec());
            old
        };
        let existed = old.is_some();
        if existed {
            self.record(name, key, old, None);
        }
        Ok(existed)
    }
}

impl RedbStore {
    /// The open database (opened again first if an I/O error closed it).
    fn database(&self) -> Result<RwLockReadGuard<'_, Option<Database>>, StoreError> {
        {
            let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
            if guard.is_some() {
                return Ok(guard);
            }
        }
        self.reopen();
        let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
        match guard.is_some() {
            true => Ok(guard),
            false => Err(StoreError::Backend(format!(
                "{} cannot be opened again after an I/O error",
                self.path.display()
            ))),
        }
    }

    /// Closes the database and opens its file again (redb recovers the last commit); leaves it
    /// closed when that fails, for the next call to try again.
    fn reopen(&self) {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        *slot = None;
        match Database::create(&self.path) {
            Ok(db) => {
                tracing::warn!(path = %self.path.display(), "store reopened after an I/O error");
                *slot = Some(db);
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "store cannot be reopened yet");
            }
        }
    }

    /// The error a failed redb call is, reopening the database when it failed on I/O. Call with
    /// no transaction open (the guard dropped).
    fn failed(&self, failure: Failure) -> StoreError {
        match failure {
            Failure::Io { no_space, message } => {
                tracing::warn!(path = %self.path.display(), %message, "store write failed");
                self.reopen();
                if no_space {
                    StoreError::NoSpace {
                        path: self.path.display().to_string(),
                        message,
                    }
                } else {
                    StoreError::Backend(message)
                }
            }
            Failure::Other(message) => StoreError::Backend(message),
        }
    }
}

impl Store for RedbStore {
    fn view(
        &self,
        f: &mut dyn FnMut(&dyn Reader) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let guard = self.database()?;
        let db = guard.as_ref().expect("database() returns an open database");
        let txn = match db.begin_read() {
            Ok(txn) => txn,
            Err(e) => {
                let failure = classify(e);
                drop(guard);
                return Err(self.failed(failure));
            }
        };
        f(&ReadSide { txn: &txn })
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        // A poisoned lock only means a closure panicked mid-transaction (which redb rolled
        // back): nothing it guards is inconsistent.
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match self.attempt(f) {
            // The disk is full: the reserve makes room once, and the transaction runs again.
            Err(StoreError::NoSpace { .. }) if self.reserve.release() => self.attempt(f),
            Ok(revision) => {
                self.reserve.restore();
                Ok(revision)
            }
            other => other,
        }
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    fn watch(&self) -> broadcast::Receiver<Arc<Commit>> {
        self.feed.subscribe()
    }

    fn headroom_in_place(&self) -> bool {
        if !self.reserve.in_place() {
            // Under the writer's lock: a commit may be giving the reserve back right now.
            let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            self.reserve.restore();
        }
        self.reserve.in_place()
    }
}

impl RedbStore {
    /// One write transaction running `f`, committed (and published) when it changed anything.
    /// The caller holds the writer lock.
    fn attempt(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let guard = self.database()?;
        let db = guard.as_ref().expect("database() returns an open database");
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let failure = classify(e);
                drop(guard);
                return Err(self.failed(failure));
            }
        };
        let mut side = WriteSide {
            txn: &txn,
            changes: Vec::new(),
            positions: HashMap::new(),
        };
        let outcome = f(&mut side);
        // A key put back to its first value within the transaction changed nothing.
        let changes: Vec<Change> = std::mem::take(&mut side.changes)
            .into_iter()
            .filter(|c| c.old != c.new)
            .collect();
        match outcome {
            Ok(()) if changes.is_empty() => {
                txn.abort().map_err(backend)?;
                Ok(*self.revision.borrow())
            }
            Ok(()) => {
                if let Err(e) = txn.commit() {
                    let failure = classify(e);
                    drop(guard);
                    return Err(self.failed(failure));
                }
                // Still under the writer lock: feed subscribers see commits in commit order.
                let mut next = 0;
                self.revision.send_modify(|r| {
                    *r += 1;
                    next = *r;
                    let _ = self.feed.send(Arc::new(Commit {
                        revision: next,
                        changes,
                    }));
                });
                Ok(next)
            }
            Err(e) => {
                txn.abort().map_err(backend)?;
                Err(e)
            }
        }
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

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Member {
        group: String,
    }
    impl crate::Doc for Member {
        const TABLE: &'static str = "test_member";
        const INDEXED: bool = true;
        fn index_keys(&self) -> Vec<(&'static str, String)> {
            vec![("test_member_by_group", self.group.clone())]
        }
    }

    /// Goal: the change feed publishes each commit once, in order, with every changed document's
    /// old and new value (a key written twice in one transaction appears once; a rewrite to the
    /// same bytes and a read-only transaction publish nothing).
    #[test]
    fn change_feed_carries_old_and_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        let mut feed = store.watch();
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("a", &Counter(1))?;
            w.put_doc("a", &Counter(2))?;
            w.put_doc("b", &Counter(5))
        })
        .unwrap();
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("b", &Counter(5))?; // same bytes: no change
            w.delete_doc::<Counter>("a")?;
            Ok(())
        })
        .unwrap();
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("b", &Counter(5))
        })
        .unwrap();
        let first = feed.try_recv().unwrap();
        assert_eq!(first.revision, 1);
        let keys: Vec<_> = first.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(first.changes[0].old, None);
        assert_eq!(first.changes[0].new_doc::<Counter>().unwrap().0, 2);
        let second = feed.try_recv().unwrap();
        assert_eq!(second.revision, 2);
        assert_eq!(second.changes.len(), 1);
        assert_eq!(second.changes[0].old_doc::<Counter>().unwrap().0, 2);
        assert_eq!(second.changes[0].new, None);
        assert!(
            feed.try_recv().is_err(),
            "nothing changed in the third transaction"
        );
    }

    /// Goal: indexes follow their documents through puts that move them and deletes, and
    /// `docs_from` pages without reading past its limit.
    #[test]
    fn indexes_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
        let g = |s: &str| Member { group: s.into() };
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("r/n1", &g("r/g1"))?;
            w.put_doc("r/n2", &g("r/g1"))?;
            w.put_doc("r/n3", &g("r/g10"))
        })
        .unwrap();
        let lookup = |k: &str| view(&store, |r| r.lookup("test_member_by_group", k)).unwrap();
        assert_eq!(lookup("r/g1"), ["r/n1", "r/n2"]);
        let count = view(&store, |r| r.lookup_count("test_member_by_group", "r/g1")).unwrap();
        assert_eq!(count, 2);
        assert_eq!(lookup("r/g10"), ["r/n3"]);
        update(&store, |w| -> Result<(), StoreError> {
            w.put_doc("r/n2", &g("r/g10"))?;
            w.delete_doc::<Member>("r/n1")?;
            Ok(())
        })
        .unwrap();
        assert!(lookup("r/g1").is_empty());
        assert_eq!(lookup("r/g10"), ["r/n2", "r/n3"]);
        let page = view(&store, |r| r.docs_from::<Member>("r/", "r/n2", 1)).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].0, "r/n2");
        let all = view(&store, |r| r.docs_from::<Member>("r/", "", 10)).unwrap();
        assert_eq!(all.len(), 2);
    }
}
