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

use ferrocache_model::Fault;
use ferrocache_store::{Store, StoreError};

/// Settings the operations need.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Account id used in ARNs.
    pub account_id: String,
    /// Version of the engine Ferrocache runs (from `redis-server --version`).
    pub engine_version_running: String,
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
