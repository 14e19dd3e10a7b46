//! The EC2 operations Ferrocache serves: `CreateVpc`, `DescribeVpcs`, `CreateSubnet`,
//! `DescribeSubnets`, `CreateSecurityGroup`, `DescribeSecurityGroups`,
//! `AuthorizeSecurityGroupIngress`, `RevokeSecurityGroupIngress`, `DeleteSecurityGroup`; and the
//! default VPC every region has from the start.
//!
//! The default VPC (with its subnets, its `default` security group and the `default` cache
//! subnet group over it) is written the first time anything in a region touches the network
//! ([`ensure_defaults`]), with ids derived from account and region, so it looks the same after a
//! restart and in every data directory. Nothing here is reconciled: these are records the
//! ElastiCache side reads (zones of subnets, VPCs of security groups).

use ferrocache_model::group::GroupSpec;
use ferrocache_model::network::{
    self, Ec2Fault, Filter, GroupPairRequest, Peer, PermissionRequest, Rule, SecurityGroup, Subnet,
    SubnetGroupSpec, Vpc, DEFAULT_SECURITY_GROUP, DEFAULT_SUBNET_GROUP,
    RULES_PER_SECURITY_GROUP_MAX, SECURITY_GROUPS_PER_VPC_MAX, SUBNETS_PER_VPC_MAX,
    VPCS_PER_REGION_MAX,
};
use ferrocache_model::node::NodeSpec;
use ferrocache_model::tag::Tag;
use ferrocache_store::tables::{self, Counter, NETWORK_SEQ};
use ferrocache_store::{update, view, ReadExt, Reader, StoreError, WriteExt, Writer};

use super::Service;

/// Why an EC2 operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The request broke an EC2 rule; sent to the client with EC2's code.
    #[error(transparent)]
    Fault(#[from] Ec2Fault),
    /// The store failed; logged, and answered with a generic server error.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A security group named by a request: by id, or by name in the default VPC.
#[derive(Debug, Clone, Default)]
pub struct GroupRef {
    /// `GroupId`.
    pub group_id: Option<String>,
    /// `GroupName` (default VPC only, as in EC2).
    pub group_name: Option<String>,
}

/// Writes the region's default VPC, subnets, security group and `default` cache subnet group
/// unless they exist. Idempotent; one read when they do.
///
/// # Errors
/// Store failures.
pub fn ensure_defaults(w: &mut dyn Writer, account: &str, region: &str) -> Result<(), StoreError> {
    let (vpc, subnets, group) = network::default_network(account, region);
    if w.doc::<Vpc>(&tables::key(region, &vpc.id))?.is_some() {
        return Ok(());
    }
    for subnet in &subnets {
        w.put_doc(&tables::key(region, &subnet.id), subnet)?;
    }
    w.put_doc(&tables::key(region, &group.id), &group)?;
    let subnet_group = SubnetGroupSpec {
        name: DEFAULT_SUBNET_GROUP.to_string(),
        region: region.to_string(),
        description: DEFAULT_SUBNET_GROUP.to_string(),
        vpc_id: vpc.id.clone(),
        subnet_ids: subnets.iter().map(|s| s.id.clone()).collect(),
        tags: Vec::new(),
        created_at: chrono::Utc::now(),
    };
    let key = tables::key(region, DEFAULT_SUBNET_GROUP);
    if w.doc::<SubnetGroupSpec>(&key)?.is_none() {
        w.put_doc(&key, &subnet_group)?;
    }
    w.put_doc(&tables::key(region, &vpc.id), &vpc)?;
    Ok(())
}

/// The VPC `id` of `region`.
///
/// # Errors
/// [`Ec2Fault::MalformedId`], [`Ec2Fault::VpcNotFound`].
fn load_vpc(r: &dyn Reader, region: &str, id: &str) -> Result<Vpc, NetworkError> {
    network::check_id("vpc", id)?;
    r.doc::<Vpc>(&tables::key(region, id))?
        .ok_or_else(|| Ec2Fault::VpcNotFound(id.to_string()).into())
}

/// The region's default VPC id.
fn default_vpc_id(account: &str, region: &str) -> String {
    network::default_network(account, region).0.id
}

/// Every subnet of `region` (optionally of one VPC).
///
/// # Errors
/// Store failures.
pub fn subnets_of(
    r: &dyn Reader,
    region: &str,
    vpc_id: Option<&str>,
) -> Result<Vec<Subnet>, StoreError> {
    Ok(r.docs::<Subnet>(&tables::region_prefix(region))?
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| vpc_id.is_none_or(|v| s.vpc_id == v))
        .collect())
}

/// Every security group of `region` (optionally of one VPC).
///
/// # Errors
/// Store failures.
pub fn security_groups_of(
    r: &dyn Reader,
    region: &str,
    vpc_id: Option<&str>,
) -> Result<Vec<SecurityGroup>, StoreError> {
    Ok(r.docs::<SecurityGroup>(&tables::region_prefix(region))?
        .into_iter()
        .map(|(_, g)| g)
        .filter(|g| vpc_id.is_none_or(|v| g.vpc_id == v))
        .collect())
}

/// Resolves a [`GroupRef`].
fn load_group(
    r: &dyn Reader,
    account: &str,
    region: &str,
    group: &GroupRef,
) -> Result<SecurityGroup, NetworkError> {
    match (&group.group_id, &group.group_name) {
        (Some(id), _) => {
            network::check_id("sg", id)?;
            r.doc::<SecurityGroup>(&tables::key(region, id))?
                .ok_or_else(|| {
                    Ec2Fault::GroupNotFound(format!("The security group '{id}' does not exist"))
                        .into()
                })
        }
        (None, Some(name)) => {
            let vpc = default_vpc_id(account, region);
            security_groups_of(r, region, Some(&vpc))?
                .into_iter()
                .find(|g| &g.name == name)
                .ok_or_else(|| {
                    Ec2Fault::GroupNotFound(format!(
                        "The security group '{name}' does not exist in default VPC '{vpc}'"
                    ))
                    .into()
                })
        }
        (None, None) => Err(Ec2Fault::MissingParameter("groupId".into()).into()),
    }
}

/// The next id of kind `prefix`, from the stored sequence.
fn next_id(
    w: &mut dyn Writer,
    account: &str,
    region: &str,
    prefix: &str,
) -> Result<String, StoreError> {
    let seq = w.doc::<Counter>(NETWORK_SEQ)?.unwrap_or_default().0 + 1;
    w.put_doc(NETWORK_SEQ, &Counter(seq))?;
    Ok(network::ec2_id(prefix, account, region, &seq.to_string()))
}

/// Only the resources whose ids are in `ids` (all when empty); an id that matches nothing is
/// `missing(id)`.
fn select_ids<T>(
    items: Vec<T>,
    ids: &[String],
    id_of: impl Fn(&T) -> &str,
    missing: impl Fn(&str) -> NetworkError,
) -> Result<Vec<T>, NetworkError> {
    if ids.is_empty() {
        return Ok(items);
    }
    if let Some(absent) = ids.iter().find(|id| !items.iter().any(|i| id_of(i) == *id)) {
        return Err(missing(absent));
    }
    Ok(items
        .into_iter()
        .filter(|i| ids.iter().any(|id| id == id_of(i)))
        .collect())
}

impl Service {
    /// Makes sure the region's default network exists (a read when it does).
    ///
    /// # Errors
    /// Store failures.
    pub fn ensure_network(&self, region: &str) -> Result<(), StoreError> {
        let account = self.account_id().to_string();
        let vpc_id = default_vpc_id(&account, region);
        let present = view(self.store(), |r| {
            r.doc::<Vpc>(&tables::key(region, &vpc_id))
        })?;
        if present.is_none() {
            update(self.store(), |w| ensure_defaults(w, &account, region))?;
        }
        Ok(())
    }

    /// `CreateVpc`: a VPC with its own `default` security group.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidParameterValue`, `InvalidVpc.Range`, `VpcLimitExceeded`.
    pub fn create_vpc(
        &self,
        region: &str,
        cidr_block: Option<&str>,
        tags: &[Tag],
    ) -> Result<Vpc, NetworkError> {
        let cidr = cidr_block.ok_or_else(|| Ec2Fault::MissingParameter("cidrBlock".into()))?;
        let net = network::vpc_cidr(cidr)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<Vpc, NetworkError> {
            ensure_defaults(w, &account, region)?;
            let vpcs = w.docs::<Vpc>(&tables::region_prefix(region))?;
            if vpcs.len() >= VPCS_PER_REGION_MAX {
                return Err(Ec2Fault::VpcLimitExceeded.into());
            }
            let id = next_id(w, &account, region, "vpc")?;
            let vpc = Vpc {
                id: id.clone(),
                region: region.to_string(),
                cidr_block: net.to_string(),
                is_default: false,
                tags: tags.to_vec(),
            };
            let group = network::default_security_group(&account, region, &id, &id);
            w.put_doc(&tables::key(region, &id), &vpc)?;
            w.put_doc(&tables::key(region, &group.id), &group)?;
            Ok(vpc)
        })
    }

    /// `DescribeVpcs` (`VpcIds`, `Filters`).
    ///
    /// # Errors
    /// `InvalidVpcID.NotFound`, `InvalidParameterValue` (unknown filter).
    pub fn describe_vpcs(
        &self,
        region: &str,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Vpc>, NetworkError> {
        self.ensure_network(region)?;
        let account = self.account_id().to_string();
        let vpcs = view(self.store(), |r| {
            r.docs::<Vpc>(&tables::region_prefix(region))
        })?;
        let vpcs = select_ids(
            vpcs.into_iter().map(|(_, v)| v).collect(),
            ids,
            |v| &v.id,
            |id| Ec2Fault::VpcNotFound(id.to_string()).into(),
        )?;
        let mut out = Vec::new();
        for vpc in vpcs {
            let hit = network::matches(filters, &vpc.tags, |name| {
                Some(match name {
                    "vpc-id" => vec![vpc.id.clone()],
                    "cidr" | "cidr-block-association.cidr-block" => vec![vpc.cidr_block.clone()],
                    "is-default" => vec![vpc.is_default.to_string()],
                    "state" => vec!["available".into()],
                    "owner-id" => vec![account.clone()],
                    _ => return None,
                })
            })?;
            if hit {
                out.push(vpc);
            }
        }
        Ok(out)
    }

    /// `CreateSubnet`.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidVpcID.NotFound`, `InvalidParameterValue`,
    /// `InvalidSubnet.Range`, `InvalidSubnet.Conflict`, `SubnetLimitExceeded`.
    pub fn create_subnet(
        &self,
        region: &str,
        vpc_id: &str,
        cidr_block: Option<&str>,
        availability_zone: Option<&str>,
        tags: &[Tag],
    ) -> Result<Subnet, NetworkError> {
        let cidr = cidr_block.ok_or_else(|| Ec2Fault::MissingParameter("cidrBlock".into()))?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<Subnet, NetworkError> {
            ensure_defaults(w, &account, region)?;
            let vpc = load_vpc(w, region, vpc_id)?;
            let siblings = subnets_of(w, region, Some(&vpc.id))?;
            let net = network::subnet_cidr(cidr, &vpc, &siblings)?;
            let zone = network::subnet_zone(region, availability_zone, &siblings)?;
            if siblings.len() >= SUBNETS_PER_VPC_MAX {
                return Err(Ec2Fault::SubnetLimitExceeded.into());
            }
            let subnet = Subnet {
                id: next_id(w, &account, region, "subnet")?,
                region: region.to_string(),
                vpc_id: vpc.id,
                cidr_block: net.to_string(),
                availability_zone: zone,
                default_for_az: false,
                tags: tags.to_vec(),
            };
            w.put_doc(&tables::key(region, &subnet.id), &subnet)?;
            Ok(subnet)
        })
    }

    /// `DescribeSubnets` (`SubnetIds`, `Filters`).
    ///
    /// # Errors
    /// `InvalidSubnetID.NotFound`, `InvalidParameterValue` (unknown filter).
    pub fn describe_subnets(
        &self,
        region: &str,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Subnet>, NetworkError> {
        self.ensure_network(region)?;
        let account = self.account_id().to_string();
        let subnets = view(self.store(), |r| subnets_of(r, region, None))?;
        let subnets = select_ids(
            subnets,
            ids,
            |s| &s.id,
            |id| Ec2Fault::SubnetNotFound(id.to_string()).into(),
        )?;
        let mut out = Vec::new();
        for subnet in subnets {
            let hit = network::matches(filters, &subnet.tags, |name| {
                Some(match name {
                    "subnet-id" => vec![subnet.id.clone()],
                    "vpc-id" => vec![subnet.vpc_id.clone()],
                    "availability-zone" => vec![subnet.availability_zone.clone()],
                    "cidr" | "cidr-block" | "cidrBlock" => vec![subnet.cidr_block.clone()],
                    "default-for-az" | "defaultForAz" => vec![subnet.default_for_az.to_string()],
                    "state" => vec!["available".into()],
                    "owner-id" => vec![account.clone()],
                    _ => return None,
                })
            })?;
            if hit {
                out.push(subnet);
            }
        }
        Ok(out)
    }

    /// `CreateSecurityGroup` (in `vpc_id`, else the default VPC), with the outbound
    /// allow-all rule every VPC security group starts with.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidParameterValue`, `InvalidGroup.Reserved`,
    /// `InvalidVpcID.NotFound`, `InvalidGroup.Duplicate`, `SecurityGroupLimitExceeded`.
    pub fn create_security_group(
        &self,
        region: &str,
        name: Option<&str>,
        description: Option<&str>,
        vpc_id: Option<&str>,
        tags: &[Tag],
    ) -> Result<SecurityGroup, NetworkError> {
        let name = name.ok_or_else(|| Ec2Fault::MissingParameter("groupName".into()))?;
        let description =
            description.ok_or_else(|| Ec2Fault::MissingParameter("groupDescription".into()))?;
        network::security_group_text(name, description)?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<SecurityGroup, NetworkError> {
            ensure_defaults(w, &account, region)?;
            let vpc_id = match vpc_id {
                Some(id) => load_vpc(w, region, id)?.id,
                None => default_vpc_id(&account, region),
            };
            let siblings = security_groups_of(w, region, Some(&vpc_id))?;
            if siblings.iter().any(|g| g.name == name) {
                return Err(Ec2Fault::GroupDuplicate {
                    name: name.to_string(),
                    vpc_id,
                }
                .into());
            }
            if siblings.len() >= SECURITY_GROUPS_PER_VPC_MAX {
                return Err(Ec2Fault::SecurityGroupLimitExceeded.into());
            }
            let id = next_id(w, &account, region, "sg")?;
            let out_seed = format!("{id}-out");
            let group = SecurityGroup {
                egress: vec![network::allow_all_out(&account, region, &out_seed)],
                id,
                region: region.to_string(),
                vpc_id,
                name: name.to_string(),
                description: description.to_string(),
                ingress: Vec::new(),
                tags: tags.to_vec(),
            };
            w.put_doc(&tables::key(region, &group.id), &group)?;
            Ok(group)
        })
    }

    /// `DescribeSecurityGroups` (`GroupIds`, `GroupNames` of the default VPC, `Filters`).
    ///
    /// # Errors
    /// `InvalidGroupId.Malformed`, `InvalidGroup.NotFound`, `InvalidParameterValue`.
    pub fn describe_security_groups(
        &self,
        region: &str,
        ids: &[String],
        names: &[String],
        filters: &[Filter],
    ) -> Result<Vec<SecurityGroup>, NetworkError> {
        self.ensure_network(region)?;
        let account = self.account_id().to_string();
        for id in ids {
            network::check_id("sg", id)?;
        }
        let groups = view(self.store(), |r| security_groups_of(r, region, None))?;
        let mut groups = select_ids(
            groups,
            ids,
            |g| &g.id,
            |id| {
                Ec2Fault::GroupNotFound(format!("The security group '{id}' does not exist")).into()
            },
        )?;
        if !names.is_empty() {
            let vpc = default_vpc_id(&account, region);
            groups.retain(|g| g.vpc_id == vpc && names.contains(&g.name));
            if let Some(absent) = names.iter().find(|n| !groups.iter().any(|g| &g.name == *n)) {
                return Err(Ec2Fault::GroupNotFound(format!(
                    "The security group '{absent}' does not exist in default VPC '{vpc}'"
                ))
                .into());
            }
        }
        let mut out = Vec::new();
        for group in groups {
            let rules = || group.ingress.iter();
            let hit = network::matches(filters, &group.tags, |name| {
                Some(match name {
                    "group-id" => vec![group.id.clone()],
                    "group-name" => vec![group.name.clone()],
                    "vpc-id" => vec![group.vpc_id.clone()],
                    "description" => vec![group.description.clone()],
                    "owner-id" => vec![account.clone()],
                    "ip-permission.protocol" => rules().map(|r| r.protocol.clone()).collect(),
                    "ip-permission.from-port" => rules()
                        .filter_map(|r| r.from_port.map(|p| p.to_string()))
                        .collect(),
                    "ip-permission.to-port" => rules()
                        .filter_map(|r| r.to_port.map(|p| p.to_string()))
                        .collect(),
                    "ip-permission.cidr" => rules()
                        .filter_map(|r| match &r.peer {
                            Peer::Cidr(c) => Some(c.clone()),
                            Peer::Group { .. } => None,
                        })
                        .collect(),
                    "ip-permission.group-id" => rules()
                        .filter_map(|r| match &r.peer {
                            Peer::Group { group_id, .. } => Some(group_id.clone()),
                            Peer::Cidr(_) => None,
                        })
                        .collect(),
                    _ => return None,
                })
            })?;
            if hit {
                out.push(group);
            }
        }
        Ok(out)
    }

    /// `AuthorizeSecurityGroupIngress`: adds inbound rules; returns the group and the rules
    /// added.
    ///
    /// # Errors
    /// `InvalidGroup.NotFound`, `InvalidParameterValue`, `MissingParameter`,
    /// `InvalidPermission.Duplicate`, `RulesPerSecurityGroupLimitExceeded`.
    pub fn authorize_security_group_ingress(
        &self,
        region: &str,
        group: &GroupRef,
        permissions: &[PermissionRequest],
    ) -> Result<(SecurityGroup, Vec<Rule>), NetworkError> {
        let account = self.account_id().to_string();
        update(
            self.store(),
            |w| -> Result<(SecurityGroup, Vec<Rule>), NetworkError> {
                ensure_defaults(w, &account, region)?;
                let mut target = load_group(w, &account, region, group)?;
                let wanted = rules_of(w, &account, region, &target, permissions)?;
                let mut added = Vec::new();
                for mut rule in wanted {
                    if target
                        .ingress
                        .iter()
                        .chain(&added)
                        .any(|r| r.same_as(&rule))
                    {
                        return Err(Ec2Fault::PermissionDuplicate(rule.describe()).into());
                    }
                    rule.id = next_id(w, &account, region, "sgr")?;
                    added.push(rule);
                }
                if target.ingress.len() + added.len() > RULES_PER_SECURITY_GROUP_MAX {
                    return Err(Ec2Fault::RulesPerSecurityGroupLimitExceeded.into());
                }
                target.ingress.extend(added.iter().cloned());
                w.put_doc(&tables::key(region, &target.id), &target)?;
                Ok((target, added))
            },
        )
    }

    /// `RevokeSecurityGroupIngress`: removes inbound rules given as permissions or by
    /// `SecurityGroupRuleIds`; returns the rules removed.
    ///
    /// # Errors
    /// `InvalidGroup.NotFound`, `InvalidParameterValue`, `InvalidPermission.NotFound`.
    pub fn revoke_security_group_ingress(
        &self,
        region: &str,
        group: &GroupRef,
        permissions: &[PermissionRequest],
        rule_ids: &[String],
    ) -> Result<Vec<Rule>, NetworkError> {
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<Vec<Rule>, NetworkError> {
            ensure_defaults(w, &account, region)?;
            let mut target = load_group(w, &account, region, group)?;
            let wanted = rules_of(w, &account, region, &target, permissions)?;
            let mut removed = Vec::new();
            for rule in &wanted {
                let at = target
                    .ingress
                    .iter()
                    .position(|r| r.same_as(rule))
                    .ok_or(Ec2Fault::PermissionNotFound)?;
                removed.push(target.ingress.remove(at));
            }
            for id in rule_ids {
                let at = target
                    .ingress
                    .iter()
                    .position(|r| &r.id == id)
                    .ok_or(Ec2Fault::PermissionNotFound)?;
                removed.push(target.ingress.remove(at));
            }
            w.put_doc(&tables::key(region, &target.id), &target)?;
            Ok(removed)
        })
    }

    /// `DeleteSecurityGroup`: refused for a VPC's `default` group and while a replication group,
    /// a cache cluster or another group's rule uses it. Returns the deleted group's id.
    ///
    /// # Errors
    /// `InvalidGroup.NotFound`, `CannotDelete`, `DependencyViolation`.
    pub fn delete_security_group(
        &self,
        region: &str,
        group: &GroupRef,
    ) -> Result<String, NetworkError> {
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<String, NetworkError> {
            ensure_defaults(w, &account, region)?;
            let target = load_group(w, &account, region, group)?;
            if target.name == DEFAULT_SECURITY_GROUP {
                return Err(Ec2Fault::CannotDelete(target.id).into());
            }
            let prefix = tables::region_prefix(region);
            let used_by_cache = w
                .docs::<GroupSpec>(&prefix)?
                .iter()
                .any(|(_, g)| g.security_group_ids.contains(&target.id))
                || w.docs::<NodeSpec>(&prefix)?
                    .iter()
                    .any(|(_, n)| n.security_group_ids.contains(&target.id));
            let referenced = security_groups_of(w, region, None)?
                .iter()
                .filter(|g| g.id != target.id)
                .flat_map(|g| g.ingress.iter().chain(&g.egress))
                .any(|r| matches!(&r.peer, Peer::Group { group_id, .. } if *group_id == target.id));
            if used_by_cache || referenced {
                return Err(Ec2Fault::DependencyViolation(target.id).into());
            }
            w.delete_doc::<SecurityGroup>(&tables::key(region, &target.id))?;
            Ok(target.id)
        })
    }
}

/// The rules `permissions` ask for on `target` (ids still empty): protocol and ports checked,
/// one rule per peer, source groups resolved (by id anywhere in the region, by name in the
/// target's VPC).
fn rules_of(
    r: &dyn Reader,
    account: &str,
    region: &str,
    target: &SecurityGroup,
    permissions: &[PermissionRequest],
) -> Result<Vec<Rule>, NetworkError> {
    if permissions.is_empty() {
        return Err(Ec2Fault::MissingParameter("ipPermissions".into()).into());
    }
    let mut rules = Vec::new();
    for permission in permissions {
        let (protocol, from_port, to_port) = network::protocol_and_ports(permission)?;
        if permission.cidrs.is_empty() && permission.groups.is_empty() {
            return Err(Ec2Fault::value(
                "The permission names no source: give CidrIp, IpRanges or a source security group.",
            )
            .into());
        }
        let rule = |peer: Peer, description: Option<String>| Rule {
            id: String::new(),
            protocol: protocol.clone(),
            from_port,
            to_port,
            peer,
            description,
        };
        for (cidr, description) in &permission.cidrs {
            rules.push(rule(
                Peer::Cidr(network::rule_cidr(cidr)?),
                description.clone(),
            ));
        }
        for pair in &permission.groups {
            let source = source_group(r, account, region, target, pair)?;
            rules.push(rule(
                Peer::Group {
                    group_id: source,
                    user_id: account.to_string(),
                },
                pair.description.clone(),
            ));
        }
    }
    Ok(rules)
}

/// The id of a rule's source group.
fn source_group(
    r: &dyn Reader,
    account: &str,
    region: &str,
    target: &SecurityGroup,
    pair: &GroupPairRequest,
) -> Result<String, NetworkError> {
    match (&pair.group_id, &pair.group_name) {
        (Some(id), _) => Ok(load_group(
            r,
            account,
            region,
            &GroupRef {
                group_id: Some(id.clone()),
                group_name: None,
            },
        )?
        .id),
        (None, Some(name)) => security_groups_of(r, region, Some(&target.vpc_id))?
            .into_iter()
            .find(|g| &g.name == name)
            .map(|g| g.id)
            .ok_or_else(|| {
                Ec2Fault::GroupNotFound(format!(
                    "The security group '{name}' does not exist in VPC '{}'",
                    target.vpc_id
                ))
                .into()
            }),
        (None, None) => Err(Ec2Fault::MissingParameter("groupId".into()).into()),
    }
}
