//! [`Fault`]: every way a request can break a rule, with AWS's message as its `Display`.
//!
//! The wire code and HTTP status of each variant are chosen once, at the API edge
//! (`ferrocache-api`), so that this crate stays free of protocol details.

/// A rule broken by a request, or a resource in the wrong state for it.
///
/// `Display` is the exact message sent to the client.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// A parameter has a value outside its allowed range, pattern or set.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that are valid alone but not together.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// A required parameter is missing.
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    /// No replication group has this id.
    #[error("Replication group {0} not found.")]
    ReplicationGroupNotFound(String),
    /// A replication group with this id exists already.
    #[error("Replication group {0} already exists.")]
    ReplicationGroupAlreadyExists(String),
    /// The replication group's status does not allow the request.
    #[error("{0}")]
    InvalidReplicationGroupState(String),
    /// No cache cluster has this id.
    #[error("Cache cluster {0} not found.")]
    CacheClusterNotFound(String),
    /// A cache cluster with this id exists already.
    #[error("Cache cluster {0} already exists.")]
    CacheClusterAlreadyExists(String),
    /// The cache cluster's status does not allow the request.
    #[error("{0}")]
    InvalidCacheClusterState(String),
    /// No cache parameter group has this name.
    #[error("CacheParameterGroup not found: {0}")]
    CacheParameterGroupNotFound(String),
    /// No cache parameter group has this name, with the full message (AWS words it
    /// differently per operation: `CacheParameterGroup X not found.` when described,
    /// `CacheParameterGroupnot found: X` when deleted).
    #[error("{0}")]
    CacheParameterGroupNotFoundMessage(String),
    /// A cache parameter group with this name exists already.
    #[error("Parameter group {0} already exists")]
    CacheParameterGroupAlreadyExists(String),
    /// The cache parameter group's state does not allow the request (in use, …).
    #[error("{0}")]
    InvalidCacheParameterGroupState(String),
    /// No cache subnet group has this name.
    #[error("Cache subnet group {0} does not exist.")]
    CacheSubnetGroupNotFound(String),
    /// A cache subnet group with this name exists already.
    #[error("Cache subnet group {0} already exists.")]
    CacheSubnetGroupAlreadyExists(String),
    /// The cache subnet group is used by a replication group or cache cluster.
    #[error("{0}")]
    CacheSubnetGroupInUse(String),
    /// More cache subnet groups than a region may hold.
    #[error("{0}")]
    CacheSubnetGroupQuotaExceeded(String),
    /// More subnets than a cache subnet group may hold.
    #[error("{0}")]
    CacheSubnetQuotaExceeded(String),
    /// Subnets that cannot form a cache subnet group together (two VPCs).
    #[error("{0}")]
    InvalidSubnet(String),
    /// A subnet that cannot leave its cache subnet group (nodes use its zone).
    #[error("{0}")]
    SubnetInUse(String),
    /// The network does not allow the request (no subnet in a requested zone; security groups
    /// of another VPC).
    #[error("{0}")]
    InvalidVpcNetworkState(String),
    /// The node group id does not exist in the replication group.
    #[error("{0}")]
    NodeGroupNotFound(String),
    /// More nodes than a replication group may hold.
    #[error("{0}")]
    NodeQuotaForClusterExceeded(String),
    /// More shards (node groups) than a replication group may hold.
    #[error("{0}")]
    NodeGroupsPerReplicationGroupQuotaExceeded(String),
    /// The request would change nothing.
    #[error("{0}")]
    NoOperation(String),
    /// A malformed ARN.
    #[error("{0}")]
    InvalidArn(String),
    /// A tag key that is not on the resource.
    #[error("{0}")]
    TagNotFound(String),
    /// More tags than a resource may carry.
    #[error("{0}")]
    TagQuotaPerResourceExceeded(String),
    /// A test failover cannot run now (no replica to promote).
    #[error("{0}")]
    TestFailoverNotAvailable(String),
    /// Too many calls of a rate-limited operation.
    #[error("{0}")]
    ApiCallRateForCustomerExceeded(String),
    /// No snapshot has this name.
    #[error("Snapshot {0} not found.")]
    SnapshotNotFound(String),
    /// A snapshot with this name exists already.
    #[error("Snapshot {0} already exists.")]
    SnapshotAlreadyExists(String),
    /// More snapshots than a region may hold.
    #[error("{0}")]
    SnapshotQuotaExceeded(String),
    /// The snapshot's status does not allow the request.
    #[error("{0}")]
    InvalidSnapshotState(String),
    /// No user has this id.
    #[error("User {0} not found.")]
    UserNotFound(String),
    /// No user group has this id.
    #[error("User group {0} not found.")]
    UserGroupNotFound(String),
    /// A user with this id exists already.
    #[error("User {0} already exists.")]
    UserAlreadyExists(String),
    /// A user group with this id exists already.
    #[error("User Group {0} already exists.")]
    UserGroupAlreadyExists(String),
    /// Two users of one user group share a user name.
    #[error("{0}")]
    DuplicateUserName(String),
    /// A user group without a user named `default`.
    #[error("{0}")]
    DefaultUserRequired(String),
    /// The `default` user cannot leave or be deleted this way.
    #[error("{0}")]
    DefaultUserAssociatedToUserGroup(String),
    /// The user's state does not allow the request (in a user group, the built-in user).
    #[error("{0}")]
    InvalidUserState(String),
    /// The user group's state does not allow the request (attached to a replication group).
    #[error("{0}")]
    InvalidUserGroupState(String),
    /// More users than a region may hold.
    #[error("{0}")]
    UserQuotaExceeded(String),
    /// The node could not be placed (addresses or ports exhausted).
    #[error("{0}")]
    InsufficientCacheClusterCapacity(String),
}

impl Fault {
    /// Shorthand for [`Fault::InvalidParameterValue`].
    pub fn value(message: impl Into<String>) -> Self {
        Fault::InvalidParameterValue(message.into())
    }
    /// Shorthand for [`Fault::InvalidParameterCombination`].
    pub fn combination(message: impl Into<String>) -> Self {
        Fault::InvalidParameterCombination(message.into())
    }
}
