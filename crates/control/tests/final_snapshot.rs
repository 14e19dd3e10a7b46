//! Goal: `DeleteReplicationGroup --final-snapshot-identifier` keeps the nodes until their last
//! data is saved, even across a restart of the control plane in between, then deletes them; the
//! final snapshot is `available` with the keys, and `CopySnapshot` copies it.
//! Method: a `Service` and `Controller`s over one temp-dir redb store and a real `Agent`; write
//! keys through the router, stop the controller and its nodes cleanly, accept the delete while
//! no controller runs, start a new controller and wait (bounded) for the outcome.

use std::sync::Arc;

use ferrocache_agent::Agent;
use ferrocache_control::reconcile::{ControlConfig, Controller};
use ferrocache_control::service::snapshot::CopySnapshotRequest;
use ferrocache_control::{Service, ServiceConfig};
use ferrocache_model::group::CreateGroupRequest;
use ferrocache_router::{Router, RouterLimits};
use ferrocache_store::RedbStore;
use tokio::sync::watch;

mod common;
use common::{wait_for, NodeReaper};

const KEYS: u64 = 50;

struct Plane {
    controller: Controller,
    stop: watch::Sender<bool>,
    run: tokio::task::JoinHandle<()>,
    applier: tokio::task::JoinHandle<()>,
}

fn start(
    store: &Arc<dyn ferrocache_store::Store>,
    dir: &std::path::Path,
    router: &Arc<Router>,
) -> Plane {
    let nodes_dir = dir.join("nodes");
    // A CIDR of its own, so parallel test binaries never collide.
    let cidr = format!(
        "127.{}.{}.0/24",
        150 + (std::process::id() % 50),
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
            snapshots_dir: dir.join("snapshots"),
            cidr: cidr.parse().unwrap(),
            keys: None,
            host: None,
        },
    );
    let (stop, stop_rx) = watch::channel(false);
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
    Plane {
        controller,
        stop,
        run,
        applier,
    }
}

async fn stop(plane: Plane) {
    plane.stop.send(true).unwrap();
    plane.run.await.unwrap();
    plane.controller.stop_nodes().await;
    plane.applier.abort();
}

fn snapshot_status(service: &Service, name: &str) -> Option<String> {
    let q = ferrocache_control::service::snapshot::DescribeSnapshotsQuery {
        snapshot_name: Some(name.into()),
        ..Default::default()
    };
    service
        .describe_snapshots("us-east-1", &q)
        .ok()
        .map(|p| p.items[0].status.as_str().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_snapshot_survives_a_restart_then_the_group_goes() {
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
    let router = Arc::new(Router::new(RouterLimits::default()));
    let plane = start(&store, dir.path(), &router);
    let req = CreateGroupRequest {
        replication_group_id: Some("fin".into()),
        description: Some("test".into()),
        num_cache_clusters: Some(2),
        ..Default::default()
    };
    service.create_replication_group("us-east-1", &req).unwrap();
    let group_status = |service: &Service| {
        service
            .describe_replication_groups("us-east-1", Some("fin"), None, None)
            .ok()
            .map(|p| p.items[0].status.as_str().to_string())
    };
    wait_for(|| group_status(&service).as_deref() == Some("available")).await;
    let group = service
        .describe_replication_groups("us-east-1", Some("fin"), None, None)
        .unwrap()
        .items
        .remove(0);
    let primary = group.primary_endpoint().unwrap();
    let client =
        redis::Client::open(format!("redis://{}:{}/", primary.address, primary.port)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    for i in 0..KEYS {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    // Every write reached the replica the snapshot is taken from.
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut con)
        .await
        .unwrap();
    drop(con);
    // A clean stop: the nodes save and stop; no controller runs while the delete is accepted.
    stop(plane).await;
    let deleting = service
        .delete_replication_group("us-east-1", "fin", false, Some("fin-final"))
        .unwrap();
    assert_eq!(deleting.status.as_str(), "deleting");
    assert_eq!(
        snapshot_status(&service, "fin-final").as_deref(),
        Some("creating")
    );

    let plane = start(&store, dir.path(), &router);
    wait_for(|| group_status(&service).is_none()).await;
    assert_eq!(
        snapshot_status(&service, "fin-final").as_deref(),
        Some("available")
    );
    let page = service
        .describe_cache_clusters("us-east-1", &Default::default())
        .unwrap();
    assert!(page.items.is_empty());
    let q = ferrocache_control::service::snapshot::DescribeSnapshotsQuery {
        snapshot_name: Some("fin-final".into()),
        ..Default::default()
    };
    let snap = service
        .describe_snapshots("us-east-1", &q)
        .unwrap()
        .items
        .remove(0);
    assert_eq!(snap.observed.as_ref().unwrap().key_count, KEYS);

    service
        .copy_snapshot(
            "us-east-1",
            &CopySnapshotRequest {
                source_snapshot_name: "fin-final".into(),
                target_snapshot_name: "fin-copy".into(),
                ..Default::default()
            },
        )
        .unwrap();
    wait_for(|| snapshot_status(&service, "fin-copy").as_deref() == Some("available")).await;
    let manifest = |name: &str| {
        ferrocache_control::reconcile::snapshot::read_manifest(
            &dir.path().join("snapshots").join("us-east-1").join(name),
        )
        .unwrap()
    };
    let (original, copy) = (manifest("fin-final"), manifest("fin-copy"));
    assert_eq!(copy.snapshot_name, "fin-copy");
    assert_eq!(copy.files, original.files);
    assert_eq!(copy.key_count, KEYS);
    stop(plane).await;
    router.shutdown().await;
}
