//! The kernel path: which endpoints a [`Redirector`] serves, and the sweeps that fence the
//! connections it made.
//!
//! The router stays the owner of every endpoint: it binds the listener, keeps the route
//! snapshot and decides the fence, exactly as without the kernel path. After each change it
//! tells the redirector what to do with the endpoint — serve it (plaintext, or TLS `required`
//! towards the nodes' own TLS ports; IPv4; every backend with a TCP address) or leave it to
//! the listener (TLS `preferred`, TLS the nodes do not serve themselves, a backend known only
//! by its Unix socket) — and, when the change would have closed spliced connections, sweeps
//! the redirected ones with the same judgement ([`Judge`]).

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ferrocache_redirect::{KernelAdmission, KernelEndpoint, Redirected, Redirector};

use crate::route::{Admission, EndpointKind, EndpointRoute, TlsMode};

/// Pause between the two sweeps of a fence: a socket inside `connect()` between the programs'
/// hook and the kernel's socket tables is not listed by the first; it is by the second.
const SECOND_SWEEP_AFTER: Duration = Duration::from_millis(2);

/// Which data path serves an endpoint's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataPath {
    /// The kernel connects admitted clients straight to the node; the router's listener takes
    /// only what the kernel leaves (refused sources, a failover's wait).
    Kernel,
    /// Every connection is accepted and spliced by the router.
    Router,
}

impl std::fmt::Display for DataPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataPath::Kernel => "kernel",
            DataPath::Router => "router",
        })
    }
}

/// The redirector, behind a lock taken only by route changes, sweeps and stats.
pub(crate) struct Kernel {
    redirector: Mutex<Redirector>,
}

/// What a sweep keeps, per endpoint: connections made under its current fence to a node
/// address it still leads to — a plaintext port while plaintext is allowed, an engine TLS port
/// while TLS is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Judge {
    fence: u32,
    backends: Vec<SocketAddrV4>,
}

impl Judge {
    /// The judgement for an endpoint running `route` under `fence`.
    pub(crate) fn of(route: &EndpointRoute, fence: u64) -> Self {
        let tls = route.security.tls.as_ref();
        let plaintext_allowed = tls.is_none_or(|tls| tls.mode == TlsMode::Preferred);
        let mut backends = Vec::new();
        if plaintext_allowed {
            backends.extend(v4_addresses(&route.direct).unwrap_or_default());
        }
        if tls.is_some() {
            backends.extend(v4_addresses(&route.direct_tls).unwrap_or_default());
        }
        Self {
            fence: fence as u32,
            backends,
        }
    }

    /// Whether no connection can be kept (nor, hence, have been made) under this judgement.
    pub(crate) fn leads_nowhere(&self) -> bool {
        self.backends.is_empty()
    }

    fn keeps(&self, connection: &Redirected) -> bool {
        connection.fence == self.fence && self.backends.contains(&connection.backend)
    }
}

impl Kernel {
    pub(crate) fn new(redirector: Redirector) -> Self {
        Self {
            redirector: Mutex::new(redirector),
        }
    }

    fn redirector(&self) -> MutexGuard<'_, Redirector> {
        // Every mutation is a map update that either happened or not; a poisoned lock leaves
        // the maps and their mirror consistent enough to go on (the next change rewrites them).
        self.redirector.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the programs are attached.
    pub(crate) fn describe(&self) -> String {
        self.redirector().describe().to_string()
    }

    /// Serves `route` (under `fence`) in the kernel if it can, or leaves it to the listener.
    pub(crate) fn apply(&self, route: &EndpointRoute, fence: u64) -> DataPath {
        let SocketAddr::V4(listen) = route.listen else {
            return DataPath::Router;
        };
        let Some(endpoint) = kernel_endpoint(route, listen, fence) else {
            self.withdraw(route.listen);
            return DataPath::Router;
        };
        match self.redirector().install(&endpoint) {
            Ok(()) => DataPath::Kernel,
            Err(e) => {
                tracing::warn!(listen = %route.listen, label = %route.label, error = %e,
                    "kernel data path refused the endpoint; the router serves it");
                DataPath::Router
            }
        }
    }

    /// Stops redirecting connections to `listen`.
    pub(crate) fn withdraw(&self, listen: SocketAddr) {
        if let SocketAddr::V4(listen) = listen {
            if let Err(e) = self.redirector().withdraw(listen) {
                tracing::warn!(%listen, error = %e, "cannot withdraw a kernel endpoint");
            }
        }
    }

    /// Which path serves `listen` now.
    pub(crate) fn path_of(&self, listen: SocketAddr) -> DataPath {
        match listen {
            SocketAddr::V4(l) if self.redirector().serves(l) => DataPath::Kernel,
            _ => DataPath::Router,
        }
    }

    /// Connections redirected through `listen` so far.
    pub(crate) fn redirected(&self, listen: SocketAddr) -> u64 {
        match listen {
            SocketAddr::V4(l) => self.redirector().redirected(l),
            SocketAddr::V6(_) => 0,
        }
    }

    /// Closes the redirected connections of the endpoints in `changed` that their new judgement
    /// does not keep (`None`: the endpoint is gone, and keeps none); other endpoints'
    /// connections stay. Returns how many were closed.
    pub(crate) fn sweep_once(&self, changed: &HashMap<SocketAddrV4, Option<Judge>>) -> usize {
        let result = self.redirector().close_connections(|connection| {
            match changed.get(&connection.endpoint) {
                None => true,
                Some(None) => false,
                Some(Some(judge)) => judge.keeps(connection),
            }
        });
        result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot close fenced kernel connections");
            0
        })
    }

    /// [`Kernel::sweep_once`], after [`SECOND_SWEEP_AFTER`]: the sweep that finds a socket
    /// which was inside `connect()` during the first.
    pub(crate) async fn sweep_again(
        &self,
        changed: &HashMap<SocketAddrV4, Option<Judge>>,
    ) -> usize {
        tokio::time::sleep(SECOND_SWEEP_AFTER).await;
        self.sweep_once(changed)
    }
}

/// The kernel's form of `route`; `None` when the kernel cannot serve it: TLS in `preferred`
/// mode (one port for both, told apart by the router), TLS whose nodes do not all serve it
/// themselves yet, TLS with plaintext peers (a cluster's replicas, which replicate through the
/// endpoints in plaintext), a backend without a TCP address.
fn kernel_endpoint(
    route: &EndpointRoute,
    listen: SocketAddrV4,
    fence: u64,
) -> Option<KernelEndpoint> {
    let direct = match &route.security.tls {
        None => &route.direct,
        Some(tls) if tls.mode == TlsMode::Required && no_peers(&tls.plaintext_peers) => {
            &route.direct_tls
        }
        Some(_) => return None,
    };
    if direct.len() != route.backends.len() {
        return None;
    }
    Some(KernelEndpoint {
        listen,
        // More than an entry holds is refused by the redirector, which says so.
        backends: v4_addresses(direct)?,
        spread: route.kind == EndpointKind::Reader,
        fence: fence as u32,
        admission: match &route.security.admission {
            Admission::Any => KernelAdmission::Any,
            Admission::Sources(nets) => KernelAdmission::Sources(
                nets.iter()
                    .filter_map(|n| match n {
                        ipnet::IpNet::V4(n) => Some(*n),
                        ipnet::IpNet::V6(_) => None,
                    })
                    .collect(),
            ),
        },
    })
}

fn no_peers(peers: &Admission) -> bool {
    matches!(peers, Admission::Sources(nets) if nets.is_empty())
}

/// The addresses, if every one is IPv4.
fn v4_addresses(addresses: &[SocketAddr]) -> Option<Vec<SocketAddrV4>> {
    addresses
        .iter()
        .map(|a| match a {
            SocketAddr::V4(a) => Some(*a),
            SocketAddr::V6(_) => None,
        })
        .collect()
}
