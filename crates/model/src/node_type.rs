//! AWS's Redis node types: memory and vCPUs, and the `maxmemory` a node of that type gets.
//!
//! Values are the `maxmemory` parameter bytes AWS publishes per node type (see
//! `shared/reference/elasticache-behaviour.md` §4). A node keeps `reserved-memory-percent`
//! (default 25 %) of it back for the engine's own use, as ElastiCache does: a `cache.t3.micro`
//! shows `maxmemory:402653184` in `INFO memory`.

use crate::Fault;

/// One row of the node-type table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeType {
    /// AWS name, e.g. `cache.t3.micro`.
    pub name: &'static str,
    /// vCPUs of the instance type.
    pub vcpus: u32,
    /// The node type's `maxmemory` parameter, in bytes, before reserved memory.
    pub memory_bytes: u64,
}

/// The default `reserved-memory-percent`.
pub const RESERVED_MEMORY_PERCENT_DEFAULT: u64 = 25;

impl NodeType {
    /// `maxmemory` for the engine after keeping `reserved_percent` back.
    pub fn maxmemory_bytes(&self, reserved_percent: u64) -> u64 {
        self.memory_bytes / 100 * (100 - reserved_percent.min(100))
            + self.memory_bytes % 100 * (100 - reserved_percent.min(100)) / 100
    }
}

macro_rules! node_types {
    ($( $name:literal, $vcpus:literal, $bytes:literal; )*) => {
        /// Every node type Ferrocache accepts, in AWS's order.
        pub const NODE_TYPES: &[NodeType] = &[ $( NodeType { name: $name, vcpus: $vcpus, memory_bytes: $bytes }, )* ];
    };
}

node_types! {
    "cache.t2.micro", 1, 581959680;
    "cache.t2.small", 1, 1665138688;
    "cache.t2.medium", 2, 3461349376;
    "cache.t3.micro", 2, 536870912;
    "cache.t3.small", 2, 1471026299;
    "cache.t3.medium", 2, 3317862236;
    "cache.t4g.micro", 2, 536870912;
    "cache.t4g.small", 2, 1471026299;
    "cache.t4g.medium", 2, 3317862236;
    "cache.m5.large", 2, 6854542746;
    "cache.m5.xlarge", 4, 13891921715;
    "cache.m5.2xlarge", 8, 27966669210;
    "cache.m5.4xlarge", 16, 56116178125;
    "cache.m5.12xlarge", 48, 168715971994;
    "cache.m5.24xlarge", 96, 337500562842;
    "cache.m6g.large", 2, 6854542746;
    "cache.m6g.xlarge", 4, 13891921715;
    "cache.m6g.2xlarge", 8, 27966669210;
    "cache.m6g.4xlarge", 16, 56116178125;
    "cache.m6g.8xlarge", 32, 111325552312;
    "cache.m6g.12xlarge", 48, 168715971994;
    "cache.m6g.16xlarge", 64, 225000375228;
    "cache.m7g.large", 2, 6854542746;
    "cache.m7g.xlarge", 4, 13891921715;
    "cache.m7g.2xlarge", 8, 27966669210;
    "cache.m7g.4xlarge", 16, 56116178125;
    "cache.m7g.8xlarge", 32, 111325552312;
    "cache.m7g.12xlarge", 48, 168715971994;
    "cache.m7g.16xlarge", 64, 225000375228;
    "cache.r5.large", 2, 14037181030;
    "cache.r5.xlarge", 4, 28261849702;
    "cache.r5.2xlarge", 8, 56711183565;
    "cache.r5.4xlarge", 16, 113609865216;
    "cache.r5.12xlarge", 48, 341206346547;
    "cache.r5.24xlarge", 96, 682485973811;
    "cache.r6g.large", 2, 14037181030;
    "cache.r6g.xlarge", 4, 28261849702;
    "cache.r6g.2xlarge", 8, 56711183565;
    "cache.r6g.4xlarge", 16, 113609865216;
    "cache.r6g.8xlarge", 32, 225000375228;
    "cache.r6g.12xlarge", 48, 341206346547;
    "cache.r6g.16xlarge", 64, 450000750456;
    "cache.r7g.large", 2, 14037181030;
    "cache.r7g.xlarge", 4, 28261849702;
    "cache.r7g.2xlarge", 8, 56711183565;
    "cache.r7g.4xlarge", 16, 113609865216;
    "cache.r7g.8xlarge", 32, 225000375228;
    "cache.r7g.12xlarge", 48, 341206346547;
    "cache.r7g.16xlarge", 64, 450000750456;
    "cache.r6gd.xlarge", 4, 28261849702;
    "cache.r6gd.2xlarge", 8, 56711183565;
    "cache.r6gd.4xlarge", 16, 113609865216;
    "cache.r6gd.8xlarge", 32, 225000375228;
    "cache.r6gd.12xlarge", 48, 341206346547;
    "cache.r6gd.16xlarge", 64, 450000750456;
}

/// The node type used when a request names none (AWS's console default for small clusters).
pub const NODE_TYPE_DEFAULT: &str = "cache.t3.micro";

/// Looks a node type up by its AWS name.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] when the name is not in the table.
pub fn lookup(name: &str) -> Result<&'static NodeType, Fault> {
    NODE_TYPES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Fault::value(format!("Invalid CacheNodeType: {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t3_micro_matches_aws_info_maxmemory() {
        let t = lookup("cache.t3.micro").unwrap();
        assert_eq!(
            t.maxmemory_bytes(RESERVED_MEMORY_PERCENT_DEFAULT),
            402653184
        );
        assert_eq!(
            lookup("cache.r6g.large").unwrap().maxmemory_bytes(25),
            10527885772
        );
        assert!(lookup("cache.x9.huge").is_err());
    }
}
