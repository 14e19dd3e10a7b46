//! Which resources a change concerns: the map from a store commit (every changed document,
//! with its value before and after) to the work it queues — the "watches" of a kube-rs
//! controller. Only the resources a change concerns are queued; nothing is re-listed.
//!
//! | a change to | queues |
//! |---|---|
//! | a node's spec | the node; its shard, group and endpoints (before and after, when it moves); a standalone node's automatic snapshots |
//! | a node's intent | its endpoints |
//! | a node's observed facts | every member of its shard (orders wait on the primary's facts), the shard, its group and endpoints |
//! | a shard's spec | the shard and its group |
//! | a shard's intent | the shard, every member (their orders), the group's endpoints, the group |
//! | a group's spec | the group, its shards, its endpoints, its automatic snapshots |
//! | a snapshot | the snapshot, the node it is taken on and every member of its group (a deletion may wait for it), its source's automatic snapshots |
//! | a parameter group | the nodes using it |
//! | a security group | the endpoints of the groups and standalone nodes naming it |
//! | a host's spec (a drain) | every node placed on the host, and their shards |
//!
//! The rest (routes, events, counters, VPCs, subnets, users — whose changes reach nodes as a
//! new node spec generation) queue nothing. The `relist` is the one pass over everything, for
//! start-up and for a change feed that fell behind.

use std::collections::BTreeSet;

use ferrocache_model::group::{GroupIntent, GroupObserved, GroupSpec};
use ferrocache_model::host::HostSpec;
use ferrocache_model::network::SecurityGroup;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::parameter::ParameterGroupSpec;
use ferrocache_model::route::Route;
use ferrocache_model::shard::{ShardIntent, ShardObserved, ShardSpec};
use ferrocache_model::snapshot::{SnapshotObserved, SnapshotSpec};
use ferrocache_store::{tables, Change, Commit, Doc, ReadExt, Reader, StoreError};

use super::queue::{Kind, Work};

/// The work one commit queues.
///
/// # Errors
/// Store failures (a node's spec or a shard's members are read for some changes).
pub(crate) fn for_commit(r: &dyn Reader, commit: &Commit) -> Result<BTreeSet<Work>, StoreError> {
    let mut out = BTreeSet::new();
    for change in &commit.changes {
        for_change(r, change, &mut out)?;
    }
    Ok(out)
}

fn node_spec_works(spec: &NodeSpec, out: &mut BTreeSet<Work>) {
    match (&spec.group_id, &spec.shard_id) {
        (Some(group), shard) => {
            let group_key = tables::key(&spec.region, group);

            if let Some(shard) = shard {
                out.insert(Work::new(
                    Kind::Shard,
                    tables::shard_key(&spec.region, group, shard),
                ));
            }
            out.insert(Work::new(Kind::Routes, group_key.clone()));
            group_works(group_key, out);
        }
        (None, _) => {
            let key = tables::key(&spec.region, &spec.id);
            out.insert(Work::new(Kind::Routes, key.clone()));
            out.insert(Work::new(Kind::Automatic, key));
        }
    }
}

fn shard_members(
    r: &dyn Reader,
    shard_key: &str,
    out: &mut BTreeSet<Work>,
) -> Result<(), StoreError> {
    for key in r.lookup(tables::NODES_BY_SHARD, shard_key)? {
        out.insert(Work::new(Kind::Node, key));
    }
    Ok(())
}

/// A group's own reconcilers: its status and events, its resharding, its cluster mode.
fn group_works(key: String, out: &mut BTreeSet<Work>) {
    out.insert(Work::new(Kind::Reshard, key.clone()));
    out.insert(Work::new(Kind::ClusterMode, key.clone()));
    out.insert(Work::new(Kind::Group, key));
}

/// The group key of a shard key (`<region>/<group>/<shard>` → `<region>/<group>`).
fn group_of_shard(shard_key: &str) -> &str {
    shard_key.rsplit_once('/').map_or(shard_key, |(g, _)| g)
}

fn for_change(r: &dyn Reader, c: &Change, out: &mut BTreeSet<Work>) -> Result<(), StoreError> {
    match c.table.as_str() {
        NodeSpec::TABLE => {
            out.insert(Work::new(Kind::Node, c.key.clone()));
            for spec in [c.old_doc::<NodeSpec>(), c.new_doc::<NodeSpec>()]
                .into_iter()
                .flatten()
            {
                node_spec_works(&spec, out);
                if let (true, Some(group)) = (spec.cluster_mode.runs_cluster(), &spec.group_id) {
                    // In cluster mode the other members meet a new member and forget a
                    // removed one.
                    shard_members(r, &tables::key(&spec.region, group), out)?;
                }
            }
        }
        NodeIntent::TABLE => {
            if let Some(spec) = r.doc::<NodeSpec>(&c.key)? {
                node_spec_works(&spec, out);
            }
        }
        NodeObserved::TABLE => {
            if let Some(spec) = r.doc::<NodeSpec>(&c.key)? {
                if let (Some(group), Some(shard)) = (&spec.group_id, &spec.shard_id) {
                    let group_key = tables::key(&spec.region, group);
                    // In cluster mode the members of every shard form one cluster: each
                    // waits for the others to run before it meets them.
                    let cluster = r
                        .doc::<GroupSpec>(&group_key)?
                        .is_some_and(|g| g.cluster_mode.runs_cluster());
                    let scope = if cluster {
                        group_key
                    } else {
                        tables::shard_key(&spec.region, group, shard)
                    };
                    shard_members(r, &scope, out)?;
                    // The node's own run wrote these facts; it does not need to run again.
                    out.remove(&Work::new(Kind::Node, c.key.clone()));
                }
                node_spec_works(&spec, out);
                out.remove(&Work::new(Kind::Automatic, c.key.clone()));
            }
        }
        HostSpec::TABLE => {
            for key in r.lookup(tables::NODES_BY_HOST, &c.key)? {
                if let Some(spec) = r.doc::<NodeSpec>(&key)? {
                    if let (Some(group), Some(shard)) = (&spec.group_id, &spec.shard_id) {
                        out.insert(Work::new(
                            Kind::Shard,
                            tables::shard_key(&spec.region, group, shard),
                        ));
                    }
                }
                out.insert(Work::new(Kind::Node, key));
            }
        }
        ShardSpec::TABLE | ShardObserved::TABLE => {
            out.insert(Work::new(Kind::Shard, c.key.clone()));
            group_works(group_of_shard(&c.key).to_string(), out);
        }
        ShardIntent::TABLE => {
            let group = group_of_shard(&c.key).to_string();
            out.insert(Work::new(Kind::Shard, c.key.clone()));
            shard_members(r, &c.key, out)?;
            out.insert(Work::new(Kind::Routes, group.clone()));
            group_works(group, out);
        }
        GroupSpec::TABLE => {
            group_works(c.key.clone(), out);
            out.insert(Work::new(Kind::Routes, c.key.clone()));
            out.insert(Work::new(Kind::Automatic, c.key.clone()));
            for (shard_key, _) in r.docs::<ShardSpec>(&format!("{}/", c.key))? {
                out.insert(Work::new(Kind::Shard, shard_key));
            }
        }
        GroupIntent::TABLE => {
            out.insert(Work::new(Kind::Routes, c.key.clone()));
        }
        GroupObserved::TABLE => {
            // A resharding carried out lets the group read `available` again.
            out.insert(Work::new(Kind::Group, c.key.clone()));
            // A group that just became created lets its shards fail over.
            for (shard_key, _) in r.docs::<ShardSpec>(&format!("{}/", c.key))? {
                out.insert(Work::new(Kind::Shard, shard_key));
            }
        }
        SnapshotSpec::TABLE | SnapshotObserved::TABLE => {
            out.insert(Work::new(Kind::Snapshot, c.key.clone()));
            let spec = c
                .new_doc::<SnapshotSpec>()
                .or_else(|| c.old_doc::<SnapshotSpec>())
                .map_or_else(|| r.doc::<SnapshotSpec>(&c.key), |s| Ok(Some(s)))?;
            if let Some(spec) = spec {
                out.insert(Work::new(
                    Kind::Node,
                    tables::key(&spec.region, &spec.node_id),
                ));
                // Every member of a group deleted with a final snapshot waits for it.
                if let Some(group) = &spec.group_id {
                    for key in
                        r.lookup(tables::NODES_BY_SHARD, &tables::key(&spec.region, group))?
                    {
                        out.insert(Work::new(Kind::Node, key));
                    }
                }
                out.insert(Work::new(
                    Kind::Automatic,
                    tables::key(&spec.region, spec.source_id()),
                ));
            }
        }
        ParameterGroupSpec::TABLE => {
            for key in r.lookup(tables::NODES_BY_PARAMETER_GROUP, &c.key)? {
                out.insert(Work::new(Kind::Node, key));
            }
        }
        SecurityGroup::TABLE => {
            for key in r.lookup(tables::NODES_BY_SECURITY_GROUP, &c.key)? {
                if let Some(spec) = r.doc::<NodeSpec>(&key)? {
                    node_spec_works(&spec, out);
                }
            }
            for key in r.lookup(tables::GROUPS_BY_SECURITY_GROUP, &c.key)? {
                out.insert(Work::new(Kind::Routes, key));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every piece of work there is: for start-up, and after the change feed fell behind.
///
/// # Errors
/// Store failures.
pub(crate) fn relist(r: &dyn Reader) -> Result<BTreeSet<Work>, StoreError> {
    let mut out = BTreeSet::new();
    for (key, spec) in r.docs::<NodeSpec>("")? {
        out.insert(Work::new(Kind::Node, key));
        node_spec_works(&spec, &mut out);
    }
    for (key, _) in r.docs::<ShardSpec>("")? {
        out.insert(Work::new(Kind::Shard, key));
    }
    for (key, _) in r.docs::<GroupSpec>("")? {
        group_works(key.clone(), &mut out);
        out.insert(Work::new(Kind::Routes, key.clone()));
        out.insert(Work::new(Kind::Automatic, key));
    }
    for (key, spec) in r.docs::<SnapshotSpec>("")? {
        out.insert(Work::new(
            Kind::Automatic,
            tables::key(&spec.region, spec.source_id()),
        ));
        out.insert(Work::new(Kind::Snapshot, key));
    }
    // Routes whose owner is gone are removed by their owner's run.
    for (_, route) in r.docs::<Route>("")? {
        out.insert(Work::new(Kind::Routes, route.owner));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_name_their_group() {
        assert_eq!(group_of_shard("us-east-1/rg/0001"), "us-east-1/rg");
    }
}
