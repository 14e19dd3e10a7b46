//! [`Service`]: the API operations. Each checks the request against the model's rules and the
//! store, writes spec (and events) in one transaction, and returns a view of the resource. The
//! slow work is left to the reconcilers.

pub mod cache_cluster;
pub mod engine_version;
pub mod event;
pub mod modify;
pub mod network;
pub mod parameter_group;
pub mod replication_group;
pub mod snapshot;
pub mod subnet_group;
pub mod tag;
pub mod user;
pub mod view;

use std::sync::Arc;

use ferrocache_model::paging::PageLimits;
use ferrocache_model::Fault;
use ferrocache_store::{tables, Doc, ReadExt, Reader, Store, StoreError};

/// Settings the operations need.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Account id used in ARNs.
    pub account_id: String,
    /// Version of the engine Ferrocache runs (from `redis-server --version`).
    pub engine_version_running: String,
    /// Where node data lives (`<data-dir>/nodes`): operations that need room there check it
    /// up front. `None`: not checked (tests without nodes).
    pub nodes_dir: Option<std::path::PathBuf>,
}

/// Why an operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request broke a rule; sent to the client as is.
    #[error(transparent)]
    Fault(#[from] Fault),
    /// The store failed; logged, and answered with a generic server error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operation needs more room on the file system of the data directory than is free;
    /// refused before anything was written.
    #[error("{operation} needs about {} in {}, and {} are free", crate::disk::megabytes(*needed), dir.display(), crate::disk::megabytes(*free))]
    NoRoom {
        /// What was asked, in words ("Restoring snapshot s1 with 2 replicas").
        operation: String,
        /// Bytes it needs, as estimated from the sizes involved.
        needed: u64,
        /// Bytes free there.
        free: u64,
        /// The directory whose file system is short of room.
        dir: std::path::PathBuf,
    },
}

impl ServiceError {
    /// When the store could not write because its file system is full: where (the store
    /// file), so the answer can name the cause.
    pub fn no_space(&self) -> Option<&str> {
        match self {
            ServiceError::Store(StoreError::NoSpace { path, .. }) => Some(path),
            _ => None,
        }
    }

    /// Whether the store could not be reached (etcd down or without a quorum): nothing can be
    /// recorded until it is back.
    pub fn store_unavailable(&self) -> bool {
        matches!(self, ServiceError::Store(StoreError::Unavailable(_)))
    }

    /// Whether this process no longer leads the store (another one does).
    pub fn deposed(&self) -> bool {
        matches!(self, ServiceError::Store(StoreError::Fenced(_)))
    }
}

/// One page of a Describe operation.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The records of this page.
    pub items: Vec<T>,
    /// `Marker` of the next page, if any.
    pub marker: Option<String>,
}

/// The API operations, over a store.
#[derive(Clone)]
pub struct Service {
    /// Where spec is written and state is read.
    store: Arc<dyn Store>,
    /// Account id, engine version.
    config: ServiceConfig,
    /// The object store of `--s3-endpoint`, if any (snapshot export, `SnapshotArns`).
    objects: Option<Arc<dyn crate::object_store::ObjectStore>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .finish()
    }
}

impl Service {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig) -> Self {
        Self {
            store,
            config,
            objects: None,
        }
    }

    /// The same service with the object store of `--s3-endpoint`.
    pub fn with_object_store(
        mut self,
        objects: Option<Arc<dyn crate::object_store::ObjectStore>>,
    ) -> Self {
        self.objects = objects;
        self
    }

    /// The object store of `--s3-endpoint`, if one was given.
    pub fn object_store(&self) -> Option<&dyn crate::object_store::ObjectStore> {
        self.objects.as_deref()
    }

    /// The account id in ARNs.
    pub fn account_id(&self) -> &str {
        &self.config.account_id
    }

    /// The settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

/// One page of documents with their ids, and the marker of the next page.
pub(crate) type Listed<T> = (Vec<(String, T)>, Option<String>);

/// One page of the region's documents of kind `T` that pass `keep`, in id order, from the id
/// `marker` on, and the marker (the id of the first record) of the next page. Reads only as
/// many documents as the page needs (plus the ones `keep` skips), never the whole table.
///
/// # Errors
/// `InvalidParameterValue` for a bad `MaxRecords`; store failures.
pub(crate) fn page_filtered<T: Doc>(
    r: &dyn Reader,
    region: &str,
    marker: Option<&str>,
    max_records: Option<i64>,
    limits: PageLimits,
    keep: impl Fn(&T) -> bool,
) -> Result<Listed<T>, ServiceError> {
    let size = limits.page_size(max_records)?;
    let prefix = tables::region_prefix(region);
    let mut from = match marker {
        Some(m) if !m.is_empty() => tables::key(region, m),
        _ => prefix.clone(),
    };
    let mut found: Vec<(String, T)> = Vec::with_capacity(size + 1);
    // The key a later chunk starts from was looked at in the chunk before.
    let mut seen: Option<String> = None;
    loop {
        let chunk = r.docs_from::<T>(&prefix, &from, size + 1)?;
        let exhausted = chunk.len() <= size;
        let last = chunk.last().map(|(k, _)| k.clone());
        for (key, doc) in chunk {
            if seen.as_deref() == Some(key.as_str()) {
                continue;
            }
            if keep(&doc) {
                found.push((key, doc));
                if found.len() > size {
                    break;
                }
            }
        }
        match last {
            Some(last) if !exhausted && found.len() <= size => {
                from.clone_from(&last);
                seen = Some(last);
            }
            _ => break,
        }
    }
    let next = (found.len() > size).then(|| {
        let (key, _) = found.pop().expect("more than a page was found");
        key[prefix.len()..].to_string()
    });
    let items = found
        .into_iter()
        .map(|(key, doc)| (key[prefix.len()..].to_string(), doc))
        .collect();
    Ok((items, next))
}

/// [`page_filtered`] keeping every document.
///
/// # Errors
/// As [`page_filtered`].
pub(crate) fn page_of<T: Doc>(
    r: &dyn Reader,
    region: &str,
    marker: Option<&str>,
    max_records: Option<i64>,
    limits: PageLimits,
) -> Result<Listed<T>, ServiceError> {
    page_filtered(r, region, marker, max_records, limits, |_| true)
}
