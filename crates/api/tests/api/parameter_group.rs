//! Cache parameter groups on the wire: CreateCacheParameterGroup, DescribeCacheParameterGroups,
//! ModifyCacheParameterGroup, ResetCacheParameterGroup, DeleteCacheParameterGroup,
//! DescribeCacheParameters, DescribeEngineDefaultParameters, their use by
//! CreateReplicationGroup / CreateCacheCluster, tags, and ParameterApplyStatus.

use ferrocache_model::node::NodeObserved;
use ferrocache_store::{update, ReadExt, StoreError, WriteExt, Writer};

use crate::assert_model_order;
use crate::support::{Harness, Reply};

const PARAMETER_MODEL: &[&str] = &[
    "ParameterName",
    "ParameterValue",
    "Description",
    "Source",
    "DataType",
    "AllowedValues",
    "IsModifiable",
    "MinimumEngineVersion",
    "ChangeType",
];
const NODE_TYPE_SPECIFIC_MODEL: &[&str] = &[
    "ParameterName",
    "Description",
    "Source",
    "DataType",
    "AllowedValues",
    "IsModifiable",
    "MinimumEngineVersion",
    "CacheNodeTypeSpecificValues",
    "ChangeType",
];

async fn create(h: &Harness, name: &str) -> Reply {
    h.call(&[
        ("Action", "CreateCacheParameterGroup"),
        ("CacheParameterGroupName", name),
        ("CacheParameterGroupFamily", "redis7"),
        ("Description", "Managed by Terraform"),
    ])
    .await
}

async fn modify(h: &Harness, name: &str, pairs: &[(&str, &str)]) -> Reply {
    let keys: Vec<(String, String)> = pairs
        .iter()
        .enumerate()
        .flat_map(|(i, (n, v))| {
            [
                (
                    format!(
                        "ParameterNameValues.ParameterNameValue.{}.ParameterName",
                        i + 1
                    ),
                    n.to_string(),
                ),
                (
                    format!(
                        "ParameterNameValues.ParameterNameValue.{}.ParameterValue",
                        i + 1
                    ),
                    v.to_string(),
                ),
            ]
        })
        .collect();
    let mut form: Vec<(&str, &str)> = vec![
        ("Action", "ModifyCacheParameterGroup"),
        ("CacheParameterGroupName", name),
    ];
    form.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    h.call(&form).await
}

/// `(name, value)` of every parameter `DescribeCacheParameters` lists with `source`.
async fn listed(h: &Harness, name: &str, source: &str) -> Vec<(String, Option<String>)> {
    let reply = h
        .call(&[
            ("Action", "DescribeCacheParameters"),
            ("CacheParameterGroupName", name),
            ("Source", source),
        ])
        .await;
    reply
        .result("DescribeCacheParameters")
        .all("Parameters/Parameter")
        .iter()
        .map(|p| {
            (
                p.text("ParameterName").unwrap().to_string(),
                p.text("ParameterValue").map(str::to_string),
            )
        })
        .collect()
}

const RG_WITH_GROUP: &[(&str, &str)] = &[
    ("Action", "CreateReplicationGroup"),
    ("ReplicationGroupId", "tuned"),
    ("ReplicationGroupDescription", "tuned"),
    ("NumCacheClusters", "2"),
    ("CacheNodeType", "cache.t3.micro"),
    ("CacheParameterGroupName", "My-Params"),
];

// Goal: CreateCacheParameterGroup answers the model's CacheParameterGroup element with the
// name lower-cased, the family, the description and the region's ARN; a second create is
// AWS's CacheParameterGroupAlreadyExists. Method: create twice, signed for us-west-2.
#[tokio::test]
async fn create_golden_and_duplicate() {
    let h = Harness::new();
    let reply = h
        .call_in(
            "us-west-2",
            &[
                ("Action", "CreateCacheParameterGroup"),
                ("CacheParameterGroupName", "My-Params"),
                ("CacheParameterGroupFamily", "redis7"),
                ("Description", "tuned <redis>"),
                ("Tags.Tag.1.Key", "env"),
                ("Tags.Tag.1.Value", "dev"),
            ],
        )
        .await;
    let g = reply
        .result("CreateCacheParameterGroup")
        .get("CacheParameterGroup")
        .unwrap();
    assert_eq!(
        g.child_names(),
        [
            "CacheParameterGroupName",
            "CacheParameterGroupFamily",
            "Description",
            "IsGlobal",
            "ARN"
        ]
    );
    assert_eq!(g.text("CacheParameterGroupName"), Some("my-params"));
    assert_eq!(g.text("Description"), Some("tuned <redis>"));
    assert_eq!(g.text("IsGlobal"), Some("false"));
    assert_eq!(
        g.text("ARN"),
        Some("arn:aws:elasticache:us-west-2:123456789012:parametergroup:my-params")
    );
    let again = h
        .call_in(
            "us-west-2",
            &[
                ("Action", "CreateCacheParameterGroup"),
                ("CacheParameterGroupName", "my-params"),
                ("CacheParameterGroupFamily", "redis7"),
                ("Description", "x"),
            ],
        )
        .await;
    assert_eq!(
        again.error("CacheParameterGroupAlreadyExists", 400),
        "Parameter group my-params already exists"
    );
    // Another region has its own names.
    create(&h, "my-params")
        .await
        .result("CreateCacheParameterGroup");
    let bad_family = h
        .call(&[
            ("Action", "CreateCacheParameterGroup"),
            ("CacheParameterGroupName", "other"),
            ("CacheParameterGroupFamily", "redis9.9"),
            ("Description", "x"),
        ])
        .await;
    assert_eq!(
        bad_family.error("InvalidParameterValue", 400),
        "CacheParameterGroupFamily redis9.9 is not a valid parameter group family."
    );
    let missing = h
        .call(&[
            ("Action", "CreateCacheParameterGroup"),
            ("CacheParameterGroupName", "other"),
            ("CacheParameterGroupFamily", "redis7"),
        ])
        .await;
    assert_eq!(missing.error_code(), "MissingParameter");
}

// Goal: DescribeCacheParameterGroups lists the two built-in default groups and the region's
// groups by name, pages with Marker/MaxRecords, and answers an unknown name with AWS's 404.
// Method: create 20 groups, page through, describe one and a missing one.
#[tokio::test]
async fn describe_groups_pages_and_not_found() {
    let h = Harness::new();
    for i in 0..20 {
        create(&h, &format!("pg-{i:02}"))
            .await
            .result("CreateCacheParameterGroup");
    }
    let first = h
        .call(&[
            ("Action", "DescribeCacheParameterGroups"),
            ("MaxRecords", "20"),
        ])
        .await;
    let result = first.result("DescribeCacheParameterGroups");
    let names: Vec<&str> = result
        .all("CacheParameterGroups/CacheParameterGroup")
        .iter()
        .map(|g| g.text("CacheParameterGroupName").unwrap())
        .collect();
    assert_eq!(names.len(), 20);
    assert_eq!(&names[..2], ["default.redis7", "default.redis7.cluster.on"]);
    let marker = result.text("Marker").expect("marker").to_string();
    let second = h
        .call(&[
            ("Action", "DescribeCacheParameterGroups"),
            ("MaxRecords", "20"),
            ("Marker", &marker),
        ])
        .await;
    let result = second.result("DescribeCacheParameterGroups");
    assert_eq!(
        result.all("CacheParameterGroups/CacheParameterGroup").len(),
        2
    );
    assert!(result.get("Marker").is_none());

    let one = h
        .call(&[
            ("Action", "DescribeCacheParameterGroups"),
            ("CacheParameterGroupName", "default.redis7.cluster.on"),
        ])
        .await;
    let g = one
        .result("DescribeCacheParameterGroups")
        .get("CacheParameterGroups/CacheParameterGroup")
        .unwrap()
        .clone();
    assert_eq!(
        g.text("Description"),
        Some("Customized default parameter group for redis7 with cluster mode on")
    );
    let missing = h
        .call(&[
            ("Action", "DescribeCacheParameterGroups"),
            ("CacheParameterGroupName", "Nope"),
        ])
        .await;
    assert_eq!(
        missing.error("CacheParameterGroupNotFound", 404),
        "CacheParameterGroup nope not found."
    );
}

// Goal: DescribeCacheParameters on default.redis7 answers the whole redis7 table — 64
// Parameters and 3 CacheNodeTypeSpecificParameters — with the model's element names in model
// order, AWS's quirks (no value and no AllowedValues for notify-keyspace-events, an empty
// value for rename-commands), Source system, and one value per node type. Method: describe and
// walk the XML.
#[tokio::test]
async fn describe_default_parameters_golden() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "DescribeCacheParameters"),
            ("CacheParameterGroupName", "default.redis7"),
        ])
        .await;
    let result = reply.result("DescribeCacheParameters");
    let params = result.all("Parameters/Parameter");
    assert_eq!(params.len(), 64);
    for p in &params {
        assert_model_order(&p.child_names(), PARAMETER_MODEL);
        assert_eq!(p.text("Source"), Some("system"));
    }
    assert_eq!(
        params[0].child_names(),
        PARAMETER_MODEL,
        "a full parameter carries every member"
    );
    let by_name = |n: &str| {
        *params
            .iter()
            .find(|p| p.text("ParameterName") == Some(n))
            .unwrap()
    };
    let notify = by_name("notify-keyspace-events");
    assert!(notify.get("ParameterValue").is_none() && notify.get("AllowedValues").is_none());
    assert_eq!(by_name("rename-commands").text("ParameterValue"), Some(""));
    let policy = by_name("maxmemory-policy");
    assert_eq!(policy.text("ParameterValue"), Some("volatile-lru"));
    assert_eq!(policy.text("ChangeType"), Some("immediate"));
    assert_eq!(policy.text("DataType"), Some("string"));
    assert_eq!(by_name("databases").text("IsModifiable"), Some("false"));
    assert_eq!(
        by_name("databases").text("ChangeType"),
        Some("requires-reboot")
    );
    let specific = result.all("CacheNodeTypeSpecificParameters/CacheNodeTypeSpecificParameter");
    assert_eq!(specific.len(), 3);
    let maxmemory = specific
        .iter()
        .find(|p| p.text("ParameterName") == Some("maxmemory"))
        .unwrap();
    assert_eq!(maxmemory.child_names(), NODE_TYPE_SPECIFIC_MODEL);
    let micro = maxmemory
        .all("CacheNodeTypeSpecificValues/CacheNodeTypeSpecificValue")
        .into_iter()
        .find(|v| v.text("CacheNodeType") == Some("cache.t3.micro"))
        .unwrap();
    assert_eq!(micro.text("Value"), Some("536870912"));

    // Paging by position keeps AWS's order across pages.
    let page = h
        .call(&[
            ("Action", "DescribeCacheParameters"),
            ("CacheParameterGroupName", "default.redis7"),
            ("MaxRecords", "60"),
        ])
        .await;
    let r = page.result("DescribeCacheParameters");
    assert_eq!(r.all("Parameters/Parameter").len(), 60);
    let marker = r.text("Marker").unwrap().to_string();
    let rest = h
        .call(&[
            ("Action", "DescribeCacheParameters"),
            ("CacheParameterGroupName", "default.redis7"),
            ("MaxRecords", "60"),
            ("Marker", &marker),
        ])
        .await;
    let r = rest.result("DescribeCacheParameters");
    assert_eq!(r.all("Parameters/Parameter").len(), 4);
    assert_eq!(
        r.all("CacheNodeTypeSpecificParameters/CacheNodeTypeSpecificParameter")
            .len(),
        3
    );
}

// Goal: the Terraform read-back — ModifyCacheParameterGroup, then DescribeCacheParameters with
// Source=user — returns exactly what was set; ResetCacheParameterGroup (named, then all) takes
// values back out; a custom group opens the conditionally modifiable parameters. Method:
// modify, reset, and list by Source after each.
#[tokio::test]
async fn modify_reset_and_terraform_read_back() {
    let h = Harness::new();
    create(&h, "My-Params")
        .await
        .result("CreateCacheParameterGroup");
    assert!(listed(&h, "my-params", "user").await.is_empty());
    let reply = modify(
        &h,
        "My-Params",
        &[("maxmemory-policy", "allkeys-lru"), ("timeout", "300")],
    )
    .await;
    assert_eq!(
        reply
            .result("ModifyCacheParameterGroup")
            .text("CacheParameterGroupName"),
        Some("my-params")
    );
    assert_eq!(
        listed(&h, "my-params", "user").await,
        [
            (
                "maxmemory-policy".to_string(),
                Some("allkeys-lru".to_string())
            ),
            ("timeout".to_string(), Some("300".to_string())),
        ]
    );
    let defaults = listed(&h, "my-params", "engine-default").await;
    assert!(defaults.iter().all(|(n, _)| n != "timeout"));
    assert!(defaults.iter().any(|(n, _)| n == "databases"));

    let reset = h
        .call(&[
            ("Action", "ResetCacheParameterGroup"),
            ("CacheParameterGroupName", "my-params"),
            (
                "ParameterNameValues.ParameterNameValue.1.ParameterName",
                "timeout",
            ),
        ])
        .await;
    assert_eq!(
        reset
            .result("ResetCacheParameterGroup")
            .text("CacheParameterGroupName"),
        Some("my-params")
    );
    assert_eq!(
        listed(&h, "my-params", "user").await,
        [(
            "maxmemory-policy".to_string(),
            Some("allkeys-lru".to_string())
        )]
    );
    h.call(&[
        ("Action", "ResetCacheParameterGroup"),
        ("CacheParameterGroupName", "my-params"),
        ("ResetAllParameters", "true"),
    ])
    .await
    .result("ResetCacheParameterGroup");
    assert!(listed(&h, "my-params", "user").await.is_empty());
    let neither = h
        .call(&[
            ("Action", "ResetCacheParameterGroup"),
            ("CacheParameterGroupName", "my-params"),
        ])
        .await;
    assert_eq!(neither.error_code(), "InvalidParameterCombination");
}

// Goal: every refusal of ModifyCacheParameterGroup is AWS's code naming the culprit, and a
// refused request changes nothing (all or nothing). Method: send bad requests, then check the
// group still has only what the one good request set.
#[tokio::test]
async fn modify_refusals() {
    let h = Harness::new();
    create(&h, "p").await.result("CreateCacheParameterGroup");
    modify(&h, "p", &[("timeout", "300")])
        .await
        .result("ModifyCacheParameterGroup");
    let msg = modify(&h, "default.redis7", &[("maxmemory-policy", "allkeys-lru")])
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        "The parameter group default.redis7 is a default group and cannot be modified."
    );
    let msg = modify(&h, "ghost", &[("timeout", "0")])
        .await
        .error("CacheParameterGroupNotFound", 404);
    assert_eq!(msg, "CacheParameterGroup not found: ghost");
    let msg = modify(&h, "p", &[("activedefrag", "yes"), ("timeout", "5")])
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(
        msg,
        "Invalid value 5 for parameter timeout. Allowed values: 0,20-"
    );
    let msg = modify(&h, "p", &[("no-such-thing", "1")])
        .await
        .error("InvalidParameterValue", 400);
    assert!(msg.contains("no-such-thing"), "{msg}");
    let msg = modify(&h, "p", &[("maxmemory", "1")])
        .await
        .error("InvalidParameterValue", 400);
    assert_eq!(msg, "The parameter maxmemory cannot be modified.");
    let many: Vec<(&str, &str)> = (0..21).map(|_| ("timeout", "0")).collect();
    let msg = modify(&h, "p", &many)
        .await
        .error("InvalidParameterCombination", 400);
    assert_eq!(
        msg,
        "Cannot modify more than 20 parameters in a single request"
    );
    let none = h
        .call(&[
            ("Action", "ModifyCacheParameterGroup"),
            ("CacheParameterGroupName", "p"),
        ])
        .await;
    assert_eq!(none.error_code(), "MissingParameter");
    assert_eq!(
        listed(&h, "p", "user").await,
        [("timeout".to_string(), Some("300".to_string()))]
    );
}

// Goal: groups are usable by CreateReplicationGroup / CreateCacheCluster, unknown ones are
// AWS's CacheParameterGroupNotFound, a cluster-mode group is refused, and a group in use
// cannot be deleted (AWS's InvalidCacheParameterGroupState) until its users are gone; a delete
// answers no result element. Method: create, reference, delete in each state.
#[tokio::test]
async fn groups_in_use_and_delete() {
    let h = Harness::new();
    let missing = h.call(RG_WITH_GROUP).await;
    assert_eq!(
        missing.error("CacheParameterGroupNotFound", 404),
        "CacheParameterGroup not found: my-params"
    );
    create(&h, "my-params")
        .await
        .result("CreateCacheParameterGroup");
    let rg = h.call(RG_WITH_GROUP).await;
    let group = rg.result("CreateReplicationGroup");
    assert_eq!(group.text("ReplicationGroup/Status"), Some("creating"));
    let busy = h
        .call(&[
            ("Action", "DeleteCacheParameterGroup"),
            ("CacheParameterGroupName", "my-params"),
        ])
        .await;
    assert_eq!(
        busy.error("InvalidCacheParameterGroupState", 400),
        "One or more cache clusters are still members of this parameter group my-params, so the group cannot be deleted."
    );
    let msg = modify(&h, "my-params", &[("cluster-enabled", "yes")])
        .await
        .error("InvalidCacheParameterGroupState", 400);
    assert!(msg.contains("cluster-enabled"), "{msg}");

    create(&h, "sharded")
        .await
        .result("CreateCacheParameterGroup");
    modify(&h, "sharded", &[("cluster-enabled", "yes")])
        .await
        .result("ModifyCacheParameterGroup");
    let solo = h
        .call(&[
            ("Action", "CreateCacheCluster"),
            ("CacheClusterId", "solo"),
            ("CacheNodeType", "cache.t3.micro"),
            ("CacheParameterGroupName", "sharded"),
        ])
        .await;
    assert_eq!(
        solo.error("InvalidParameterCombination", 400),
        "Cluster mode should be disabled in parameter group, but found it is enabled."
    );

    let gone = h
        .call(&[
            ("Action", "DeleteCacheParameterGroup"),
            ("CacheParameterGroupName", "ghost"),
        ])
        .await;
    assert_eq!(
        gone.error("CacheParameterGroupNotFound", 404),
        "CacheParameterGroupnot found: ghost"
    );
    let default = h
        .call(&[
            ("Action", "DeleteCacheParameterGroup"),
            ("CacheParameterGroupName", "default.redis7"),
        ])
        .await;
    assert_eq!(default.error_code(), "InvalidParameterValue");
    let deleted = h
        .call(&[
            ("Action", "DeleteCacheParameterGroup"),
            ("CacheParameterGroupName", "sharded"),
        ])
        .await;
    assert_eq!(deleted.status.as_u16(), 200, "{}", deleted.body);
    assert_eq!(deleted.doc.name, "DeleteCacheParameterGroupResponse");
    assert_eq!(deleted.doc.child_names(), ["ResponseMetadata"]);
}

// Goal: DescribeEngineDefaultParameters answers EngineDefaults for redis7 (model order:
// family, parameters, node-type-specific parameters; engine-default IsModifiable) and refuses
// other families. Method: describe redis7 and redis6.x.
#[tokio::test]
async fn engine_defaults() {
    let h = Harness::new();
    let reply = h
        .call(&[
            ("Action", "DescribeEngineDefaultParameters"),
            ("CacheParameterGroupFamily", "redis7"),
        ])
        .await;
    let defaults = reply
        .result("DescribeEngineDefaultParameters")
        .get("EngineDefaults")
        .unwrap();
    assert_eq!(
        defaults.child_names(),
        [
            "CacheParameterGroupFamily",
            "Parameters",
            "CacheNodeTypeSpecificParameters"
        ]
    );
    assert_eq!(defaults.text("CacheParameterGroupFamily"), Some("redis7"));
    assert_eq!(defaults.all("Parameters/Parameter").len(), 64);
    let other = h
        .call(&[
            ("Action", "DescribeEngineDefaultParameters"),
            ("CacheParameterGroupFamily", "redis6.x"),
        ])
        .await;
    assert_eq!(other.error_code(), "InvalidParameterValue");
}

// Goal: parameter groups carry tags through the ARN like other resources; default groups carry
// none and refuse them. Method: add, list, add to a default group.
#[tokio::test]
async fn tags_on_parameter_groups() {
    let h = Harness::new();
    create(&h, "tagged")
        .await
        .result("CreateCacheParameterGroup");
    let arn = "arn:aws:elasticache:us-east-1:123456789012:parametergroup:tagged";
    h.call(&[
        ("Action", "AddTagsToResource"),
        ("ResourceName", arn),
        ("Tags.Tag.1.Key", "team"),
        ("Tags.Tag.1.Value", "cache"),
    ])
    .await
    .result("AddTagsToResource");
    let list = h
        .call(&[("Action", "ListTagsForResource"), ("ResourceName", arn)])
        .await;
    assert_eq!(
        list.result("ListTagsForResource").text("TagList/Tag/Key"),
        Some("team")
    );
    let default = h
        .call(&[
            ("Action", "AddTagsToResource"),
            (
                "ResourceName",
                "arn:aws:elasticache:us-east-1:123456789012:parametergroup:default.redis7",
            ),
            ("Tags.Tag.1.Key", "team"),
        ])
        .await;
    assert_eq!(default.error_code(), "InvalidParameterValue");
}

/// Writes `f`'s change into every node's observed facts (plays the parameter reconciler).
fn observe(h: &Harness, f: impl Fn(&mut NodeObserved)) {
    update(
        h.store.as_ref(),
        |w: &mut dyn Writer| -> Result<(), StoreError> {
            for (key, mut o) in w.docs::<NodeObserved>("")? {
                f(&mut o);
                w.put_doc(&key, &o)?;
            }
            Ok(())
        },
    )
    .expect("observe");
}

/// `(ParameterApplyStatus, CacheNodeIdsToReboot, ParameterGroupStatus)` of `tuned-001`.
async fn apply_status(h: &Harness) -> (String, Vec<String>, String) {
    let reply = h
        .call(&[
            ("Action", "DescribeCacheClusters"),
            ("CacheClusterId", "tuned-001"),
            ("ShowCacheNodeInfo", "true"),
        ])
        .await;
    let c = reply
        .result("DescribeCacheClusters")
        .get("CacheClusters/CacheCluster")
        .unwrap()
        .clone();
    (
        c.text("CacheParameterGroup/ParameterApplyStatus")
            .unwrap()
            .to_string(),
        c.all("CacheParameterGroup/CacheNodeIdsToReboot/CacheNodeId")
            .iter()
            .map(|e| e.text.clone())
            .collect(),
        c.text("CacheNodes/CacheNode/ParameterGroupStatus")
            .unwrap()
            .to_string(),
    )
}

// Goal: ParameterApplyStatus follows the parameter reconciler: in-sync when the node runs its
// group's generation, applying while a change is not carried out, pending-reboot (with the
// node in CacheNodeIdsToReboot) while a requires-reboot value waits for a restart. Method:
// settle a group using a custom group, modify it, and write the observed facts the reconciler
// would write at each step.
#[tokio::test]
async fn parameter_apply_status() {
    let h = Harness::new();
    create(&h, "my-params")
        .await
        .result("CreateCacheParameterGroup");
    h.call(RG_WITH_GROUP).await.result("CreateReplicationGroup");
    h.settle();
    assert_eq!(
        apply_status(&h).await,
        ("in-sync".into(), vec![], "in-sync".into())
    );
    modify(&h, "my-params", &[("databases", "32"), ("timeout", "300")])
        .await
        .result("ModifyCacheParameterGroup");
    assert_eq!(apply_status(&h).await.0, "applying");
    // Applied live: the immediate value runs, the requires-reboot one does not yet.
    observe(&h, |o| {
        let p = o.parameters.as_mut().unwrap();
        p.generation += 1;
        p.values.insert("timeout".into(), "300".into());
    });
    assert_eq!(
        apply_status(&h).await,
        (
            "pending-reboot".into(),
            vec!["0001".to_string()],
            "pending-reboot".into()
        )
    );
    // Rebooted: the process started with every value.
    observe(&h, |o| {
        let p = o.parameters.as_mut().unwrap();
        p.values.insert("databases".into(), "32".into());
    });
    assert_eq!(apply_status(&h).await.0, "in-sync");
}
