//! The data path's side of routes: follow the store's [`Route`] documents and serve them with
//! the [`Router`].
//!
//! The control plane writes routes into the store (see `reconcile::routes`); this feed reads
//! them back — all of them once at start (and after it fell behind the change feed), then only
//! the documents each commit changed — converts them into the router's types (issuing the TLS
//! certificates they name) and hands the router just the endpoints that changed. It shares no
//! memory with the controller: given the store, it could run in another process or on another
//! host.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrocache_model::route::{Route, RouteAdmission, RouteBackend, RouteKind};
use ferrocache_model::transit::TransitEncryptionMode;
use ferrocache_pki::{Certificates, ServerNames};
use ferrocache_router::{
    Admission, Backend, EndpointKind, EndpointRoute, RouteTable, Router, Security, Tls, TlsMode,
};
use ferrocache_store::{view, Doc, ReadExt, Store, StoreError};
use ipnet::IpNet;
use tokio::sync::{broadcast, watch};

/// The router's form of a list of source networks (CIDR strings; unreadable ones admit nobody).
fn sources(nets: &[String]) -> Admission {
    Admission::Sources(Arc::from(
        nets.iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .collect::<Vec<_>>(),
    ))
}

/// The router's form of a stored route; `None` when its TLS cannot be served (no certificate
/// authority, or issuing failed): such an endpoint is left out rather than served in
/// plaintext.
pub fn endpoint(route: &Route, certs: Option<&Certificates>) -> Option<EndpointRoute> {
    let tls = match &route.tls {
        None => None,
        Some(tls) => {
            let Some(certs) = certs else {
                tracing::warn!(listen = %route.listen, "encryption in transit without a certificate authority; endpoint not served");
                return None;
            };
            let names = ServerNames::new(
                tls.addresses.iter().map(|a| IpAddr::V4(*a)),
                tls.dns_names.clone(),
            );
            match certs.server_tls(&tls.certificate, &names) {
                Ok(server) => Some(
                    Tls::new(
                        match tls.mode {
                            TransitEncryptionMode::Preferred => TlsMode::Preferred,
                            TransitEncryptionMode::Required => TlsMode::Required,
                        },
                        server.config,
                        server.fingerprint,
                    )
                    .with_plaintext_peers(sources(&tls.plaintext_peers)),
                ),
                Err(e) => {
                    tracing::warn!(listen = %route.listen, error = %e, "cannot issue a server certificate; endpoint not served");
                    return None;
                }
            }
        }
    };
    let admission = match &route.admission {
        RouteAdmission::Any => Admission::Any,
        RouteAdmission::Sources(nets) => sources(nets),
    };
    Some(EndpointRoute {
        listen: route.listen,
        kind: match route.kind {
            RouteKind::Node => EndpointKind::Node,
            RouteKind::Primary => EndpointKind::Primary,
            // Both spread connections over their backends and let go of removed ones.
            RouteKind::Reader | RouteKind::Configuration => EndpointKind::Reader,
        },
        backends: route
            .backends
            .iter()
            .map(|b| match b {
                RouteBackend::Tcp(a) => Backend::Tcp(*a),
                RouteBackend::Unix(p) => Backend::Unix(p.clone()),
            })
            .collect(),
        direct: route.direct.clone(),
        direct_tls: route.direct_tls.clone(),
        epoch: route.epoch,
        label: route.label.clone(),
        security: Security { admission, tls },
    })
}

/// Every stored route.
///
/// # Errors
/// Store failures.
pub fn stored(store: &dyn Store) -> Result<Vec<Route>, StoreError> {
    view(store, |r| {
        Ok(r.docs::<Route>("")?
            .into_iter()
            .map(|(_, route)| route)
            .collect())
    })
}

/// Whether the host named `host` serves `route` (`None`: the one host of its store, which
/// serves every route).
pub fn served_here(route: &Route, host: Option<&str>) -> bool {
    match (&route.served_by, host) {
        (None, _) | (_, None) => true,
        (Some(only), Some(host)) => only == host,
    }
}

/// Every stored route `host` serves, in the router's form (see [`endpoint`]).
///
/// # Errors
/// Store failures.
pub fn table(
    store: &dyn Store,
    host: Option<&str>,
    certs: Option<&Certificates>,
) -> Result<RouteTable, StoreError> {
    let mut endpoints: Vec<EndpointRoute> = stored(store)?
        .iter()
        .filter(|r| served_here(r, host))
        .filter_map(|r| endpoint(r, certs))
        .collect();
    endpoints.sort_by_key(|e| e.listen);
    Ok(RouteTable { endpoints })
}

/// `table` with every endpoint still listening but going nowhere: live connections are
/// closed (a changed backend fences them) and new ones wait, then are refused, as during a
/// failover's switch.
fn without_backends(mut table: RouteTable) -> RouteTable {
    for endpoint in &mut table.endpoints {
        endpoint.backends.clear();
        endpoint.direct.clear();
        endpoint.direct_tls.clear();
    }
    table
}

/// The next change of `fenced`; never, once its sender is gone.
async fn fence_change(fenced: &mut watch::Receiver<bool>) {
    if fenced.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Serves the stored routes that host `host` serves (see [`served_here`]) with `router` until
/// `shutdown` turns true. While `fenced` holds
/// `true` (a host out of touch with the others, see `ferrocache_hosts::fence`), every
/// endpoint keeps listening but serves nobody; when it turns `false`, every route is read and
/// served again.
pub async fn serve(
    store: Arc<dyn Store>,
    router: Arc<Router>,
    host: Option<String>,
    certs: Option<Arc<Certificates>>,
    mut fenced: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let certs = certs.as_deref();
    let host = host.as_deref();
    // Certificate owners in use, counted by route, so a certificate is dropped with its last
    // endpoint.
    let mut owners: HashMap<SocketAddr, String>;
    loop {
        if *fenced.borrow_and_update() {
            match table(store.as_ref(), host, certs) {
                Ok(table) => {
                    tracing::warn!(
                        endpoints = table.endpoints.len(),
                        "fenced: every endpoint's connections are closed, new ones wait"
                    );
                    for (addr, error) in router.apply(without_backends(table)).await {
                        tracing::warn!(%addr, %error, "endpoint could not listen");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the routes to fence them"),
            }
            while *fenced.borrow_and_update() {
                tokio::select! {
                    () = fence_change(&mut fenced) => {}
                    _ = shutdown.changed() => return,
                }
            }
            tracing::info!("no longer fenced: every endpoint serves again");
        }
        // Subscribe before reading, so no commit falls in between.
        let mut feed = store.watch();
        match stored(store.as_ref()) {
            Ok(routes) => {
                owners = routes
                    .iter()
                    .filter_map(|r| r.tls.as_ref().map(|t| (r.listen, t.certificate.clone())))
                    .collect();
                let table = RouteTable {
                    endpoints: routes
                        .iter()
                        .filter(|r| served_here(r, host))
                        .filter_map(|r| endpoint(r, certs))
                        .collect(),
                };
                for (addr, error) in router.apply(table).await {
                    tracing::warn!(%addr, %error, "endpoint could not listen");
                }
                retain_certificates(certs, &owners);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the routes; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        }
        loop {
            let commit = tokio::select! {
                c = feed.recv() => c,
                () = fence_change(&mut fenced) => break,
                _ = shutdown.changed() => return,
            };
            let commit = match commit {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "route feed fell behind; reading every route again"
                    );
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut upserts = Vec::new();
            let mut removals = Vec::new();
            let mut dropped_tls = false;
            for change in commit.changes.iter().filter(|c| c.table == Route::TABLE) {
                match change.new_doc::<Route>() {
                    Some(route) => {
                        match &route.tls {
                            Some(t) => {
                                owners.insert(route.listen, t.certificate.clone());
                            }
                            None => dropped_tls |= owners.remove(&route.listen).is_some(),
                        }
                        match endpoint(&route, certs).filter(|_| served_here(&route, host)) {
                            Some(e) => upserts.push(e),
                            None => removals.push(route.listen),
                        }
                    }
                    None => {
                        if let Some(old) = change.old_doc::<Route>() {
                            dropped_tls |= owners.remove(&old.listen).is_some();
                            removals.push(old.listen);
                        }
                    }
                }
            }
            if upserts.is_empty() && removals.is_empty() {
                continue;
            }
            for (addr, error) in router.apply_changes(upserts, removals).await {
                tracing::warn!(%addr, %error, "endpoint could not listen");
            }
            if dropped_tls {
                retain_certificates(certs, &owners);
            }
        }
    }
}

/// Drops the cached certificates no endpoint serves any more.
fn retain_certificates(certs: Option<&Certificates>, owners: &HashMap<SocketAddr, String>) {
    if let Some(certs) = certs {
        let live: std::collections::HashSet<&str> = owners.values().map(String::as_str).collect();
        certs.retain(&|owner| live.contains(owner));
    }
}
