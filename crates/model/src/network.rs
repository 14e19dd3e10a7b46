//! The network a cache lives in: VPCs, subnets and security groups (the EC2 subset Ferrocache
//! serves), the default VPC every region starts with, and ElastiCache cache subnet groups.
//!
//! These records are *spec only*: nothing reconciles them. They exist so that the runbooks'
//! `aws ec2 …` lines and Terraform's VPC resources work, so that a cache subnet group names real
//! subnets in real availability zones (placement spreads nodes over exactly those zones), and so
//! that `SecurityGroupIds` name groups of the subnet group's VPC. Security group rules are stored
//! and reported; enforcing them on the data path comes later.
//!
//! EC2 answers with its own error codes (`InvalidGroup.NotFound`, …), so its rules fail with
//! [`Ec2Fault`], not [`Fault`]; cache subnet groups are ElastiCache resources and use [`Fault`].
//!
//! Ids are `vpc-`, `subnet-`, `sg-`, `sgr-` followed by 17 hex digits, derived by [`ec2_id`] from
//! the account, the region and a seed (a fixed name for the default VPC's resources, a stored
//! sequence number for created ones), so the default VPC has the same ids after every restart
//! and in every fresh data directory.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::tag::Tag;
use crate::{zone, Fault, Timestamp};

/// CIDR block of every region's default VPC (AWS's choice).
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// Prefix length of the default subnets (AWS gives each default subnet a `/20`).
pub const DEFAULT_SUBNET_PREFIX_LEN: u8 = 20;
/// Name of the security group every VPC has.
pub const DEFAULT_SECURITY_GROUP: &str = "default";
/// Description of a VPC's default security group (AWS's text).
pub const DEFAULT_SECURITY_GROUP_DESCRIPTION: &str = "default VPC security group";
/// Name (and description) of the built-in cache subnet group over the default VPC.
pub const DEFAULT_SUBNET_GROUP: &str = "default";
/// Smallest prefix length of a VPC or subnet CIDR block (`/16`, AWS's limit).
pub const CIDR_PREFIX_LEN_MIN: u8 = 16;
/// Largest prefix length of a VPC or subnet CIDR block (`/28`, AWS's limit).
pub const CIDR_PREFIX_LEN_MAX: u8 = 28;
/// VPCs per region, the default one included (AWS's default quota).
pub const VPCS_PER_REGION_MAX: usize = 5;
/// Subnets per VPC (AWS's default quota).
pub const SUBNETS_PER_VPC_MAX: usize = 200;
/// Security groups per VPC (AWS's default quota).
pub const SECURITY_GROUPS_PER_VPC_MAX: usize = 500;
/// Inbound rules per security group (AWS's default quota).
pub const RULES_PER_SECURITY_GROUP_MAX: usize = 60;
/// Longest security group name and description.
pub const SECURITY_GROUP_TEXT_LEN_MAX: usize = 255;
/// Subnets in one cache subnet group (AWS's quota).
pub const SUBNETS_PER_SUBNET_GROUP_MAX: usize = 20;
/// Cache subnet groups per region, `default` included (AWS's quota).
pub const SUBNET_GROUPS_PER_REGION_MAX: usize = 150;
/// Longest cache subnet group name.
pub const SUBNET_GROUP_NAME_LEN_MAX: usize = 255;
/// Longest cache subnet group description.
pub const SUBNET_GROUP_DESCRIPTION_LEN_MAX: usize = 255;
/// Network type every subnet and subnet group supports here.
pub const NETWORK_TYPE_IPV4: &str = "ipv4";

/// A rule broken by an EC2 request. `Display` is the message sent; the wire code is chosen at the
/// API edge, one code per variant.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Fault {
    /// `InvalidParameterValue`: a value outside its allowed range, pattern or set.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `InvalidParameterCombination`: parameters that do not go together.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// `MissingParameter`: a required parameter is absent.
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    /// `InvalidVpcID.NotFound`.
    #[error("The vpc ID '{0}' does not exist")]
    VpcNotFound(String),
    /// `InvalidSubnetID.NotFound`.
    #[error("The subnet ID '{0}' does not exist")]
    SubnetNotFound(String),
    /// `InvalidGroup.NotFound` (the message names the group and, for names, the VPC).
    #[error("{0}")]
    GroupNotFound(String),
    /// `InvalidGroup.Duplicate`.
    #[error("The security group '{name}' already exists for VPC '{vpc_id}'")]
    GroupDuplicate {
        /// The group name.
        name: String,
        /// Its VPC.
        vpc_id: String,
    },
    /// `InvalidGroup.Reserved`: the name `default` is the VPC's own group.
    #[error("The security group '{0}' is reserved")]
    GroupReserved(String),
    /// `InvalidGroupId.Malformed`, `InvalidVpcID.Malformed`, `InvalidSubnetID.Malformed`: an id
    /// without its prefix and hex digits.
    #[error("Invalid id: \"{id}\" (expecting \"{prefix}-...\")")]
    MalformedId {
        /// The kind of id (`sg`, `vpc`, `subnet`).
        prefix: &'static str,
        /// The id sent.
        id: String,
    },
    /// `InvalidPermission.Duplicate`.
    #[error("the specified rule \"{0}\" already exists")]
    PermissionDuplicate(String),
    /// `InvalidPermission.NotFound`.
    #[error("The specified rule does not exist in this security group.")]
    PermissionNotFound,
    /// `InvalidVpc.Range`.
    #[error("The CIDR '{0}' is invalid.")]
    VpcRange(String),
    /// `InvalidSubnet.Range`.
    #[error("The CIDR '{0}' is invalid.")]
    SubnetRange(String),
    /// `InvalidSubnet.Conflict`.
    #[error("The CIDR '{0}' conflicts with another subnet")]
    SubnetConflict(String),
    /// `DependencyViolation`: something still uses the resource.
    #[error("resource {0} has a dependent object")]
    DependencyViolation(String),
    /// `CannotDelete`: a VPC's default security group.
    #[error("the specified group: \"{0}\" name: \"default\" cannot be deleted by a user")]
    CannotDelete(String),
    /// `VpcLimitExceeded`.
    #[error("The maximum number of VPCs has been reached.")]
    VpcLimitExceeded,
    /// `SubnetLimitExceeded`.
    #[error("The maximum number of subnets has been reached.")]
    SubnetLimitExceeded,
    /// `SecurityGroupLimitExceeded`.
    #[error("The maximum number of security groups has been reached.")]
    SecurityGroupLimitExceeded,
    /// `RulesPerSecurityGroupLimitExceeded`.
    #[error("The maximum number of rules per security group has been reached.")]
    RulesPerSecurityGroupLimitExceeded,
}

impl Ec2Fault {
    /// Shorthand for [`Ec2Fault::InvalidParameterValue`].
    pub fn value(message: impl Into<String>) -> Self {
        Ec2Fault::InvalidParameterValue(message.into())
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// Region it lives in.
    pub region: String,
    /// Primary IPv4 CIDR block.
    pub cidr_block: String,
    /// The region's default VPC.
    pub is_default: bool,
    /// EC2 tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A subnet of a VPC, in one availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// Region it lives in.
    pub region: String,
    /// Its VPC.
    pub vpc_id: String,
    /// IPv4 CIDR block, inside the VPC's.
    pub cidr_block: String,
    /// Availability zone (`<region>a`, …).
    pub availability_zone: String,
    /// One of the default VPC's subnets (one per zone).
    pub default_for_az: bool,
    /// EC2 tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Whom a rule lets in (or out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// An IPv4 CIDR block.
    Cidr(String),
    /// Members of a security group.
    Group {
        /// `sg-…`.
        group_id: String,
        /// Owning account.
        user_id: String,
    },
}

/// One security group rule: protocol, port range and one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `sgr-…`.
    pub id: String,
    /// `tcp`, `udp`, `icmp`, `-1` (all) or a protocol number.
    pub protocol: String,
    /// First port (ICMP type); absent for protocol `-1`.
    pub from_port: Option<i64>,
    /// Last port (ICMP code); absent for protocol `-1`.
    pub to_port: Option<i64>,
    /// The peer.
    pub peer: Peer,
    /// Free text.
    pub description: Option<String>,
}

impl Rule {
    /// Same protocol, ports and peer (descriptions and ids do not make rules different).
    pub fn same_as(&self, other: &Rule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.peer == other.peer
    }

    /// The rule as EC2 names it in `InvalidPermission.Duplicate`:
    /// `peer: 10.0.0.0/16, TCP, from port: 6379, to port: 6379, ALLOW`.
    pub fn describe(&self) -> String {
        let peer = match &self.peer {
            Peer::Cidr(c) => c.clone(),
            Peer::Group { group_id, .. } => group_id.clone(),
        };
        let protocol = if self.protocol == "-1" {
            "ALL".to_string()
        } else {
            self.protocol.to_ascii_uppercase()
        };
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) => {
                format!("peer: {peer}, {protocol}, from port: {from}, to port: {to}, ALLOW")
            }
            _ => format!("peer: {peer}, {protocol}, ALLOW"),
        }
    }
}

/// A security group of a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Region it lives in.
    pub region: String,
    /// Its VPC.
    pub vpc_id: String,
    /// `GroupName`, unique in the VPC.
    pub name: String,
    /// `GroupDescription`.
    pub description: String,
    /// Inbound rules.
    pub ingress: Vec<Rule>,
    /// Outbound rules.
    pub egress: Vec<Rule>,
    /// EC2 tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A cache subnet group (an ElastiCache resource): subnets of one VPC that nodes are placed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetGroupSpec {
    /// `CacheSubnetGroupName`, lower-case.
    pub name: String,
    /// Region it lives in.
    pub region: String,
    /// `CacheSubnetGroupDescription`.
    pub description: String,
    /// The VPC of every subnet.
    pub vpc_id: String,
    /// `SubnetIds`, in the order given, without repeats.
    pub subnet_ids: Vec<String>,
    /// ElastiCache tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A 17-hex-digit EC2 id `<prefix>-…` derived from `account`, `region` and `seed`.
///
/// FNV-1a (64 bits, hand-written rather than `std`'s hasher because that one may change between
/// Rust releases, and these ids are stored and must stay the same) over the inputs, twice with
/// different offsets for the 17th digit.
pub fn ec2_id(prefix: &str, account: &str, region: &str, seed: &str) -> String {
    let text = format!("{account}/{region}/{prefix}/{seed}");
    let hash = |offset: u64| {
        text.bytes().fold(offset, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let first = hash(0xcbf2_9ce4_8422_2325);
    let second = hash(0x8422_2325_cbf2_9ce4);
    format!("{prefix}-{first:016x}{:x}", second & 0xf)
}

/// Whether `id` is `<prefix>-` followed by 8 or 17 hex digits (EC2's short and long ids).
pub fn well_formed_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// Checks the form of an id (`sg`, `vpc`, `subnet`).
///
/// # Errors
/// [`Ec2Fault::MalformedId`].
pub fn check_id(prefix: &'static str, id: &str) -> Result<(), Ec2Fault> {
    if well_formed_id(prefix, id) {
        Ok(())
    } else {
        Err(Ec2Fault::MalformedId {
            prefix,
            id: id.chars().take(64).collect(),
        })
    }
}

/// The default VPC of a region, its default subnets (one per zone, `172.31.0.0/20`,
/// `172.31.16.0/20`, …) and its default security group, with ids derived from account and
/// region.
pub fn default_network(account: &str, region: &str) -> (Vpc, Vec<Subnet>, SecurityGroup) {
    let vpc = Vpc {
        id: ec2_id("vpc", account, region, "default"),
        region: region.to_string(),
        cidr_block: DEFAULT_VPC_CIDR.to_string(),
        is_default: true,
        tags: Vec::new(),
    };
    let subnets = zone::zones(region)
        .into_iter()
        .enumerate()
        .map(|(i, zone)| {
            let third = (i as u32 * 16) as u8;
            Subnet {
                id: ec2_id("subnet", account, region, &format!("default-{zone}")),
                region: region.to_string(),
                vpc_id: vpc.id.clone(),
                cidr_block: format!("172.31.{third}.0/{DEFAULT_SUBNET_PREFIX_LEN}"),
                availability_zone: zone,
                default_for_az: true,
                tags: Vec::new(),
            }
        })
        .collect();
    let group = default_security_group(account, region, &vpc.id, "default");
    (vpc, subnets, group)
}

/// A VPC's `default` security group with AWS's rules: all traffic in from members of the group
/// itself, all traffic out. `seed` makes the ids (the VPC's own seed).
pub fn default_security_group(
    account: &str,
    region: &str,
    vpc_id: &str,
    seed: &str,
) -> SecurityGroup {
    let id = ec2_id("sg", account, region, &format!("{seed}-default"));
    SecurityGroup {
        ingress: vec![Rule {
            id: ec2_id("sgr", account, region, &format!("{seed}-default-in")),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            peer: Peer::Group {
                group_id: id.clone(),
                user_id: account.to_string(),
            },
            description: None,
        }],
        egress: vec![allow_all_out(
            account,
            region,
            &format!("{seed}-default-out"),
        )],
        id,
        region: region.to_string(),
        vpc_id: vpc_id.to_string(),
        name: DEFAULT_SECURITY_GROUP.to_string(),
        description: DEFAULT_SECURITY_GROUP_DESCRIPTION.to_string(),
        tags: Vec::new(),
    }
}

/// The outbound rule every new VPC security group starts with: everything to `0.0.0.0/0`.
pub fn allow_all_out(account: &str, region: &str, seed: &str) -> Rule {
    Rule {
        id: ec2_id("sgr", account, region, seed),
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        peer: Peer::Cidr("0.0.0.0/0".into()),
        description: None,
    }
}

/// Parses an IPv4 CIDR block whose host bits are zero.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`] with EC2's wording.
pub fn cidr_block(value: &str) -> Result<Ipv4Net, Ec2Fault> {
    let bad = || {
        Ec2Fault::value(format!(
            "Value ({}) for parameter cidrBlock is invalid. This is not a valid CIDR block.",
            value.chars().take(64).collect::<String>()
        ))
    };
    let net: Ipv4Net = value.parse().map_err(|_| bad())?;
    if net.network() != net.addr() {
        return Err(bad());
    }
    Ok(net)
}

/// Validates a `CreateVpc` CIDR block (`/16`–`/28`).
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`], [`Ec2Fault::VpcRange`].
pub fn vpc_cidr(value: &str) -> Result<Ipv4Net, Ec2Fault> {
    let net = cidr_block(value)?;
    if !(CIDR_PREFIX_LEN_MIN..=CIDR_PREFIX_LEN_MAX).contains(&net.prefix_len()) {
        return Err(Ec2Fault::VpcRange(value.to_string()));
    }
    Ok(net)
}

/// Validates a `CreateSubnet` CIDR block: `/16`–`/28`, inside the VPC's block, overlapping no
/// other subnet of the VPC.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`], [`Ec2Fault::SubnetRange`], [`Ec2Fault::SubnetConflict`].
pub fn subnet_cidr(value: &str, vpc: &Vpc, siblings: &[Subnet]) -> Result<Ipv4Net, Ec2Fault> {
    let net = cidr_block(value)?;
    let vpc_net: Ipv4Net = vpc
        .cidr_block
        .parse()
        .map_err(|_| Ec2Fault::SubnetRange(value.to_string()))?;
    if !(CIDR_PREFIX_LEN_MIN..=CIDR_PREFIX_LEN_MAX).contains(&net.prefix_len())
        || !vpc_net.contains(&net)
    {
        return Err(Ec2Fault::SubnetRange(value.to_string()));
    }
    let overlaps = |other: &Ipv4Net| other.contains(&net) || net.contains(other);
    if siblings
        .iter()
        .filter_map(|s| s.cidr_block.parse::<Ipv4Net>().ok())
        .any(|o| overlaps(&o))
    {
        return Err(Ec2Fault::SubnetConflict(value.to_string()));
    }
    Ok(net)
}

/// The zone of a new subnet: the one asked for (which must be one of the region's), else the
/// region's zone with the fewest of `siblings` (the VPC's subnets), first zone on ties.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`] with EC2's wording for a zone outside the region.
pub fn subnet_zone(
    region: &str,
    requested: Option<&str>,
    siblings: &[Subnet],
) -> Result<String, Ec2Fault> {
    let zones = zone::zones(region);
    match requested {
        Some(z) if zones.iter().any(|x| x == z) => Ok(z.to_string()),
        Some(z) => Err(Ec2Fault::value(format!(
            "Value ({}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
            z.chars().take(64).collect::<String>(),
            zones.join(", ")
        ))),
        None => Ok(zones
            .iter()
            .min_by_key(|z| siblings.iter().filter(|s| &s.availability_zone == *z).count())
            .cloned()
            .unwrap_or_default()),
    }
}

/// Validates a new security group's name and description.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`], [`Ec2Fault::GroupReserved`].
pub fn security_group_text(name: &str, description: &str) -> Result<(), Ec2Fault> {
    if name.is_empty() || name.chars().count() > SECURITY_GROUP_TEXT_LEN_MAX {
        return Err(Ec2Fault::value(format!(
            "Invalid value '{}' for groupName. Length must be between 1 and {SECURITY_GROUP_TEXT_LEN_MAX} characters.",
            name.chars().take(64).collect::<String>()
        )));
    }
    if name.starts_with("sg-") {
        return Err(Ec2Fault::value("Group names may not be in the format sg-*"));
    }
    if name == DEFAULT_SECURITY_GROUP {
        return Err(Ec2Fault::GroupReserved(name.to_string()));
    }
    if description.is_empty() || description.chars().count() > SECURITY_GROUP_TEXT_LEN_MAX {
        return Err(Ec2Fault::value(format!(
            "Invalid value for groupDescription. Length must be between 1 and {SECURITY_GROUP_TEXT_LEN_MAX} characters."
        )));
    }
    Ok(())
}

/// One `IpPermissions` entry (or the flat `IpProtocol`/`FromPort`/`ToPort`/`CidrIp` form), as
/// decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionRequest {
    /// `IpProtocol`.
    pub protocol: Option<String>,
    /// `FromPort`.
    pub from_port: Option<i64>,
    /// `ToPort`.
    pub to_port: Option<i64>,
    /// `IpRanges[].CidrIp` with `Description`.
    pub cidrs: Vec<(String, Option<String>)>,
    /// `UserIdGroupPairs[]` (`Groups.N` on the wire).
    pub groups: Vec<GroupPairRequest>,
}

/// One `UserIdGroupPairs` entry: a source group by id or (in the same VPC) by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPairRequest {
    /// `GroupId`.
    pub group_id: Option<String>,
    /// `GroupName`.
    pub group_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

/// The protocol as stored: `tcp`, `udp`, `icmp`, `-1`, or another protocol number.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`] for anything else.
pub fn protocol(value: &str) -> Result<String, Ec2Fault> {
    let lower = value.to_ascii_lowercase();
    let named = match lower.as_str() {
        "tcp" | "6" => Some("tcp"),
        "udp" | "17" => Some("udp"),
        "icmp" | "1" => Some("icmp"),
        "-1" | "all" => Some("-1"),
        _ => None,
    };
    if let Some(p) = named {
        return Ok(p.to_string());
    }
    match lower.parse::<u8>() {
        Ok(n) => Ok(n.to_string()),
        Err(_) => Err(Ec2Fault::value(format!(
            "Invalid value '{}' for IP protocol. Unknown protocol.",
            value.chars().take(64).collect::<String>()
        ))),
    }
}

/// Protocol and port range of a permission, checked: TCP and UDP need both ports in
/// `0..=65535` with from ≤ to; ICMP takes type/code from `-1`; protocol `-1` has no ports.
///
/// # Errors
/// [`Ec2Fault::MissingParameter`], [`Ec2Fault::InvalidParameterValue`].
pub fn protocol_and_ports(
    req: &PermissionRequest,
) -> Result<(String, Option<i64>, Option<i64>), Ec2Fault> {
    let protocol = protocol(
        req.protocol
            .as_deref()
            .ok_or_else(|| Ec2Fault::MissingParameter("ipProtocol".into()))?,
    )?;
    match protocol.as_str() {
        "tcp" | "udp" => {
            let (Some(from), Some(to)) = (req.from_port, req.to_port) else {
                return Err(Ec2Fault::value(
                    "Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.",
                ));
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                return Err(Ec2Fault::value(format!(
                    "Invalid value '{from}-{to}' for portRange. Ports must be between 0 and 65535, from port first."
                )));
            }
            Ok((protocol, Some(from), Some(to)))
        }
        "icmp" => {
            let from = req.from_port.unwrap_or(-1);
            let to = req.to_port.unwrap_or(-1);
            if !(-1..=255).contains(&from) || !(-1..=255).contains(&to) {
                return Err(Ec2Fault::value(format!(
                    "Invalid value '{from}/{to}' for ICMP type/code."
                )));
            }
            Ok((protocol, Some(from), Some(to)))
        }
        "-1" => Ok((protocol, None, None)),
        _ => Ok((protocol, req.from_port, req.to_port)),
    }
}

/// Checks a rule's IPv4 CIDR block.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`] with EC2's wording.
pub fn rule_cidr(value: &str) -> Result<String, Ec2Fault> {
    let net: Ipv4Net = value.parse().map_err(|_| {
        Ec2Fault::value(format!(
            "CIDR block {} is malformed",
            value.chars().take(64).collect::<String>()
        ))
    })?;
    if net.network() != net.addr() {
        return Err(Ec2Fault::value(format!("CIDR block {value} is malformed")));
    }
    Ok(net.to_string())
}

/// Whether `address` lies in `cidr` (a malformed block contains nothing).
pub fn cidr_contains(cidr: &str, address: Ipv4Addr) -> bool {
    cidr.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&address))
}

/// One `Filter` of a Describe call: a name and the values any of which may match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `Name` (`vpc-id`, `tag:Name`, …).
    pub name: String,
    /// `Value.N`; `*` and `?` are wildcards.
    pub values: Vec<String>,
}

/// Whether a resource passes every filter. `field` gives the resource's values for a filter
/// name, `None` for a name the resource type does not know.
///
/// # Errors
/// [`Ec2Fault::InvalidParameterValue`] `The filter 'x' is invalid` for an unknown name.
pub fn matches(
    filters: &[Filter],
    tags: &[Tag],
    field: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool, Ec2Fault> {
    for filter in filters {
        let have: Vec<String> = if let Some(key) = filter.name.strip_prefix("tag:") {
            tags.iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect()
        } else if filter.name == "tag-key" {
            tags.iter().map(|t| t.key.clone()).collect()
        } else if filter.name == "tag-value" {
            tags.iter().map(|t| t.value.clone()).collect()
        } else {
            field(&filter.name).ok_or_else(|| {
                Ec2Fault::value(format!(
                    "The filter '{}' is invalid",
                    filter.name.chars().take(64).collect::<String>()
                ))
            })?
        };
        let hit = filter
            .values
            .iter()
            .any(|pattern| have.iter().any(|v| glob(pattern, v)));
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// EC2's filter wildcards: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Iterative matching with one backtrack point (linear in practice, no recursion).
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Validates a `CacheSubnetGroupName` and lower-cases it: at most 255 ASCII letters, digits and
/// hyphens, starting with a letter, not ending with a hyphen, no two hyphens in a row.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] with AWS's message.
pub fn subnet_group_name(value: &str) -> Result<String, Fault> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= SUBNET_GROUP_NAME_LEN_MAX
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(Fault::value(
            "The parameter CacheSubnetGroupName is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.",
        ))
    }
}

/// Validates a `CacheSubnetGroupDescription`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn subnet_group_description(value: &str) -> Result<String, Fault> {
    if value.chars().count() > SUBNET_GROUP_DESCRIPTION_LEN_MAX {
        return Err(Fault::value(format!(
            "The parameter CacheSubnetGroupDescription must be at most {SUBNET_GROUP_DESCRIPTION_LEN_MAX} characters long."
        )));
    }
    Ok(value.to_string())
}

/// Checks the subnets of a cache subnet group against the subnets that exist: at least one, at
/// most [`SUBNETS_PER_SUBNET_GROUP_MAX`], all known, all in one VPC. Returns the ids without
/// repeats and the VPC.
///
/// `lookup` finds a subnet of the region by id.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] (none given; unknown ids, AWS's wording),
/// [`Fault::CacheSubnetQuotaExceeded`], [`Fault::InvalidSubnet`] (two VPCs).
pub fn subnet_group_subnets(
    requested: &[String],
    lookup: impl Fn(&str) -> Option<Subnet>,
) -> Result<(Vec<String>, String), Fault> {
    let mut ids: Vec<String> = Vec::new();
    for id in requested {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.is_empty() {
        return Err(Fault::value("The parameter SubnetIds must be provided."));
    }
    if ids.len() > SUBNETS_PER_SUBNET_GROUP_MAX {
        return Err(Fault::CacheSubnetQuotaExceeded(format!(
            "The request cannot be processed because it would exceed the allowed number of subnets in a cache subnet group ({SUBNETS_PER_SUBNET_GROUP_MAX})."
        )));
    }
    let found: Vec<Option<Subnet>> = ids.iter().map(|id| lookup(id)).collect();
    if found.iter().any(Option::is_none) {
        return Err(Fault::value(format!(
            "Some input subnets in :[{}] are invalid.",
            ids.join(", ")
        )));
    }
    let subnets: Vec<Subnet> = found.into_iter().flatten().collect();
    let first = &subnets[0];
    if let Some(other) = subnets.iter().find(|s| s.vpc_id != first.vpc_id) {
        return Err(Fault::InvalidSubnet(format!(
            "Subnets {} and {} are not in the same VPC.",
            first.id, other.id
        )));
    }
    Ok((ids, first.vpc_id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: ids have EC2's long form and are stable (the default VPC must keep its ids across
    // restarts and data directories). Method: derive twice, check shape and difference.
    #[test]
    fn ids_are_stable_and_well_formed() {
        let a = ec2_id("vpc", "123456789012", "us-east-1", "default");
        assert_eq!(a, ec2_id("vpc", "123456789012", "us-east-1", "default"));
        assert_ne!(a, ec2_id("vpc", "123456789012", "us-west-2", "default"));
        assert!(well_formed_id("vpc", &a), "{a}");
        assert_eq!(a.len(), "vpc-".len() + 17);
        assert!(well_formed_id("subnet", "subnet-11111111"));
        assert!(!well_formed_id("sg", "sg-xyz"));
        assert!(check_id("sg", "vpc-0123456789abcdef0").is_err());
    }

    // Goal: the default network is AWS's: 172.31.0.0/16, one /20 per zone flagged
    // DefaultForAz, a `default` group letting its own members in and everything out.
    #[test]
    fn default_network_shape() {
        let (vpc, subnets, sg) = default_network("123456789012", "eu-west-1");
        assert!(vpc.is_default);
        assert_eq!(vpc.cidr_block, DEFAULT_VPC_CIDR);
        let zones: Vec<&str> = subnets
            .iter()
            .map(|s| s.availability_zone.as_str())
            .collect();
        assert_eq!(zones, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
        assert_eq!(subnets[1].cidr_block, "172.31.16.0/20");
        assert!(subnets
            .iter()
            .all(|s| s.default_for_az && s.vpc_id == vpc.id));
        assert_eq!(sg.name, "default");
        assert_eq!(
            sg.ingress[0].peer,
            Peer::Group {
                group_id: sg.id.clone(),
                user_id: "123456789012".into()
            }
        );
        assert_eq!(sg.egress[0].peer, Peer::Cidr("0.0.0.0/0".into()));
    }

    // Goal: CIDR rules of VPCs and subnets with EC2's codes. Method: one case per rule.
    #[test]
    fn cidr_rules() {
        assert!(vpc_cidr("10.0.0.0/16").is_ok());
        assert_eq!(
            vpc_cidr("10.0.0.0/8"),
            Err(Ec2Fault::VpcRange("10.0.0.0/8".into()))
        );
        assert!(matches!(
            vpc_cidr("10.0.0.1/16"),
            Err(Ec2Fault::InvalidParameterValue(_))
        ));
        let vpc = Vpc {
            id: "vpc-1".into(),
            region: "us-east-1".into(),
            cidr_block: "10.0.0.0/16".into(),
            is_default: false,
            tags: vec![],
        };
        let sibling = Subnet {
            id: "subnet-1".into(),
            region: "us-east-1".into(),
            vpc_id: "vpc-1".into(),
            cidr_block: "10.0.11.0/24".into(),
            availability_zone: "us-east-1a".into(),
            default_for_az: false,
            tags: vec![],
        };
        assert!(subnet_cidr("10.0.12.0/24", &vpc, std::slice::from_ref(&sibling)).is_ok());
        assert_eq!(
            subnet_cidr("10.1.0.0/24", &vpc, &[]),
            Err(Ec2Fault::SubnetRange("10.1.0.0/24".into()))
        );
        assert_eq!(
            subnet_cidr("10.0.11.0/25", &vpc, std::slice::from_ref(&sibling)),
            Err(Ec2Fault::SubnetConflict("10.0.11.0/25".into()))
        );
        assert_eq!(
            subnet_zone("us-east-1", None, &[sibling]).unwrap(),
            "us-east-1b"
        );
        let e = subnet_zone("us-east-1", Some("us-east-1z"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Value (us-east-1z) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: us-east-1a, us-east-1b, us-east-1c."
        );
    }

    // Goal: permissions normalise as EC2 does (protocol names and numbers, ports per
    // protocol) and duplicates are named in EC2's words.
    #[test]
    fn permissions() {
        let tcp = PermissionRequest {
            protocol: Some("tcp".into()),
            from_port: Some(6379),
            to_port: Some(6379),
            ..Default::default()
        };
        assert_eq!(
            protocol_and_ports(&tcp).unwrap(),
            ("tcp".into(), Some(6379), Some(6379))
        );
        let all = PermissionRequest {
            protocol: Some("-1".into()),
            from_port: Some(-1),
            ..Default::default()
        };
        assert_eq!(protocol_and_ports(&all).unwrap(), ("-1".into(), None, None));
        let no_ports = PermissionRequest {
            protocol: Some("6".into()),
            ..Default::default()
        };
        assert!(protocol_and_ports(&no_ports).is_err());
        assert!(protocol("bogus").is_err());
        let rule = Rule {
            id: "sgr-1".into(),
            protocol: "tcp".into(),
            from_port: Some(6379),
            to_port: Some(6379),
            peer: Peer::Cidr("10.0.0.0/16".into()),
            description: None,
        };
        assert_eq!(
            Ec2Fault::PermissionDuplicate(rule.describe()).to_string(),
            "the specified rule \"peer: 10.0.0.0/16, TCP, from port: 6379, to port: 6379, ALLOW\" already exists"
        );
        assert!(rule_cidr("10.0.0.5/16").is_err());
    }

    // Goal: filters match by name with wildcards, tags included; unknown names are refused.
    #[test]
    fn filters() {
        let tags = vec![Tag {
            key: "Name".into(),
            value: "redis-sg".into(),
        }];
        let f = |name: &str, values: &[&str]| Filter {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let field = |name: &str| (name == "vpc-id").then(|| vec!["vpc-1".to_string()]);
        assert!(matches(&[f("vpc-id", &["vpc-1"])], &tags, field).unwrap());
        assert!(!matches(&[f("vpc-id", &["vpc-2"])], &tags, field).unwrap());
        assert!(matches(&[f("tag:Name", &["redis-*"])], &tags, field).unwrap());
        assert!(matches(&[f("bogus", &["x"])], &tags, field).is_err());
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "abcd"));
    }

    // Goal: subnet group names and subnet lists follow AWS's rules and messages.
    #[test]
    fn subnet_group_rules() {
        assert_eq!(subnet_group_name("My-Group").unwrap(), "my-group");
        for bad in ["1abc", "a--b", "a-", "", "a_b"] {
            assert!(subnet_group_name(bad).is_err(), "{bad}");
        }
        let subnet = |id: &str, vpc: &str| Subnet {
            id: id.into(),
            region: "us-east-1".into(),
            vpc_id: vpc.into(),
            cidr_block: "10.0.0.0/24".into(),
            availability_zone: "us-east-1a".into(),
            default_for_az: false,
            tags: vec![],
        };
        let lookup = |id: &str| match id {
            "subnet-a" => Some(subnet("subnet-a", "vpc-1")),
            "subnet-b" => Some(subnet("subnet-b", "vpc-1")),
            "subnet-c" => Some(subnet("subnet-c", "vpc-2")),
            _ => None,
        };
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            subnet_group_subnets(&ids(&["subnet-a", "subnet-b", "subnet-a"]), lookup).unwrap(),
            (ids(&["subnet-a", "subnet-b"]), "vpc-1".to_string())
        );
        assert_eq!(
            subnet_group_subnets(&ids(&["subnet-a", "subnet-x"]), lookup)
                .unwrap_err()
                .to_string(),
            "Some input subnets in :[subnet-a, subnet-x] are invalid."
        );
        assert_eq!(
            subnet_group_subnets(&ids(&["subnet-a", "subnet-c"]), lookup).unwrap_err(),
            Fault::InvalidSubnet("Subnets subnet-a and subnet-c are not in the same VPC.".into())
        );
        assert_eq!(
            subnet_group_subnets(&[], lookup).unwrap_err().to_string(),
            "The parameter SubnetIds must be provided."
        );
    }
}
