//! Placement: a node's availability zone, endpoint address and private address, chosen once
//! and written as its intent in the same transaction that takes the addresses from the
//! address book, so two nodes never get the same address.
//!
//! With several hosts on one store ([`ControlConfig::host`](super::super::ControlConfig)), a
//! node also gets a host: one that runs no other member of its shard when there is one (a host
//! lost takes one copy of the data, not two), in the node's preferred zone when a host is
//! there, else the host with the fewest nodes — always one with memory left for the node's type
//! ([`capacity`]); the node's zone is then its host's, as
//! `DescribeCacheClusters` shows — unless no host is in the zone asked for, which then stays a
//! label as on one host. It binds the host's address on a port of that host's own.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ferrocache_model::host::HostRecord;
use ferrocache_model::node::{HostPlacement, NodeIntent, NodeSpec};
use ferrocache_model::{ids, zone, Fault};
use ferrocache_store::tables::{self, Counter};
use ferrocache_store::{update, ReadExt, Reader, WriteExt, Writer};

use super::super::{Context, ReconcileError};
use crate::addresses::{self, Pool};
use crate::capacity;

/// The ports nodes on a named host listen on (their cluster bus, 10000 above, stays below
/// 65536).
pub const HOST_PORTS: std::ops::RangeInclusive<u16> = 21000..=27999;

/// Chooses the node's zone and addresses (or returns the ones chosen before).
///
/// # Errors
/// Store failures; [`ferrocache_model::Fault::InsufficientCacheClusterCapacity`] when
/// `--endpoint-cidr` has no free address left, or no host a free port.
pub(crate) fn place(
    ctx: &Context,
    key: &str,
    spec: &NodeSpec,
) -> Result<NodeIntent, ReconcileError> {
    let cidr = ctx.config.cidr;
    update(
        ctx.store.as_ref(),
        |w| -> Result<NodeIntent, ReconcileError> {
            if let Some(existing) = w.doc::<NodeIntent>(key)? {
                return Ok(existing);
            }
            // Zones are given at creation (from the subnet group); records written before
            // subnet groups existed are spread over the region's zones by member index.
            let index = spec
                .group_id
                .as_deref()
                .and_then(|g| ids::member_index(g, &spec.id))
                .unwrap_or(1);
            let mut zone = spec.preferred_zone.clone().unwrap_or_else(|| {
                zone::spread(&spec.region, &[], index as usize, 0)[index as usize - 1].clone()
            });
            let endpoint = addresses::allocate(w, cidr, Pool::Endpoint)?;
            let (private, host) = match (&ctx.config.host, spec.spreads_across_hosts()) {
                (Some(_), true) => {
                    let (private, host) = on_a_host(w, cidr, spec, &mut zone)?;
                    (private, Some(host))
                }
                _ => (addresses::allocate(w, cidr, Pool::Private)?, None),
            };
            let intent = NodeIntent {
                zone,
                endpoint,
                private,
                host,
            };
            w.put_doc(key, &intent)?;
            Ok(intent)
        },
    )
}

/// A host for `spec` and the address it binds there; `zone` (the one asked for) becomes the
/// host's when some host is in it.
///
/// # Errors
/// No host with room ([`Fault::InsufficientCacheClusterCapacity`]), no free port or address;
/// store failures.
pub(crate) fn on_a_host(
    w: &mut dyn Writer,
    cidr: ipnet::Ipv4Net,
    spec: &NodeSpec,
    zone: &mut String,
) -> Result<(Ipv4Addr, HostPlacement), ReconcileError> {
    let host = choose_host(w, spec, zone)?;
    on_chosen_host(w, cidr, host, zone)
}

/// Places a node on `host` (chosen, with room for it): the address it binds there; `zone` (the
/// one asked for) becomes the host's when some host is in it.
///
/// # Errors
/// No free port or address; store failures.
pub(crate) fn on_chosen_host(
    w: &mut dyn Writer,
    cidr: ipnet::Ipv4Net,
    host: HostRecord,
    zone: &mut String,
) -> Result<(Ipv4Addr, HostPlacement), ReconcileError> {
    // A node in a zone some host is in runs in its host's zone (the one asked for, unless that
    // host runs another member of the shard). A zone no host is in stays what was asked for, a
    // label, as on one host: the runbooks' PreferredCacheClusterAZs work on fewer hosts than
    // zones.
    if host.zone != *zone && zone_has_host(w, zone)? {
        zone.clone_from(&host.zone);
    }
    let address = host_address(&host)?;
    // Hosts on one machine (loopback addresses) give each node its own private address, as one
    // host does; others share the host's address by port.
    let (private, port) = if address.is_loopback() {
        (addresses::allocate(w, cidr, Pool::Private)?, None)
    } else {
        (address, Some(allocate_port(w, &host.name)?))
    };
    Ok((
        private,
        HostPlacement {
            name: host.name,
            port,
        },
    ))
}

/// The host [`on_a_host`] would choose for `spec` now, if any has room.
///
/// # Errors
/// Store failures.
pub(crate) fn host_with_room(
    r: &dyn Reader,
    spec: &NodeSpec,
    zone: &str,
) -> Result<Option<HostRecord>, ReconcileError> {
    match choose_host(r, spec, zone) {
        Ok(host) => Ok(Some(host)),
        Err(ReconcileError::Fault(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The host for a new member of `spec`'s shard, among those with memory left for its node
/// type and not draining: first one running no other member of it, then one in `zone`, then
/// the one with the fewest nodes, then by name.
fn choose_host(w: &dyn Reader, spec: &NodeSpec, zone: &str) -> Result<HostRecord, ReconcileError> {
    let taken: HashSet<String> = match (&spec.group_id, &spec.shard_id) {
        (Some(group), Some(shard)) => {
            let mut taken = HashSet::new();
            for member in w.lookup(
                tables::NODES_BY_SHARD,
                &tables::shard_key(&spec.region, group, shard),
            )? {
                if let Some(host) = w.doc::<NodeIntent>(&member)?.and_then(|i| i.host) {
                    taken.insert(host.name);
                }
            }
            taken
        }
        _ => HashSet::new(),
    };
    let mut best: Option<((bool, bool, usize, String), HostRecord)> = None;
    let mut registered = false;
    for (_, host) in w.docs::<HostRecord>("")? {
        if host.agent.is_none()
            || host.address.parse::<Ipv4Addr>().is_err()
            || capacity::draining(w, &host.name)?
        {
            continue;
        }
        registered = true;
        if !capacity::fits(w, &host, &spec.node_type)? {
            continue;
        }
        let rank = (
            taken.contains(&host.name),
            host.zone != zone,
            w.lookup_count(tables::NODES_BY_HOST, &host.name)?,
            host.name.clone(),
        );
        if best.as_ref().is_none_or(|(b, _)| rank < *b) {
            best = Some((rank, host));
        }
    }
    match best {
        Some((_, host)) => Ok(host),
        // The API admitted the node, but another took the room first: it waits for room.
        None if registered => Err(capacity::insufficient_now(w, spec)?.into()),
        None => Err(Fault::InsufficientCacheClusterCapacity(
            "No host is registered to run cache nodes: start ferrocache on a host with this --store."
                .into(),
        )
        .into()),
    }
}

/// Whether a registered host is in `zone` (hosts are few: their records are read).
fn zone_has_host(r: &dyn Reader, zone: &str) -> Result<bool, ReconcileError> {
    Ok(r.docs::<HostRecord>("")?
        .iter()
        .any(|(_, h)| h.agent.is_some() && h.zone == zone))
}

/// The IPv4 address nodes on `host` bind.
fn host_address(host: &HostRecord) -> Result<Ipv4Addr, ReconcileError> {
    host.address.parse().map_err(|_| {
        Fault::InsufficientCacheClusterCapacity(format!(
            "Host {} advertises {}, not an IPv4 address.",
            host.name, host.address
        ))
        .into()
    })
}

/// A free port of `host` from [`HOST_PORTS`], from a cursor kept per host (freed ports come
/// back once it wraps).
fn allocate_port(w: &mut dyn Writer, host: &str) -> Result<u16, ReconcileError> {
    let cursor_key = format!("next_host_port/{host}");
    let (first, last) = (*HOST_PORTS.start(), *HOST_PORTS.end());
    let size = u32::from(last - first) + 1;
    let start = w
        .doc::<Counter>(&cursor_key)?
        .map(|c| c.0)
        .filter(|c| (u64::from(first)..=u64::from(last)).contains(c))
        .map_or(0, |c| (c - u64::from(first)) as u32);
    for offset in 0..size {
        let port = first + ((start + offset) % size) as u16;
        if w.lookup_count(tables::HOST_PORTS, &tables::host_port_key(host, port))? == 0 {
            let next = u64::from(first) + u64::from((start + offset + 1) % size);
            w.put_doc(&cursor_key, &Counter(next))?;
            return Ok(port);
        }
    }
    Err(Fault::InsufficientCacheClusterCapacity(format!(
        "Host {host} has no free port left for a cache node."
    ))
    .into())
}
