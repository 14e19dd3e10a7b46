//! The address book: which addresses of `--endpoint-cidr` are taken.
//!
//! Every endpoint (a node's, a group's primary and reader) gets its own address in the first
//! half of the CIDR and listens on the group's port, so `redis-cli -h <address> -p 6379` works
//! as the runbooks write it. Every redis-server binds a *private* address from the second half,
//! on the same port, reached only by the router and by replication. Taken addresses are derived
//! from the intents in the store (nothing separate to keep in sync), and allocation happens in
//! the same transaction that writes the intent, so two allocations never collide.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ferrocache_model::group::GroupIntent;
use ferrocache_model::node::NodeIntent;
use ferrocache_model::Fault;
use ferrocache_store::{ReadExt, Reader, StoreError};
use ipnet::Ipv4Net;

/// Which half of the CIDR an address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Client-facing endpoints (first half).
    Endpoint,
    /// redis-server processes (second half).
    Private,
}

/// Every address some intent holds.
///
/// # Errors
/// Store failures.
pub fn taken(r: &dyn Reader) -> Result<BTreeSet<Ipv4Addr>, StoreError> {
    let mut used = BTreeSet::new();
    for (_, n) in r.docs::<NodeIntent>("")? {
        used.insert(n.endpoint);
        used.insert(n.private);
    }
    for (_, g) in r.docs::<GroupIntent>("")? {
        used.insert(g.primary_endpoint);
        used.insert(g.reader_endpoint);
    }
    Ok(used)
}

/// The lowest free address of `pool`, marked taken in `used`.
///
/// # Errors
/// [`Fault::InsufficientCacheClusterCapacity`] when the pool is exhausted.
pub fn allocate(
    cidr: Ipv4Net,
    pool: Pool,
    used: &mut BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, Fault> {
    let first = u32::from(cidr.network()) + 1;
    let last = u32::from(cidr.broadcast()).saturating_sub(1).max(first);
    let middle = first + (last - first) / 2;
    let (from, to) = match pool {
        Pool::Endpoint => (first, middle),
        Pool::Private => (middle + 1, last),
    };
    for candidate in from..=to {
        let ip = Ipv4Addr::from(candidate);
        if used.insert(ip) {
            return Ok(ip);
        }
    }
    Err(Fault::InsufficientCacheClusterCapacity(format!(
        "No free addresses are left in the endpoint range {cidr}. Delete unused clusters or start Ferrocache with a larger --endpoint-cidr."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_do_not_overlap_and_exhaust_cleanly() {
        let cidr: Ipv4Net = "127.77.0.0/29".parse().unwrap();
        let mut used = BTreeSet::new();
        let e1 = allocate(cidr, Pool::Endpoint, &mut used).unwrap();
        let p1 = allocate(cidr, Pool::Private, &mut used).unwrap();
        assert_eq!(e1, Ipv4Addr::new(127, 77, 0, 1));
        assert_eq!(p1, Ipv4Addr::new(127, 77, 0, 4));
        allocate(cidr, Pool::Endpoint, &mut used).unwrap();
        allocate(cidr, Pool::Endpoint, &mut used).unwrap();
        assert!(allocate(cidr, Pool::Endpoint, &mut used).is_err());
    }
}
