//! [`Router`]: the set of running endpoints and the diff that moves it to a new route table.
//!
//! `apply_changes` is called with the endpoints whose routes changed (the data path follows
//! the store's route documents), `apply` with a whole table (at start, and in tests); an
//! unchanged endpoint costs one comparison and touches no connection. Applies are serialized
//! by an async lock; the endpoint map itself sits behind a short synchronous
//! lock that `stats` also takes. Neither lock is ever taken on the data path.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrocache_redirect::Redirector;

use crate::endpoint::{close_connections, Endpoint, Shared};
use crate::error::RouterError;
use crate::kernel::{DataPath, Judge, Kernel};
use crate::limits::RouterLimits;
use crate::route::{EndpointRoute, RouteTable};
use crate::stats::RouterStats;

/// Serves the endpoints of a [`RouteTable`]: one listener per endpoint, each connection spliced
/// to a backend.
///
/// Dropping a `Router` aborts its listeners and connections without waiting; call
/// [`Router::shutdown`] to wait until they are closed.
pub struct Router {
    /// Bounds applied to every endpoint.
    limits: RouterLimits,
    /// Serializes `apply` and `shutdown`; holds whether the router was shut down.
    apply_lock: tokio::sync::Mutex<bool>,
    /// Running endpoints by listen address.
    endpoints: Mutex<HashMap<SocketAddr, Endpoint>>,
    /// The kernel path, when loaded: serves what it can of each endpoint.
    kernel: Option<Kernel>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("limits", &self.limits)
            .field("endpoints", &self.endpoint_map().len())
            .finish()
    }
}

impl Router {
    /// A router serving nothing yet.
    ///
    /// # Panics
    /// If `limits` is out of range (see [`RouterLimits::is_valid`]): limits are configuration
    /// chosen by the program, not input.
    pub fn new(limits: RouterLimits) -> Self {
        assert!(limits.is_valid(), "router limits out of range: {limits:?}");
        Self {
            limits,
            apply_lock: tokio::sync::Mutex::new(false),
            endpoints: Mutex::new(HashMap::new()),
            kernel: None,
        }
    }

    /// A router whose endpoints the kernel serves where it can (see [`DataPath`]): plaintext
    /// endpoints whose backends have TCP addresses get their admitted clients connected
    /// straight to the node; the router's listeners take the rest.
    ///
    /// # Panics
    /// As [`Router::new`].
    pub fn with_kernel(limits: RouterLimits, redirector: Redirector) -> Self {
        let mut router = Self::new(limits);
        router.kernel = Some(Kernel::new(redirector));
        router
    }

    /// Where the kernel path's programs are attached; `None` without the kernel path.
    pub fn kernel_path(&self) -> Option<String> {
        self.kernel.as_ref().map(Kernel::describe)
    }

    /// Which data path serves `listen` now.
    pub fn data_path(&self, listen: SocketAddr) -> DataPath {
        match &self.kernel {
            Some(kernel) => kernel.path_of(listen),
            None => DataPath::Router,
        }
    }

    /// The limits this router enforces.
    pub fn limits(&self) -> RouterLimits {
        self.limits
    }

    fn endpoint_map(&self) -> MutexGuard<'_, HashMap<SocketAddr, Endpoint>> {
        // Every mutation of the map is a single insert/remove, so a poisoned map is consistent.
        self.endpoints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the running endpoints match `table`: every endpoint not in it is removed, every
    /// one in it is started or updated as [`Router::apply_changes`] does.
    ///
    /// # Errors
    /// As [`Router::apply_changes`]; a listen address listed twice is refused for its second
    /// entry.
    ///
    /// # Cancel safety
    /// Not cancel safe: cancelled midway, some endpoints have the new route and some the old.
    /// Applying the same table again completes it.
    pub async fn apply(&self, table: RouteTable) -> Vec<(SocketAddr, io::Error)> {
        let mut errors = Vec::new();
        // Keep the table's order for deterministic binding and error order.
        let mut seen = HashSet::with_capacity(table.endpoints.len());
        let mut wanted = Vec::with_capacity(table.endpoints.len());
        for route in table.endpoints {
            if seen.insert(route.listen) {
                wanted.push(route);
            } else {
                errors.push((
                    route.listen,
                    RouterError::DuplicateListen(route.listen).into_io(),
                ));
            }
        }
        let gone: Vec<SocketAddr> = self
            .endpoint_map()
            .keys()
            .filter(|l| !seen.contains(*l))
            .copied()
            .collect();
        errors.extend(self.apply_changes(wanted, gone).await);
        errors
    }

    /// Changes some endpoints and leaves the others alone: the data path's side of a route
    /// change, proportional to the change, not to the table.
    ///
    /// - An endpoint of `upserts` that does not run is bound (`SO_REUSEADDR`) and starts
    ///   accepting.
    /// - One that runs gets the new route for new connections. If it is a `Primary` or `Node`
    ///   endpoint whose epoch grew or whose backend changed, every connection spliced under the
    ///   old route is closed before this returns (fencing); on a `Reader` endpoint, connections
    ///   to backends that left the list are closed. An unchanged route changes nothing.
    /// - An endpoint of `removals` stops accepting (its listener is closed when this returns)
    ///   and its live connections are closed.
    ///
    /// Must run inside a Tokio runtime (it spawns the accept loops).
    ///
    /// # Errors
    /// Returns one entry per endpoint that could not be applied; every other endpoint is
    /// applied. Bind errors are the operating system's. A route with a lower epoch than the
    /// running one, or any endpoint after [`Router::shutdown`], give an `io::Error` wrapping a
    /// [`RouterError`].
    ///
    /// # Cancel safety
    /// Not cancel safe: cancelled midway, some endpoints are changed and some not. Applying
    /// the same changes again completes them.
    pub async fn apply_changes(
        &self,
        upserts: Vec<EndpointRoute>,
        removals: Vec<SocketAddr>,
    ) -> Vec<(SocketAddr, io::Error)> {
        let shut_down = self.apply_lock.lock().await;
        let mut errors = Vec::new();
        if *shut_down {
            return upserts
                .into_iter()
                .map(|r| (r.listen, RouterError::ShutDown(r.listen).into_io()))
                .collect();
        }
        let (removed, running) = {
            let mut map = self.endpoint_map();
            let removed: Vec<Endpoint> = removals.iter().filter_map(|l| map.remove(l)).collect();
            let running: HashMap<SocketAddr, Arc<Shared>> = upserts
                .iter()
                .filter_map(|r| {
                    map.get(&r.listen)
                        .map(|e| (r.listen, Arc::clone(&e.shared)))
                })
                .collect();
            (removed, running)
        };
        // The kernel's judgement of each endpoint before and after, for the sweep below.
        let mut changed: HashMap<SocketAddrV4, Option<Judge>> = HashMap::new();
        for endpoint in removed {
            if let (Some(kernel), SocketAddr::V4(listen)) = (&self.kernel, endpoint.shared.listen) {
                kernel.withdraw(endpoint.shared.listen);
                let closed = kernel.sweep_once(&HashMap::from([(listen, None)]));
                if closed > 0 {
                    tracing::info!(%listen, connections = closed, "endpoint removed; closed its kernel connections");
                }
                changed.insert(listen, None);
            }
            endpoint.stop().await;
        }

        for route in upserts {
            let listen = route.listen;
            let shared = match running.get(&listen) {
                Some(shared) => {
                    self.update(shared, route, &mut changed, &mut errors).await;
                    continue;
                }
                None => match Endpoint::start(route, self.limits) {
                    Ok(endpoint) => {
                        let shared = Arc::clone(&endpoint.shared);
                        self.endpoint_map().insert(listen, endpoint);
                        shared
                    }
                    Err(e) => {
                        tracing::warn!(%listen, error = %e, "cannot bind endpoint");
                        errors.push((listen, e));
                        continue;
                    }
                },
            };
            if let Some(kernel) = &self.kernel {
                let snapshot = shared.snapshot();
                let path = kernel.apply(&snapshot.route, snapshot.fence);
                tracing::info!(%listen, label = %snapshot.route.label, data_path = %path,
                    "endpoint data path");
            }
        }
        if let (Some(kernel), false) = (&self.kernel, changed.is_empty()) {
            let closed = kernel.sweep_again(&changed).await;
            if closed > 0 {
                tracing::info!(
                    connections = closed,
                    "route changed; closed fenced kernel connections (second sweep)"
                );
            }
        }
        errors
    }

    /// Gives a running endpoint its new route: first to the kernel path, whose connections the
    /// new route does not keep are closed at once (so that no client sees the new route while
    /// an old connection still works), then to the router, which closes the spliced connections
    /// it fences. Notes in `changed` an endpoint whose kernel connections are to be swept again
    /// (see [`Kernel::sweep`]).
    async fn update(
        &self,
        shared: &Shared,
        route: EndpointRoute,
        changed: &mut HashMap<SocketAddrV4, Option<Judge>>,
        errors: &mut Vec<(SocketAddr, io::Error)>,
    ) {
        let (label, epoch) = (route.label.clone(), route.epoch);
        if let Some(kernel) = &self.kernel {
            let before = shared.snapshot();
            // A stale route is refused below, with the same error.
            if let Ok(fence) = shared.next_fence(&route) {
                let path_before = kernel.path_of(shared.listen);
                let path = kernel.apply(&route, fence);
                if path != path_before {
                    tracing::info!(listen = %shared.listen, %label, data_path = %path,
                        "endpoint data path changed");
                }
                let judge = Judge::of(&route, fence);
                let old = Judge::of(&before.route, before.fence);
                // A route that led nowhere (a failover between two primaries) redirected no
                // connection, and the sweeps of its own change closed everything older: the
                // release of the new primary waits for no sweep.
                let sweep = old != judge && !old.leads_nowhere();
                if let (true, SocketAddr::V4(listen)) = (sweep, shared.listen) {
                    let once = HashMap::from([(listen, Some(judge.clone()))]);
                    let closed = kernel.sweep_once(&once);
                    if closed > 0 {
                        tracing::info!(%listen, %label, epoch, connections = closed,
                            "route changed; closed fenced kernel connections");
                    }
                    changed.insert(listen, Some(judge));
                }
            }
        }
        match shared.update(route) {
            Ok(fenced) => {
                if !fenced.is_empty() {
                    tracing::info!(listen = %shared.listen, %label, epoch,
                        connections = fenced.len(), "route changed; closing fenced connections");
                }
                close_connections(fenced, self.limits.fence_wait).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "route refused");
                errors.push((shared.listen, e.into_io()));
            }
        }
    }

    /// Stops every endpoint and closes every connection, waiting (up to the fence wait per
    /// endpoint) until they are gone. Later `apply` calls serve nothing and report
    /// [`RouterError::ShutDown`] for each endpoint.
    ///
    /// # Cancel safety
    /// Not cancel safe: cancelled midway, some endpoints may still run. Calling `shutdown`
    /// again (or dropping the router) finishes the job.
    pub async fn shutdown(&self) {
        let mut shut_down = self.apply_lock.lock().await;
        *shut_down = true;
        let endpoints: Vec<Endpoint> = self.endpoint_map().drain().map(|(_, e)| e).collect();
        for endpoint in endpoints {
            endpoint.stop().await;
        }
    }

    /// The counters of every running endpoint, ordered by listen address.
    pub fn stats(&self) -> RouterStats {
        let mut endpoints: Vec<_> = self
            .endpoint_map()
            .values()
            .map(|e| {
                let snapshot = e.shared.snapshot();
                e.shared.counters.snapshot(
                    e.shared.listen,
                    snapshot.route.label.clone(),
                    snapshot.route.kind,
                )
            })
            .collect();
        if let Some(kernel) = &self.kernel {
            for e in &mut endpoints {
                e.data_path = kernel.path_of(e.listen);
                e.redirected = kernel.redirected(e.listen);
            }
        }
        endpoints.sort_by_key(|e| e.listen);
        RouterStats { endpoints }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        for endpoint in self.endpoint_map().values() {
            endpoint.abort();
        }
    }
}
