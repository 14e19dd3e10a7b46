//! Table names and keys of the model's documents.
//!
//! Keys are `<region>/<id>` so a region's resources are one prefix scan; spec, intent and
//! observed facts of a resource live in three tables under the same key, so the API (spec) and
//! the control plane (intent, observed) never overwrite each other's writes.

use ferrocache_model::event::Event;
use ferrocache_model::group::{GroupIntent, GroupObserved, GroupSpec};
use ferrocache_model::network::{SecurityGroup, Subnet, SubnetGroupSpec, Vpc};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::parameter::ParameterGroupSpec;
use ferrocache_model::snapshot::{SnapshotObserved, SnapshotSpec};
use ferrocache_model::user::{UserGroupSpec, UserSpec};

use crate::Doc;

/// The key of a regional resource.
pub fn key(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

/// The scan prefix of a region.
pub fn region_prefix(region: &str) -> String {
    format!("{region}/")
}

/// The key of an event: its sequence number, zero-padded so key order is time order.
pub fn event_key(seq: u64) -> String {
    format!("{seq:020}")
}

impl Doc for GroupSpec {
    const TABLE: &'static str = "group_spec";
}
impl Doc for GroupIntent {
    const TABLE: &'static str = "group_intent";
}
impl Doc for GroupObserved {
    const TABLE: &'static str = "group_observed";
}
impl Doc for NodeSpec {
    const TABLE: &'static str = "node_spec";
}
impl Doc for NodeIntent {
    const TABLE: &'static str = "node_intent";
}
impl Doc for NodeObserved {
    const TABLE: &'static str = "node_observed";
}
impl Doc for Event {
    const TABLE: &'static str = "event";
}
impl Doc for ParameterGroupSpec {
    const TABLE: &'static str = "parameter_group_spec";
}
impl Doc for SnapshotSpec {
    const TABLE: &'static str = "snapshot_spec";
}
impl Doc for SnapshotObserved {
    const TABLE: &'static str = "snapshot_observed";
}
impl Doc for Vpc {
    const TABLE: &'static str = "vpc";
}
impl Doc for Subnet {
    const TABLE: &'static str = "subnet";
}
impl Doc for SecurityGroup {
    const TABLE: &'static str = "security_group";
}
impl Doc for SubnetGroupSpec {
    const TABLE: &'static str = "subnet_group";
}
impl Doc for UserSpec {
    const TABLE: &'static str = "user_spec";
}
impl Doc for UserGroupSpec {
    const TABLE: &'static str = "user_group_spec";
}

/// A counter document (`meta` table), e.g. the next event sequence number.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Counter(pub u64);

impl Doc for Counter {
    const TABLE: &'static str = "meta";
}

/// Key of the event sequence counter.
pub const EVENT_SEQ: &str = "event_seq";

/// Key of the sequence number that seeds the ids of created VPCs, subnets, security groups and
/// rules.
pub const NETWORK_SEQ: &str = "network_seq";
