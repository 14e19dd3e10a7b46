//! Views: a resource's three layers read together, with the status and endpoints a client sees.
//! The API encodes these into AWS's shapes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::group::{self, GroupIntent, GroupObserved, GroupSpec, GroupStatus};
use ferrocache_model::node::{
    self, CacheNodeStatus, ClusterStatus, NodeIntent, NodeObserved, NodeSpec, Role,
};
use ferrocache_model::parameter::{self, ApplyStatus, DesiredParameters};
use ferrocache_model::shard::{ShardIntent, ShardObserved, ShardSpec};
use ferrocache_model::snapshot::SnapshotSpec;
use ferrocache_model::Fault;
use ferrocache_store::{tables, ReadExt, Reader, StoreError};

/// Facts a page of views shares, read once per call rather than once per record.
#[derive(Debug, Default)]
pub struct Shared {
    /// Snapshots being taken (they overlay `snapshotting` on their sources).
    pub snapshots_in_progress: Vec<SnapshotSpec>,
    /// The desired parameters of each parameter group a record of the page uses, read on first
    /// use: a page of 100 nodes mostly shares one or two groups, and decoding a group's spec
    /// per node was the largest part of a paged Describe.
    desired_parameters: RefCell<HashMap<String, Rc<DesiredParameters>>>,
}

impl Shared {
    /// Reads what the views of `region` share.
    ///
    /// # Errors
    /// Store failures.
    pub fn load(r: &dyn Reader, region: &str) -> Result<Self, StoreError> {
        Ok(Self {
            snapshots_in_progress: super::snapshot::in_progress(r, region)?,
            desired_parameters: RefCell::default(),
        })
    }

    /// `ParameterApplyStatus` of a node: `in-sync` until it is created (it starts with its
    /// group's values), then as [`parameter::apply_status`] says; each parameter group is read
    /// once per page.
    fn apply_status(
        &self,
        r: &dyn Reader,
        spec: &NodeSpec,
        observed: Option<&NodeObserved>,
    ) -> Result<ApplyStatus, StoreError> {
        let Some(observed) = observed.filter(|o| o.created) else {
            return Ok(ApplyStatus::InSync);
        };
        let cached = self
            .desired_parameters
            .borrow()
            .get(&spec.parameter_group)
            .cloned();
        let desired = match cached {
            Some(desired) => desired,
            None => {
                let desired = Rc::new(super::parameter_group::desired_for(r, spec)?);
                self.desired_parameters
                    .borrow_mut()
                    .insert(spec.parameter_group.clone(), Rc::clone(&desired));
                desired
            }
        };
        Ok(parameter::apply_status(
            &desired,
            observed.parameters.as_ref(),
        ))
    }
}

/// A network endpoint as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `Address` (an IP address inside `--endpoint-cidr`).
    pub address: String,
    /// `Port`.
    pub port: u16,
}

/// A cache cluster (node) as a client sees it.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// What was asked for.
    pub spec: NodeSpec,
    /// Placement, once chosen.
    pub intent: Option<NodeIntent>,
    /// Last confirmed facts.
    pub observed: Option<NodeObserved>,
    /// `CacheClusterStatus`.
    pub status: ClusterStatus,
    /// `CacheNodeStatus` of its one node.
    pub cache_node_status: CacheNodeStatus,
    /// `CurrentRole` inside its group (the role the control plane assigned).
    pub role: Option<Role>,
    /// `ARN`.
    pub arn: String,
    /// `CacheParameterGroup.ParameterApplyStatus` (`in-sync` unless [`NodeView::load`] or
    /// [`GroupView::load`] found a change in flight).
    pub parameter_status: ferrocache_model::parameter::ApplyStatus,
    /// What its log deliveries carried out (filled by the loaders).
    pub log_facts: ferrocache_model::log_delivery::NodeLogDelivery,
}

impl NodeView {
    /// `LogDeliveryConfigurations` with their status.
    pub fn log_deliveries(&self) -> Vec<ferrocache_model::log_delivery::LogDeliveryView> {
        ferrocache_model::log_delivery::describe(
            &self.spec.log_delivery,
            std::slice::from_ref(&self.log_facts),
        )
    }

    /// Reads the node `id` of `region`.
    ///
    /// # Errors
    /// Store failures.
    pub fn load(
        r: &dyn Reader,
        region: &str,
        id: &str,
        account: &str,
    ) -> Result<Option<Self>, StoreError> {
        let shared = Shared::load(r, region)?;
        Self::load_shared(r, region, id, account, &shared)
    }

    /// [`NodeView::load`] with what a page of views shares read once.
    ///
    /// # Errors
    /// Store failures.
    pub fn load_shared(
        r: &dyn Reader,
        region: &str,
        id: &str,
        account: &str,
        shared: &Shared,
    ) -> Result<Option<Self>, StoreError> {
        let key = tables::key(region, id);
        let Some(spec) = r.doc::<NodeSpec>(&key)? else {
            return Ok(None);
        };
        Self::of_spec(r, spec, account, shared).map(Some)
    }

    /// The view of a node whose spec was read already (a page of a listing).
    ///
    /// # Errors
    /// Store failures.
    pub fn of_spec(
        r: &dyn Reader,
        spec: NodeSpec,
        account: &str,
        shared: &Shared,
    ) -> Result<Self, StoreError> {
        let region = spec.region.clone();
        let region = region.as_str();
        let key = tables::key(region, &spec.id);
        let intent = r.doc::<NodeIntent>(&key)?;
        let observed = r.doc::<NodeObserved>(&key)?;
        let role = match (&spec.group_id, &spec.shard_id) {
            (Some(g), Some(s)) => r
                .doc::<ShardIntent>(&tables::shard_key(region, g, s))?
                .map(|si| role_in(&si, &spec.id)),
            _ => None,
        };
        let mut view = Self::new(spec, intent, observed, role, account);
        view.log_facts = r.doc(&key)?.unwrap_or_default();
        view.parameter_status = shared.apply_status(r, &view.spec, view.observed.as_ref())?;
        view.mark_snapshotting(&shared.snapshots_in_progress);
        Ok(view)
    }

    /// Assembles a view from its parts.
    pub fn new(
        spec: NodeSpec,
        intent: Option<NodeIntent>,
        observed: Option<NodeObserved>,
        role: Option<Role>,
        account: &str,
    ) -> Self {
        let status = node::status(&spec, observed.as_ref());
        let cache_node_status = node::cache_node_status(&spec, observed.as_ref());
        let arn = arn::format(&spec.region, account, ArnType::Cluster, &spec.id);
        Self {
            spec,
            intent,
            observed,
            status,
            cache_node_status,
            role,
            arn,
            parameter_status: ferrocache_model::parameter::ApplyStatus::InSync,
            log_facts: Default::default(),
        }
    }

    /// An `available` node reads `snapshotting` while a snapshot is taken from it (the
    /// snapshot records are the only place that knows, so the status is overlaid here).
    fn mark_snapshotting(&mut self, in_progress: &[SnapshotSpec]) {
        if self.status == ClusterStatus::Available
            && in_progress
                .iter()
                .any(|s| s.nodes().any(|n| n == self.spec.id))
        {
            self.status = ClusterStatus::Snapshotting;
        }
    }

    /// Refuses an operation on a cluster that is not `available`, in AWS's words.
    ///
    /// # Errors
    /// `InvalidCacheClusterState`.
    pub fn require_available(&self) -> Result<(), Fault> {
        if self.status == ClusterStatus::Available {
            return Ok(());
        }
        Err(Fault::InvalidCacheClusterState(format!(
            "Cache cluster {} is not in available state. Current status: {}.",
            self.spec.id,
            self.status.as_str()
        )))
    }

    /// The node's own endpoint (the member's `ReadEndpoint`, the cache node's `Endpoint`).
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.intent.as_ref().map(|i| Endpoint {
            address: i.endpoint.to_string(),
            port: self.spec.port,
        })
    }

    /// Availability zone: the chosen one, else the requested one.
    pub fn zone(&self) -> Option<&str> {
        self.intent
            .as_ref()
            .map(|i| i.zone.as_str())
            .or(self.spec.preferred_zone.as_deref())
    }

    /// `CacheNodeCreateTime`.
    pub fn node_created_at(&self) -> Option<ferrocache_model::Timestamp> {
        self.observed.as_ref().and_then(|o| o.node_created_at)
    }

    /// `CacheNodeType`: the type the node runs with (a requested change shows in
    /// [`Self::pending_node_type`] until it is carried out).
    pub fn node_type(&self) -> &str {
        self.observed
            .as_ref()
            .and_then(|o| o.node_type.as_deref())
            .unwrap_or(&self.spec.node_type)
    }

    /// `PendingModifiedValues.CacheNodeType`: a requested type not carried out yet (and not
    /// refused).
    pub fn pending_node_type(&self) -> Option<&str> {
        let refused = self
            .observed
            .as_ref()
            .and_then(|o| o.node_type_refused.as_deref());
        (self.node_type() != self.spec.node_type && refused != Some(self.spec.node_type.as_str()))
            .then_some(self.spec.node_type.as_str())
    }
}

/// The role the shard's intent assigns to member `id`.
fn role_in(shard: &ShardIntent, id: &str) -> Role {
    if shard.primary == id {
        Role::Primary
    } else {
        Role::Replica
    }
}

/// A shard (`NodeGroup`) as a client sees it.
#[derive(Debug, Clone)]
pub struct ShardView {
    /// What was asked for.
    pub spec: ShardSpec,
    /// Primary, epoch and endpoints, once placed.
    pub intent: Option<ShardIntent>,
    /// Last confirmed facts.
    pub observed: Option<ShardObserved>,
}

impl ShardView {
    /// `PrimaryEndpoint`, once placed.
    pub fn primary_endpoint(&self, port: u16) -> Option<Endpoint> {
        self.intent.as_ref().map(|i| Endpoint {
            address: i.primary_endpoint.to_string(),
            port,
        })
    }

    /// `ReaderEndpoint`, once placed.
    pub fn reader_endpoint(&self, port: u16) -> Option<Endpoint> {
        self.intent.as_ref().map(|i| Endpoint {
            address: i.reader_endpoint.to_string(),
            port,
        })
    }

    /// The member that is (to be) primary, once placed.
    pub fn primary(&self) -> Option<&str> {
        self.intent.as_ref().map(|i| i.primary.as_str())
    }

    /// `PendingModifiedValues.PrimaryClusterId`: a promotion not carried out yet.
    pub fn pending_promotion(&self) -> Option<&str> {
        let done = self.observed.as_ref().map_or(0, |o| o.promotions);
        (done < self.spec.promotion_requests)
            .then_some(self.spec.promotion_target.as_deref())
            .flatten()
    }

    /// A requested failover is not carried out yet.
    pub fn failover_pending(&self) -> bool {
        self.observed.as_ref().map_or(0, |o| o.failovers) < self.spec.failover_requests
    }
}

/// A replication group as a client sees it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// What was asked for.
    pub spec: GroupSpec,
    /// Last confirmed facts.
    pub observed: Option<GroupObserved>,
    /// `Status`.
    pub status: GroupStatus,
    /// Its shards (`NodeGroups`), in id order.
    pub shards: Vec<ShardView>,
    /// Member clusters of every shard, in id order (`MemberClusters`).
    pub members: Vec<NodeView>,
    /// `ARN`.
    pub arn: String,
    /// `ConfigurationEndpoint` of a cluster-mode group, once placed.
    pub configuration_endpoint: Option<Endpoint>,
}

impl GroupView {
    /// `LogDeliveryConfigurations` with their status over every live member.
    pub fn log_deliveries(&self) -> Vec<ferrocache_model::log_delivery::LogDeliveryView> {
        let facts: Vec<_> = self
            .members
            .iter()
            .filter(|m| m.spec.deletion.is_none())
            .map(|m| m.log_facts.clone())
            .collect();
        ferrocache_model::log_delivery::describe(&self.spec.log_delivery, &facts)
    }

    /// Reads the group `id` of `region` with its shards and members.
    ///
    /// # Errors
    /// Store failures.
    pub fn load(
        r: &dyn Reader,
        region: &str,
        id: &str,
        account: &str,
    ) -> Result<Option<Self>, StoreError> {
        let shared = Shared::load(r, region)?;
        Self::load_shared(r, region, id, account, &shared)
    }

    /// [`GroupView::load`] with what a page of views shares read once.
    ///
    /// # Errors
    /// Store failures.
    pub fn load_shared(
        r: &dyn Reader,
        region: &str,
        id: &str,
        account: &str,
        shared: &Shared,
    ) -> Result<Option<Self>, StoreError> {
        let key = tables::key(region, id);
        let Some(spec) = r.doc::<GroupSpec>(&key)? else {
            return Ok(None);
        };
        Self::of_spec(r, spec, account, shared).map(Some)
    }

    /// The view of a group whose spec was read already (a page of a listing).
    ///
    /// # Errors
    /// Store failures.
    pub fn of_spec(
        r: &dyn Reader,
        spec: GroupSpec,
        account: &str,
        shared: &Shared,
    ) -> Result<Self, StoreError> {
        let key = tables::key(&spec.region, &spec.id);
        let id = spec.id.clone();
        let id = id.as_str();
        let observed = r.doc::<GroupObserved>(&key)?;
        let mut shards = Vec::new();
        for (shard_key, shard) in r.docs::<ShardSpec>(&format!("{key}/"))? {
            shards.push(ShardView {
                intent: r.doc::<ShardIntent>(&shard_key)?,
                observed: r.doc::<ShardObserved>(&shard_key)?,
                spec: shard,
            });
        }
        let mut members = Vec::new();
        for node_key in r.lookup(tables::NODES_BY_SHARD, &key)? {
            let Some(node_spec) = r.doc::<NodeSpec>(&node_key)? else {
                continue;
            };
            let role = shards
                .iter()
                .find(|s| node_spec.shard_id.as_deref() == Some(s.spec.id.as_str()))
                .and_then(|s| s.intent.as_ref())
                .map(|si| role_in(si, &node_spec.id));
            let node_intent = r.doc::<NodeIntent>(&node_key)?;
            let node_observed = r.doc::<NodeObserved>(&node_key)?;
            let mut member = NodeView::new(node_spec, node_intent, node_observed, role, account);
            member.log_facts = r.doc(&node_key)?.unwrap_or_default();
            member.parameter_status =
                shared.apply_status(r, &member.spec, member.observed.as_ref())?;
            member.mark_snapshotting(&shared.snapshots_in_progress);
            members.push(member);
        }
        members.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        let mut status = group::status(&spec, observed.as_ref());
        // Like its member, an `available` group reads `snapshotting` while a snapshot of it (or
        // of one of its members) is taken.
        if status == GroupStatus::Available
            && shared
                .snapshots_in_progress
                .iter()
                .any(|s| s.group_id.as_deref() == Some(id))
        {
            status = GroupStatus::Snapshotting;
        }
        let arn = arn::format(&spec.region, account, ArnType::ReplicationGroup, &spec.id);
        let configuration_endpoint = match spec.cluster_mode.runs_cluster() {
            true => r.doc::<GroupIntent>(&key)?.map(|i| Endpoint {
                address: i.configuration_endpoint.to_string(),
                port: spec.port,
            }),
            false => None,
        };
        Ok(Self {
            spec,
            observed,
            status,
            shards,
            members,
            arn,
            configuration_endpoint,
        })
    }

    /// The members of shard `shard_id`, in id order.
    pub fn members_of<'a>(&'a self, shard_id: &'a str) -> impl Iterator<Item = &'a NodeView> + 'a {
        self.members
            .iter()
            .filter(move |m| m.spec.shard_id.as_deref() == Some(shard_id))
    }

    /// The primary of a group without cluster mode (its one shard's), once placed.
    pub fn primary_id(&self) -> Option<&str> {
        self.shards.first().and_then(ShardView::primary)
    }

    /// Whether `id` is the primary of one of the group's shards.
    pub fn is_primary(&self, id: &str) -> bool {
        self.shards.iter().any(|s| s.primary() == Some(id))
    }

    /// Refuses an operation on a group that is not `available`, in AWS's words.
    ///
    /// # Errors
    /// `InvalidReplicationGroupState`.
    pub fn require_available(&self) -> Result<(), Fault> {
        if self.status == GroupStatus::Available {
            return Ok(());
        }
        Err(Fault::InvalidReplicationGroupState(format!(
            "Replication group {} is not in available state. Current status: {}.",
            self.spec.id,
            self.status.as_str()
        )))
    }

    /// Refuses `operation` on a group in `compatible` cluster mode: AWS allows no change to
    /// such a group but its parameter group and its move to `enabled`.
    ///
    /// # Errors
    /// `InvalidReplicationGroupState` (Ferrocache's wording; AWS's was not found).
    pub fn refuse_if_compatible(&self, operation: &str) -> Result<(), Fault> {
        if self.spec.cluster_mode != ferrocache_model::group::ClusterMode::Compatible {
            return Ok(());
        }
        Err(Fault::InvalidReplicationGroupState(format!(
            "{operation} is not allowed while replication group {} is in compatible cluster mode; set its cluster mode to enabled first.",
            self.spec.id
        )))
    }

    /// `NodeGroups[0].PrimaryEndpoint` of a group without cluster mode, once placed.
    pub fn primary_endpoint(&self) -> Option<Endpoint> {
        self.shards
            .first()
            .and_then(|s| s.primary_endpoint(self.spec.port))
    }

    /// `NodeGroups[0].ReaderEndpoint` of a group without cluster mode, once placed.
    pub fn reader_endpoint(&self) -> Option<Endpoint> {
        self.shards
            .first()
            .and_then(|s| s.reader_endpoint(self.spec.port))
    }

    /// `SnapshottingClusterId`: with automatic snapshots on, a replica takes them (AWS samples
    /// show the second member), else the only member.
    pub fn snapshotting_cluster_id(&self) -> Option<&str> {
        if self.spec.snapshot_retention_limit == 0 {
            return None;
        }
        if let Some(chosen) = &self.spec.snapshotting_cluster {
            if self.members.iter().any(|m| &m.spec.id == chosen) {
                return Some(chosen);
            }
        }
        let primary = self.primary_id();
        self.members
            .iter()
            .map(|m| m.spec.id.as_str())
            .find(|id| Some(*id) != primary)
            .or_else(|| self.members.first().map(|m| m.spec.id.as_str()))
    }

    /// `CacheNodeType`: the type the members run with, until every one runs the requested one.
    pub fn node_type(&self) -> &str {
        self.observed
            .as_ref()
            .and_then(|o| o.node_type.as_deref())
            .unwrap_or(&self.spec.node_type)
    }

    /// `PendingModifiedValues.PrimaryClusterId`: a promotion not carried out yet.
    pub fn pending_promotion(&self) -> Option<&str> {
        self.shards.iter().find_map(ShardView::pending_promotion)
    }

    /// Members that are not being removed.
    pub fn live_members(&self) -> impl Iterator<Item = &NodeView> {
        self.members.iter().filter(|m| m.spec.deletion.is_none())
    }
}
