//! One endpoint: its listener and accept loop, its current route snapshot, and the registry of
//! its live connections that fencing closes.
//!
//! The route is an immutable [`Snapshot`] behind an [`ArcSwap`]: the data path loads it
//! without a lock, `apply` replaces it whole. A snapshot carries a *fence* number that grows
//! whenever connections made under the previous snapshot must not live on (a `Primary` or
//! `Node` endpoint changed epoch or backend, or the endpoint changed kind). Each connection
//! records the snapshot it was spliced under; after storing a new snapshot, `apply` closes
//! every connection whose record is stale. A connection that is still connecting re-checks
//! its record against the current snapshot once it is registered, so a fence that races with a
//! connect can never be missed (see [`Shared::register`]).
//!
//! Connections are closed by aborting their task (dropping both sockets), which costs nothing
//! on the data path: no cancellation future is polled per read.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::connection;
use crate::error::RouterError;
use crate::limits::{RouterLimits, ACCEPT_ERROR_BACKOFF, LISTEN_BACKLOG};
use crate::route::{Backend, EndpointKind, EndpointRoute, TlsMode};
use crate::stats::Counters;

/// Redis's own reply when `maxclients` is reached, sent (best effort) before closing a
/// connection over the endpoint's limit so clients see the error they know.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// An immutable view of an endpoint's route, replaced whole by `apply`.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The route as the control plane published it.
    pub(crate) route: EndpointRoute,
    /// Grows whenever connections spliced under earlier snapshots must be closed.
    pub(crate) fence: u64,
}

/// The snapshot and backend a connection was spliced under.
#[derive(Clone, Debug)]
pub(crate) struct Spliced {
    /// The snapshot in force when the backend was picked.
    pub(crate) snapshot: Arc<Snapshot>,
    /// Index of the picked backend in `snapshot.route.backends`.
    pub(crate) index: usize,
}

impl Spliced {
    /// The backend this connection goes to.
    pub(crate) fn backend(&self) -> &Backend {
        &self.snapshot.route.backends[self.index]
    }
}

/// How a client connection reached the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain,
    /// Plain TCP from one of the endpoint's plaintext peers (allowed under `Required`).
    PeerPlain,
    /// TLS terminated by the router.
    Tls,
}

/// A live connection as the registry sees it.
struct Tracked {
    /// The connection's task; aborting it drops (closes) both sockets.
    task: JoinHandle<()>,
    /// Where it is spliced; `None` while it waits for a backend or connects.
    spliced: Option<Spliced>,
    /// Its transport, once spliced.
    transport: Option<Transport>,
}

/// Live connections of one endpoint. Locked only when a connection starts, is spliced or
/// ends, and by `apply`; never while bytes are copied.
#[derive(Default)]
struct Registry {
    conns: HashMap<u64, Tracked>,
}

/// State of one endpoint shared by its accept loop, its connections and the router.
pub(crate) struct Shared {
    /// The listen address (the endpoint's key).
    pub(crate) listen: SocketAddr,
    /// The router's limits, copied so connections need no reference to the router.
    pub(crate) limits: RouterLimits,
    /// The current route; loaded lock-free per connection.
    route: ArcSwap<Snapshot>,
    /// Wakes connections waiting for a backend when the route changes.
    route_changed: Notify,
    /// Live counters for [`Router::stats`](crate::Router::stats).
    pub(crate) counters: Counters,
    /// Live connections, for fencing and removal.
    registry: Mutex<Registry>,
    /// Identifies the next connection in `registry`.
    next_connection_id: AtomicU64,
    /// Round-robin position over a reader endpoint's backends.
    next_reader: AtomicUsize,
}

impl Shared {
    fn new(route: EndpointRoute, limits: RouterLimits) -> Self {
        Self {
            listen: route.listen,
            limits,
            route: ArcSwap::from_pointee(Snapshot { route, fence: 0 }),
            route_changed: Notify::new(),
            counters: Counters::default(),
            registry: Mutex::new(Registry::default()),
            next_connection_id: AtomicU64::new(0),
            next_reader: AtomicUsize::new(0),
        }
    }

    /// The current route snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.route.load_full()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the map consistent (every mutation is a single
        // insert/remove/field store), so a poisoned lock is still safe to use.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Picks a backend from the current route: the only one for `Node`/`Primary`, the next in
    /// round-robin order for `Reader`. `None` when the route has no backend.
    fn pick(&self) -> Option<Spliced> {
        let snapshot = self.route.load_full();
        let count = snapshot.route.backends.len();
        if count == 0 {
            return None;
        }
        let index = match snapshot.route.kind {
            EndpointKind::Node | EndpointKind::Primary => 0,
            EndpointKind::Reader => self.next_reader.fetch_add(1, Ordering::Relaxed) % count,
        };
        Some(Spliced { snapshot, index })
    }

    /// Picks a backend, waiting up to `limits.backend_wait` for the route to get one when it
    /// has none (a failover between removing the old primary and publishing the new).
    /// `None` when the wait ran out.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is taken until it returns.
    pub(crate) async fn wait_for_backend(&self) -> Option<Spliced> {
        if let Some(spliced) = self.pick() {
            return Some(spliced);
        }
        let deadline = tokio::time::Instant::now() + self.limits.backend_wait;
        loop {
            // Register for the wake-up before looking, so a route stored between the look and
            // the wait is not missed.
            let changed = self.route_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(spliced) = self.pick() {
                return Some(spliced);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    /// Records that connection `id` is spliced as `spliced`. Returns `false` when the
    /// connection must close instead: the endpoint is being removed, or a fence made the
    /// record stale while the connection was connecting.
    ///
    /// Why this cannot miss a fence: `update` stores the new snapshot *before* scanning the
    /// registry, and this records *before* loading the snapshot. Either the scan sees the
    /// record (and aborts the task), or the record came after the scan, hence after the store,
    /// and the check below sees the new snapshot.
    pub(crate) fn register(&self, id: u64, spliced: &Spliced, transport: Transport) -> bool {
        {
            let mut registry = self.registry();
            let Some(tracked) = registry.conns.get_mut(&id) else {
                return false;
            };
            tracked.spliced = Some(spliced.clone());
            tracked.transport = Some(transport);
        }
        let current = self.route.load();
        if !is_stale(&current, spliced) && transport_allowed(&current.route, transport) {
            return true;
        }
        // Count the fence once: only if the registry scan has not already taken (and counted)
        // this connection.
        if self.registry().conns.remove(&id).is_some() {
            Counters::bump(&self.counters.fenced);
        }
        false
    }

    /// Forgets connection `id` (it ended). Idempotent: fencing may have removed it first.
    pub(crate) fn unregister(&self, id: u64) {
        self.registry().conns.remove(&id);
    }

    /// Starts a task for a freshly accepted client connection.
    fn spawn_connection(self: &Arc<Self>, client: TcpStream) {
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        self.counters.active.fetch_add(1, Ordering::Relaxed);
        // The guard travels into the task: if the task is dropped before it ever runs, the
        // guard still undoes `active` and the registry entry.
        let guard = connection::Guard::new(Arc::clone(self), id);
        // The task waits for `registered` so that it cannot end (and unregister) before the
        // accept loop has put it in the registry; the lock is not held across `spawn`, since a
        // runtime that is shutting down drops the task (and runs the guard) inside `spawn`.
        let (registered_tx, registered_rx) = oneshot::channel();
        let task = tokio::spawn(connection::serve(guard, client, registered_rx));
        self.registry().conns.insert(
            id,
            Tracked {
                task,
                spliced: None,
                transport: None,
            },
        );
        // Fails only if the task is already gone (dropped by a runtime shutting down); its
        // guard ran before the insert, so remove the entry here instead.
        if registered_tx.send(()).is_err() {
            self.unregister(id);
        }
    }

    /// Replaces the route. Returns the tasks of connections the new route fences (already
    /// removed from the registry), for the caller to abort.
    ///
    /// # Errors
    /// [`RouterError::StaleEpoch`] if `route.epoch` is lower than the running epoch; the
    /// running route is kept.
    pub(crate) fn update(&self, route: EndpointRoute) -> Result<Vec<JoinHandle<()>>, RouterError> {
        let current = self.route.load_full();
        if current.route == route {
            return Ok(Vec::new());
        }
        let fence = self.next_fence(&route)?;
        let backends_changed = current.route.backends != route.backends;
        let transport_changed = current.route.security.tls != route.security.tls;
        let next = Arc::new(Snapshot { route, fence });
        self.route.store(Arc::clone(&next));
        self.route_changed.notify_waiters();
        if fence == current.fence && !backends_changed && !transport_changed {
            // Label-only or reader-epoch change: no connection can have become stale.
            return Ok(Vec::new());
        }
        let mut registry = self.registry();
        let stale: Vec<u64> = registry
            .conns
            .iter()
            .filter(|(_, t)| {
                t.spliced.as_ref().is_some_and(|s| is_stale(&next, s))
                    || t.transport
                        .is_some_and(|tr| !transport_allowed(&next.route, tr))
            })
            .map(|(id, _)| *id)
            .collect();
        let tasks: Vec<JoinHandle<()>> = stale
            .iter()
            .filter_map(|id| registry.conns.remove(id))
            .map(|t| t.task)
            .collect();
        self.counters
            .fenced
            .fetch_add(tasks.len() as u64, Ordering::Relaxed);
        Ok(tasks)
    }

    /// The fence `route` would run under if it replaced the current route now (see
    /// [`needs_fence`]); the kernel path is told it before the route is stored.
    ///
    /// # Errors
    /// [`RouterError::StaleEpoch`] if `route.epoch` is lower than the running epoch.
    pub(crate) fn next_fence(&self, route: &EndpointRoute) -> Result<u64, RouterError> {
        let current = self.route.load();
        if route.epoch < current.route.epoch {
            return Err(RouterError::StaleEpoch {
                listen: self.listen,
                running: current.route.epoch,
                offered: route.epoch,
            });
        }
        Ok(match needs_fence(&current.route, route) {
            true => current.fence + 1,
            false => current.fence,
        })
    }

    /// Removes every connection from the registry and returns their tasks to abort.
    fn take_all(&self) -> Vec<JoinHandle<()>> {
        let tasks: Vec<JoinHandle<()>> =
            self.registry().conns.drain().map(|(_, t)| t.task).collect();
        self.counters
            .fenced
            .fetch_add(tasks.len() as u64, Ordering::Relaxed);
        tasks
    }
}

/// Whether a route change must close the connections spliced under the old route.
///
/// `Node`/`Primary`: on a higher epoch (a primary change, even back to the same address: the
/// node was demoted in between) or a different backend. `Reader`: never wholesale — readers
/// whose backend left the list are closed one by one by [`is_stale`]. Any change of kind
/// closes everything.
pub(crate) fn needs_fence(old: &EndpointRoute, new: &EndpointRoute) -> bool {
    if old.kind != new.kind {
        return true;
    }
    match new.kind {
        EndpointKind::Node | EndpointKind::Primary => {
            new.epoch > old.epoch || new.backends != old.backends
        }
        EndpointKind::Reader => false,
    }
}

/// Whether a connection over `transport` may stay on an endpoint with `route`: a plaintext
/// connection not once the endpoint requires TLS (ElastiCache drops unencrypted connections when
/// the mode becomes `required`), a TLS connection not once the endpoint has no TLS.
pub(crate) fn transport_allowed(route: &EndpointRoute, transport: Transport) -> bool {
    match (transport, &route.security.tls) {
        (Transport::Plain, Some(tls)) => tls.mode != TlsMode::Required,
        (Transport::Plain, None) => true,
        (Transport::PeerPlain, _) => true,
        (Transport::Tls, tls) => tls.is_some(),
    }
}

/// Whether a connection spliced as `spliced` must close under the `current` snapshot.
pub(crate) fn is_stale(current: &Snapshot, spliced: &Spliced) -> bool {
    if current.fence != spliced.snapshot.fence {
        return true;
    }
    match current.route.kind {
        // Same fence means same epoch and same backend.
        EndpointKind::Node | EndpointKind::Primary => false,
        EndpointKind::Reader => !current.route.backends.contains(spliced.backend()),
    }
}

/// Aborts `tasks` and waits, up to `wait`, until they are gone (their sockets closed).
pub(crate) async fn close_connections(tasks: Vec<JoinHandle<()>>, wait: Duration) {
    if tasks.is_empty() {
        return;
    }
    for task in &tasks {
        task.abort();
    }
    let all_gone = async {
        for task in tasks {
            // A cancelled task reports `JoinError::Cancelled`; that is the point.
            let _ = task.await;
        }
    };
    if tokio::time::timeout(wait, all_gone).await.is_err() {
        tracing::warn!(
            ?wait,
            "fenced connections still closing after the fence wait"
        );
    }
}

/// A running endpoint, owned by the router.
pub(crate) struct Endpoint {
    /// State shared with the accept loop and the connections.
    pub(crate) shared: Arc<Shared>,
    /// The accept loop; aborting it drops (closes) the listener.
    accept: JoinHandle<()>,
}

impl Endpoint {
    /// Binds `route.listen` (with `SO_REUSEADDR`, so a restarted router can rebind at once
    /// while old connections linger in `TIME_WAIT`) and starts accepting.
    ///
    /// # Errors
    /// The bind or listen error of the operating system (address in use, not local, …).
    pub(crate) fn start(route: EndpointRoute, limits: RouterLimits) -> io::Result<Self> {
        let listener = bind(route.listen)?;
        tracing::info!(listen = %route.listen, label = %route.label, kind = %route.kind,
            epoch = route.epoch, "endpoint listening");
        let shared = Arc::new(Shared::new(route, limits));
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self { shared, accept })
    }

    /// Stops accepting (the listener is closed when this returns) and closes every live
    /// connection, waiting up to the fence wait for them to be gone.
    pub(crate) async fn stop(self) {
        self.accept.abort();
        // Waiting for the aborted loop guarantees the listener is dropped, and that no
        // connection is added to the registry after `take_all`.
        let _ = self.accept.await;
        let tasks = self.shared.take_all();
        close_connections(tasks, self.shared.limits.fence_wait).await;
        let label = self.shared.snapshot().route.label.clone();
        tracing::info!(listen = %self.shared.listen, %label, "endpoint removed");
    }

    /// Aborts the accept loop and every connection without waiting (for `Drop`).
    pub(crate) fn abort(&self) {
        self.accept.abort();
        for task in self.shared.take_all() {
            task.abort();
        }
    }
}

fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
    let socket = match listen {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections until aborted; closes at once those whose source no rule admits and
/// those over the connection limit.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let max = shared.limits.max_connections_per_endpoint as u64;
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Per-connection failures (the peer reset before we accepted) are not worth a
                // pause; running out of descriptors or memory is, or we would spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) {
                    tracing::warn!(listen = %shared.listen, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
                continue;
            }
        };
        Counters::bump(&shared.counters.accepted);
        // Security groups: one lock-free load of the route and a scan of a few networks.
        if !shared
            .route
            .load()
            .route
            .security
            .admission
            .admits(peer.ip())
        {
            Counters::bump(&shared.counters.denied);
            tracing::debug!(listen = %shared.listen, %peer, "source not admitted by any security group rule; closing");
            continue;
        }
        // Only this loop increments `active`, so checking then incrementing cannot overshoot.
        if shared.counters.active.load(Ordering::Relaxed) >= max {
            Counters::bump(&shared.counters.refused);
            let _ = client.try_write(MAX_CLIENTS_REPLY);
            continue;
        }
        shared.spawn_connection(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn route(kind: EndpointKind, epoch: u64, backends: &[&str]) -> EndpointRoute {
        EndpointRoute {
            listen: "127.0.0.1:6379".parse().unwrap(),
            kind,
            backends: backends
                .iter()
                .map(|b| Backend::Unix(PathBuf::from(b)))
                .collect(),
            direct: Vec::new(),
            direct_tls: Vec::new(),
            epoch,
            label: "test".into(),
            security: Default::default(),
        }
    }

    fn spliced(route: EndpointRoute, fence: u64, index: usize) -> Spliced {
        Spliced {
            snapshot: Arc::new(Snapshot { route, fence }),
            index,
        }
    }

    // Goal: fencing fires exactly on the changes the failover contract names. Method: compare
    // pairs of routes for each kind.
    #[test]
    fn fence_on_primary_epoch_or_backend_change_only() {
        let primary = route(EndpointKind::Primary, 1, &["a"]);
        assert!(!needs_fence(&primary, &primary));
        assert!(needs_fence(
            &primary,
            &route(EndpointKind::Primary, 2, &["a"])
        ));
        assert!(needs_fence(
            &primary,
            &route(EndpointKind::Primary, 1, &["b"])
        ));
        assert!(needs_fence(&primary, &route(EndpointKind::Primary, 1, &[])));
        assert!(needs_fence(&primary, &route(EndpointKind::Node, 1, &["a"])));
        let mut relabelled = primary.clone();
        relabelled.label = "other".into();
        assert!(!needs_fence(&primary, &relabelled));

        let reader = route(EndpointKind::Reader, 1, &["a", "b"]);
        assert!(!needs_fence(
            &reader,
            &route(EndpointKind::Reader, 2, &["a"])
        ));
    }

    // Goal: a reader connection goes stale only when its own backend leaves the list; a
    // primary connection goes stale on any fence. Method: check records against snapshots.
    #[test]
    fn staleness_follows_backend_membership_and_fence() {
        let reader = route(EndpointKind::Reader, 1, &["a", "b"]);
        let on_b = spliced(reader.clone(), 0, 1);
        let without_a = Snapshot {
            route: route(EndpointKind::Reader, 2, &["b"]),
            fence: 0,
        };
        let without_b = Snapshot {
            route: route(EndpointKind::Reader, 2, &["a"]),
            fence: 0,
        };
        assert!(!is_stale(&without_a, &on_b));
        assert!(is_stale(&without_b, &on_b));

        let primary = route(EndpointKind::Primary, 1, &["a"]);
        let old = spliced(primary.clone(), 3, 0);
        let same = Snapshot {
            route: primary.clone(),
            fence: 3,
        };
        let fenced = Snapshot {
            route: route(EndpointKind::Primary, 2, &["b"]),
            fence: 4,
        };
        assert!(!is_stale(&same, &old));
        assert!(is_stale(&fenced, &old));
    }
}
