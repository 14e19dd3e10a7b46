//! `CreateSecurityGroup`, `DescribeSecurityGroups`, `AuthorizeSecurityGroupIngress`,
//! `RevokeSecurityGroupIngress`, `DeleteSecurityGroup` (and `TerminateInstances`, which only
//! says that no instance exists), with the `SecurityGroup`, `IpPermission` and
//! `SecurityGroupRule` items.
//!
//! Rules are stored one peer each; `IpPermissions` groups them back by protocol and port
//! range, as EC2 reports them.

use ferrocache_control::service::network::GroupRef;
use ferrocache_model::network::{Ec2Fault, Peer, Rule, SecurityGroup};

use super::{decode, items, tag_set};
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

fn group_ref(call: &Call<'_>) -> GroupRef {
    GroupRef {
        group_id: call.params.string("GroupId"),
        group_name: call.params.string("GroupName"),
    }
}

fn group_arn(group: &SecurityGroup, account: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{account}:security-group/{}",
        group.region, group.id
    )
}

/// `CreateSecurityGroup` (`GroupName`, `GroupDescription`, `VpcId`, `TagSpecification`) →
/// `groupId`, `tagSet`, `securityGroupArn`.
///
/// # Errors
/// EC2's faults.
pub fn create_security_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let group = call.service.create_security_group(
        call.region,
        p.get("GroupName"),
        p.get("GroupDescription"),
        p.get("VpcId"),
        &decode::tags_for(p, "security-group"),
    )?;
    x.boolean("return", true);
    x.text("groupId", &group.id);
    if !group.tags.is_empty() {
        tag_set(x, &group.tags);
    }
    x.text(
        "securityGroupArn",
        &group_arn(&group, call.service.account_id()),
    );
    Ok(())
}

/// `DescribeSecurityGroups` (`GroupId.N`, `GroupName.N`, `Filter.N`) → `<securityGroupInfo>`.
///
/// # Errors
/// EC2's faults.
pub fn describe_security_groups(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let groups = call.service.describe_security_groups(
        call.region,
        &decode::strings(p, "GroupId"),
        &decode::strings(p, "GroupName"),
        &decode::filters(p),
    )?;
    let account = call.service.account_id();
    items(x, "securityGroupInfo", &groups, |x, g| {
        security_group_item(x, g, account)
    });
    Ok(())
}

/// `AuthorizeSecurityGroupIngress` → `return`, `securityGroupRuleSet` (the rules added).
///
/// # Errors
/// EC2's faults.
pub fn authorize_security_group_ingress(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let permissions = decode::permissions(call.params)?;
    let (group, added) = call.service.authorize_security_group_ingress(
        call.region,
        &group_ref(call),
        &permissions,
    )?;
    let account = call.service.account_id();
    x.boolean("return", true);
    items(x, "securityGroupRuleSet", &added, |x, rule| {
        rule_item(x, &group, rule, account)
    });
    Ok(())
}

/// `RevokeSecurityGroupIngress` (permissions or `SecurityGroupRuleId.N`) → `return`.
///
/// # Errors
/// EC2's faults.
pub fn revoke_security_group_ingress(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let permissions = decode::permissions(call.params)?;
    let rule_ids = decode::strings(call.params, "SecurityGroupRuleId");
    if permissions.is_empty() && rule_ids.is_empty() {
        return Err(Ec2Fault::MissingParameter("ipPermissions".into()).into());
    }
    call.service.revoke_security_group_ingress(
        call.region,
        &group_ref(call),
        &permissions,
        &rule_ids,
    )?;
    x.boolean("return", true);
    Ok(())
}

/// `DeleteSecurityGroup` (`GroupId` or `GroupName`) → `return`, `groupId`.
///
/// # Errors
/// EC2's faults.
pub fn delete_security_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let id = call
        .service
        .delete_security_group(call.region, &group_ref(call))?;
    x.boolean("return", true);
    x.text("groupId", &id);
    Ok(())
}

/// `TerminateInstances`: Ferrocache runs no EC2 instances, so every id is unknown
/// (`InvalidInstanceID.NotFound`), as for an instance that is long gone.
///
/// # Errors
/// Always `InvalidInstanceID.NotFound`.
pub fn terminate_instances(call: &Call<'_>, _x: &mut Xml) -> Result<(), ApiError> {
    let ids = decode::strings(call.params, "InstanceId");
    Err(ApiError::new(
        "InvalidInstanceID.NotFound",
        axum::http::StatusCode::BAD_REQUEST,
        format!(
            "The instance IDs '{}' do not exist",
            ids.iter()
                .map(|i| i.chars().take(64).collect::<String>())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// The children of a `SecurityGroup`.
fn security_group_item(x: &mut Xml, group: &SecurityGroup, account: &str) {
    x.text("ownerId", account);
    x.text("groupId", &group.id);
    x.text("groupName", &group.name);
    x.text("groupDescription", &group.description);
    x.text("vpcId", &group.vpc_id);
    permissions(x, "ipPermissions", &group.ingress);
    permissions(x, "ipPermissionsEgress", &group.egress);
    tag_set(x, &group.tags);
    x.text("securityGroupArn", &group_arn(group, account));
}

/// An `IpPermissionList`: rules grouped by protocol and ports, in the order first added.
fn permissions(x: &mut Xml, name: &str, rules: &[Rule]) {
    let mut grouped: Vec<Vec<&Rule>> = Vec::new();
    for rule in rules {
        let same = |g: &&mut Vec<&Rule>| {
            g[0].protocol == rule.protocol
                && g[0].from_port == rule.from_port
                && g[0].to_port == rule.to_port
        };
        match grouped.iter_mut().find(|g| same(g)) {
            Some(g) => g.push(rule),
            None => grouped.push(vec![rule]),
        }
    }
    items(x, name, &grouped, |x, rules| {
        let first = rules[0];
        x.text("ipProtocol", &first.protocol);
        if let Some(from) = first.from_port {
            x.integer("fromPort", from);
        }
        if let Some(to) = first.to_port {
            x.integer("toPort", to);
        }
        let groups = rules.iter().filter_map(|r| match &r.peer {
            Peer::Group { group_id, user_id } => Some((group_id, user_id, &r.description)),
            Peer::Cidr(_) => None,
        });
        items(
            x,
            "groups",
            groups,
            |x, (group_id, user_id, description)| {
                x.text_opt("description", description.as_deref());
                x.text("userId", user_id);
                x.text("groupId", group_id);
            },
        );
        let ranges = rules.iter().filter_map(|r| match &r.peer {
            Peer::Cidr(c) => Some((c, &r.description)),
            Peer::Group { .. } => None,
        });
        items(x, "ipRanges", ranges, |x, (cidr, description)| {
            x.text_opt("description", description.as_deref());
            x.text("cidrIp", cidr);
        });
        x.empty("ipv6Ranges");
        x.empty("prefixListIds");
    });
}

/// The children of a `SecurityGroupRule` (an inbound rule of `group`).
fn rule_item(x: &mut Xml, group: &SecurityGroup, rule: &Rule, account: &str) {
    x.text("securityGroupRuleId", &rule.id);
    x.text("groupId", &group.id);
    x.text("groupOwnerId", account);
    x.boolean("isEgress", false);
    x.text("ipProtocol", &rule.protocol);
    x.integer("fromPort", rule.from_port.unwrap_or(-1));
    x.integer("toPort", rule.to_port.unwrap_or(-1));
    match &rule.peer {
        Peer::Cidr(c) => x.text("cidrIpv4", c),
        Peer::Group { group_id, user_id } => x.element("referencedGroupInfo", |x| {
            x.text("groupId", group_id);
            x.text("userId", user_id);
        }),
    }
    x.text_opt("description", rule.description.as_deref());
    x.empty("tagSet");
    x.text(
        "securityGroupRuleArn",
        &format!(
            "arn:aws:ec2:{}:{account}:security-group-rule/{}",
            group.region, rule.id
        ),
    );
}
