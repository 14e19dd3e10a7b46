//! ARNs of ElastiCache resources: `arn:aws:elasticache:<region>:<account>:<type>:<id>`.

use crate::Fault;

/// The resource types that appear in ElastiCache ARNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnType {
    /// `replicationgroup`
    ReplicationGroup,
    /// `cluster` (a cache cluster)
    Cluster,
    /// `snapshot`
    Snapshot,
    /// `parametergroup`
    ParameterGroup,
    /// `subnetgroup`
    SubnetGroup,
    /// `user`
    User,
    /// `usergroup`
    UserGroup,
}

impl ArnType {
    /// The type's word inside an ARN.
    pub fn as_str(self) -> &'static str {
        match self {
            ArnType::ReplicationGroup => "replicationgroup",
            ArnType::Cluster => "cluster",
            ArnType::Snapshot => "snapshot",
            ArnType::ParameterGroup => "parametergroup",
            ArnType::SubnetGroup => "subnetgroup",
            ArnType::User => "user",
            ArnType::UserGroup => "usergroup",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "replicationgroup" => ArnType::ReplicationGroup,
            "cluster" => ArnType::Cluster,
            "snapshot" => ArnType::Snapshot,
            "parametergroup" => ArnType::ParameterGroup,
            "subnetgroup" => ArnType::SubnetGroup,
            "user" => ArnType::User,
            "usergroup" => ArnType::UserGroup,
            _ => return None,
        })
    }
}

/// A parsed ElastiCache ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// Region the resource lives in.
    pub region: String,
    /// Owning account.
    pub account: String,
    /// Kind of resource.
    pub kind: ArnType,
    /// Resource id (lower-case).
    pub id: String,
}

/// Formats the ARN of a resource.
pub fn format(region: &str, account: &str, kind: ArnType, id: &str) -> String {
    format!(
        "arn:aws:elasticache:{region}:{account}:{}:{id}",
        kind.as_str()
    )
}

/// Parses an ElastiCache ARN as given in `ResourceName`.
///
/// # Errors
/// [`Fault::InvalidArn`] with AWS's message when it is not an ElastiCache resource ARN.
pub fn parse(value: &str) -> Result<Arn, Fault> {
    let invalid = || {
        Fault::InvalidArn(format!(
            "ResourceName {value} is not a valid ElastiCache ARN."
        ))
    };
    let mut parts = value.splitn(7, ':');
    let (
        Some("arn"),
        Some(_partition),
        Some("elasticache"),
        Some(region),
        Some(account),
        Some(kind),
        Some(id),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return Err(invalid());
    };
    let kind = ArnType::parse(kind).ok_or_else(invalid)?;
    if region.is_empty() || id.is_empty() {
        return Err(invalid());
    }
    Ok(Arn {
        region: region.to_string(),
        account: account.to_string(),
        kind,
        id: id.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let s = format(
            "us-east-1",
            "123456789012",
            ArnType::ReplicationGroup,
            "rg1",
        );
        assert_eq!(
            s,
            "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:rg1"
        );
        let a = parse(&s).unwrap();
        assert_eq!(a.kind, ArnType::ReplicationGroup);
        assert_eq!(a.id, "rg1");
        assert!(parse("arn:aws:s3:::bucket/key").is_err());
        assert!(parse("nonsense").is_err());
    }
}
