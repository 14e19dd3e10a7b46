//! Goal: the control plane alone (no HTTP) turns a `CreateReplicationGroup` into three real
//! redis-server nodes wired as primary + 2 replicas behind a primary and a reader endpoint, and
//! deleting the group removes every process and record.
//! Method: a `Service` and a `Controller` over a temp-dir redb store and a real `Agent`, the
//! route table applied to a real `Router`; the test waits (bounded) for the status the API would
//! report, then talks RESP through the router's endpoints.

use std::sync::Arc;
use std::time::Instant;

use ferrocache_agent::Agent;
use ferrocache_control::reconcile::{ControlConfig, Controller};
use ferrocache_control::{Service, ServiceConfig};
use ferrocache_model::group::CreateGroupRequest;
use ferrocache_router::{Router, RouterLimits};
use ferrocache_store::RedbStore;
use tokio::sync::watch;

mod common;
use common::{wait_for, NodeReaper};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_use_and_delete_a_three_node_group() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let nodes_dir = dir.path().join("nodes");
    std::fs::create_dir_all(&nodes_dir).unwrap();
    let _reaper = NodeReaper(nodes_dir.clone());
    let store: Arc<dyn ferrocache_store::Store> =
        Arc::new(RedbStore::open(&dir.path().join("state.redb")).unwrap());
    let service = Service::new(
        store.clone(),
        ServiceConfig {
            account_id: "123456789012".into(),
            engine_version_running: "7.0.15".into(),
            nodes_dir: None,
        },
    );
    // A CIDR of its own, so parallel test binaries never collide.
    let cidr = format!(
        "127.{}.{}.0/24",
        200 + (std::process::id() % 50),
        std::process::id() % 250
    );
    let controller = Controller::new(
        store.clone(),
        Arc::new(Agent::new(
            nodes_dir.clone(),
            "/usr/bin/redis-server".into(),
        )),
        ControlConfig {
            nodes_dir,
            snapshots_dir: dir.path().join("snapshots"),
            cidr: cidr.parse().unwrap(),
            keys: None,
            host: None,
        },
    );
    let router = Arc::new(Router::new(RouterLimits::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_rx_routes = stop_rx.clone();
    let run = {
        let c = controller.clone();
        tokio::spawn(async move { c.run(stop_rx).await })
    };
    // The data path follows the routes the controller writes into the store.
    let applier = tokio::spawn(ferrocache_control::routes::serve(
        store.clone(),
        router.clone(),
        None,
        None,
        // One host: never fenced.
        tokio::sync::watch::channel(false).1,
        stop_rx_routes,
    ));

    let started = Instant::now();
    let req = CreateGroupRequest {
        replication_group_id: Some("lab".into()),
        description: Some("test".into()),
        num_cache_clusters: Some(3),
        automatic_failover_enabled: Some(true),
        ..Default::default()
    };
    let created = service.create_replication_group("us-east-1", &req).unwrap();
    assert_eq!(created.status.as_str(), "creating");
    wait_for(|| {
        service
            .describe_replication_groups("us-east-1", Some("lab"), None, None)
            .unwrap()
            .items[0]
            .status
            .as_str()
            == "available"
    })
    .await;
    eprintln!("group available after {:?}", started.elapsed());
    let group = service
        .describe_replication_groups("us-east-1", Some("lab"), None, None)
        .unwrap()
        .items
        .remove(0);
    assert_eq!(group.members.len(), 3);
    let primary = group.primary_endpoint().unwrap();
    let reader = group.reader_endpoint().unwrap();

    let client =
        redis::Client::open(format!("redis://{}:{}/", primary.address, primary.port)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("counter")
        .arg(100)
        .query_async(&mut con)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains("role:master"), "{info}");
    assert!(info.contains("connected_slaves:2"), "{info}");

    let rclient =
        redis::Client::open(format!("redis://{}:{}/", reader.address, reader.port)).unwrap();
    let mut rcon = rclient.get_multiplexed_async_connection().await.unwrap();
    let err = redis::cmd("SET")
        .arg("x")
        .arg(1)
        .query_async::<()>(&mut rcon)
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("read only replica"),
        "{err}"
    );

    service
        .delete_replication_group("us-east-1", "lab", false, None)
        .unwrap();
    wait_for(|| {
        service
            .describe_replication_groups("us-east-1", Some("lab"), None, None)
            .is_err()
    })
    .await;
    let page = service
        .describe_cache_clusters("us-east-1", &Default::default())
        .unwrap();
    assert!(page.items.is_empty());

    stop_tx.send(true).unwrap();
    run.await.unwrap();
    controller.stop_nodes().await;
    applier.abort();
    router.shutdown().await;
}
