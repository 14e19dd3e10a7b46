//! `CreateCacheSubnetGroup`, `DescribeCacheSubnetGroups`, `ModifyCacheSubnetGroup`,
//! `DeleteCacheSubnetGroup`, and what the create paths of replication groups and cache clusters
//! need from a subnet group: its VPC, its availability zones, and the security groups that may
//! go with it ([`network_for`]).
//!
//! Every region has the `default` group over its default VPC's subnets (written with the
//! default VPC, see [`super::network::ensure_defaults`]). A group's VPC and each subnet's zone
//! come from the subnets themselves, as on AWS.

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::group::GroupSpec;
use ferrocache_model::network::{
    self, SecurityGroup, Subnet, SubnetGroupSpec, DEFAULT_SECURITY_GROUP, DEFAULT_SUBNET_GROUP,
    SUBNET_GROUPS_PER_REGION_MAX,
};
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_model::tag::{self, Tag};
use ferrocache_model::{paging, zone, Fault};
use ferrocache_store::{tables, update, view, ReadExt, Reader, WriteExt, Writer};

use super::network::{ensure_defaults, security_groups_of};
use super::{Page, Service, ServiceError};

/// `CreateCacheSubnetGroup` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct CreateSubnetGroupRequest {
    /// `CacheSubnetGroupName`
    pub name: Option<String>,
    /// `CacheSubnetGroupDescription`
    pub description: Option<String>,
    /// `SubnetIds`
    pub subnet_ids: Vec<String>,
    /// `Tags`
    pub tags: Vec<Tag>,
}

/// `ModifyCacheSubnetGroup` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct ModifySubnetGroupRequest {
    /// `CacheSubnetGroupName`
    pub name: Option<String>,
    /// `CacheSubnetGroupDescription`, when sent.
    pub description: Option<String>,
    /// `SubnetIds`, when sent (replaces the list).
    pub subnet_ids: Option<Vec<String>>,
}

/// A cache subnet group as a client sees it.
#[derive(Debug, Clone)]
pub struct SubnetGroupView {
    /// What was asked for.
    pub spec: SubnetGroupSpec,
    /// Its subnets, in the order given (a subnet that no longer exists is left out).
    pub subnets: Vec<Subnet>,
    /// `ARN`.
    pub arn: String,
}

impl SubnetGroupView {
    /// Reads the group `name` of `region`.
    ///
    /// # Errors
    /// Store failures.
    pub fn load(
        r: &dyn Reader,
        region: &str,
        name: &str,
        account: &str,
    ) -> Result<Option<Self>, ferrocache_store::StoreError> {
        let Some(spec) = r.doc::<SubnetGroupSpec>(&tables::key(region, name))? else {
            return Ok(None);
        };
        Ok(Some(Self::of(r, spec, account)?))
    }

    fn of(
        r: &dyn Reader,
        spec: SubnetGroupSpec,
        account: &str,
    ) -> Result<Self, ferrocache_store::StoreError> {
        let mut subnets = Vec::new();
        for id in &spec.subnet_ids {
            if let Some(s) = r.doc::<Subnet>(&tables::key(&spec.region, id))? {
                subnets.push(s);
            }
        }
        let arn = arn::format(&spec.region, account, ArnType::SubnetGroup, &spec.name);
        Ok(Self { spec, subnets, arn })
    }

    /// The availability zones of its subnets, sorted, each once.
    pub fn zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self
            .subnets
            .iter()
            .map(|s| s.availability_zone.clone())
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }
}

/// What a new node needs from its subnet group.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    /// The subnet group's zones (where nodes may go).
    pub zones: Vec<String>,
    /// The security groups the node gets: those asked for, else the VPC's `default`.
    pub security_group_ids: Vec<String>,
}

/// Resolves a create request's network: the subnet group must exist, and every security group
/// must exist in the subnet group's VPC (none given: the VPC's `default` group).
///
/// # Errors
/// `CacheSubnetGroupNotFoundFault`; `InvalidParameterValue` for an unknown security group;
/// `InvalidParameterCombination` (AWS's wording) for one of another VPC.
pub(crate) fn network_for(
    w: &mut dyn Writer,
    account: &str,
    region: &str,
    subnet_group: &str,
    security_group_ids: &[String],
) -> Result<Network, ServiceError> {
    ensure_defaults(w, account, region)?;
    let group = SubnetGroupView::load(w, region, subnet_group, account)?
        .ok_or_else(|| Fault::CacheSubnetGroupNotFound(subnet_group.to_string()))?;
    let vpc_id = &group.spec.vpc_id;
    let mut ids = Vec::new();
    for id in security_group_ids {
        let sg = w
            .doc::<SecurityGroup>(&tables::key(region, id))?
            .ok_or_else(|| Fault::value(format!("The security group '{id}' does not exist")))?;
        if &sg.vpc_id != vpc_id {
            return Err(Fault::combination(format!(
                "Subnet group [{}] belongs to a different VPC [{vpc_id}] than [{}]",
                group.spec.name, sg.vpc_id
            ))
            .into());
        }
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.is_empty() {
        if let Some(default) = security_groups_of(w, region, Some(vpc_id))?
            .into_iter()
            .find(|g| g.name == DEFAULT_SECURITY_GROUP)
        {
            ids.push(default.id);
        }
    }
    Ok(Network {
        zones: group.zones(),
        security_group_ids: ids,
    })
}

/// The zones of the nodes that exist among `nodes` (chosen zone, else the requested one).
pub(crate) fn zones_of_nodes(
    r: &dyn Reader,
    nodes: &[NodeSpec],
) -> Result<Vec<String>, ServiceError> {
    let mut zones = Vec::new();
    for node in nodes.iter().filter(|n| n.deletion.is_none()) {
        let intent = r.doc::<NodeIntent>(&tables::key(&node.region, &node.id))?;
        if let Some(zone) = intent
            .map(|i| i.zone)
            .or_else(|| node.preferred_zone.clone())
        {
            zones.push(zone);
        }
    }
    Ok(zones)
}

/// Checks that the subnet group `name` exists (`default` always does: it is written with the
/// default VPC the first time the region's network is touched).
///
/// # Errors
/// `CacheSubnetGroupNotFoundFault`.
pub(crate) fn check_exists(r: &dyn Reader, region: &str, name: &str) -> Result<(), ServiceError> {
    if name == DEFAULT_SUBNET_GROUP
        || r.doc::<SubnetGroupSpec>(&tables::key(region, name))?
            .is_some()
    {
        Ok(())
    } else {
        Err(Fault::CacheSubnetGroupNotFound(name.to_string()).into())
    }
}

/// The zones of the subnet group `name` (`default` before it is written: the region's zones,
/// which are its default subnets' zones).
fn zones_for(r: &dyn Reader, region: &str, name: &str) -> Result<Vec<String>, ServiceError> {
    match r.doc::<SubnetGroupSpec>(&tables::key(region, name))? {
        Some(spec) => Ok(SubnetGroupView::of(r, spec, "")?.zones()),
        None if name == DEFAULT_SUBNET_GROUP => Ok(zone::zones(region)),
        None => Err(Fault::CacheSubnetGroupNotFound(name.to_string()).into()),
    }
}

/// Zones for new members of a group: requested ones must be among the subnet group's zones,
/// the others spread over them apart from the members that exist.
///
/// # Errors
/// `CacheSubnetGroupNotFoundFault`, `InvalidVPCNetworkStateFault`.
pub(crate) fn place_members(
    r: &dyn Reader,
    region: &str,
    subnet_group: &str,
    existing: &[NodeSpec],
    requested: &[Option<String>],
) -> Result<Vec<Option<String>>, ServiceError> {
    let zones = zones_for(r, region, subnet_group)?;
    let taken = zones_of_nodes(r, existing)?;
    Ok(zone::place(&zones, &taken, requested)?
        .into_iter()
        .map(Some)
        .collect())
}

/// A new replication group's spec with its network resolved: the security groups checked
/// against the subnet group's VPC (none given: the VPC's `default` group).
///
/// # Errors
/// As [`network_for`].
pub(crate) fn with_network(
    w: &mut dyn Writer,
    account: &str,
    spec: &GroupSpec,
) -> Result<GroupSpec, ServiceError> {
    let network = network_for(
        w,
        account,
        &spec.region,
        &spec.subnet_group,
        &spec.security_group_ids,
    )?;
    let mut spec = spec.clone();
    spec.security_group_ids = network.security_group_ids;
    Ok(spec)
}

/// A new standalone node's spec with its network resolved: security groups as for a group, and
/// its zone — the requested one if the subnet group has it, else the subnet group's zone with
/// the fewest nodes of that subnet group.
///
/// # Errors
/// As [`network_for`]; `InvalidVPCNetworkStateFault` for a zone outside the subnet group.
pub(crate) fn with_node_network(
    w: &mut dyn Writer,
    account: &str,
    spec: &NodeSpec,
) -> Result<NodeSpec, ServiceError> {
    let network = network_for(
        w,
        account,
        &spec.region,
        &spec.subnet_group,
        &spec.security_group_ids,
    )?;
    // How many live nodes of the subnet group each zone holds, from the store's index (one
    // short scan per zone, not a read of every node).
    let mut taken = Vec::new();
    for zone in &network.zones {
        let count = w.lookup_count(
            tables::NODES_BY_SUBNET_ZONE,
            &format!("{}/{}/{zone}", spec.region, spec.subnet_group),
        )?;
        taken.extend(std::iter::repeat_n(zone.clone(), count));
    }
    let zone = zone::place(
        &network.zones,
        &taken,
        std::slice::from_ref(&spec.preferred_zone),
    )?;
    let mut spec = spec.clone();
    spec.security_group_ids = network.security_group_ids;
    spec.preferred_zone = zone.into_iter().next();
    Ok(spec)
}

/// Lists, adds or removes the tags of a cache subnet group (`change` edits them and says
/// whether to write); used by the ARN tagging operations.
///
/// # Errors
/// `CacheSubnetGroupNotFoundFault`, the tag faults of `change`.
pub(crate) fn change_tags(
    w: &mut dyn Writer,
    region: &str,
    name: &str,
    change: impl FnOnce(&mut Vec<Tag>) -> Result<bool, Fault>,
) -> Result<Vec<Tag>, ServiceError> {
    let key = tables::key(region, name);
    let mut spec = w
        .doc::<SubnetGroupSpec>(&key)?
        .ok_or_else(|| Fault::CacheSubnetGroupNotFound(name.to_string()))?;
    if change(&mut spec.tags)? {
        w.put_doc(&key, &spec)?;
    }
    Ok(spec.tags)
}

/// Who uses the subnet group `name`: a replication group, else a cache cluster.
fn user_of(r: &dyn Reader, region: &str, name: &str) -> Result<Option<String>, ServiceError> {
    let prefix = tables::region_prefix(region);
    if let Some((_, g)) = r
        .docs::<GroupSpec>(&prefix)?
        .into_iter()
        .find(|(_, g)| g.subnet_group == name)
    {
        return Ok(Some(format!("replication group {}", g.id)));
    }
    Ok(r.docs::<NodeSpec>(&prefix)?
        .into_iter()
        .find(|(_, n)| n.subnet_group == name)
        .map(|(_, n)| format!("cache cluster {}", n.id)))
}

fn load(
    r: &dyn Reader,
    region: &str,
    name: &str,
    account: &str,
) -> Result<SubnetGroupView, ServiceError> {
    let name = name.to_ascii_lowercase();
    SubnetGroupView::load(r, region, &name, account)?
        .ok_or_else(|| Fault::CacheSubnetGroupNotFound(name).into())
}

fn lookup_subnet(r: &dyn Reader, region: &str, id: &str) -> Option<Subnet> {
    // A store error while looking up reads as "unknown"; the transaction's own reads report
    // store failures.
    r.doc::<Subnet>(&tables::key(region, id)).ok().flatten()
}

impl Service {
    /// `CreateCacheSubnetGroup`.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidParameterValue` (name, unknown subnets),
    /// `CacheSubnetQuotaExceededFault`, `InvalidSubnet` (two VPCs),
    /// `CacheSubnetGroupAlreadyExists`, `CacheSubnetGroupQuotaExceeded`, tag faults.
    pub fn create_cache_subnet_group(
        &self,
        region: &str,
        req: &CreateSubnetGroupRequest,
    ) -> Result<SubnetGroupView, ServiceError> {
        let name = network::subnet_group_name(
            req.name
                .as_deref()
                .ok_or_else(|| Fault::MissingParameter("CacheSubnetGroupName".into()))?,
        )?;
        let description = network::subnet_group_description(
            req.description
                .as_deref()
                .ok_or_else(|| Fault::MissingParameter("CacheSubnetGroupDescription".into()))?,
        )?;
        let mut tags = Vec::new();
        tag::merge(&mut tags, &req.tags)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SubnetGroupView, ServiceError> {
            ensure_defaults(w, &account, region)?;
            let (subnet_ids, vpc_id) =
                network::subnet_group_subnets(&req.subnet_ids, |id| lookup_subnet(w, region, id))?;
            let key = tables::key(region, &name);
            if w.doc::<SubnetGroupSpec>(&key)?.is_some() {
                return Err(Fault::CacheSubnetGroupAlreadyExists(name.clone()).into());
            }
            let count = w
                .docs::<SubnetGroupSpec>(&tables::region_prefix(region))?
                .len();
            if count >= SUBNET_GROUPS_PER_REGION_MAX {
                return Err(Fault::CacheSubnetGroupQuotaExceeded(format!(
                    "The request cannot be processed because it would exceed the allowed number of cache subnet groups ({SUBNET_GROUPS_PER_REGION_MAX})."
                ))
                .into());
            }
            let spec = SubnetGroupSpec {
                name: name.clone(),
                region: region.to_string(),
                description: description.clone(),
                vpc_id,
                subnet_ids,
                tags: tags.clone(),
                created_at: chrono::Utc::now(),
            };
            w.put_doc(&key, &spec)?;
            Ok(SubnetGroupView::of(w, spec, &account)?)
        })
    }

    /// `DescribeCacheSubnetGroups`: one group, or a page of the region's groups (`default`
    /// included).
    ///
    /// # Errors
    /// `CacheSubnetGroupNotFoundFault`, bad paging values.
    pub fn describe_cache_subnet_groups(
        &self,
        region: &str,
        name: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<Page<SubnetGroupView>, ServiceError> {
        paging::RECORDS.page_size(max_records)?;
        self.ensure_network(region)?;
        let account = self.account_id().to_string();
        view(
            self.store(),
            |r| -> Result<Page<SubnetGroupView>, ServiceError> {
                if let Some(name) = name {
                    return Ok(Page {
                        items: vec![load(r, region, name, &account)?],
                        marker: None,
                    });
                }
                let mut groups = Vec::new();
                for (_, spec) in r.docs::<SubnetGroupSpec>(&tables::region_prefix(region))? {
                    groups.push(SubnetGroupView::of(r, spec, &account)?);
                }
                let (items, marker) = paging::page(
                    groups,
                    |g| g.spec.name.clone(),
                    marker,
                    max_records,
                    paging::RECORDS,
                )?;
                Ok(Page { items, marker })
            },
        )
    }

    /// `ModifyCacheSubnetGroup`: a new description and/or subnet list. Subnets whose zone holds
    /// nodes of the group's users cannot leave (the nodes would have no subnet), and a group in
    /// use keeps its VPC.
    ///
    /// # Errors
    /// `CacheSubnetGroupNotFoundFault`, `InvalidParameterValue`, `CacheSubnetQuotaExceededFault`,
    /// `InvalidSubnet`, `SubnetInUse`, `InvalidParameterCombination` (nothing to change).
    pub fn modify_cache_subnet_group(
        &self,
        region: &str,
        req: &ModifySubnetGroupRequest,
    ) -> Result<SubnetGroupView, ServiceError> {
        let name = req
            .name
            .as_deref()
            .ok_or_else(|| Fault::MissingParameter("CacheSubnetGroupName".into()))?
            .to_ascii_lowercase();
        if req.description.is_none() && req.subnet_ids.is_none() {
            return Err(Fault::combination("No modifications were requested.").into());
        }
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SubnetGroupView, ServiceError> {
            ensure_defaults(w, &account, region)?;
            let current = load(w, region, &name, &account)?;
            if name == DEFAULT_SUBNET_GROUP {
                return Err(
                    Fault::value("The default cache subnet group cannot be modified.").into(),
                );
            }
            let mut spec = current.spec.clone();
            if let Some(description) = &req.description {
                spec.description = network::subnet_group_description(description)?;
            }
            if let Some(requested) = &req.subnet_ids {
                let (subnet_ids, vpc_id) =
                    network::subnet_group_subnets(requested, |id| lookup_subnet(w, region, id))?;
                let prefix = tables::region_prefix(region);
                let users: Vec<NodeSpec> = w
                    .docs::<NodeSpec>(&prefix)?
                    .into_iter()
                    .map(|(_, n)| n)
                    .filter(|n| n.subnet_group == name)
                    .collect();
                let in_use = !users.is_empty() || user_of(w, region, &name)?.is_some();
                if in_use && vpc_id != spec.vpc_id {
                    return Err(Fault::InvalidSubnet(format!(
                        "The subnets of cache subnet group {name}, which is in use, must stay in VPC {}.",
                        spec.vpc_id
                    ))
                    .into());
                }
                let kept_zones: Vec<String> = subnet_ids
                    .iter()
                    .filter_map(|id| lookup_subnet(w, region, id))
                    .map(|s| s.availability_zone)
                    .collect();
                for zone in zones_of_nodes(w, &users)? {
                    if !kept_zones.contains(&zone) {
                        let leaving = current
                            .subnets
                            .iter()
                            .find(|s| s.availability_zone == zone && !subnet_ids.contains(&s.id))
                            .map_or_else(|| zone.clone(), |s| s.id.clone());
                        return Err(Fault::SubnetInUse(format!(
                            "The subnet {leaving} is in use: cache nodes of subnet group {name} run in availability zone {zone}."
                        ))
                        .into());
                    }
                }
                spec.subnet_ids = subnet_ids;
                spec.vpc_id = vpc_id;
            }
            w.put_doc(&tables::key(region, &name), &spec)?;
            Ok(SubnetGroupView::of(w, spec, &account)?)
        })
    }

    /// `DeleteCacheSubnetGroup`: refused while a replication group or cache cluster uses it,
    /// and for `default`.
    ///
    /// # Errors
    /// `CacheSubnetGroupNotFoundFault`, `CacheSubnetGroupInUse`, `InvalidParameterValue`.
    pub fn delete_cache_subnet_group(&self, region: &str, name: &str) -> Result<(), ServiceError> {
        let account = self.account_id().to_string();
        let name = name.to_ascii_lowercase();
        update(self.store(), |w| -> Result<(), ServiceError> {
            ensure_defaults(w, &account, region)?;
            load(w, region, &name, &account)?;
            if name == DEFAULT_SUBNET_GROUP {
                return Err(
                    Fault::value("The default cache subnet group cannot be deleted.").into(),
                );
            }
            if let Some(user) = user_of(w, region, &name)? {
                return Err(Fault::CacheSubnetGroupInUse(format!(
                    "Cache subnet group {name} is currently in use by {user}."
                ))
                .into());
            }
            w.delete_doc::<SubnetGroupSpec>(&tables::key(region, &name))?;
            Ok(())
        })
    }
}
