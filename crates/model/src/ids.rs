//! Identifier rules shared by resources, and how member clusters of a group are named.
//!
//! AWS stores identifiers lower-case and compares them case-insensitively, so every validator
//! returns the normalised (lower-case) id.

use crate::Fault;

/// Longest `ReplicationGroupId`.
pub const REPLICATION_GROUP_ID_LEN_MAX: usize = 40;
/// Longest `CacheClusterId`.
pub const CACHE_CLUSTER_ID_LEN_MAX: usize = 50;

/// Checks the shared identifier rule — 1..=`len_max` ASCII letters, digits or hyphens, starting
/// with a letter, not ending with a hyphen, no two consecutive hyphens — and returns the id in
/// lower case.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] naming the parameter, with AWS's wording.
pub fn identifier(parameter: &str, value: &str, len_max: usize) -> Result<String, Fault> {
    let invalid = || {
        Fault::value(format!(
            "The parameter {parameter} is not a valid identifier. Identifiers must begin with a letter; \
             must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
             contain two consecutive hyphens."
        ))
    };
    if value.is_empty() {
        return Err(Fault::value(format!(
            "The parameter {parameter} must be provided and must not be blank."
        )));
    }
    if value.len() > len_max {
        return Err(Fault::value(format!(
            "The parameter {parameter} is not a valid identifier. Identifiers must be at most {len_max} characters long."
        )));
    }
    let bytes = value.as_bytes();
    if !bytes[0].is_ascii_alphabetic()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        || bytes[bytes.len() - 1] == b'-'
        || value.contains("--")
    {
        return Err(invalid());
    }
    Ok(value.to_ascii_lowercase())
}

/// Validates a `ReplicationGroupId` and returns it lower-cased.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn replication_group_id(value: &str) -> Result<String, Fault> {
    identifier("ReplicationGroupId", value, REPLICATION_GROUP_ID_LEN_MAX)
}

/// Validates a `CacheClusterId` and returns it lower-cased.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn cache_cluster_id(value: &str) -> Result<String, Fault> {
    identifier("CacheClusterId", value, CACHE_CLUSTER_ID_LEN_MAX)
}

/// The id of the `index`-th (1-based) member cluster of a cluster-mode-disabled group:
/// `<group>-001`, `<group>-002`, …
pub fn member_cluster_id(group_id: &str, index: u32) -> String {
    format!("{group_id}-{index:03}")
}

/// The id of the `index`-th (1-based) member of shard `shard_id` of a cluster-mode group:
/// `<group>-0001-001`, `<group>-0001-002`, …, `<group>-0002-001`, …
pub fn shard_member_cluster_id(group_id: &str, shard_id: &str, index: u32) -> String {
    format!("{group_id}-{shard_id}-{index:03}")
}

/// The member index encoded in a member cluster id of `group_id`, if it has one of the two
/// shapes: `<group>-NNN` (cluster mode disabled) or `<group>-SSSS-NNN` (the index within
/// shard `SSSS`).
pub fn member_index(group_id: &str, cluster_id: &str) -> Option<u32> {
    let suffix = cluster_id.strip_prefix(group_id)?.strip_prefix('-')?;
    let index = match suffix.split_once('-') {
        Some((shard, index)) => {
            shard_index(shard)?;
            index
        }
        None => suffix,
    };
    if index.len() == 3 && index.bytes().all(|b| b.is_ascii_digit()) {
        index.parse().ok()
    } else {
        None
    }
}

/// The only cache node id of a Redis cache cluster (one node per cluster).
pub const CACHE_NODE_ID: &str = "0001";

/// The `NodeGroupId` of a group's `index`-th (1-based) shard: `0001`, `0002`, …; a group
/// without cluster mode has the one shard `shard_id(1)`.
pub fn shard_id(index: u32) -> String {
    format!("{index:04}")
}

/// The shard index a `NodeGroupId` encodes, if it has that shape (four digits, from 1).
pub fn shard_index(id: &str) -> Option<u32> {
    if id.len() == 4 && id.bytes().all(|b| b.is_ascii_digit()) {
        id.parse().ok().filter(|n| *n > 0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_aws_rules() {
        assert_eq!(replication_group_id("My-Group1").unwrap(), "my-group1");
        for bad in ["1abc", "a--b", "abc-", "a_b", "", "a b"] {
            assert!(replication_group_id(bad).is_err(), "{bad}");
        }
        assert!(replication_group_id(&"a".repeat(40)).is_ok());
        assert!(replication_group_id(&"a".repeat(41)).is_err());
        assert!(cache_cluster_id(&"a".repeat(50)).is_ok());
    }

    #[test]
    fn member_ids_round_trip() {
        assert_eq!(member_cluster_id("rg", 3), "rg-003");
        assert_eq!(member_index("rg", "rg-003"), Some(3));
        assert_eq!(member_index("rg", "rg-0003"), None);
        assert_eq!(member_index("rg", "other-001"), None);
        assert_eq!(shard_index(&shard_id(12)), Some(12));
        assert_eq!(shard_index("0000"), None);
        assert_eq!(shard_index("12"), None);
    }
}
