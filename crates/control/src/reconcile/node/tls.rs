//! A node's own TLS: with encryption in transit, every node also serves TLS itself on its
//! engine TLS port ([`engine_tls_port`]), with a certificate from the Ferrocache CA naming the
//! endpoints that lead to it, so that the kernel data path can connect a TLS client straight
//! to the node (the engine terminates TLS; no user-space hop).
//!
//! | layer | where | what |
//! |---|---|---|
//! | spec | `NodeSpec::transit_encryption` | TLS on or off |
//! | files | `<node dir>/tls/` | `server.crt`, `server.key` (0600), `ca.crt` |
//! | observed | `NodeObserved::tls` | the port and names the running process serves |
//!
//! The names are the node's own endpoint and its shard's primary and reader endpoints (the
//! endpoints whose connections can reach it), and the owner's DNS names. A certificate is
//! issued when the recorded one names other addresses or nears its end; the files are written
//! whole (a temporary file renamed), then a running node is told with `CONFIG SET`, which
//! re-reads them; the record is written after, so a crash between repeats the same steps.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ferrocache_engine::{EngineTls, NodeAddress};
use ferrocache_model::node::{engine_tls_port, NodeIntent, NodeObserved, NodeSpec, ObservedTls};
use ferrocache_pki::ServerNames;

use super::super::{Context, ReconcileError};
use super::{Facts, NODE_CALL_TIMEOUT};

/// Directory of a node's TLS files, inside its node directory.
const TLS_DIR: &str = "tls";
/// A certificate this close to its end is replaced.
const RENEW_BEFORE_SECONDS: i64 = 30 * 24 * 3600;

/// The TLS a node should serve, and the record of it once served.
pub(crate) struct Wanted {
    /// The engine's settings.
    pub(crate) engine: EngineTls,
    /// What `NodeObserved::tls` reads once the process serves it.
    pub(crate) record: ObservedTls,
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

/// Prepares the node's TLS: `None` without encryption in transit (or without a CA); else the
/// engine settings, with the certificate files in place — the recorded ones when they still
/// name the right addresses, else newly issued ones.
///
/// # Errors
/// Issuing or writing the files failed; retried.
pub(crate) fn prepare(
    ctx: &Context,
    facts: &Facts,
    intent: &NodeIntent,
    observed: &NodeObserved,
) -> Result<Option<Wanted>, ReconcileError> {
    let spec = &facts.spec;
    let (Some(_), Some(certificates)) = (&spec.transit_encryption, &ctx.tls_certificates) else {
        return Ok(None);
    };
    let authority = certificates.authority();
    let dir = ctx.config.nodes_dir.join(&spec.id).join(TLS_DIR);
    let engine = EngineTls {
        port: engine_tls_port(spec.port),
        cert_file: dir.join("server.crt"),
        key_file: dir.join("server.key"),
        ca_file: dir.join("ca.crt"),
    };
    let ips = addresses(facts, intent);
    let now = chrono::Utc::now().timestamp();
    let current = observed.tls.as_ref().filter(|t| {
        t.ips == ips
            && t.port == engine.port
            && t.not_after - RENEW_BEFORE_SECONDS > now
            && engine.cert_file.exists()
            && engine.key_file.exists()
    });
    if let Some(current) = current {
        return Ok(Some(Wanted {
            engine,
            record: current.clone(),
        }));
    }
    let owner = spec.group_id.as_deref().unwrap_or(&spec.id);
    let names = ServerNames::new(
        ips.iter().map(|ip| IpAddr::V4(*ip)),
        super::super::routes::dns_names(owner, &spec.region),
    );
    let cert = authority
        .issue(&names)
        .map_err(|e| ReconcileError::NodeTls(format!("issuing: {e}")))?;
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    write_whole(&engine.ca_file, authority.cert_pem().as_bytes(), 0o644)?;
    write_whole(&engine.key_file, cert.key_pem.as_bytes(), 0o600)?;
    write_whole(&engine.cert_file, cert.chain_pem.as_bytes(), 0o644)?;
    tracing::info!(node = %spec.id, ?ips, "issued the node's own TLS certificate");
    Ok(Some(Wanted {
        record: ObservedTls {
            port: engine.port,
            ips,
            not_after: cert.not_after.unix_timestamp(),
        },
        engine,
    }))
}

/// Brings a running process to `wanted` (it was started with it when `started`): `CONFIG SET`
/// of the files and the port, or of port 0 when TLS is off; records what it serves.
///
/// # Errors
/// The node cannot be reached; nothing is recorded then and the next run tries again.
pub(crate) async fn apply(
    ctx: &Context,
    spec: &NodeSpec,
    address: &NodeAddress,
    wanted: Option<&Wanted>,
    started: bool,
    observed: &mut NodeObserved,
) -> Result<(), ReconcileError> {
    let record = wanted.map(|w| w.record.clone());
    if observed.tls == record {
        return Ok(());
    }
    if !started {
        for (name, value) in EngineTls::settings(wanted.map(|w| &w.engine)) {
            ctx.agent
                .config_set(address, name, &value, NODE_CALL_TIMEOUT)
                .await?;
        }
        tracing::info!(node = %spec.id, tls = ?record, "the node's own TLS changed");
    }
    observed.tls = record;
    Ok(())
}

/// Writes `contents` to `path` whole: a temporary file with `mode`, synced, then renamed over
/// `path`, so that a process reading `path` sees the old or the new file, never a part.
fn write_whole(path: &Path, contents: &[u8], mode: u32) -> Result<(), ReconcileError> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(|e| io_error(&temporary, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, error: std::io::Error) -> ReconcileError {
    ReconcileError::NodeTls(format!("{}: {error}", path.display()))
}
