//! EC2's flattened query lists: `Name.N` for scalars and `Name.N.Field` for structures (no
//! member name, unlike ElastiCache), nested as deep as the model goes
//! (`IpPermissions.1.IpRanges.2.CidrIp`), plus the shared shapes built from them: filters, tag
//! specifications and permissions.
//!
//! Entries are read from index 1 up to the first index with none of the entry's keys (the
//! SDKs number from 1 without gaps), never past [`LIST_INDEX_MAX`], so a request cannot make
//! the edge loop or allocate beyond what it sent.

use ferrocache_model::network::{Filter, GroupPairRequest, PermissionRequest};
use ferrocache_model::tag::Tag;

use crate::error::ApiError;
use crate::query::{Params, LIST_INDEX_MAX};

/// A list of scalars `name.1`, `name.2`, …
pub fn strings(p: &Params, name: &str) -> Vec<String> {
    (1..=LIST_INDEX_MAX)
        .map_while(|n| p.get(&format!("{name}.{n}")).map(str::to_string))
        .collect()
}

/// The key prefixes `name.1`, `name.2`, … of a list of structures whose entries carry at least
/// one of `fields` (a field may itself be a nested list: `IpRanges` matches `IpRanges.1.CidrIp`).
pub fn entries(p: &Params, name: &str, fields: &[&str]) -> Vec<String> {
    (1..=LIST_INDEX_MAX)
        .map(|n| format!("{name}.{n}"))
        .take_while(|prefix| {
            fields.iter().any(|f| {
                let key = format!("{prefix}.{f}");
                p.present(&key)
            })
        })
        .collect()
}

/// An integer member.
///
/// # Errors
/// `InvalidParameterValue` for text that is not an integer.
pub fn integer(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    Ok(p.integer(name)?)
}

/// `Filter.N.Name` / `Filter.N.Value.M`.
pub fn filters(p: &Params) -> Vec<Filter> {
    entries(p, "Filter", &["Name", "Value"])
        .into_iter()
        .map(|prefix| Filter {
            name: p
                .get(&format!("{prefix}.Name"))
                .unwrap_or_default()
                .to_string(),
            values: strings(p, &format!("{prefix}.Value")),
        })
        .collect()
}

/// The tags of `TagSpecification.N` entries for `resource_type` (or naming no type).
pub fn tags_for(p: &Params, resource_type: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    for spec in entries(p, "TagSpecification", &["ResourceType", "Tag"]) {
        let kind = p.get(&format!("{spec}.ResourceType"));
        if kind.is_some_and(|k| k != resource_type) {
            continue;
        }
        for tag in entries(p, &format!("{spec}.Tag"), &["Key", "Value"]) {
            tags.push(Tag {
                key: p.get(&format!("{tag}.Key")).unwrap_or_default().to_string(),
                value: p
                    .get(&format!("{tag}.Value"))
                    .unwrap_or_default()
                    .to_string(),
            });
        }
    }
    tags
}

/// The permissions of a request: every `IpPermissions.N` entry, plus the flat form
/// (`IpProtocol`, `FromPort`, `ToPort`, `CidrIp`, `SourceSecurityGroupName`) when present.
///
/// # Errors
/// `InvalidParameterValue` for ports that are not integers.
pub fn permissions(p: &Params) -> Result<Vec<PermissionRequest>, ApiError> {
    let mut out = Vec::new();
    let fields = [
        "IpProtocol",
        "FromPort",
        "ToPort",
        "IpRanges",
        "Groups",
        "Ipv6Ranges",
        "PrefixListIds",
    ];
    for prefix in entries(p, "IpPermissions", &fields) {
        if !entries(p, &format!("{prefix}.Ipv6Ranges"), &["CidrIpv6"]).is_empty()
            || !entries(p, &format!("{prefix}.PrefixListIds"), &["PrefixListId"]).is_empty()
        {
            return Err(ApiError::from(ferrocache_model::network::Ec2Fault::value(
                "IPv6 ranges and prefix lists are not supported by this Ferrocache release.",
            )));
        }
        let cidrs = entries(p, &format!("{prefix}.IpRanges"), &["CidrIp", "Description"])
            .into_iter()
            .map(|r| {
                (
                    p.get(&format!("{r}.CidrIp"))
                        .unwrap_or_default()
                        .to_string(),
                    p.string(&format!("{r}.Description")),
                )
            })
            .collect();
        let groups = entries(
            p,
            &format!("{prefix}.Groups"),
            &["GroupId", "GroupName", "UserId", "Description"],
        )
        .into_iter()
        .map(|g| GroupPairRequest {
            group_id: p.string(&format!("{g}.GroupId")),
            group_name: p.string(&format!("{g}.GroupName")),
            description: p.string(&format!("{g}.Description")),
        })
        .collect();
        out.push(PermissionRequest {
            protocol: p.string(&format!("{prefix}.IpProtocol")),
            from_port: integer(p, &format!("{prefix}.FromPort"))?,
            to_port: integer(p, &format!("{prefix}.ToPort"))?,
            cidrs,
            groups,
        });
    }
    let flat = [
        "IpProtocol",
        "FromPort",
        "ToPort",
        "CidrIp",
        "SourceSecurityGroupName",
    ];
    if flat.iter().any(|f| p.present(f)) {
        let mut permission = PermissionRequest {
            // EC2's flat form with only a source group means every protocol and port.
            protocol: p.string("IpProtocol").or_else(|| Some("-1".into())),
            from_port: integer(p, "FromPort")?,
            to_port: integer(p, "ToPort")?,
            ..Default::default()
        };
        if let Some(cidr) = p.string("CidrIp") {
            permission.cidrs.push((cidr, None));
        }
        if let Some(name) = p.string("SourceSecurityGroupName") {
            let pair = if name.starts_with("sg-") {
                GroupPairRequest {
                    group_id: Some(name),
                    ..Default::default()
                }
            } else {
                GroupPairRequest {
                    group_name: Some(name),
                    ..Default::default()
                }
            };
            permission.groups.push(pair);
        }
        out.push(permission);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().copied())
    }

    // Goal: the keys botocore's EC2 serializer writes (captured from `serialize_to_request`)
    // decode into the right shapes. Method: decode one request of each form.
    #[test]
    fn botocore_forms() {
        let p = params(&[
            ("GroupId.1", "sg-1"),
            ("GroupId.2", "sg-2"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", "v1"),
            ("Filter.1.Value.2", "v2"),
            ("TagSpecification.1.ResourceType", "security-group"),
            ("TagSpecification.1.Tag.1.Key", "k"),
            ("TagSpecification.1.Tag.1.Value", "v"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "6379"),
            ("IpPermissions.1.ToPort", "6379"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/16"),
            ("IpPermissions.1.Groups.1.GroupId", "sg-2"),
        ]);
        assert_eq!(strings(&p, "GroupId"), ["sg-1", "sg-2"]);
        assert_eq!(
            filters(&p),
            [Filter {
                name: "vpc-id".into(),
                values: vec!["v1".into(), "v2".into()]
            }]
        );
        assert_eq!(tags_for(&p, "security-group").len(), 1);
        assert!(tags_for(&p, "vpc").is_empty());
        let perms = permissions(&p).unwrap();
        assert_eq!(perms.len(), 1);
        assert_eq!(perms[0].cidrs, [("10.0.0.0/16".to_string(), None)]);
        assert_eq!(perms[0].groups[0].group_id.as_deref(), Some("sg-2"));

        let flat = params(&[
            ("IpProtocol", "tcp"),
            ("FromPort", "6379"),
            ("ToPort", "6379"),
            ("CidrIp", "10.0.0.0/16"),
        ]);
        let perms = permissions(&flat).unwrap();
        assert_eq!(perms[0].protocol.as_deref(), Some("tcp"));
        assert!(permissions(&params(&[("IpPermissions.1.FromPort", "x")])).is_err());
    }
}
