//! Online resharding, the pure part: which slots move where when a cluster-mode group goes to
//! another set of shards (`ModifyReplicationGroupShardConfiguration`), moving as few slots as
//! an even result allows.
//!
//! The result is even as ElastiCache makes it: every shard ends with `16384 / n` slots, and
//! `16384 % n` of them with one more — those that hold the most now, so a group that is already
//! even moves nothing. Slots leave a shard from the end of its highest range (a shard keeps
//! long contiguous ranges), shards being removed give all of theirs, and receivers are filled
//! in shard order.

use std::collections::BTreeMap;

use crate::group::SHARDS_PER_GROUP_MAX;
use crate::shard::{SlotRange, SLOTS};
use crate::Fault;

/// `ModifyReplicationGroupShardConfiguration` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardConfigurationRequest {
    /// `ReplicationGroupId`
    pub replication_group_id: Option<String>,
    /// `NodeGroupCount`
    pub node_group_count: Option<i64>,
    /// `ApplyImmediately`
    pub apply_immediately: Option<bool>,
    /// `ReshardingConfiguration`: per new shard, its `NodeGroupId` and
    /// `PreferredAvailabilityZones` (primary first).
    pub resharding_configuration: Vec<(Option<String>, Vec<String>)>,
    /// `NodeGroupsToRemove`
    pub node_groups_to_remove: Vec<String>,
    /// `NodeGroupsToRetain`
    pub node_groups_to_retain: Vec<String>,
}

/// A shard of the group as the request finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentShard {
    /// `NodeGroupId`.
    pub id: String,
    /// The slots it serves.
    pub slots: Vec<SlotRange>,
    /// Its replicas.
    pub replicas: u32,
}

/// A shard a growing request adds: its `NodeGroupId` and the zone asked for each member
/// (primary first; `None`: the subnet group's choice).
pub type NewShard = (String, Vec<Option<String>>);

/// What an accepted request changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReshardPlan {
    /// Every shard's slots afterwards (kept and new shards; removed ones are absent).
    pub slots: BTreeMap<String, Vec<SlotRange>>,
    /// Shards to create: the id and the zone asked for each member (primary first; `None`:
    /// the subnet group's choice), as many replicas as the smallest shard has.
    pub new_shards: Vec<NewShard>,
    /// Shards to empty and remove.
    pub removed: Vec<String>,
    /// How many slots change shard.
    pub slots_to_move: u32,
}

/// Checks a request against the group's `current` shards (group `group_id`) and plans it:
/// growing adds shards (ids after the highest, or those `ReshardingConfiguration` names),
/// shrinking removes the shards named (`NodeGroupsToRemove`, or all but `NodeGroupsToRetain`),
/// the same count rebalances; the slots then spread evenly (see [`plan`]).
///
/// # Errors
/// AWS's faults: `InvalidParameterValue` (count out of range, bad or duplicate ids),
/// `InvalidParameterCombination` (removal lists where nothing is removed, or both),
/// `NodeGroupNotFoundFault` (a named shard that does not exist),
/// `NodeGroupsPerReplicationGroupQuotaExceeded`, `InvalidReplicationGroupState` ("Nothing to
/// do" for a group already even).
pub fn plan_request(
    group_id: &str,
    current: &[CurrentShard],
    req: &ShardConfigurationRequest,
) -> Result<ReshardPlan, Fault> {
    let count = req
        .node_group_count
        .ok_or_else(|| Fault::MissingParameter("NodeGroupCount".into()))?;
    if count > i64::from(SHARDS_PER_GROUP_MAX) {
        return Err(Fault::NodeGroupsPerReplicationGroupQuotaExceeded(format!(
            "The number of node groups ({count}) exceeds the maximum of {SHARDS_PER_GROUP_MAX} per replication group."
        )));
    }
    if count < 1 {
        return Err(Fault::value(format!(
            "Invalid value {count} for NodeGroupCount. The value must be between 1 and {SHARDS_PER_GROUP_MAX}."
        )));
    }
    let count = count as usize;
    let exists = |id: &str| current.iter().any(|s| s.id == id);
    let not_found = |id: &str| {
        Fault::NodeGroupNotFound(format!(
            "NodeGroup {id} not found in replication group {group_id}."
        ))
    };
    let lists = (
        !req.node_groups_to_remove.is_empty(),
        !req.node_groups_to_retain.is_empty(),
    );
    if lists == (true, true) {
        return Err(Fault::combination(
            "Only one of NodeGroupsToRemove or NodeGroupsToRetain can be specified.",
        ));
    }
    if count >= current.len() && (lists.0 || lists.1) {
        return Err(Fault::combination(
            "NodeGroupsToRemove and NodeGroupsToRetain can be specified only when NodeGroupCount is less than the current number of node groups.",
        ));
    }
    if count < current.len() && !req.resharding_configuration.is_empty() {
        return Err(Fault::combination(
            "ReshardingConfiguration can be specified only when adding node groups or rebalancing.",
        ));
    }
    let mut removed: Vec<String> = Vec::new();
    if count < current.len() {
        match lists {
            (true, _) => {
                for id in &req.node_groups_to_remove {
                    if !exists(id) {
                        return Err(not_found(id));
                    }
                    if removed.contains(id) {
                        return Err(Fault::value(format!(
                            "NodeGroup {id} is listed more than once in NodeGroupsToRemove."
                        )));
                    }
                    removed.push(id.clone());
                }
            }
            (_, true) => {
                for id in &req.node_groups_to_retain {
                    if !exists(id) {
                        return Err(not_found(id));
                    }
                }
                removed = current
                    .iter()
                    .filter(|s| !req.node_groups_to_retain.contains(&s.id))
                    .map(|s| s.id.clone())
                    .collect();
            }
            _ => {
                return Err(Fault::combination(
                    "Either NodeGroupsToRemove or NodeGroupsToRetain must be specified when reducing the number of node groups.",
                ))
            }
        }
        if current.len() - removed.len() != count {
            return Err(Fault::value(format!(
                "NodeGroupCount ({count}) must equal the current number of node groups ({}) minus the node groups removed ({}).",
                current.len(),
                removed.len()
            )));
        }
    }
    let new_shards = new_shards(current, count, &req.resharding_configuration)?;
    let target: Vec<String> = current
        .iter()
        .map(|s| s.id.clone())
        .filter(|id| !removed.contains(id))
        .chain(new_shards.iter().map(|(id, _)| id.clone()))
        .collect();
    let now: Vec<(String, Vec<SlotRange>)> = current
        .iter()
        .map(|s| (s.id.clone(), s.slots.clone()))
        .collect();
    let moves = plan(&now, &target);
    if moves.is_empty() && removed.is_empty() && new_shards.is_empty() {
        return Err(Fault::InvalidReplicationGroupState(
            "Slots in the replication group are uniformly distributed. Nothing to do.".into(),
        ));
    }
    let mut slots = apply(&now, &moves);
    for id in &target {
        slots.entry(id.clone()).or_default();
    }
    Ok(ReshardPlan {
        slots,
        new_shards,
        removed,
        slots_to_move: moves.iter().map(|m| m.range.len()).sum(),
    })
}

/// A shard of an exact layout: its `NodeGroupId`, its slots, and the zone asked for each of its
/// members (primary first; `None`: the subnet group's choice), used when it must be created.
pub type TargetShard = (String, Vec<SlotRange>, Vec<Option<String>>);

/// Plans the move from the shards `current` to exactly the shards `target` (each with its slots,
/// and for one to create the zone asked for each member): shards only in `target` are created,
/// shards only in `current` removed, every slot goes where `target` puts it. A restore into
/// another layout than its source's is formed as the source was, then moved with this.
pub fn plan_layout(current: &[(String, Vec<SlotRange>)], target: &[TargetShard]) -> ReshardPlan {
    let owner_in = |shards: &mut dyn Iterator<Item = (&String, &Vec<SlotRange>)>| {
        let mut owners: Vec<Option<String>> = vec![None; usize::from(SLOTS)];
        for (id, slots) in shards {
            for range in slots {
                for slot in range.start..=range.end {
                    owners[usize::from(slot)] = Some(id.clone());
                }
            }
        }
        owners
    };
    let before = owner_in(&mut current.iter().map(|(id, slots)| (id, slots)));
    let after = owner_in(&mut target.iter().map(|(id, slots, _)| (id, slots)));
    let slots_to_move = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| a.is_some() && b != a)
        .count() as u32;
    let is_current = |id: &str| current.iter().any(|(c, _)| c == id);
    ReshardPlan {
        slots: target
            .iter()
            .map(|(id, slots, _)| (id.clone(), slots.clone()))
            .collect(),
        new_shards: target
            .iter()
            .filter(|(id, _, _)| !is_current(id))
            .map(|(id, _, zones)| (id.clone(), zones.clone()))
            .collect(),
        removed: current
            .iter()
            .filter(|(id, _)| !target.iter().any(|(t, _, _)| t == id))
            .map(|(id, _)| id.clone())
            .collect(),
        slots_to_move,
    }
}

/// Checks that the data fits in the shards left after a removal, as AWS checks before it
/// removes shards: `used` bytes (the primaries' memory in use, as last recorded) against
/// `kept` shards of `maxmemory` bytes each (0: a node type without a known size, not checked).
///
/// # Errors
/// `InvalidParameterValue` (Ferrocache's wording: AWS's is not published) when it does not.
pub fn check_fits(group_id: &str, used: u64, kept: usize, maxmemory: u64) -> Result<(), Fault> {
    let capacity = maxmemory.saturating_mul(kept as u64);
    if maxmemory == 0 || used <= capacity {
        return Ok(());
    }
    let mb = |b: u64| b.div_ceil(1 << 20);
    Err(Fault::value(format!(
        "The data in replication group {group_id} ({} MB in use) does not fit in the {kept} node groups that would remain ({} MB of memory). Remove fewer node groups or scale up the node type first.",
        mb(used),
        mb(capacity)
    )))
}

/// The shards a growing request adds: the ids `ReshardingConfiguration` names for them (else
/// the next free ids), each with as many replicas as the smallest current shard.
fn new_shards(
    current: &[CurrentShard],
    count: usize,
    config: &[(Option<String>, Vec<String>)],
) -> Result<Vec<NewShard>, Fault> {
    let adding = count.saturating_sub(current.len());
    if adding == 0 {
        return Ok(Vec::new());
    }
    if !config.is_empty() && config.len() != adding && config.len() != count {
        return Err(Fault::value(format!(
            "ReshardingConfiguration must have one entry per node group added ({adding}) or per node group ({count})."
        )));
    }
    let members = current.iter().map(|s| s.replicas).min().unwrap_or(0) as usize + 1;
    // Entries for existing shards (a full list) only place nothing new; the rest describe the
    // new ones, in order.
    let entries: Vec<&(Option<String>, Vec<String>)> = config
        .iter()
        .filter(|(id, _)| {
            id.as_ref()
                .is_none_or(|id| !current.iter().any(|s| &s.id == id))
        })
        .collect();
    let mut taken: Vec<String> = current.iter().map(|s| s.id.clone()).collect();
    let mut next = current
        .iter()
        .filter_map(|s| crate::ids::shard_index(&s.id))
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..adding {
        let entry = entries.get(i);
        let id = match entry.and_then(|(id, _)| id.clone()) {
            Some(id) => {
                if crate::ids::shard_index(&id).is_none() || taken.contains(&id) {
                    return Err(Fault::value(format!(
                        "Invalid NodeGroupId {id} in ReshardingConfiguration: use four digits not used by another node group."
                    )));
                }
                id
            }
            None => loop {
                next += 1;
                let id = crate::ids::shard_id(next);
                if !taken.contains(&id) {
                    break id;
                }
            },
        };
        taken.push(id.clone());
        let zones: Vec<Option<String>> = (0..members)
            .map(|m| entry.and_then(|(_, azs)| azs.get(m).cloned()))
            .collect();
        out.push((id, zones));
    }
    Ok(out)
}

/// A run of consecutive slots that moves from one shard to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMove {
    /// `NodeGroupId` that serves the slots now.
    pub from: String,
    /// `NodeGroupId` that serves them afterwards.
    pub to: String,
    /// The slots.
    pub range: SlotRange,
}

/// The moves that take `current` (each shard's id and slots, covering every slot) to an even
/// layout over `target` (the ids of the shards afterwards: kept ones and new ones, which hold
/// nothing yet). Shards of `current` missing from `target` give all their slots away.
pub fn plan(current: &[(String, Vec<SlotRange>)], target: &[String]) -> Vec<SlotMove> {
    let held: BTreeMap<&str, Vec<u16>> = current
        .iter()
        .map(|(id, ranges)| {
            let mut slots: Vec<u16> = ranges.iter().flat_map(|r| r.start..=r.end).collect();
            slots.sort_unstable();
            (id.as_str(), slots)
        })
        .collect();
    let count = |id: &str| held.get(id).map_or(0, Vec::len);
    let quotas = quotas(target, &count);
    // Slots given away, in the order receivers take them.
    let mut pool: Vec<(u16, &str)> = Vec::new();
    for (id, slots) in &held {
        let keep = quotas.get(*id).copied().unwrap_or(0);
        if slots.len() > keep {
            pool.extend(slots[keep..].iter().map(|&s| (s, *id)));
        }
    }
    pool.sort_unstable();
    let mut given = pool.into_iter();
    let mut moves: Vec<SlotMove> = Vec::new();
    for id in target {
        let needs = quotas[id.as_str()].saturating_sub(count(id));
        for (slot, from) in given.by_ref().take(needs) {
            match moves.last_mut() {
                Some(m) if m.from == from && m.to == *id && m.range.end + 1 == slot => {
                    m.range.end = slot;
                }
                _ => moves.push(SlotMove {
                    from: from.to_string(),
                    to: id.clone(),
                    range: SlotRange {
                        start: slot,
                        end: slot,
                    },
                }),
            }
        }
    }
    moves
}

/// How many slots each shard of `target` ends with: `16384 / n`, plus one for the
/// `16384 % n` shards that hold the most now (the first in order among equals).
fn quotas<'a>(target: &'a [String], count: &dyn Fn(&str) -> usize) -> BTreeMap<&'a str, usize> {
    let n = target.len().max(1);
    let (base, extra) = (usize::from(SLOTS) / n, usize::from(SLOTS) % n);
    let mut by_size: Vec<(usize, &String)> = target.iter().enumerate().collect();
    by_size.sort_by(|a, b| count(b.1).cmp(&count(a.1)).then(a.0.cmp(&b.0)));
    by_size
        .iter()
        .enumerate()
        .map(|(rank, (_, id))| (id.as_str(), base + usize::from(rank < extra)))
        .collect()
}

/// The slots each shard serves once `moves` are done, as sorted ranges.
pub fn apply(
    current: &[(String, Vec<SlotRange>)],
    moves: &[SlotMove],
) -> BTreeMap<String, Vec<SlotRange>> {
    let mut owner = vec![""; usize::from(SLOTS)];
    for (id, ranges) in current {
        for r in ranges {
            for s in r.start..=r.end {
                owner[usize::from(s)] = id.as_str();
            }
        }
    }
    for m in moves {
        for s in m.range.start..=m.range.end {
            owner[usize::from(s)] = m.to.as_str();
        }
    }
    let mut out: BTreeMap<String, Vec<SlotRange>> = BTreeMap::new();
    for (slot, id) in owner.iter().enumerate() {
        let slot = slot as u16;
        let ranges = out.entry((*id).to_string()).or_default();
        match ranges.last_mut() {
            Some(last) if last.end + 1 == slot => last.end = slot,
            _ => ranges.push(SlotRange {
                start: slot,
                end: slot,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even(n: u16) -> Vec<(String, Vec<SlotRange>)> {
        SlotRange::even_split(n)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (crate::ids::shard_id(i as u32 + 1), vec![r]))
            .collect()
    }

    fn ids(n: u32) -> Vec<String> {
        (1..=n).map(crate::ids::shard_id).collect()
    }

    fn moved(moves: &[SlotMove]) -> u32 {
        moves.iter().map(|m| m.range.len()).sum()
    }

    // Goal: a restore into another layout moves exactly the slots that change shard, creates
    // the shards only the target has and removes those only the source has. Method: one shard
    // holding everything into the ksqlDB module's three ranges under custom ids, and three
    // even shards into two.
    #[test]
    fn plans_a_move_to_an_exact_layout() {
        let r = |start, end| SlotRange { start, end };
        let one = vec![("0001".to_string(), vec![r(0, 16383)])];
        let target = vec![
            ("0001".to_string(), vec![r(0, 5460)], vec![None, None]),
            ("0002".to_string(), vec![r(5461, 10921)], vec![None, None]),
            (
                "0003".to_string(),
                vec![r(10922, 16383)],
                vec![Some("us-east-1c".into())],
            ),
        ];
        let plan = plan_layout(&one, &target);
        assert_eq!(plan.slots_to_move, 16384 - 5461);
        assert_eq!(plan.new_shards.len(), 2);
        assert_eq!(
            plan.new_shards[1],
            ("0003".to_string(), vec![Some("us-east-1c".to_string())])
        );
        assert!(plan.removed.is_empty());
        assert_eq!(plan.slots["0002"], [r(5461, 10921)]);

        let two = vec![
            ("0001".to_string(), vec![r(0, 8191)], vec![None]),
            ("0002".to_string(), vec![r(8192, 16383)], vec![None]),
        ];
        let plan = plan_layout(&even(3), &two);
        assert_eq!(plan.removed, ["0003"]);
        assert!(plan.new_shards.is_empty());
        // 0001 gains 5462-8191 from 0002; 0002 gains 10923-16383 from 0003.
        assert_eq!(plan.slots_to_move, (8191 - 5462 + 1) + (16383 - 10923 + 1));
    }

    fn sizes(layout: &BTreeMap<String, Vec<SlotRange>>) -> Vec<u32> {
        layout
            .values()
            .map(|r| r.iter().map(|r| r.len()).sum())
            .collect()
    }

    fn current(n: u16, replicas: u32) -> Vec<CurrentShard> {
        even(n)
            .into_iter()
            .map(|(id, slots)| CurrentShard {
                id,
                slots,
                replicas,
            })
            .collect()
    }

    fn request(count: i64) -> ShardConfigurationRequest {
        ShardConfigurationRequest {
            replication_group_id: Some("g".into()),
            node_group_count: Some(count),
            apply_immediately: Some(true),
            ..Default::default()
        }
    }

    // Goal: the request rules answer as AWS does — growing adds the next ids with the smallest
    // shard's replicas, shrinking needs the removal list (by name or by what stays), unknown
    // shards are NodeGroupNotFound, an even rebalance is "Nothing to do", counts out of range
    // are refused. Method: plan_request on 3 even shards.
    #[test]
    fn request_rules() {
        let mut shards = current(3, 2);
        shards[1].replicas = 1;
        let grow = plan_request("g", &shards, &request(4)).unwrap();
        assert_eq!(
            grow.new_shards,
            vec![("0004".to_string(), vec![None, None])]
        );
        assert_eq!(grow.slots_to_move, 4096);
        assert_eq!(grow.slots.len(), 4);

        let shrink = ShardConfigurationRequest {
            node_groups_to_remove: vec!["0002".into()],
            ..request(2)
        };
        let plan = plan_request("g", &shards, &shrink).unwrap();
        assert_eq!(plan.removed, vec!["0002"]);
        assert_eq!(plan.slots.keys().collect::<Vec<_>>(), ["0001", "0003"]);
        let retain = ShardConfigurationRequest {
            node_groups_to_retain: vec!["0001".into(), "0003".into()],
            ..request(2)
        };
        assert_eq!(
            plan_request("g", &shards, &retain).unwrap().removed,
            vec!["0002"]
        );
        assert!(matches!(
            plan_request("g", &shards, &request(2)),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let unknown = ShardConfigurationRequest {
            node_groups_to_remove: vec!["0009".into()],
            ..request(2)
        };
        assert!(matches!(
            plan_request("g", &shards, &unknown),
            Err(Fault::NodeGroupNotFound(m)) if m == "NodeGroup 0009 not found in replication group g."
        ));
        assert!(matches!(
            plan_request("g", &shards, &request(3)),
            Err(Fault::InvalidReplicationGroupState(m))
                if m == "Slots in the replication group are uniformly distributed. Nothing to do."
        ));
        assert!(matches!(
            plan_request("g", &shards, &request(0)),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert!(matches!(
            plan_request("g", &shards, &request(91)),
            Err(Fault::NodeGroupsPerReplicationGroupQuotaExceeded(_))
        ));
        let named = ShardConfigurationRequest {
            resharding_configuration: vec![(Some("0007".into()), vec!["us-east-1b".into()])],
            ..request(4)
        };
        let plan = plan_request("g", &shards, &named).unwrap();
        assert_eq!(
            plan.new_shards,
            vec![(
                "0007".to_string(),
                vec![Some("us-east-1b".to_string()), None]
            )]
        );
    }

    // Goal: a removal is refused when the data in use exceeds what the remaining shards hold,
    // and allowed up to exactly that; an unknown node size is not checked. Method: check_fits.
    #[test]
    fn removal_must_fit() {
        let gb = 1u64 << 30;
        assert!(check_fits("g", 2 * gb, 2, gb).is_ok());
        assert!(matches!(
            check_fits("g", 2 * gb + 1, 2, gb),
            Err(Fault::InvalidParameterValue(m)) if m.contains("does not fit in the 2 node groups")
        ));
        assert!(check_fits("g", 100 * gb, 1, 0).is_ok());
    }

    // Goal: 3 → 4 shards moves only what the new shard needs (4096 slots), every shard ends
    // even, and the result covers every slot once. Method: plan, apply, count.
    #[test]
    fn adding_a_shard_moves_the_least() {
        let current = even(3);
        let moves = plan(&current, &ids(4));
        assert_eq!(moved(&moves), 4096);
        assert!(moves.iter().all(|m| m.to == "0004"));
        let after = apply(&current, &moves);
        assert_eq!(sizes(&after), vec![4096; 4]);
        SlotRange::check_cover(&after.values().cloned().collect::<Vec<_>>()).unwrap();
    }

    // Goal: removing shards (4 → 2, one named in the middle) empties them into the kept ones,
    // evenly. Method: plan with 0002 and 0004 gone.
    #[test]
    fn removing_shards_empties_them() {
        let current = even(4);
        let kept = vec!["0001".to_string(), "0003".to_string()];
        let moves = plan(&current, &kept);
        assert_eq!(moved(&moves), 8192);
        assert!(moves.iter().all(|m| m.from == "0002" || m.from == "0004"));
        let after = apply(&current, &moves);
        assert_eq!(after.keys().collect::<Vec<_>>(), ["0001", "0003"]);
        assert_eq!(sizes(&after), vec![8192, 8192]);
    }

    // Goal: an even group moves nothing (AWS's "Nothing to do"), whichever shards hold the
    // extra slots; an uneven one is evened with the least moved. Method: plan on even splits
    // with the extras elsewhere, and on a lopsided layout.
    #[test]
    fn rebalancing() {
        assert!(plan(&even(3), &ids(3)).is_empty());
        let extras_last = vec![
            (
                "0001".to_string(),
                vec![SlotRange {
                    start: 0,
                    end: 5460,
                }],
            ),
            (
                "0002".to_string(),
                vec![SlotRange {
                    start: 5461,
                    end: 10921,
                }],
            ),
            (
                "0003".to_string(),
                vec![SlotRange {
                    start: 10922,
                    end: 16383,
                }],
            ),
        ];
        assert!(plan(&extras_last, &ids(3)).is_empty());
        let lopsided = vec![
            (
                "0001".to_string(),
                vec![SlotRange {
                    start: 0,
                    end: 9999,
                }],
            ),
            (
                "0002".to_string(),
                vec![SlotRange {
                    start: 10000,
                    end: 16383,
                }],
            ),
        ];
        let moves = plan(&lopsided, &ids(2));
        assert_eq!(moved(&moves), 10000 - 8192);
        assert_eq!(sizes(&apply(&lopsided, &moves)), vec![8192, 8192]);
    }

    // Goal: growth past a shard count that does not divide 16384 still ends within one slot,
    // and the moves are few contiguous runs. Method: 1 → 3 and 2 → 7.
    #[test]
    fn uneven_counts() {
        let moves = plan(&even(1), &ids(3));
        assert_eq!(sizes(&apply(&even(1), &moves)), vec![5462, 5461, 5461]);
        assert_eq!(moves.len(), 2);
        let moves = plan(&even(2), &ids(7));
        let after = sizes(&apply(&even(2), &moves));
        assert!(after.iter().max().unwrap() - after.iter().min().unwrap() <= 1);
        assert_eq!(after.iter().sum::<u32>(), 16384);
    }
}
