//! A node's own TLS: with encryption in transit, a node serves TLS itself on its engine TLS
//! port ([`engine_tls_port`] of the port it binds), with a certificate from the Ferrocache CA
//! naming the endpoints that lead to it:
//!
//! - with `--engine-tls`, every such node, so that the kernel data path can connect a TLS
//!   client straight to the node (the engine terminates TLS; no user-space hop);
//! - with several hosts, every such node placed on a named host, and its replication goes over
//!   TLS too (`tls-replication`): a replica connects to its primary's TLS port on the
//!   primary's host ([`replication_source`]) and checks its certificate against the CA.
//!
//! | layer | where | what |
//! |---|---|---|
//! | spec | `NodeSpec::transit_encryption` | TLS on or off |
//! | files | `<node dir>/tls/` on the node's host | written by that host's agent |
//! | observed | `NodeObserved::tls` | the port and names the running process serves |
//!
//! The names are the node's own endpoint and its shard's primary and reader endpoints (the
//! endpoints whose connections can reach it), and the owner's DNS names. The certificate is
//! issued by the agent of the node's host (`NodeRuntime::issue_node_tls`; the key never leaves
//! that host): before every start of the process, and for a running process when the recorded
//! one names other addresses or nears its end — then the process is told with `CONFIG SET`,
//! which re-reads the files. The record is written after, so a crash between repeats the
//! same steps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrocache_engine::{EngineTls, NodeAddress};
use ferrocache_model::node::{engine_tls_port, NodeIntent, NodeObserved, NodeSpec, ObservedTls};
use ferrocache_pki::ServerNames;

use super::super::{Context, ReconcileError};
use super::{private_address, Facts, NODE_CALL_TIMEOUT};
use crate::runtime::RuntimeError;

/// A certificate this close to its end is replaced.
const RENEW_BEFORE_SECONDS: i64 = 30 * 24 * 3600;

/// The TLS a node should serve, and the record of it once served.
pub(crate) struct Wanted {
    /// The engine's settings (the files where the node's host keeps them once issued).
    pub(crate) engine: EngineTls,
    /// What `NodeObserved::tls` reads once the process serves it; `None` until a certificate
    /// is issued (the recorded one does not fit).
    pub(crate) record: Option<ObservedTls>,
    /// What the certificate names.
    names: ServerNames,
    /// The host the node is placed on (`None`: the one running the control plane).
    host: Option<String>,
}

/// Whether the node replicates over TLS: encryption in transit, on a named host (its
/// replication crosses the network between hosts).
pub fn replicates_over_tls(spec: &NodeSpec, intent: &NodeIntent) -> bool {
    spec.transit_encryption.is_some() && intent.host.is_some()
}

/// Where the replicas of `spec` (placed by `intent`) connect when it is their primary: its
/// TLS port when it replicates over TLS, else its private address.
pub fn replication_source(spec: &NodeSpec, intent: &NodeIntent) -> SocketAddr {
    let private = private_address(spec, intent);
    match replicates_over_tls(spec, intent) {
        true => SocketAddr::new(private.ip(), engine_tls_port(private.port())),
        false => private,
    }
}

/// The endpoints whose connections can reach the node.
fn addresses(facts: &Facts, intent: &NodeIntent) -> Vec<Ipv4Addr> {
    let mut ips = vec![intent.endpoint];
    if let Some(shard) = &facts.shard {
        ips.extend([shard.primary_endpoint, shard.reader_endpoint]);
    }
    ips.sort();
    ips.dedup();
    ips
}

/// The node's TLS: `None` without encryption in transit, or when neither `--engine-tls` nor
/// a named host asks for it; else the engine settings, with the recorded certificate when it
/// still names the right addresses and is not near its end.
pub(crate) fn prepare(
    ctx: &Context,
    facts: &Facts,
    intent: &NodeIntent,
    observed: &NodeObserved,
) -> Option<Wanted> {
    let spec = &facts.spec;
    spec.transit_encryption.as_ref()?;
    let replication = replicates_over_tls(spec, intent);
    if !ctx.engine_tls && !replication {
        return None;
    }
    let files = ferrocache_agent::tls::paths_in(&ctx.config.nodes_dir.join(&spec.id));
    let engine = EngineTls {
        port: engine_tls_port(private_address(spec, intent).port()),
        cert_file: files.cert_file,
        key_file: files.key_file,
        ca_file: files.ca_file,
        replication,
    };
    let ips = addresses(facts, intent);
    let now = chrono::Utc::now().timestamp();
    let record = observed
        .tls
        .as_ref()
        .filter(|t| {
            t.ips == ips
                && t.port == engine.port
                && t.replication == replication
                && t.not_after - RENEW_BEFORE_SECONDS > now
        })
        .cloned();
    let owner = spec.group_id.as_deref().unwrap_or(&spec.id);
    let names = ServerNames::new(
        ips.iter().map(|ip| IpAddr::V4(*ip)),
        super::super::routes::dns_names(owner, &spec.region),
    );
    Some(Wanted {
        engine,
        record,
        names,
        host: intent.host_name().map(str::to_string),
    })
}

/// Has the agent of the node's host issue its certificate and write the files there; `wanted`
/// then names those files and records the new certificate.
///
/// # Errors
/// The agent's (no CA, a file not written, the host out of reach).
pub(crate) async fn issue(
    ctx: &Context,
    spec: &NodeSpec,
    wanted: &mut Wanted,
) -> Result<(), RuntimeError> {
    let files = ctx
        .agent
        .issue_node_tls(&spec.id, wanted.host.as_deref(), &wanted.names)
        .await?;
    wanted.engine.cert_file = files.cert_file;
    wanted.engine.key_file = files.key_file;
    wanted.engine.ca_file = files.ca_file;
    wanted.record = Some(ObservedTls {
        port: wanted.engine.port,
        ips: wanted
            .names
            .ips()
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect(),
        not_after: files.not_after,
        replication: wanted.engine.replication,
    });
    Ok(())
}

/// Brings a running process to `wanted` (it was started with it when `started`): a
/// certificate issued when the recorded one does not fit, then `CONFIG SET` of the files and
/// the port, or of port 0 when TLS is off; records what it serves.
///
/// # Errors
/// The node or its host cannot be reached; nothing is recorded then and the next run tries
/// again.
pub(crate) async fn apply(
    ctx: &Context,
    spec: &NodeSpec,
    address: &NodeAddress,
    mut wanted: Option<&mut Wanted>,
    started: bool,
    observed: &mut NodeObserved,
) -> Result<(), ReconcileError> {
    if let Some(w) = wanted.as_deref_mut() {
        if w.record.is_none() {
            issue(ctx, spec, w).await?;
        }
    }
    let record = wanted.as_ref().and_then(|w| w.record.clone());
    if observed.tls == record {
        return Ok(());
    }
    if !started {
        for (name, value) in EngineTls::settings(wanted.as_ref().map(|w| &w.engine)) {
            ctx.agent
                .config_set(address, name, &value, NODE_CALL_TIMEOUT)
                .await?;
        }
        tracing::info!(node = %spec.id, tls = ?record, "the node's own TLS changed");
    }
    observed.tls = record;
    Ok(())
}
