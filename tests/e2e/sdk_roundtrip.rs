//! The Rust `aws-sdk-elasticache` crate against a real `ferrocache up`.
//!
//! Smithy-generated SDKs (this one, the JS SDK v3, the Go SDK v2 behind Terraform) deserialize
//! awsQuery XML strictly by element name, where botocore forgives a wrong member tag. These
//! tests create a group through the typed client and read every field a Terraform-style client
//! depends on back as typed values, so a wrong element name shows up as a missing field here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_elasticache::types::{AutomaticFailoverStatus, ReplicationGroup};
use aws_sdk_elasticache::Client;
use ferrocache_testkit::{wait_until_async, Ferrocache, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// Upper bound for a group to become `available` or disappear; generous for 2 busy cores.
const GROUP_WAIT: Duration = Duration::from_secs(120);

/// How often the tests poll DescribeReplicationGroups.
const POLL: Duration = Duration::from_millis(100);

/// A typed client pointed at `fc`, over plain HTTP (no TLS stack compiled in).
fn client(fc: &Ferrocache) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_elasticache::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "ferrocache-testkit",
        ))
        .endpoint_url(fc.endpoint_url())
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// Polls DescribeReplicationGroups until `id` reports `available`, and returns it.
async fn wait_available(client: &Client, id: &str) -> ReplicationGroup {
    wait_until_async(GROUP_WAIT, POLL, || async {
        let out = client
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .ok()?;
        let group = out.replication_groups().first()?.clone();
        (group.status() == Some("available")).then_some(group)
    })
    .await
    .unwrap_or_else(|e| panic!("group {id} never became available: {e}"))
}

/// Sends an inline PING to `host:port` and returns the reply line.
fn ping(host: &str, port: i32) -> String {
    let mut stream = TcpStream::connect((host, port as u16))
        .unwrap_or_else(|e| panic!("connect {host}:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

// Goal: a 2-node group created with the typed SDK reads back with every field a strict client
// needs (NodeGroups[0] endpoints, member roles, MemberClusters, CacheNodes with endpoint and
// AZ), and its endpoints answer Redis. Method: CreateReplicationGroup, poll until available,
// then DescribeReplicationGroups and DescribeCacheClusters(ShowCacheNodeInfo) and assert the
// typed values; PING the primary, reader and node endpoints; delete and wait for NotFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_delete_with_typed_fields() {
    let fc = Ferrocache::start().expect("start ferrocache");
    let client = client(&fc);
    let id = "sdk-roundtrip";

    let created = client
        .create_replication_group()
        .replication_group_id(id)
        .replication_group_description("Rust SDK round trip")
        .engine("redis")
        .engine_version("7.0")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("CreateReplicationGroup");
    let created = created
        .replication_group()
        .expect("ReplicationGroup in result");
    assert_eq!(created.replication_group_id(), Some(id));
    assert_eq!(created.status(), Some("creating"));
    assert_eq!(created.description(), Some("Rust SDK round trip"));

    let group = wait_available(&client, id).await;
    assert_eq!(
        group.member_clusters(),
        &[format!("{id}-001"), format!("{id}-002")]
    );
    assert_eq!(
        group.automatic_failover(),
        Some(&AutomaticFailoverStatus::Enabled)
    );
    assert_eq!(group.cache_node_type(), Some("cache.t3.micro"));
    assert_eq!(
        group.arn(),
        Some(format!("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{id}").as_str())
    );
    assert_eq!(group.node_groups().len(), 1);
    let node_group = &group.node_groups()[0];
    assert_eq!(node_group.node_group_id(), Some("0001"));
    assert_eq!(node_group.status(), Some("available"));
    let primary = node_group.primary_endpoint().expect("PrimaryEndpoint");
    let reader = node_group.reader_endpoint().expect("ReaderEndpoint");
    assert_eq!(primary.port(), Some(6379));
    assert_eq!(reader.port(), Some(6379));
    let primary_address = primary.address().expect("PrimaryEndpoint.Address");
    let reader_address = reader.address().expect("ReaderEndpoint.Address");
    assert_ne!(primary_address, reader_address);
    let mut roles: Vec<(String, String)> = node_group
        .node_group_members()
        .iter()
        .map(|m| {
            (
                m.cache_cluster_id().unwrap_or_default().to_string(),
                m.current_role().unwrap_or_default().to_string(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            (format!("{id}-001"), "primary".to_string()),
            (format!("{id}-002"), "replica".to_string()),
        ]
    );
    for member in node_group.node_group_members() {
        assert_eq!(member.cache_node_id(), Some("0001"));
        let read = member
            .read_endpoint()
            .expect("NodeGroupMember.ReadEndpoint");
        assert_eq!(read.port(), Some(6379));
        assert!(member
            .preferred_availability_zone()
            .is_some_and(|az| az.starts_with("us-east-1")));
    }

    let clusters = client
        .describe_cache_clusters()
        .show_cache_node_info(true)
        .send()
        .await
        .expect("DescribeCacheClusters");
    let mut clusters = clusters.cache_clusters().to_vec();
    clusters.sort_by(|a, b| a.cache_cluster_id().cmp(&b.cache_cluster_id()));
    assert_eq!(clusters.len(), 2);
    for (n, cluster) in clusters.iter().enumerate() {
        assert_eq!(
            cluster.cache_cluster_id(),
            Some(format!("{id}-00{}", n + 1).as_str())
        );
        assert_eq!(cluster.cache_cluster_status(), Some("available"));
        assert_eq!(cluster.replication_group_id(), Some(id));
        assert_eq!(cluster.engine(), Some("redis"));
        assert!(cluster
            .engine_version()
            .is_some_and(|v| v.starts_with("7.0")));
        assert_eq!(cluster.num_cache_nodes(), Some(1));
        assert_eq!(cluster.cache_nodes().len(), 1);
        let node = &cluster.cache_nodes()[0];
        assert_eq!(node.cache_node_id(), Some("0001"));
        assert_eq!(node.cache_node_status(), Some("available"));
        assert!(node
            .customer_availability_zone()
            .is_some_and(|az| az.starts_with("us-east-1")));
        let endpoint = node.endpoint().expect("CacheNode.Endpoint");
        assert_eq!(endpoint.port(), Some(6379));
        let address = endpoint.address().expect("CacheNode.Endpoint.Address");
        assert_eq!(ping(address, 6379), "+PONG\r\n", "node endpoint {address}");
    }
    assert_eq!(ping(primary_address, 6379), "+PONG\r\n");
    assert_eq!(ping(reader_address, 6379), "+PONG\r\n");

    let deleted = client
        .delete_replication_group()
        .replication_group_id(id)
        .send()
        .await
        .expect("DeleteReplicationGroup");
    assert_eq!(
        deleted.replication_group().and_then(|g| g.status()),
        Some("deleting")
    );
    wait_until_async(GROUP_WAIT, POLL, || async {
        let err = client
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .err()?;
        err.into_service_error()
            .is_replication_group_not_found_fault()
            .then_some(())
    })
    .await
    .expect("deleted group answers ReplicationGroupNotFoundFault");
}

// Goal: modeled errors reach the caller as the SDK's typed variants, which only happens when
// the wire code and envelope are exact. Method: describe an unknown group and an unknown cache
// cluster, and create a duplicate group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_typed_variants() {
    let fc = Ferrocache::start().expect("start ferrocache");
    let client = client(&fc);

    let err = client
        .describe_replication_groups()
        .replication_group_id("no-such-group")
        .send()
        .await
        .expect_err("unknown group");
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw_status, Some(404));
    let service = err.into_service_error();
    assert!(
        service.is_replication_group_not_found_fault(),
        "{service:?}"
    );

    let err = client
        .describe_cache_clusters()
        .cache_cluster_id("no-such-cluster")
        .send()
        .await
        .expect_err("unknown cluster");
    let service = err.into_service_error();
    assert!(service.is_cache_cluster_not_found_fault(), "{service:?}");

    let create = || {
        client
            .create_replication_group()
            .replication_group_id("dup-group")
            .replication_group_description("dup")
            .num_cache_clusters(1)
            .send()
    };
    create().await.expect("first create");
    let err = create().await.expect_err("duplicate create");
    let service = err.into_service_error();
    assert!(
        service.is_replication_group_already_exists_fault(),
        "{service:?}"
    );
}
