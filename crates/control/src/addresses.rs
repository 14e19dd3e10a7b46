//! The address book: which addresses of `--endpoint-cidr` are taken, and the next one to give.
//!
//! Every endpoint (a node's, a shard's primary and reader) gets its own address in the first
//! half of the CIDR and listens on the group's port, so `redis-cli -h <address> -p 6379` works
//! as the runbooks write it. Every redis-server binds a *private* address from the second half,
//! on the same port, reached only by the router and by replication.
//!
//! Who holds an address is the store's [`ADDRESSES`] index over the intents that name it
//! (nothing separate to keep in sync: deleting an intent frees its addresses). Allocation
//! happens in the transaction that writes the intent and starts from a cursor kept per pool, so
//! it looks at one or two addresses, not at every intent; freed addresses are found again once
//! the cursor wraps around the pool.

use std::net::Ipv4Addr;

use ferrocache_model::Fault;
use ferrocache_store::tables::{self, Counter, ADDRESSES};
use ferrocache_store::{ReadExt, StoreError, WriteExt, Writer};
use ipnet::Ipv4Net;

/// Which half of the CIDR an address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Client-facing endpoints (first half).
    Endpoint,
    /// redis-server processes (second half).
    Private,
}

/// Why no address could be given.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pool is full.
    #[error(transparent)]
    Exhausted(#[from] Fault),
}

impl From<AddressError> for crate::reconcile::ReconcileError {
    fn from(e: AddressError) -> Self {
        match e {
            AddressError::Store(e) => e.into(),
            AddressError::Exhausted(f) => f.into(),
        }
    }
}

/// The first and last address (as numbers) of `pool` in `cidr`.
fn bounds(cidr: Ipv4Net, pool: Pool) -> (u32, u32) {
    let first = u32::from(cidr.network()) + 1;
    let last = u32::from(cidr.broadcast()).saturating_sub(1).max(first);
    let middle = first + (last - first) / 2;
    match pool {
        Pool::Endpoint => (first, middle),
        Pool::Private => (middle + 1, last),
    }
}

/// Whether some intent holds `address`.
///
/// # Errors
/// Store failures.
pub fn is_taken(r: &dyn ferrocache_store::Reader, address: Ipv4Addr) -> Result<bool, StoreError> {
    Ok(r.lookup_count(ADDRESSES, &tables::address_key(address))? > 0)
}

/// `count` free addresses of `pool`, distinct, taken from the cursor on; the caller writes the
/// intent that holds them in the same transaction.
///
/// # Errors
/// [`Fault::InsufficientCacheClusterCapacity`] when the pool has fewer free addresses; store
/// failures.
pub fn allocate_many(
    w: &mut dyn Writer,
    cidr: Ipv4Net,
    pool: Pool,
    count: usize,
) -> Result<Vec<Ipv4Addr>, AddressError> {
    let (from, to) = bounds(cidr, pool);
    let cursor_key = match pool {
        Pool::Endpoint => tables::NEXT_ENDPOINT_ADDRESS,
        Pool::Private => tables::NEXT_PRIVATE_ADDRESS,
    };
    let size = u64::from(to - from) + 1;
    let start = w
        .doc::<Counter>(cursor_key)?
        .map(|c| c.0)
        .filter(|c| (u64::from(from)..=u64::from(to)).contains(c))
        .unwrap_or(u64::from(from));
    let mut found = Vec::with_capacity(count);
    let mut offset = 0u64;
    while found.len() < count && offset < size {
        let candidate = u64::from(from) + (start - u64::from(from) + offset) % size;
        offset += 1;
        let address = Ipv4Addr::from(candidate as u32);
        if !is_taken(w, address)? {
            found.push(address);
        }
    }
    if found.len() < count {
        return Err(Fault::InsufficientCacheClusterCapacity(format!(
            "No free addresses are left in the endpoint range {cidr}. Delete unused clusters or start Ferrocache with a larger --endpoint-cidr."
        ))
        .into());
    }
    let next = u64::from(from) + (start - u64::from(from) + offset) % size;
    w.put_doc(cursor_key, &Counter(next))?;
    Ok(found)
}

/// One free address of `pool` (see [`allocate_many`]).
///
/// # Errors
/// As [`allocate_many`].
pub fn allocate(w: &mut dyn Writer, cidr: Ipv4Net, pool: Pool) -> Result<Ipv4Addr, AddressError> {
    Ok(allocate_many(w, cidr, pool, 1)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_model::node::NodeIntent;
    use ferrocache_store::{update, RedbStore};

    // Goal: the two pools never overlap, allocation skips held addresses, freed addresses come
    // back once the cursor wraps, and a full pool is AWS's capacity fault.
    // Method: a /29 (three endpoint and three private addresses), intents written and deleted.
    #[test]
    fn pools_cursor_reuse_and_exhaustion() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let cidr: Ipv4Net = "127.77.0.0/29".parse().unwrap();
        let place = |key: &str| {
            update(&store, |w| -> Result<NodeIntent, AddressError> {
                let intent = NodeIntent {
                    zone: "z".into(),
                    endpoint: allocate(w, cidr, Pool::Endpoint)?,
                    private: allocate(w, cidr, Pool::Private)?,
                    host: None,
                };
                w.put_doc(key, &intent)?;
                Ok(intent)
            })
        };
        let a = place("a").unwrap();
        assert_eq!(a.endpoint, Ipv4Addr::new(127, 77, 0, 1));
        assert_eq!(a.private, Ipv4Addr::new(127, 77, 0, 4));
        let b = place("b").unwrap();
        assert_eq!(b.endpoint, Ipv4Addr::new(127, 77, 0, 2));
        let two = update(&store, |w| allocate_many(w, cidr, Pool::Endpoint, 2));
        assert!(two.is_err(), "only one endpoint address is left");
        place("c").unwrap();
        assert!(place("d").is_err());
        update(&store, |w| -> Result<(), StoreError> {
            w.delete_doc::<NodeIntent>("a")?;
            Ok(())
        })
        .unwrap();
        let d = place("d").unwrap();
        assert_eq!(d.endpoint, a.endpoint, "a's address is free again");
        assert_eq!(d.private, a.private);
    }
}
