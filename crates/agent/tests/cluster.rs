//! Cluster mode against real `redis-server` 7.0 processes (/usr/bin/redis-server) on loopback
//! ports picked by the OS, in temporary directories: the agent's `cluster_*` calls build a
//! three-shard cluster with one replica and fail a shard over. Each test's `Harness` SIGKILLs
//! every process the test started when it ends, pass or fail.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{data_connection, get, set, wait_for, Harness};
use ferrocache_agent::slots::SlotOwner;
use ferrocache_agent::Probe;
use ferrocache_engine::{
    AdminIdentity, ClusterConfig, ClusterFailoverMode, ClusterNode, NodeConfig, SlotState,
};

/// Bound on connecting and on each admin call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on waiting for a node to learn of another through `CLUSTER MEET` and gossip;
/// generous for slow machines, never a performance threshold.
const MEET_WAIT_MAX: Duration = Duration::from_secs(10);
/// Pause between two looks at a node's cluster view while waiting.
const CLUSTER_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The three shards' slot ranges, as the control plane splits 16384 slots three ways.
const SHARD_SLOTS: [(u16, u16); 3] = [(0, 5461), (5462, 10922), (10923, 16383)];

/// A config for `node_id` in cluster mode, announcing its own bind address and port. The bus
/// port is a second port from the OS rather than Redis's usual `port + 10000`, because the
/// OS hands out ports up to 60999 and `port + 10000` may not fit in a port number.
fn cluster_config(h: &Harness, node_id: &str) -> NodeConfig {
    let mut cfg = h.config(node_id);
    let bus_port = common::free_port();
    cfg.cluster = Some(ClusterConfig {
        announce_ip: cfg.bind,
        announce_port: cfg.port,
        bus_port,
        announce_bus_port: bus_port,
    });
    cfg
}

/// Polls `check` every [`CLUSTER_POLL_INTERVAL`] until it returns true, failing the test
/// after `max`.
async fn wait_at_most<F, Fut>(what: &str, max: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + max;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(CLUSTER_POLL_INTERVAL).await;
    }
}

/// The node's view of the cluster; an error (a node briefly busy) reads as an empty view, so
/// waits simply look again.
async fn view(h: &Harness, cfg: &NodeConfig) -> Vec<ClusterNode> {
    h.agent
        .cluster_nodes(&cfg.address(), CALL_TIMEOUT)
        .await
        .unwrap_or_default()
}

/// A key whose hash slot lies in `range`, found by asking the node (`CLUSTER KEYSLOT`).
async fn key_in_slots(cfg: &NodeConfig, range: (u16, u16)) -> String {
    let mut conn = data_connection(cfg).await;
    for n in 0.. {
        let key = format!("key-{n}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if (range.0..=range.1).contains(&slot) {
            return key;
        }
    }
    unreachable!("the loop only ends by returning")
}

#[tokio::test]
async fn three_shards_with_a_replica_then_takeover() {
    // Goal: the agent's cluster calls build a working cluster from four fresh nodes: three
    // primaries owning every slot and a replica of the first, which replicates over the
    // announced address; then CLUSTER FAILOVER TAKEOVER makes the replica the owner of the
    // first shard's slots, with the data, and the old primary follows it.
    // Method: start four cluster-mode nodes (with the control identity), MEET them all from node 1, assign the three slot
    // ranges, wait (bounded) until node 4 knows node 1 and make it replicate node 1, wait for
    // `cluster_state:ok` everywhere and for the replication link, write a key of shard 1 on
    // node 1; check node 4's view; take over on node 4 and wait (bounded) until it owns the
    // slots and serves the key, and node 1 has become its replica.
    // As in production: the agent runs every node with the control plane's identity, so the
    // CLUSTER subcommands go through its internal user and replicas log in as it.
    let h = Harness::with_agent(|agent| agent.with_identity(AdminIdentity::generate()));
    let cfgs: Vec<NodeConfig> = (1..=4)
        .map(|n| cluster_config(&h, &format!("n{n}")))
        .collect();
    for cfg in &cfgs {
        h.ensure_running(cfg).await;
        assert!(cfg.cluster_config_path().exists(), "Redis keeps nodes.conf");
    }
    let mut ids = Vec::new();
    for cfg in &cfgs {
        let id = h
            .agent
            .cluster_myid(&cfg.address(), CALL_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(id.len(), ferrocache_engine::CLUSTER_NODE_ID_LEN);
        ids.push(id);
    }
    let [n1, _, _, n4] = &cfgs[..] else {
        unreachable!("four configs")
    };

    // A fresh node is alone, owns nothing, and says so.
    let fresh = h
        .agent
        .cluster_info(&n1.address(), CALL_TIMEOUT)
        .await
        .unwrap();
    assert!(!fresh.state_ok);
    assert_eq!((fresh.known_nodes, fresh.slots_assigned), (1, 0));

    for other in &cfgs[1..] {
        let cluster = other.cluster.as_ref().unwrap();
        h.agent
            .cluster_meet(
                &n1.address(),
                cluster.announce_ip,
                cluster.announce_port,
                cluster.announce_bus_port,
                CALL_TIMEOUT,
            )
            .await
            .unwrap();
    }
    for (cfg, range) in cfgs.iter().zip(SHARD_SLOTS) {
        h.agent
            .cluster_add_slots_range(&cfg.address(), &[range], CALL_TIMEOUT)
            .await
            .unwrap();
    }

    // Node 4 learns of node 1 through the handshake node 1 started; until then REPLICATE
    // refuses the unknown id.
    wait_at_most("node 4 to know node 1", MEET_WAIT_MAX, || async {
        view(&h, n4)
            .await
            .iter()
            .any(|node| node.id == ids[0] && !node.handshake)
    })
    .await;
    h.agent
        .cluster_replicate(&n4.address(), &ids[0], CALL_TIMEOUT)
        .await
        .unwrap();

    for cfg in &cfgs {
        wait_for("cluster_state:ok on every node", || async {
            h.agent
                .cluster_info(&cfg.address(), CALL_TIMEOUT)
                .await
                .is_ok_and(|info| info.state_ok)
        })
        .await;
    }
    let info = h
        .agent
        .cluster_info(&n4.address(), CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!((info.slots_assigned, info.slots_ok), (16384, 16384));
    assert_eq!((info.known_nodes, info.size), (4, 3));

    // Node 4's view: node 1 is the primary of the first shard, node 4 its replica.
    let seen = view(&h, n4).await;
    assert_eq!(seen.len(), 4);
    let primary = seen.iter().find(|node| node.id == ids[0]).unwrap();
    assert!(primary.primary && !primary.replica && !primary.myself);
    assert_eq!(primary.slots, [SHARD_SLOTS[0]]);
    assert_eq!(primary.ip, Some(n1.bind));
    assert_eq!(primary.port, n1.port);
    let me = seen.iter().find(|node| node.myself).unwrap();
    assert_eq!(me.id, ids[3]);
    assert!(me.replica && !me.primary);
    assert_eq!(me.primary_id.as_deref(), Some(ids[0].as_str()));
    assert!(me.slots.is_empty());
    for (id, range) in ids[1..3].iter().zip(&SHARD_SLOTS[1..]) {
        let node = seen.iter().find(|node| &node.id == id).unwrap();
        assert!(node.primary);
        assert_eq!(node.slots, [*range]);
    }

    // The replica follows node 1 at its announced address and receives its writes.
    wait_for("node 4's replication link", || async {
        matches!(
            h.agent.probe(&n4.address(), CALL_TIMEOUT).await,
            Probe::Up(info) if info.master_link_status_up == Some(true)
                && info.master_port == Some(n1.port)
        )
    })
    .await;
    let key = key_in_slots(n1, SHARD_SLOTS[0]).await;
    set(&mut data_connection(n1).await, &key, "before-takeover").await;
    wait_for("the write to reach node 4", || async {
        matches!(
            h.agent.probe(&n4.address(), CALL_TIMEOUT).await,
            Probe::Up(info) if info.keys_total == 1
        )
    })
    .await;

    h.agent
        .cluster_failover(&n4.address(), ClusterFailoverMode::Takeover, CALL_TIMEOUT)
        .await
        .unwrap();
    wait_for("node 4 to own the first shard's slots", || async {
        view(&h, n4)
            .await
            .iter()
            .any(|node| node.myself && node.primary && node.slots == [SHARD_SLOTS[0]])
    })
    .await;
    // The old primary, still running, sees a newer claim on all its slots and follows it.
    wait_for("node 1 to become node 4's replica", || async {
        view(&h, n1).await.iter().any(|node| {
            node.myself && node.replica && node.primary_id.as_deref() == Some(ids[3].as_str())
        })
    })
    .await;
    let mut conn = data_connection(n4).await;
    assert_eq!(
        get(&mut conn, &key).await.as_deref(),
        Some("before-takeover")
    );
    set(&mut conn, &key, "after-takeover").await;
}

#[tokio::test]
async fn a_slot_moves_with_its_keys() {
    // Goal: the agent's slot-moving calls move one slot and its keys between two primaries as
    // online resharding does: IMPORTING on the target, MIGRATING on the source, keys moved in
    // batches with MIGRATE (under the control plane's secret name, logging in to the target as
    // its internal user), then NODE on both; afterwards the target holds every key, the source
    // none, and both see the target as the slot's owner. A MIGRATE of keys already moved is
    // harmless (a crash between two batches repeats one).
    // Method: two cluster-mode nodes with the control identity, slots split in halves, 120
    // keys hash-tagged into one slot of the first, the steps above, counts and views checked.
    let h = Harness::with_agent(|agent| agent.with_identity(AdminIdentity::generate()));
    let cfgs: Vec<NodeConfig> = (1..=2)
        .map(|n| cluster_config(&h, &format!("m{n}")))
        .collect();
    for cfg in &cfgs {
        h.ensure_running(cfg).await;
    }
    let [source, target] = &cfgs[..] else {
        unreachable!("two configs")
    };
    let mut ids = Vec::new();
    for cfg in &cfgs {
        ids.push(
            h.agent
                .cluster_myid(&cfg.address(), CALL_TIMEOUT)
                .await
                .unwrap(),
        );
    }
    let t = target.cluster.as_ref().unwrap();
    h.agent
        .cluster_meet(
            &source.address(),
            t.announce_ip,
            t.announce_port,
            t.announce_bus_port,
            CALL_TIMEOUT,
        )
        .await
        .unwrap();
    for (cfg, range) in cfgs.iter().zip([(0, 8191), (8192, 16383)]) {
        h.agent
            .cluster_add_slots_range(&cfg.address(), &[range], CALL_TIMEOUT)
            .await
            .unwrap();
    }
    wait_at_most("both nodes to know each other", MEET_WAIT_MAX, || async {
        let mut known = true;
        for cfg in &cfgs {
            known &= view(&h, cfg).await.iter().filter(|n| !n.handshake).count() == 2;
        }
        known
    })
    .await;
    for cfg in &cfgs {
        wait_for("cluster_state:ok on both nodes", || async {
            h.agent
                .cluster_info(&cfg.address(), CALL_TIMEOUT)
                .await
                .is_ok_and(|info| info.state_ok)
        })
        .await;
    }

    let tag = key_in_slots(source, (0, 8191)).await;
    let mut conn = data_connection(source).await;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&tag)
        .query_async(&mut conn)
        .await
        .unwrap();
    for i in 0..120 {
        set(&mut conn, &format!("{{{tag}}}:{i}"), &i.to_string()).await;
    }

    let agent = &h.agent;
    agent
        .cluster_setslot(
            &target.address(),
            slot,
            SlotState::Importing(&ids[0]),
            CALL_TIMEOUT,
        )
        .await
        .unwrap();
    agent
        .cluster_setslot(
            &source.address(),
            slot,
            SlotState::Migrating(&ids[1]),
            CALL_TIMEOUT,
        )
        .await
        .unwrap();
    let to = std::net::SocketAddr::new(target.bind, target.port);
    loop {
        let keys = agent
            .cluster_keys_in_slot(&source.address(), slot, 50, CALL_TIMEOUT)
            .await
            .unwrap();
        if keys.is_empty() {
            break;
        }
        agent
            .migrate_keys(&source.address(), to, &keys, CALL_TIMEOUT)
            .await
            .unwrap();
        // The same batch again: every key is gone from the source, so nothing happens.
        agent
            .migrate_keys(&source.address(), to, &keys, CALL_TIMEOUT)
            .await
            .unwrap();
    }
    for cfg in [target, source] {
        agent
            .cluster_setslot(&cfg.address(), slot, SlotState::Node(&ids[1]), CALL_TIMEOUT)
            .await
            .unwrap();
    }
    let count = |cfg: &NodeConfig| {
        let addr = cfg.address();
        let agent = &h.agent;
        async move {
            agent
                .cluster_count_keys_in_slot(&addr, slot, CALL_TIMEOUT)
                .await
                .unwrap()
        }
    };
    assert_eq!((count(source).await, count(target).await), (0, 120));
    for cfg in &cfgs {
        let owner = view(&h, cfg)
            .await
            .into_iter()
            .find(|n| n.slots.iter().any(|&(s, e)| s <= slot && slot <= e))
            .map(|n| n.id);
        assert_eq!(owner.as_deref(), Some(ids[1].as_str()));
    }
    let mut on_target = data_connection(target).await;
    assert_eq!(
        get(&mut on_target, &format!("{{{tag}}}:7"))
            .await
            .as_deref(),
        Some("7")
    );

    // And back with `move_slots`, which does all of the above for a list of slots; a second
    // call for the slot already moved only settles its owner again.
    let owner = |cfg: &NodeConfig, id: &str| SlotOwner {
        admin: cfg.address(),
        node_id: id.to_string(),
        data: std::net::SocketAddr::new(cfg.bind, cfg.port),
    };
    let (back_from, back_to) = (owner(target, &ids[1]), owner(source, &ids[0]));
    let deadline = Instant::now() + MEET_WAIT_MAX;
    for _ in 0..2 {
        let moved = agent
            .move_slots(&back_from, &back_to, &[], &[slot], deadline, CALL_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(moved, 1);
    }
    assert_eq!((count(source).await, count(target).await), (120, 0));

    // The slot's owner fails before anyone else took over its claim (as when a target dies
    // right after `NODE`, and its replica's takeover did not know the slot yet): the other
    // primary claims it, and once the failed owner is back, its older claim gives way.
    h.crash("m1").await;
    wait_at_most(
        "the survivor to see its peer failed",
        MEET_WAIT_MAX * 3,
        || async {
            view(&h, target)
                .await
                .iter()
                .any(|n| n.id == ids[0] && (n.failed || n.possibly_failed))
        },
    )
    .await;
    let claimant = owner(target, &ids[1]);
    h.agent
        .claim_slots(&claimant, &[slot], CALL_TIMEOUT)
        .await
        .unwrap();
    h.ensure_running(source).await;
    for cfg in &cfgs {
        wait_at_most("every node to see the claim win", MEET_WAIT_MAX, || async {
            view(&h, cfg)
                .await
                .into_iter()
                .find(|n| n.primary && n.slots.iter().any(|&(s, e)| s <= slot && slot <= e))
                .is_some_and(|n| n.id == ids[1])
        })
        .await;
    }
}
