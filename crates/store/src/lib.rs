//! Where Ferrocache keeps its state: the [`Store`] trait and its embedded `redb` backend.
//!
//! Everything the control plane knows — each resource's spec, intent and observed facts, the
//! address book, events — lives in a store as JSON documents under `(table, key)`. Writes happen
//! in one atomic transaction per API call or reconcile step ([`update`]); every commit bumps a
//! revision that [`Store::subscribe`] publishes, which is how reconcilers and the router wake up.
//!
//! The trait is object-safe and deliberately small (get, scan by prefix, put, delete inside a
//! serializable transaction) so that the etcd backend of the multi-host design can implement it
//! as an optimistic transaction retried on conflict.
//!
//! # Layout
//! - [`redb_store`]: [`RedbStore`], the embedded default backend.
//! - [`tables`]: table names and keys of the model's documents.
//! - typed helpers in this file: [`Doc`], [`ReadExt`], [`WriteExt`], [`update`], [`view`].
//!
//! # Dependency rules
//! Depends on `ferrocache-model` for document types; must not know about HTTP, Redis or the
//! router.

pub mod redb_store;
pub mod tables;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::watch;

pub use redb_store::RedbStore;

/// A storage failure.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, corruption, …).
    #[error("store backend: {0}")]
    Backend(String),
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
}

/// A JSON document kind with its table.
pub trait Doc: Serialize + DeserializeOwned {
    /// The table documents of this kind live in.
    const TABLE: &'static str;
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
}

impl<W: Writer + ?Sized> WriteExt for W {
    fn put_doc<T: Doc>(&mut self, key: &str, doc: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(doc).map_err(|e| StoreError::Codec {
            table: T::TABLE.to_string(),
            key: key.to_string(),
            message: e.to_string(),
        })?;
        self.put(T::TABLE, key, &bytes)
    }

    fn delete_doc<T: Doc>(&mut self, key: &str) -> Result<bool, StoreError> {
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
