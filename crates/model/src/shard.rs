//! Shards — ElastiCache's *node groups*: one primary, its replicas, and (in cluster mode) the
//! hash slots they serve. Spec, intent and observed facts, and the order each member takes from
//! its shard.
//!
//! A replication group has one or more shards; a group without cluster mode has exactly one,
//! whose id is [`ids::shard_id`]`(1)` (`0001`). Members are node records that name their group
//! and shard; the shard record does not list them (an index in the store does), so adding or
//! removing a replica touches one node record.
//!
//! The shard's *intent* is written by one writer only — the failover state machine in
//! `ferrocache-control` (`reconcile/failover.rs`) — and says who is primary, at which epoch, and
//! which [`Phase`] of a primary change the shard is in. Each member's node reconciler reads its
//! [`Order`] from it and carries it out; it never decides a role itself.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::{ids, Fault, Timestamp};

/// Number of hash slots of a Redis cluster.
pub const SLOTS: u16 = 16384;

/// A closed range of hash slots, `start..=end` (`Slots` `0-5460` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotRange {
    /// First slot.
    pub start: u16,
    /// Last slot (inclusive).
    pub end: u16,
}

impl SlotRange {
    /// How many slots the range holds.
    pub fn len(self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Never empty (a range holds its start); here for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Parses `Slots` as the API takes it: `start-end` ranges separated by commas
    /// (`0-5460`, `0-99,200-299`); a single slot may be written alone (`42`).
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for anything else, a range backwards, a slot past
    /// 16383, or ranges of one shard that overlap.
    pub fn parse_list(text: &str) -> Result<Vec<SlotRange>, Fault> {
        let invalid = || {
            Fault::value(format!(
                "Invalid value {text} for Slots. Slots must be ranges like 0-5460, separated by \
                 commas, between 0 and {}.",
                SLOTS - 1
            ))
        };
        let slot = |s: &str| -> Result<u16, Fault> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 5 {
                return Err(invalid());
            }
            s.parse::<u16>()
                .ok()
                .filter(|n| *n < SLOTS)
                .ok_or_else(invalid)
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((start, end)) => SlotRange {
                    start: slot(start)?,
                    end: slot(end)?,
                },
                None => {
                    let n = slot(part)?;
                    SlotRange { start: n, end: n }
                }
            };
            if range.start > range.end {
                return Err(invalid());
            }
            ranges.push(range);
        }
        ranges.sort();
        if ranges.windows(2).any(|w| w[1].start <= w[0].end) {
            return Err(invalid());
        }
        Ok(ranges)
    }

    /// `Slots` as Describe shows it: `0-5461`, ranges joined by commas.
    pub fn format_list(ranges: &[SlotRange]) -> String {
        ranges
            .iter()
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The even split of the 16384 slots over `shards` shards, one range each, as ElastiCache
    /// draws it: the first `16384 % shards` shards hold one slot more (3 shards: `0-5461`,
    /// `5462-10922`, `10923-16383`).
    pub fn even_split(shards: u16) -> Vec<SlotRange> {
        let shards = shards.clamp(1, SLOTS);
        let (base, extra) = (SLOTS / shards, SLOTS % shards);
        let mut start = 0u16;
        (0..shards)
            .map(|i| {
                let len = base + u16::from(i < extra);
                let range = SlotRange {
                    start,
                    end: start + len - 1,
                };
                start = start.wrapping_add(len);
                range
            })
            .collect()
    }

    /// Checks that the shards' ranges cover every slot exactly once.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] naming the first slot served twice or not at all.
    pub fn check_cover(shards: &[Vec<SlotRange>]) -> Result<(), Fault> {
        let mut all: Vec<SlotRange> = shards.iter().flatten().copied().collect();
        all.sort();
        let mut next = 0u32;
        for range in &all {
            let start = u32::from(range.start);
            if start < next {
                return Err(Fault::value(format!(
                    "Slot {start} is assigned to more than one node group. Each of the {SLOTS} \
                     slots must belong to exactly one node group."
                )));
            }
            if start > next {
                return Err(Fault::value(format!(
                    "Slot {next} is not assigned to any node group. Each of the {SLOTS} slots \
                     must belong to exactly one node group."
                )));
            }
            next = u32::from(range.end) + 1;
        }
        if next < u32::from(SLOTS) {
            return Err(Fault::value(format!(
                "Slot {next} is not assigned to any node group. Each of the {SLOTS} slots must \
                 belong to exactly one node group."
            )));
        }
        Ok(())
    }
}

/// What the API asked for. Written only by API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Region of its group.
    pub region: String,
    /// `ReplicationGroupId` of its group.
    pub group_id: String,
    /// `NodeGroupId` (`0001`, `0002`, …).
    pub id: String,
    /// Hash slots the shard serves (cluster mode); empty for a group without cluster mode,
    /// whose one shard holds the whole keyspace.
    #[serde(default)]
    pub slots: Vec<SlotRange>,
    /// Failovers requested through `TestFailover` so far; the control plane carries out the
    /// ones `observed.failovers` has not counted yet.
    #[serde(default)]
    pub failover_requests: u64,
    /// Promotions requested with `ModifyReplicationGroup --primary-cluster-id` so far; the
    /// control plane carries out the ones `observed.promotions` has not counted yet.
    #[serde(default)]
    pub promotion_requests: u64,
    /// The member the latest promotion request names.
    #[serde(default)]
    pub promotion_target: Option<String>,
    /// `NodeGroupsToRemove`: the shard's slots move to the others, then its members go and
    /// the shard with them.
    #[serde(default)]
    pub removing: bool,
}

impl ShardSpec {
    /// A new shard of `group_id` with no requests yet.
    pub fn new(region: &str, group_id: &str, id: String, slots: Vec<SlotRange>) -> Self {
        Self {
            region: region.to_string(),
            group_id: group_id.to_string(),
            id,
            slots,
            failover_requests: 0,
            promotion_requests: 0,
            promotion_target: None,
            removing: false,
        }
    }
}

/// Where a shard is in a change of primary: the state of the failover state machine. Stored
/// in [`ShardIntent`]; the transitions are tabled in `ferrocache-control`'s
/// `reconcile/failover.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// `primary` is the primary (running, or started as one); replicas follow it.
    Steady,
    /// The primary is down and no replica can take over yet; nothing is promoted until one
    /// can, or the primary answers again.
    Waiting,
    /// A planned switch to `primary` (at the intent's epoch) from `from`, which still answers:
    /// the winner first catches up with `from`'s replication stream (bounded).
    Switching {
        /// The member that was primary when the switch began.
        from: String,
        /// When the switch began (bounds the catch-up).
        since: Timestamp,
    },
    /// `primary` is ordered to take over from `from`; done once it runs as primary.
    Promoting {
        /// The member that was primary when the switch began.
        from: String,
    },
    /// The primary is down with nobody to take over (no automatic failover, or no live
    /// replica): it is started again where it is.
    Restarting,
}

impl Phase {
    /// The member a switch in flight started from.
    pub fn switching_from(&self) -> Option<&str> {
        match self {
            Phase::Switching { from, .. } | Phase::Promoting { from } => Some(from),
            _ => None,
        }
    }
}

/// The placement and primary the control plane chose. Written only by the failover state
/// machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardIntent {
    /// Cache cluster id of the member that is (to be) primary.
    pub primary: String,
    /// Fences primary changes: bumped every time `primary` changes; routes and nodes that carry
    /// an older epoch are refused.
    pub epoch: u64,
    /// Where a change of primary stands.
    pub phase: Phase,
    /// Address of the primary endpoint (`NodeGroups[n].PrimaryEndpoint`).
    pub primary_endpoint: Ipv4Addr,
    /// Address of the reader endpoint (`NodeGroups[n].ReaderEndpoint`).
    pub reader_endpoint: Ipv4Addr,
}

/// What a member is ordered to do, derived from its shard's intent ([`ShardIntent::order`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Run as primary (`REPLICAOF NO ONE` when it runs as a replica). A process believed
    /// running that died is started again only with `restart_in_place` (otherwise the shard is
    /// failing over, and an empty restart would wipe its replicas).
    Primary {
        /// The shard ordered a restart of its dead primary where it is.
        restart_in_place: bool,
    },
    /// Chosen to take over, but not promoted yet (it catches up first): stay as is.
    Standby,
    /// Follow `primary`, once it runs as primary (never a replica of a replica).
    Replica {
        /// The shard's primary.
        primary: String,
    },
}

impl ShardIntent {
    /// The order of member `node_id`.
    pub fn order(&self, node_id: &str) -> Order {
        if node_id != self.primary {
            return Order::Replica {
                primary: self.primary.clone(),
            };
        }
        match self.phase {
            Phase::Switching { .. } => Order::Standby,
            Phase::Restarting => Order::Primary {
                restart_in_place: true,
            },
            Phase::Steady | Phase::Waiting | Phase::Promoting { .. } => Order::Primary {
                restart_in_place: false,
            },
        }
    }

    /// The member that last served as primary while a switch is in flight.
    pub fn previous_primary(&self) -> Option<&str> {
        self.phase.switching_from()
    }
}

/// Facts the control plane last confirmed about the shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardObserved {
    /// Requested failovers carried out (see [`ShardSpec::failover_requests`]).
    #[serde(default)]
    pub failovers: u64,
    /// Requested promotions carried out (see [`ShardSpec::promotion_requests`]).
    #[serde(default)]
    pub promotions: u64,
}

/// The shard ids of a group with `count` shards: `0001`, `0002`, …
pub fn shard_ids(count: u32) -> Vec<String> {
    (1..=count).map(ids::shard_id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: Slots parse and print as the API spells them, and bad text is refused.
    // Method: good and bad strings; the even split of 1, 2, 3 and 90 shards.
    #[test]
    fn slot_ranges() {
        let r = |start, end| SlotRange { start, end };
        assert_eq!(SlotRange::parse_list("0-5460").unwrap(), [r(0, 5460)]);
        assert_eq!(
            SlotRange::parse_list("200-299,0-99,150").unwrap(),
            [r(0, 99), r(150, 150), r(200, 299)]
        );
        for bad in [
            "",
            "a-b",
            "5-1",
            "0-16384",
            "0-10,5-20",
            "-5",
            "1-",
            "0--1",
            "1,,2",
        ] {
            assert!(SlotRange::parse_list(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SlotRange::format_list(&[r(0, 99), r(200, 299)]),
            "0-99,200-299"
        );
        assert_eq!(SlotRange::even_split(1), [r(0, 16383)]);
        assert_eq!(SlotRange::even_split(2), [r(0, 8191), r(8192, 16383)]);
        assert_eq!(
            SlotRange::even_split(3),
            [r(0, 5461), r(5462, 10922), r(10923, 16383)]
        );
        let ninety = SlotRange::even_split(90);
        assert_eq!(ninety.len(), 90);
        assert_eq!(ninety.iter().map(|r| r.len()).sum::<u32>(), 16384);
        let split: Vec<Vec<SlotRange>> = ninety.iter().map(|r| vec![*r]).collect();
        SlotRange::check_cover(&split).unwrap();
    }

    // Goal: shards' slots must cover 0-16383 once. Method: a gap, an overlap, a short end.
    #[test]
    fn slot_cover() {
        let r = |start, end| vec![SlotRange { start, end }];
        SlotRange::check_cover(&[r(0, 5460), r(5461, 10921), r(10922, 16383)]).unwrap();
        let gap = SlotRange::check_cover(&[r(0, 5460), r(5462, 16383)]).unwrap_err();
        assert!(
            gap.to_string().contains("Slot 5461 is not assigned"),
            "{gap}"
        );
        let twice = SlotRange::check_cover(&[r(0, 5461), r(5461, 16383)]).unwrap_err();
        assert!(
            twice.to_string().contains("Slot 5461 is assigned to more"),
            "{twice}"
        );
        let short = SlotRange::check_cover(&[r(0, 16000)]).unwrap_err();
        assert!(short.to_string().contains("Slot 16001"), "{short}");
    }

    fn intent(phase: Phase) -> ShardIntent {
        ShardIntent {
            primary: "rg-002".into(),
            epoch: 2,
            phase,
            primary_endpoint: Ipv4Addr::LOCALHOST,
            reader_endpoint: Ipv4Addr::LOCALHOST,
        }
    }

    // Goal: each member's order follows from the shard's phase alone: replicas follow the
    // named primary in every phase, the winner of a planned switch stands by until it is told
    // to promote, and only `Restarting` lets a dead primary start again in place.
    #[test]
    fn orders_follow_the_phase() {
        let replica = Order::Replica {
            primary: "rg-002".into(),
        };
        for phase in [
            Phase::Steady,
            Phase::Waiting,
            Phase::Restarting,
            Phase::Promoting {
                from: "rg-001".into(),
            },
        ] {
            assert_eq!(intent(phase).order("rg-001"), replica);
        }
        let switching = intent(Phase::Switching {
            from: "rg-001".into(),
            since: chrono::Utc::now(),
        });
        assert_eq!(switching.order("rg-002"), Order::Standby);
        assert_eq!(switching.previous_primary(), Some("rg-001"));
        assert_eq!(
            intent(Phase::Restarting).order("rg-002"),
            Order::Primary {
                restart_in_place: true
            }
        );
        assert_eq!(
            intent(Phase::Steady).order("rg-002"),
            Order::Primary {
                restart_in_place: false
            }
        );
        assert_eq!(shard_ids(3), ["0001", "0002", "0003"]);
    }
}
