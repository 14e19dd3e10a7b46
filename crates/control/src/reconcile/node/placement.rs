//! Placement: a node's availability zone, endpoint address and private address, chosen once
//! and written as its intent in the same transaction that takes the addresses from the
//! address book, so two nodes never get the same address.

use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_model::{ids, zone};
use ferrocache_store::{update, ReadExt, WriteExt};

use super::super::{Context, ReconcileError};
use crate::addresses::{self, Pool};

/// Chooses the node's zone and addresses (or returns the ones chosen before).
///
/// # Errors
/// Store failures; [`ferrocache_model::Fault::InsufficientCacheClusterCapacity`] when
/// `--endpoint-cidr` has no free address left.
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
            let zone = spec.preferred_zone.clone().unwrap_or_else(|| {
                zone::spread(&spec.region, &[], index as usize, 0)[index as usize - 1].clone()
            });
            let intent = NodeIntent {
                zone,
                endpoint: addresses::allocate(w, cidr, Pool::Endpoint)?,
                private: addresses::allocate(w, cidr, Pool::Private)?,
            };
            w.put_doc(key, &intent)?;
            Ok(intent)
        },
    )
}
