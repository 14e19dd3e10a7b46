//! Where Ferrocache keeps its state: the [`Store`] trait and its embedded `redb` backend (one
//! host); the etcd backend, for a store shared by several processes or hosts, is the
//! `ferrocache-etcd` crate.
//!
//! Everything the control plane knows — each resource's spec, intent and observed facts, the
//! address book, the routes, events — lives in a store as JSON documents under `(table, key)`.
//! Writes happen in one atomic transaction per API call or reconcile step ([`update`]). Every
//! commit is published as a [`Commit`]: its revision and each document it changed, with the
//! value before and after ([`Store::watch`], like an etcd watch with `prev_kv`). That feed is
//! how the work queue learns which resources a change concerns, and how the data path learns
//! its routes — nothing has to re-read everything to find out what moved.
//!
//! The trait is object-safe and deliberately small (get, scan by prefix, put, delete inside a
//! serializable transaction) so that the etcd backend of the multi-host design can implement it
//! as an optimistic transaction retried on conflict.
//!
//! Secondary indexes ([`Doc::index_keys`]) are kept by the typed layer ([`WriteExt`]): every
//! `put_doc`/`delete_doc` of an indexed kind rewrites its index entries in the same
//! transaction, so an index can never disagree with its documents, and lookups such as "the
//! members of this shard" are one prefix scan instead of a scan of every node.
//!
//! # Layout
//! - [`redb_store`]: [`RedbStore`], the embedded default backend.
//! - [`reserve`]: headroom beside the store file, given back when the disk is full so the
//!   control plane's own writes still fit.
//! - [`tables`]: table names, keys and indexes of the model's documents.
//! - typed helpers in this file: [`Doc`], [`ReadExt`], [`WriteExt`], [`update`], [`view`];
//!   the change feed types [`Commit`] and [`Change`].
//!
//! # Dependency rules
//! Depends on `ferrocache-model` for document types; must not know about HTTP, Redis or the
//! router. Other backends live in crates of their own (`ferrocache-etcd`).

pub mod redb_store;
pub mod reserve;
pub mod tables;

use std::sync::Arc;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{broadcast, watch};

pub use redb_store::RedbStore;
pub use reserve::{free_bytes, space, Space};

/// A storage failure.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, …).
    #[error("store backend: {0}")]
    Backend(String),
    /// The store's file system is full (or over quota): nothing can be written until space is
    /// freed. Reads keep working; the store recovers by itself once a write fits again.
    #[error("no space left for the store at {path}: {message}")]
    NoSpace {
        /// The store file.
        path: String,
        /// The error as the system gave it.
        message: String,
    },
    /// A document could not be encoded or decoded.
    #[error("store document {table}/{key}: {message}")]
    Codec {
        /// Table of the document.
        table: String,
        /// Key of the document.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// The store cannot be reached now (every etcd member down or unreachable, or the cluster
    /// without a quorum): nothing can be written until it is back. Reads keep working.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// This process no longer leads the store (another took its leadership over): nothing
    /// was written, and it must stop acting.
    #[error("{0}")]
    Fenced(String),
    /// The transaction's closure asked to roll back (used by [`update`] to carry domain errors).
    #[error("transaction aborted")]
    Aborted,
}

/// Read access inside a transaction.
pub trait Reader {
    /// The raw document at `(table, key)`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// All documents of `table` whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// How many documents of `table` have a key starting with `prefix` (nothing is copied).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn count(&self, table: &str, prefix: &str) -> Result<usize, StoreError> {
        Ok(self.scan(table, prefix)?.len())
    }
    /// At most `limit` documents of `table` whose key starts with `prefix` and is not below
    /// `from`, in key order: one page of a listing, without reading the rest.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn scan_from(
        &self,
        table: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .scan(table, prefix)?
            .into_iter()
            .filter(|(k, _)| k.as_str() >= from)
            .take(limit)
            .collect())
    }
}

/// Write access inside a transaction.
pub trait Writer: Reader {
    /// Sets the document at `(table, key)`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn put(&mut self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes the document at `(table, key)`; true when it existed.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn delete(&mut self, table: &str, key: &str) -> Result<bool, StoreError>;
}

/// One document a commit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its table.
    pub table: String,
    /// Its key.
    pub key: String,
    /// The value before the commit (`None`: the document is new).
    pub old: Option<Vec<u8>>,
    /// The value after the commit (`None`: the document was deleted).
    pub new: Option<Vec<u8>>,
}

impl Change {
    /// The value before the commit, decoded as `T` (`None` when absent or of another shape).
    pub fn old_doc<T: Doc>(&self) -> Option<T> {
        self.old
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// The value after the commit, decoded as `T` (`None` when deleted or of another shape).
    pub fn new_doc<T: Doc>(&self) -> Option<T> {
        self.new
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// Whether the document is of kind `T` (by its table).
    pub fn is<T: Doc>(&self) -> bool {
        self.table == T::TABLE
    }
}

/// One committed transaction, as the change feed publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The store's revision after this commit (revisions grow by one per commit).
    pub revision: u64,
    /// Every document the transaction changed, once each (a key written twice appears once,
    /// with its first old and its last new value), in the order first written.
    pub changes: Vec<Change>,
}

/// How many commits the change feed keeps for a slow subscriber before it reports
/// [`broadcast::error::RecvError::Lagged`]; a lagging subscriber must then re-read what it
/// follows (as a Kubernetes watcher relists). The feed holds this many commits in memory
/// whatever its subscribers have read (a commit is a few kB), so it is a bound on memory too.
pub const CHANGE_FEED_CAPACITY: usize = 1024;

/// A transactional document store that tells subscribers about every commit.
pub trait Store: Send + Sync + 'static {
    /// Runs `f` against a consistent snapshot.
    ///
    /// # Errors
    /// What `f` returns, or a backend failure.
    fn view(
        &self,
        f: &mut dyn FnMut(&dyn Reader) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs `f` in a serializable write transaction and commits it if `f` succeeds and wrote
    /// something; returns the revision after it (unchanged, and no subscriber woken, when `f`
    /// only read).
    ///
    /// # Errors
    /// What `f` returns (nothing is written then), or a backend failure.
    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;
    /// A receiver of the latest committed revision; it changes after every commit.
    fn subscribe(&self) -> watch::Receiver<u64>;
    /// Every commit from now on, with the documents it changed (see [`Commit`]). Subscribe
    /// before reading what the feed is meant to keep current, so nothing falls in between.
    fn watch(&self) -> broadcast::Receiver<Arc<Commit>>;
    /// Whether the store's headroom for a full disk is in place (written again first if it is
    /// missing and there is room for it now). `false` means the disk filled up since, or has
    /// never had room for it. Stores without such headroom answer `true`.
    fn headroom_in_place(&self) -> bool {
        true
    }
}

/// A JSON document kind with its table.
pub trait Doc: Serialize + DeserializeOwned {
    /// The table documents of this kind live in.
    const TABLE: &'static str;
    /// Whether documents of this kind have secondary index entries ([`Doc::index_keys`]);
    /// only then does `put_doc` read the previous value to replace its entries.
    const INDEXED: bool = false;
    /// The secondary index entries of this document: `(index table, index key)`. The entry
    /// stored is `<index key>/<document key>` with the document key as its value, so
    /// [`ReadExt::lookup`] of an index key (or of any `/`-ended prefix of it) lists the
    /// documents.
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

fn decode<T: Doc>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Codec {
        table: T::TABLE.to_string(),
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// Typed reads.
pub trait ReadExt {
    /// The document of kind `T` at `key`.
    ///
    /// # Errors
    /// Backend or decode failures.
    fn doc<T: Doc>(&self, key: &str) -> Result<Option<T>, StoreError>;
    /// All documents of kind `T` whose key starts with `prefix`, with their keys, in key order.
    ///
    /// # Errors
    /// Backend or decode failures.
    fn docs<T: Doc>(&self, prefix: &str) -> Result<Vec<(String, T)>, StoreError>;
    /// At most `limit` documents of kind `T` under `prefix` from key `from` on (one page).
    ///
    /// # Errors
    /// Backend or decode failures.
    fn docs_from<T: Doc>(
        &self,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError>;
    /// The keys of the documents an index lists under `index_key` (exactly that key; see
    /// [`Doc::index_keys`]), in index order.
    ///
    /// # Errors
    /// Backend failures.
    fn lookup(&self, index_table: &str, index_key: &str) -> Result<Vec<String>, StoreError>;
    /// How many documents an index lists under `index_key` (see [`ReadExt::lookup`]).
    ///
    /// # Errors
    /// Backend failures.
    fn lookup_count(&self, index_table: &str, index_key: &str) -> Result<usize, StoreError>;
}

impl<R: Reader + ?Sized> ReadExt for R {
    fn doc<T: Doc>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.get(T::TABLE, key)?
            .map(|b| decode(key, &b))
            .transpose()
    }

    fn docs<T: Doc>(&self, prefix: &str) -> Result<Vec<(String, T)>, StoreError> {
        self.scan(T::TABLE, prefix)?
            .into_iter()
            .map(|(k, v)| decode(&k, &v).map(|d| (k, d)))
            .collect()
    }

    fn docs_from<T: Doc>(
        &self,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.scan_from(T::TABLE, prefix, from, limit)?
            .into_iter()
            .map(|(k, v)| decode(&k, &v).map(|d| (k, d)))
            .collect()
    }

    fn lookup_count(&self, index_table: &str, index_key: &str) -> Result<usize, StoreError> {
        self.count(index_table, &format!("{index_key}/"))
    }

    fn lookup(&self, index_table: &str, index_key: &str) -> Result<Vec<String>, StoreError> {
        self.scan(index_table, &format!("{index_key}/"))?
            .into_iter()
            .map(|(k, v)| {
                String::from_utf8(v).map_err(|e| StoreError::Codec {
                    table: index_table.to_string(),
                    key: k,
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Typed writes.
pub trait WriteExt {
    /// Stores `doc` at `key`.
    ///
    /// # Errors
    /// Backend or encode failures.
    fn put_doc<T: Doc>(&mut self, key: &str, doc: &T) -> Result<(), StoreError>;
    /// Removes the document of kind `T` at `key`.
    ///
    /// # Errors
    /// Backend failures.
    fn delete_doc<T: Doc>(&mut self, key: &str) -> Result<bool, StoreError>;
    /// Writes every index entry of the document of kind `T` at `key` (those missing: data from
    /// before an index existed); true when the document exists.
    ///
    /// # Errors
    /// Backend or decode failures.
    fn reindex_doc<T: Doc>(&mut self, key: &str) -> Result<bool, StoreError>;
}

/// The stored key of one index entry.
fn index_entry(index_key: &str, key: &str) -> String {
    format!("{index_key}/{key}")
}

/// Replaces the index entries of the document at `key` (`old` before, `new` after).
fn reindex<T: Doc, W: Writer + ?Sized>(
    w: &mut W,
    key: &str,
    old: Option<&T>,
    new: Option<&T>,
) -> Result<(), StoreError> {
    let before = old.map(Doc::index_keys).unwrap_or_default();
    let after = new.map(Doc::index_keys).unwrap_or_default();
    for entry in before.iter().filter(|e| !after.contains(e)) {
        w.delete(entry.0, &index_entry(&entry.1, key))?;
    }
    for entry in after.iter().filter(|e| !before.contains(e)) {
        w.put(entry.0, &index_entry(&entry.1, key), key.as_bytes())?;
    }
    Ok(())
}

impl<W: Writer + ?Sized> WriteExt for W {
    fn put_doc<T: Doc>(&mut self, key: &str, doc: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(doc).map_err(|e| StoreError::Codec {
            table: T::TABLE.to_string(),
            key: key.to_string(),
            message: e.to_string(),
        })?;
        if T::INDEXED {
            let old = self.doc::<T>(key)?;
            reindex(self, key, old.as_ref(), Some(doc))?;
        }
        self.put(T::TABLE, key, &bytes)
    }

    fn reindex_doc<T: Doc>(&mut self, key: &str) -> Result<bool, StoreError> {
        let Some(doc) = self.doc::<T>(key)? else {
            return Ok(false);
        };
        for (table, index_key) in doc.index_keys() {
            self.put(table, &index_entry(&index_key, key), key.as_bytes())?;
        }
        Ok(true)
    }

    fn delete_doc<T: Doc>(&mut self, key: &str) -> Result<bool, StoreError> {
        if T::INDEXED {
            let old = self.doc::<T>(key)?;
            reindex::<T, W>(self, key, old.as_ref(), None)?;
        }
        self.delete(T::TABLE, key)
    }
}

/// Runs `f` in one write transaction, letting it fail with its own error type: on `Err` nothing
/// is written and the error is returned as is.
///
/// # Errors
/// `f`'s error, or a backend failure converted with `From<StoreError>`.
pub fn update<S, T, E>(
    store: &S,
    mut f: impl FnMut(&mut dyn Writer) -> Result<T, E>,
) -> Result<T, E>
where
    S: Store + ?Sized,
    E: From<StoreError>,
{
    let mut outcome: Option<Result<T, E>> = None;
    let committed = store.update(&mut |w| match f(w) {
        Ok(v) => {
            outcome = Some(Ok(v));
            Ok(())
        }
        Err(e) => {
            outcome = Some(Err(e));
            Err(StoreError::Aborted)
        }
    });
    match (committed, outcome) {
        (Ok(_), Some(result)) => result,
        (Err(StoreError::Aborted), Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(_), None) => unreachable!("update ran its closure"),
    }
}

/// Runs `f` against a consistent snapshot, letting it return a value or its own error.
///
/// # Errors
/// `f`'s error, or a backend failure converted with `From<StoreError>`.
pub fn view<S, T, E>(store: &S, mut f: impl FnMut(&dyn Reader) -> Result<T, E>) -> Result<T, E>
where
    S: Store + ?Sized,
    E: From<StoreError>,
{
    let mut outcome: Option<Result<T, E>> = None;
    let done = store.view(&mut |r| {
        outcome = Some(f(r));
        Ok(())
    });
    match (done, outcome) {
        (Ok(()), Some(result)) => result,
        (Err(e), _) => Err(e.into()),
        (Ok(()), None) => unreachable!("view ran its closure"),
    }
}
