//! The operation table: every ElastiCache `Action` the edge answers, its required members (the
//! AWS model's `required` list) and its handler. Anything not in the table — unknown, or a real
//! ElastiCache operation not implemented yet — is answered in one place with `InvalidAction`.
//!
//! A handler decodes [`Params`] into the control plane's request types, calls the [`Service`],
//! and writes the content of `<ActionResult>`; [`run`] adds the envelope. Handlers run on the
//! blocking pool (the service commits to disk synchronously).

use ferrocache_control::Service;

use crate::elasticache::{
    cache_cluster, engine_version, event, modify, parameter_group, replication_group, snapshot,
    subnet_group, tag, user,
};
use crate::error::ApiError;
use crate::query::Params;
use crate::xml::{self, Xml};

/// The ElastiCache API version every request must name (or leave out).
pub const ELASTICACHE_VERSION: &str = "2015-02-02";

/// What a handler gets: the service, the caller's region and the decoded parameters.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The control plane's operations.
    pub service: &'a Service,
    /// Region from the SigV4 scope (or the default region).
    pub region: &'a str,
    /// Access key id from the SigV4 scope, when signed.
    pub access_key_id: Option<&'a str>,
    /// The request's parameters.
    pub params: &'a Params,
}

/// Decodes, calls the service, writes the result's content.
pub type Handler = fn(&Call<'_>, &mut Xml) -> Result<(), ApiError>;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// `Action` name, exactly as the AWS model spells it.
    pub action: &'static str,
    /// Members the AWS model marks required; a request without one is answered
    /// `MissingParameter` before the handler runs. A list counts as present when sent empty
    /// (`Tags=`), as botocore does for an empty required list.
    pub required: &'static [&'static str],
    /// The handler.
    pub handler: Handler,
}

/// Every operation the edge answers, in the order of the ElastiCache API reference.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        action: "CreateReplicationGroup",
        required: &["ReplicationGroupId", "ReplicationGroupDescription"],
        handler: replication_group::create_replication_group,
    },
    Operation {
        action: "DescribeReplicationGroups",
        required: &[],
        handler: replication_group::describe_replication_groups,
    },
    Operation {
        action: "DeleteReplicationGroup",
        required: &["ReplicationGroupId"],
        handler: replication_group::delete_replication_group,
    },
    Operation {
        action: "ModifyReplicationGroup",
        required: &["ReplicationGroupId"],
        handler: modify::modify_replication_group,
    },
    Operation {
        action: "IncreaseReplicaCount",
        required: &["ReplicationGroupId", "ApplyImmediately"],
        handler: replication_group::increase_replica_count,
    },
    Operation {
        action: "ModifyReplicationGroupShardConfiguration",
        required: &["ReplicationGroupId", "NodeGroupCount", "ApplyImmediately"],
        handler: replication_group::modify_replication_group_shard_configuration,
    },
    Operation {
        action: "DecreaseReplicaCount",
        required: &["ReplicationGroupId", "ApplyImmediately"],
        handler: replication_group::decrease_replica_count,
    },
    Operation {
        action: "TestFailover",
        required: &["ReplicationGroupId", "NodeGroupId"],
        handler: replication_group::test_failover,
    },
    Operation {
        action: "ListAllowedNodeTypeModifications",
        required: &[],
        handler: modify::list_allowed_node_type_modifications,
    },
    Operation {
        action: "CreateCacheCluster",
        required: &["CacheClusterId"],
        handler: cache_cluster::create_cache_cluster,
    },
    Operation {
        action: "DescribeCacheClusters",
        required: &[],
        handler: cache_cluster::describe_cache_clusters,
    },
    Operation {
        action: "DeleteCacheCluster",
        required: &["CacheClusterId"],
        handler: cache_cluster::delete_cache_cluster,
    },
    Operation {
        action: "RebootCacheCluster",
        required: &["CacheClusterId", "CacheNodeIdsToReboot"],
        handler: cache_cluster::reboot_cache_cluster,
    },
    Operation {
        action: "ModifyCacheCluster",
        required: &["CacheClusterId"],
        handler: modify::modify_cache_cluster,
    },
    Operation {
        action: "CreateSnapshot",
        required: &["SnapshotName"],
        handler: snapshot::create_snapshot,
    },
    Operation {
        action: "DescribeSnapshots",
        required: &[],
        handler: snapshot::describe_snapshots,
    },
    Operation {
        action: "DeleteSnapshot",
        required: &["SnapshotName"],
        handler: snapshot::delete_snapshot,
    },
    Operation {
        action: "CopySnapshot",
        required: &["SourceSnapshotName", "TargetSnapshotName"],
        handler: snapshot::copy_snapshot,
    },
    Operation {
        action: "DescribeEvents",
        required: &[],
        handler: event::describe_events,
    },
    Operation {
        action: "DescribeCacheEngineVersions",
        required: &[],
        handler: engine_version::describe_cache_engine_versions,
    },
    Operation {
        action: "CreateCacheSubnetGroup",
        required: &[
            "CacheSubnetGroupName",
            "CacheSubnetGroupDescription",
            "SubnetIds",
        ],
        handler: subnet_group::create_cache_subnet_group,
    },
    Operation {
        action: "DescribeCacheSubnetGroups",
        required: &[],
        handler: subnet_group::describe_cache_subnet_groups,
    },
    Operation {
        action: "ModifyCacheSubnetGroup",
        required: &["CacheSubnetGroupName"],
        handler: subnet_group::modify_cache_subnet_group,
    },
    Operation {
        action: "DeleteCacheSubnetGroup",
        required: &["CacheSubnetGroupName"],
        handler: subnet_group::delete_cache_subnet_group,
    },
    Operation {
        action: "CreateCacheParameterGroup",
        required: &[
            "CacheParameterGroupName",
            "CacheParameterGroupFamily",
            "Description",
        ],
        handler: parameter_group::create_cache_parameter_group,
    },
    Operation {
        action: "ModifyCacheParameterGroup",
        required: &["CacheParameterGroupName", "ParameterNameValues"],
        handler: parameter_group::modify_cache_parameter_group,
    },
    Operation {
        action: "DescribeCacheParameterGroups",
        required: &[],
        handler: parameter_group::describe_cache_parameter_groups,
    },
    Operation {
        action: "ResetCacheParameterGroup",
        required: &["CacheParameterGroupName"],
        handler: parameter_group::reset_cache_parameter_group,
    },
    Operation {
        action: "DescribeCacheParameters",
        required: &["CacheParameterGroupName"],
        handler: parameter_group::describe_cache_parameters,
    },
    Operation {
        action: "DeleteCacheParameterGroup",
        required: &["CacheParameterGroupName"],
        handler: parameter_group::delete_cache_parameter_group,
    },
    Operation {
        action: "DescribeEngineDefaultParameters",
        required: &["CacheParameterGroupFamily"],
        handler: parameter_group::describe_engine_default_parameters,
    },
    Operation {
        action: "ListTagsForResource",
        required: &["ResourceName"],
        handler: tag::list_tags_for_resource,
    },
    Operation {
        action: "AddTagsToResource",
        required: &["ResourceName", "Tags"],
        handler: tag::add_tags_to_resource,
    },
    Operation {
        action: "RemoveTagsFromResource",
        required: &["ResourceName", "TagKeys"],
        handler: tag::remove_tags_from_resource,
    },
    Operation {
        action: "CreateUser",
        required: &["UserId", "UserName", "Engine", "AccessString"],
        handler: user::create_user,
    },
    Operation {
        action: "DescribeUsers",
        required: &[],
        handler: user::describe_users,
    },
    Operation {
        action: "ModifyUser",
        required: &["UserId"],
        handler: user::modify_user,
    },
    Operation {
        action: "DeleteUser",
        required: &["UserId"],
        handler: user::delete_user,
    },
    Operation {
        action: "CreateUserGroup",
        required: &["UserGroupId", "Engine"],
        handler: user::create_user_group,
    },
    Operation {
        action: "DescribeUserGroups",
        required: &[],
        handler: user::describe_user_groups,
    },
    Operation {
        action: "ModifyUserGroup",
        required: &["UserGroupId"],
        handler: user::modify_user_group,
    },
    Operation {
        action: "DeleteUserGroup",
        required: &["UserGroupId"],
        handler: user::delete_user_group,
    },
];

/// The operation named `action`, if the edge answers it.
pub fn find(action: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.action == action)
}

/// Picks the operation of a request: `Action` must be present and in the table, `Version`
/// absent or [`ELASTICACHE_VERSION`].
///
/// A missing `Version` is accepted (every SDK sends it; hand-written `curl` calls often do not),
/// while a different one is `InvalidAction` "Could not find operation X for version Y", the
/// answer of AWS's query front ends to an operation unknown in that version.
///
/// # Errors
/// `MissingAction`, `InvalidAction`.
pub fn select(params: &Params) -> Result<&'static Operation, ApiError> {
    let action = match params.get("Action") {
        Some(a) if !a.is_empty() => a,
        _ => return Err(ApiError::missing_action()),
    };
    if let Some(version) = params.get("Version") {
        if version != ELASTICACHE_VERSION {
            return Err(ApiError::invalid_version(action, version));
        }
    }
    find(action).ok_or_else(|| ApiError::invalid_action(action))
}

/// Runs `op`: checks required members, calls the handler, wraps the result in the envelope.
///
/// # Errors
/// `MissingParameter`, and whatever the handler answers.
pub fn run(op: &Operation, call: &Call<'_>, request_id: &str) -> Result<String, ApiError> {
    if let Some(missing) = op.required.iter().find(|name| !call.params.present(name)) {
        return Err(ApiError::missing_parameter(missing));
    }
    let mut result = Xml::new();
    (op.handler)(call, &mut result)?;
    Ok(xml::envelope(op.action, request_id, &result.into_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the ElastiCache model (botocore 1.44.5, 77 operations).
    const MODEL_OPERATIONS: [&str; 77] = [
        "AddTagsToResource",
        "AuthorizeCacheSecurityGroupIngress",
        "BatchApplyUpdateAction",
        "BatchStopUpdateAction",
        "CompleteMigration",
        "CopyServerlessCacheSnapshot",
        "CopySnapshot",
        "CreateCacheCluster",
        "CreateCacheParameterGroup",
        "CreateCacheSecurityGroup",
        "CreateCacheSubnetGroup",
        "CreateGlobalReplicationGroup",
        "CreateReplicationGroup",
        "CreateServerlessCache",
        "CreateServerlessCacheSnapshot",
        "CreateSnapshot",
        "CreateUser",
        "CreateUserGroup",
        "DecreaseNodeGroupsInGlobalReplicationGroup",
        "DecreaseReplicaCount",
        "DeleteCacheCluster",
        "DeleteCacheParameterGroup",
        "DeleteCacheSecurityGroup",
        "DeleteCacheSubnetGroup",
        "DeleteGlobalReplicationGroup",
        "DeleteReplicationGroup",
        "DeleteServerlessCache",
        "DeleteServerlessCacheSnapshot",
        "DeleteSnapshot",
        "DeleteUser",
        "DeleteUserGroup",
        "DescribeCacheClusters",
        "DescribeCacheEngineVersions",
        "DescribeCacheParameterGroups",
        "DescribeCacheParameters",
        "DescribeCacheSecurityGroups",
        "DescribeCacheSubnetGroups",
        "DescribeEngineDefaultParameters",
        "DescribeEvents",
        "DescribeGlobalReplicationGroups",
        "DescribeReplicationGroups",
        "DescribeReservedCacheNodes",
        "DescribeReservedCacheNodesOfferings",
        "DescribeServerlessCacheSnapshots",
        "DescribeServerlessCaches",
        "DescribeServiceUpdates",
        "DescribeSnapshots",
        "DescribeUpdateActions",
        "DescribeUserGroups",
        "DescribeUsers",
        "DisassociateGlobalReplicationGroup",
        "ExportServerlessCacheSnapshot",
        "FailoverGlobalReplicationGroup",
        "IncreaseNodeGroupsInGlobalReplicationGroup",
        "IncreaseReplicaCount",
        "ListAllowedNodeTypeModifications",
        "ListTagsForResource",
        "ModifyCacheCluster",
        "ModifyCacheParameterGroup",
        "ModifyCacheSubnetGroup",
        "ModifyGlobalReplicationGroup",
        "ModifyReplicationGroup",
        "ModifyReplicationGroupShardConfiguration",
        "ModifyServerlessCache",
        "ModifyUser",
        "ModifyUserGroup",
        "PrepareMigration",
        "PurchaseReservedCacheNodesOffering",
        "RebalanceSlotsInGlobalReplicationGroup",
        "RebootCacheCluster",
        "RemoveTagsFromResource",
        "ResetCacheParameterGroup",
        "RevokeCacheSecurityGroupIngress",
        "StartMigration",
        "StopMigration",
        "TestFailover",
        "TestMigration",
    ];

    /// The required members of each implemented operation in the AWS model.
    const MODEL_REQUIRED: &[(&str, &[&str])] = &[
        (
            "CreateReplicationGroup",
            &["ReplicationGroupId", "ReplicationGroupDescription"],
        ),
        ("DescribeReplicationGroups", &[]),
        ("DeleteReplicationGroup", &["ReplicationGroupId"]),
        (
            "IncreaseReplicaCount",
            &["ReplicationGroupId", "ApplyImmediately"],
        ),
        (
            "DecreaseReplicaCount",
            &["ReplicationGroupId", "ApplyImmediately"],
        ),
        (
            "ModifyReplicationGroupShardConfiguration",
            &["ReplicationGroupId", "NodeGroupCount", "ApplyImmediately"],
        ),
        ("CreateCacheCluster", &["CacheClusterId"]),
        ("DescribeCacheClusters", &[]),
        ("DeleteCacheCluster", &["CacheClusterId"]),
        (
            "RebootCacheCluster",
            &["CacheClusterId", "CacheNodeIdsToReboot"],
        ),
        ("CreateSnapshot", &["SnapshotName"]),
        ("DescribeSnapshots", &[]),
        ("DeleteSnapshot", &["SnapshotName"]),
        (
            "CopySnapshot",
            &["SourceSnapshotName", "TargetSnapshotName"],
        ),
        ("DescribeEvents", &[]),
        ("DescribeCacheEngineVersions", &[]),
        (
            "CreateCacheParameterGroup",
            &[
                "CacheParameterGroupName",
                "CacheParameterGroupFamily",
                "Description",
            ],
        ),
        (
            "ModifyCacheParameterGroup",
            &["CacheParameterGroupName", "ParameterNameValues"],
        ),
        ("DescribeCacheParameterGroups", &[]),
        ("ResetCacheParameterGroup", &["CacheParameterGroupName"]),
        ("DescribeCacheParameters", &["CacheParameterGroupName"]),
        ("DeleteCacheParameterGroup", &["CacheParameterGroupName"]),
        (
            "CreateCacheSubnetGroup",
            &[
                "CacheSubnetGroupName",
                "CacheSubnetGroupDescription",
                "SubnetIds",
            ],
        ),
        ("DescribeCacheSubnetGroups", &[]),
        ("ModifyCacheSubnetGroup", &["CacheSubnetGroupName"]),
        ("DeleteCacheSubnetGroup", &["CacheSubnetGroupName"]),
        (
            "DescribeEngineDefaultParameters",
            &["CacheParameterGroupFamily"],
        ),
        ("ListTagsForResource", &["ResourceName"]),
        ("AddTagsToResource", &["ResourceName", "Tags"]),
        ("RemoveTagsFromResource", &["ResourceName", "TagKeys"]),
        ("TestFailover", &["ReplicationGroupId", "NodeGroupId"]),
        ("ModifyReplicationGroup", &["ReplicationGroupId"]),
        ("ModifyCacheCluster", &["CacheClusterId"]),
        ("ListAllowedNodeTypeModifications", &[]),
        (
            "CreateUser",
            &["UserId", "UserName", "Engine", "AccessString"],
        ),
        ("DescribeUsers", &[]),
        ("ModifyUser", &["UserId"]),
        ("DeleteUser", &["UserId"]),
        ("CreateUserGroup", &["UserGroupId", "Engine"]),
        ("DescribeUserGroups", &[]),
        ("ModifyUserGroup", &["UserGroupId"]),
        ("DeleteUserGroup", &["UserGroupId"]),
    ];

    // Goal: the table is the AWS model's: each action is a real ElastiCache operation spelled
    // exactly, appears once, and lists the model's required members. Method: walk the table
    // against the model's operation list and required lists.
    #[test]
    fn table_matches_the_model() {
        for (i, op) in OPERATIONS.iter().enumerate() {
            assert!(
                MODEL_OPERATIONS.contains(&op.action),
                "{} is not an ElastiCache operation",
                op.action
            );
            assert!(
                OPERATIONS[..i].iter().all(|o| o.action != op.action),
                "{} twice",
                op.action
            );
            let model = MODEL_REQUIRED
                .iter()
                .find(|(a, _)| *a == op.action)
                .map(|(_, r)| *r);
            assert_eq!(
                Some(op.required),
                model,
                "required members of {}",
                op.action
            );
        }
        assert_eq!(OPERATIONS.len(), MODEL_REQUIRED.len());
    }

    // Goal: selection answers MissingAction / InvalidAction in one place, for unknown names, for
    // model operations not implemented yet, and for a wrong Version. Method: select with each.
    #[test]
    fn selection() {
        let select_with = |pairs: &[(&str, &str)]| {
            select(&Params::from_pairs(pairs.iter().copied())).map(|op| op.action)
        };
        assert_eq!(select_with(&[]).unwrap_err().code(), "MissingAction");
        assert_eq!(
            select_with(&[("Action", "")]).unwrap_err().code(),
            "MissingAction"
        );
        assert_eq!(
            select_with(&[("Action", "DescribeEvents")]),
            Ok("DescribeEvents")
        );
        assert_eq!(
            select_with(&[("Action", "DescribeEvents"), ("Version", "2015-02-02")]),
            Ok("DescribeEvents")
        );
        let wrong =
            select_with(&[("Action", "DescribeEvents"), ("Version", "2014-09-30")]).unwrap_err();
        assert_eq!(
            (wrong.code(), wrong.message()),
            (
                "InvalidAction",
                "Could not find operation DescribeEvents for version 2014-09-30."
            )
        );
        for action in MODEL_OPERATIONS
            .iter()
            .filter(|a| find(a).is_none())
            .chain(&["Bogus", "describeevents"])
        {
            let e = select_with(&[("Action", action)]).unwrap_err();
            assert_eq!(e.code(), "InvalidAction", "{action}");
            assert_eq!(
                e.message(),
                format!("The action {action} is not valid for this web service.")
            );
        }
    }
}
