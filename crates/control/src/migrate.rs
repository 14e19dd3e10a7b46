//! Brings a data directory written by an older Ferrocache to this release's layout, once, at
//! start-up, before anything reads the store.
//!
//! Each migration runs in one transaction with the version bump, so a crash leaves the data
//! either wholly before or wholly after it.
//!
//! | version | what changed | migration |
//! |---|---|---|
//! | 0 → 1 | shards became resources: a group's primary, epoch and failover requests moved to its one shard (`0001`); members name their shard; secondary indexes (members of a shard, address book, …) | for each group: its shard's spec (the request counters), intent (primary, epoch, endpoint addresses; a switch in flight continues as `Switching`) and observed facts; members get `shard_id`; every indexed document is rewritten so its index entries exist |

use ferrocache_model::group::GroupSpec;
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_model::shard::{Phase, ShardIntent, ShardObserved, ShardSpec};
use ferrocache_model::snapshot::SnapshotSpec;
use ferrocache_model::{ids, Timestamp};
use ferrocache_store::tables::{self, Counter, SCHEMA_VERSION};
use ferrocache_store::{update, Doc, ReadExt, Store, StoreError, WriteExt, Writer};
use serde::Deserialize;

/// The layout this release writes.
pub const SCHEMA_VERSION_CURRENT: u64 = 1;

/// The table of version 0's group intents.
const LEGACY_GROUP_INTENT_TABLE: &str = "group_intent";

/// A group's intent as version 0 stored it.
#[derive(Debug, Deserialize)]
struct LegacyGroupIntent {
    primary_endpoint: std::net::Ipv4Addr,
    reader_endpoint: std::net::Ipv4Addr,
    primary: String,
    epoch: u64,
    #[serde(default)]
    previous_primary: Option<String>,
}

/// The request counters version 0 kept on a group's spec and observed facts.
#[derive(Debug, Default, Deserialize)]
struct LegacyCounters {
    #[serde(default)]
    failover_requests: u64,
    #[serde(default)]
    promotion_requests: u64,
    #[serde(default)]
    promotion_target: Option<String>,
    #[serde(default)]
    failovers: u64,
    #[serde(default)]
    promotions: u64,
}

fn legacy<T: for<'de> Deserialize<'de>>(bytes: Option<Vec<u8>>) -> Option<T> {
    bytes.and_then(|b| serde_json::from_slice(&b).ok())
}

/// Runs every migration the store needs.
///
/// # Errors
/// Store failures (nothing is changed then).
pub fn run(store: &dyn Store) -> Result<(), StoreError> {
    update(store, |w| -> Result<(), StoreError> {
        let version = w.doc::<Counter>(SCHEMA_VERSION)?.map_or(0, |c| c.0);
        if version < 1 {
            to_shards(w, chrono::Utc::now())?;
        }
        if version != SCHEMA_VERSION_CURRENT {
            w.put_doc(SCHEMA_VERSION, &Counter(SCHEMA_VERSION_CURRENT))?;
        }
        Ok(())
    })
}

/// Version 0 → 1 (see the module doc).
fn to_shards(w: &mut dyn Writer, now: Timestamp) -> Result<(), StoreError> {
    let shard = ids::shard_id(1);
    for (key, group) in w.docs::<GroupSpec>("")? {
        let shard_key = tables::shard_key(&group.region, &group.id, &shard);
        let spec_counters: LegacyCounters =
            legacy(w.get(GroupSpec::TABLE, &key)?).unwrap_or_default();
        let observed_counters: LegacyCounters =
            legacy(w.get(ferrocache_model::group::GroupObserved::TABLE, &key)?).unwrap_or_default();
        if w.doc::<ShardSpec>(&shard_key)?.is_none() {
            let mut spec = ShardSpec::new(&group.region, &group.id, shard.clone(), Vec::new());
            spec.failover_requests = spec_counters.failover_requests;
            spec.promotion_requests = spec_counters.promotion_requests;
            spec.promotion_target = spec_counters.promotion_target;
            w.put_doc(&shard_key, &spec)?;
            w.put_doc(
                &shard_key,
                &ShardObserved {
                    failovers: observed_counters.failovers,
                    promotions: observed_counters.promotions,
                },
            )?;
        }
        if let Some(old) = legacy::<LegacyGroupIntent>(w.get(LEGACY_GROUP_INTENT_TABLE, &key)?) {
            if w.doc::<ShardIntent>(&shard_key)?.is_none() {
                let phase = match old.previous_primary {
                    // A switch in flight: the winner catches up (bounded), then is promoted.
                    Some(from) => Phase::Switching { from, since: now },
                    None => Phase::Steady,
                };
                w.put_doc(
                    &shard_key,
                    &ShardIntent {
                        primary: old.primary,
                        epoch: old.epoch,
                        phase,
                        primary_endpoint: old.primary_endpoint,
                        reader_endpoint: old.reader_endpoint,
                    },
                )?;
            }
            w.delete(LEGACY_GROUP_INTENT_TABLE, &key)?;
        }
        // Rewritten in this release's shape, with its index entries.
        w.put_doc(&key, &group)?;
        w.reindex_doc::<GroupSpec>(&key)?;
    }
    for (key, mut node) in w.docs::<NodeSpec>("")? {
        if node.group_id.is_some() && node.shard_id.is_none() {
            node.shard_id = Some(shard.clone());
            w.put_doc(&key, &node)?;
        }
        w.reindex_doc::<NodeSpec>(&key)?;
    }
    for (key, _) in w.docs::<NodeIntent>("")? {
        w.reindex_doc::<NodeIntent>(&key)?;
    }
    for (key, _) in w.docs::<SnapshotSpec>("")? {
        w.reindex_doc::<SnapshotSpec>(&key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_store::{view, RedbStore};

    // Goal: a data dir of the layout before shards comes up with the same primary, epoch,
    // endpoints and request counters on its shard, members in their shard (found through the
    // index), the address book knowing every address, and a switch in flight carried on.
    // Method: write version-0 documents by hand (raw JSON where the shape changed), migrate
    // twice (the second must change nothing), read back.
    #[test]
    fn version_0_groups_become_one_shard() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let plan = ferrocache_model::group::plan_create(
            &ferrocache_model::group::CreateGroupRequest {
                replication_group_id: Some("rg".into()),
                description: Some("d".into()),
                num_cache_clusters: Some(2),
                automatic_failover_enabled: Some(true),
                ..Default::default()
            },
            &ferrocache_model::group::CreateContext {
                region: "us-east-1".into(),
                engine_version_running: "7.0.15".into(),
                now: chrono::Utc::now(),
                parameter_group_cluster_enabled: None,
            },
        )
        .unwrap();
        update(&store, |w| -> Result<(), StoreError> {
            let mut group = serde_json::to_value(&plan.spec).unwrap();
            group["failover_requests"] = 3.into();
            w.put(GroupSpec::TABLE, "us-east-1/rg", group.to_string().as_bytes())?;
            w.put(
                ferrocache_model::group::GroupObserved::TABLE,
                "us-east-1/rg",
                br#"{"created":true,"generation":1,"failed":null,"failovers":2}"#,
            )?;
            w.put(
                LEGACY_GROUP_INTENT_TABLE,
                "us-east-1/rg",
                br#"{"primary_endpoint":"127.77.0.3","reader_endpoint":"127.77.0.4","primary":"rg-002","epoch":7,"previous_primary":"rg-001"}"#,
            )?;
            for (i, address) in [(1, 1), (2, 2)] {
                let mut node = ferrocache_model::node::member_spec(
                    &plan.spec,
                    "ignored",
                    format!("rg-00{i}"),
                    None,
                    chrono::Utc::now(),
                );
                node.shard_id = None;
                let mut raw = serde_json::to_value(&node).unwrap();
                raw.as_object_mut().unwrap().remove("shard_id");
                let key = format!("us-east-1/rg-00{i}");
                w.put(NodeSpec::TABLE, &key, raw.to_string().as_bytes())?;
                let intent = NodeIntent {
                    zone: "us-east-1a".into(),
                    endpoint: std::net::Ipv4Addr::new(127, 77, 0, address),
                    private: std::net::Ipv4Addr::new(127, 77, 128, address),
                    host: None,
                };
                w.put(
                    NodeIntent::TABLE,
                    &key,
                    &serde_json::to_vec(&intent).unwrap(),
                )?;
            }
            Ok(())
        })
        .unwrap();
        run(&store).unwrap();
        let mut feed = store.watch();
        run(&store).unwrap();
        assert!(feed.try_recv().is_err(), "a second run changes nothing");
        view(&store, |r| -> Result<(), StoreError> {
            let shard_key = "us-east-1/rg/0001";
            let intent = r.doc::<ShardIntent>(shard_key)?.unwrap();
            assert_eq!(intent.primary, "rg-002");
            assert_eq!(intent.epoch, 7);
            assert_eq!(intent.primary_endpoint.to_string(), "127.77.0.3");
            assert!(matches!(intent.phase, Phase::Switching { ref from, .. } if from == "rg-001"));
            assert_eq!(r.doc::<ShardSpec>(shard_key)?.unwrap().failover_requests, 3);
            assert_eq!(r.doc::<ShardObserved>(shard_key)?.unwrap().failovers, 2);
            assert!(r.get(LEGACY_GROUP_INTENT_TABLE, "us-east-1/rg")?.is_none());
            assert_eq!(
                r.lookup(tables::NODES_BY_SHARD, shard_key)?,
                ["us-east-1/rg-001", "us-east-1/rg-002"]
            );
            for address in ["127.77.0.1", "127.77.128.2", "127.77.0.3", "127.77.0.4"] {
                assert!(
                    crate::addresses::is_taken(r, address.parse().unwrap())?,
                    "{address}"
                );
            }
            Ok(())
        })
        .unwrap();
    }
}
