//! Table names, keys and secondary indexes of the model's documents.
//!
//! Keys are `<region>/<id>` so a region's resources are one prefix scan; a shard's key is
//! `<region>/<group>/<shard>`. Spec, intent and observed facts of a resource live in three
//! tables under the same key, so the API (spec) and the control plane (intent, observed) never
//! overwrite each other's writes.
//!
//! Indexes (see [`Doc::index_keys`]), each answering one question without a scan:
//! - [`NODES_BY_SHARD`]: the members of a shard (`<region>/<group>/<shard>`) or of a group
//!   (`<region>/<group>`, every shard);
//! - [`NODES_BY_SUBNET_ZONE`]: the live nodes of a subnet group in one zone
//!   (`<region>/<subnet group>/<zone>`);
//! - [`NODES_BY_PARAMETER_GROUP`]: the nodes using a parameter group (`<region>/<name>`);
//! - [`NODES_BY_SECURITY_GROUP`] / [`GROUPS_BY_SECURITY_GROUP`]: whose endpoints a security
//!   group admits to (`<region>/<sg id>`);
//! - [`GROUPS_BY_USER_GROUP`]: the replication groups using a user group (`<region>/<id>`);
//! - [`ADDRESSES`]: which intent holds an address of `--endpoint-cidr` ([`address_key`]);
//! - [`HOST_PORTS`] / [`NODES_BY_HOST`]: which node holds a port of a host, and the nodes
//!   each host runs (several hosts on one store);
//! - [`ROUTES_BY_OWNER`]: the endpoints of a group or standalone cluster (`<region>/<id>`);
//! - [`SNAPSHOTS_BY_SOURCE`]: the snapshots taken of a group or cache cluster
//!   (`<region>/<id>`).

use std::net::Ipv4Addr;

use ferrocache_model::event::Event;
use ferrocache_model::group::{GroupIntent, GroupObserved, GroupSpec};
use ferrocache_model::log_delivery::NodeLogDelivery;
use ferrocache_model::network::{SecurityGroup, Subnet, SubnetGroupSpec, Vpc};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::parameter::ParameterGroupSpec;
use ferrocache_model::route::Route;
use ferrocache_model::shard::{ShardIntent, ShardObserved, ShardSpec};
use ferrocache_model::snapshot::{SnapshotObserved, SnapshotSpec};
use ferrocache_model::user::{UserGroupSpec, UserSpec};

use crate::Doc;

/// The key of a regional resource.
pub fn key(region: &str, id: &str) -> String {
    format!("{region}/{id}")
}

/// The key of shard `shard` of group `group`.
pub fn shard_key(region: &str, group: &str, shard: &str) -> String {
    format!("{region}/{group}/{shard}")
}

/// The members of a shard, or with `shard` `None` of every shard of a group.
pub const NODES_BY_SHARD: &str = "index_node_by_shard";
/// The nodes of a subnet group in each zone (`<region>/<subnet group>/<zone>`), not counting
/// nodes being deleted: new nodes go to the zone with the fewest.
pub const NODES_BY_SUBNET_ZONE: &str = "index_node_by_subnet_zone";
/// The nodes using a parameter group.
pub const NODES_BY_PARAMETER_GROUP: &str = "index_node_by_parameter_group";
/// The nodes (own endpoint settings) naming a security group.
pub const NODES_BY_SECURITY_GROUP: &str = "index_node_by_security_group";
/// The replication groups naming a security group.
pub const GROUPS_BY_SECURITY_GROUP: &str = "index_group_by_security_group";
/// The replication groups using a user group.
pub const GROUPS_BY_USER_GROUP: &str = "index_group_by_user_group";
/// The intent holding each port of a host ([`host_port_key`]).
pub const HOST_PORTS: &str = "index_node_by_host_port";
/// The nodes placed on each host (by host name): new nodes go to the host with the fewest.
pub const NODES_BY_HOST: &str = "index_node_by_host";

/// The key of port `port` of host `host` in [`HOST_PORTS`].
pub fn host_port_key(host: &str, port: u16) -> String {
    format!("{host}/{port:05}")
}

/// The intent holding each address of `--endpoint-cidr`.
pub const ADDRESSES: &str = "index_address";
/// The routes of each owner.
pub const ROUTES_BY_OWNER: &str = "index_route_by_owner";
/// The snapshots of each source (group, or cache cluster).
pub const SNAPSHOTS_BY_SOURCE: &str = "index_snapshot_by_source";

/// The index key of an address in [`ADDRESSES`]: eight hex digits, so key order is address
/// order.
pub fn address_key(address: Ipv4Addr) -> String {
    format!("{:08x}", u32::from(address))
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
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = self
            .security_group_ids
            .iter()
            .map(|sg| (GROUPS_BY_SECURITY_GROUP, key(&self.region, sg)))
            .collect();
        out.extend(
            self.user_group_ids
                .iter()
                .map(|ug| (GROUPS_BY_USER_GROUP, key(&self.region, ug))),
        );
        out
    }
}
impl Doc for GroupObserved {
    const TABLE: &'static str = "group_observed";
}
impl Doc for GroupIntent {
    // Not `group_intent`: that table held the primary of schema 0, moved to the shards by
    // `ferrocache-control`'s migration.
    const TABLE: &'static str = "group_placement";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        vec![(ADDRESSES, address_key(self.configuration_endpoint))]
    }
}
impl Doc for ShardSpec {
    const TABLE: &'static str = "shard_spec";
}
impl Doc for ShardIntent {
    const TABLE: &'static str = "shard_intent";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        vec![
            (ADDRESSES, address_key(self.primary_endpoint)),
            (ADDRESSES, address_key(self.reader_endpoint)),
        ]
    }
}
impl Doc for ShardObserved {
    const TABLE: &'static str = "shard_observed";
}
impl Doc for NodeSpec {
    const TABLE: &'static str = "node_spec";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(
            NODES_BY_PARAMETER_GROUP,
            key(&self.region, &self.parameter_group),
        )];
        if let (Some(group), Some(shard)) = (&self.group_id, &self.shard_id) {
            out.push((NODES_BY_SHARD, shard_key(&self.region, group, shard)));
        }
        out.extend(
            self.security_group_ids
                .iter()
                .map(|sg| (NODES_BY_SECURITY_GROUP, key(&self.region, sg))),
        );
        if let (Some(zone), None) = (&self.preferred_zone, &self.deletion) {
            out.push((
                NODES_BY_SUBNET_ZONE,
                format!("{}/{}/{zone}", self.region, self.subnet_group),
            ));
        }
        out
    }
}
impl Doc for NodeIntent {
    const TABLE: &'static str = "node_intent";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        let mut keys = vec![(ADDRESSES, address_key(self.endpoint))];
        match &self.host {
            // A node on a named host binds the host's address, shared by its other nodes: the
            // port is what it holds.
            Some(host) => {
                keys.push((NODES_BY_HOST, host.name.clone()));
                match host.port {
                    Some(port) => keys.push((HOST_PORTS, host_port_key(&host.name, port))),
                    None => keys.push((ADDRESSES, address_key(self.private))),
                }
            }
            None => keys.push((ADDRESSES, address_key(self.private))),
        }
        keys
    }
}
impl Doc for Route {
    const TABLE: &'static str = "route";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        vec![(ROUTES_BY_OWNER, self.owner.clone())]
    }
}
impl Doc for NodeObserved {
    const TABLE: &'static str = "node_observed";
}
impl Doc for NodeLogDelivery {
    const TABLE: &'static str = "node_log_delivery";
}
impl Doc for Event {
    const TABLE: &'static str = "event";
}
impl Doc for ParameterGroupSpec {
    const TABLE: &'static str = "parameter_group_spec";
}
impl Doc for SnapshotSpec {
    const TABLE: &'static str = "snapshot_spec";
    const INDEXED: bool = true;
    fn index_keys(&self) -> Vec<(&'static str, String)> {
        vec![(SNAPSHOTS_BY_SOURCE, key(&self.region, self.source_id()))]
    }
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

impl Doc for ferrocache_model::host::HostsSecrets {
    const TABLE: &'static str = "hosts_secrets";
}
impl Doc for ferrocache_model::host::HostSpec {
    /// Keyed by host name; written by `ferrocache hosts --drain`.
    const TABLE: &'static str = "host_spec";
}
impl Doc for ferrocache_model::host::HostRecord {
    /// Written by each host for itself, bound to its lease (`ferrocache-etcd`).
    const TABLE: &'static str = "host";
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

/// Key of the next endpoint address to try (see the control plane's address book).
pub const NEXT_ENDPOINT_ADDRESS: &str = "next_endpoint_address";
/// Key of the next private address to try.
pub const NEXT_PRIVATE_ADDRESS: &str = "next_private_address";
/// Key of the layout version of the stored documents (migrations bring older data dirs to it).
pub const SCHEMA_VERSION: &str = "schema_version";
