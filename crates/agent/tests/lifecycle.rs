//! The agent against real `redis-server` 7.0 processes (/usr/bin/redis-server) on loopback
//! ports picked by the OS, in temporary directories. Each test's `Harness` SIGKILLs every
//! process the test started when it ends, pass or fail.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{data_connection, get, set, wait_for, Harness};
use ferrocache_agent::{Agent, AgentError, Probe, Signal};
use ferrocache_engine::{NodeClient, Role};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn start_then_adopt_keeps_the_same_process() {
    // Goal: a second ensure_running, and one from a brand-new Agent (as after a Ferrocache
    // restart), adopts the running node instead of starting another, and the node leads a
    // process group of its own so a terminal's Ctrl-C (sent to Ferrocache's group) cannot
    // reach it.
    // Method: start a node, call ensure_running again on the same and on a fresh Agent, and
    // compare PIDs; check the process group and the files the node keeps.
    let h = Harness::new();
    let cfg = h.config("n1");

    let first = h.ensure_running(&cfg).await;
    assert!(!first.adopted);
    assert_eq!(h.agent.pid("n1"), Some(first.pid));

    let second = h.ensure_running(&cfg).await;
    assert!(second.adopted);
    assert_eq!(second.pid, first.pid);

    let restarted = Agent::new(
        h.agent.nodes_dir().to_path_buf(),
        common::REDIS_SERVER.into(),
    );
    let third = restarted.ensure_running(&cfg).await.unwrap();
    assert!(third.adopted);
    assert_eq!(third.pid, first.pid);

    // SAFETY: getpgid and getpgrp only read process group ids.
    let (group, ours) = unsafe { (libc::getpgid(first.pid as libc::pid_t), libc::getpgrp()) };
    assert_eq!(
        group, first.pid as libc::pid_t,
        "node must lead its own process group"
    );
    assert_ne!(group, ours, "node must not be in the test's process group");

    assert!(cfg.config_path().exists());
    assert!(cfg.pid_path().exists());
    assert!(cfg.log_path().exists());
    match h.agent.probe(&cfg.address(), PROBE_TIMEOUT).await {
        Probe::Up(info) => {
            assert_eq!(info.process_id, first.pid);
            assert_eq!(info.role, Role::Master);
            assert_eq!(std::path::Path::new(&info.config_file), cfg.config_path());
        }
        other => panic!("expected Up, got {other:?}"),
    }
}

#[tokio::test]
async fn concurrent_calls_for_one_node_start_one_process() {
    // Goal: ensure_running is safe to call concurrently for the same node.
    // Method: run two calls at once; exactly one starts, the other adopts the same PID.
    let h = Harness::new();
    let cfg = h.config("n1");
    let (a, b) = tokio::join!(h.agent.ensure_running(&cfg), h.agent.ensure_running(&cfg));
    let (a, b) = (a.unwrap(), b.unwrap());
    h.track(a.pid);
    h.track(b.pid);
    assert_eq!(a.pid, b.pid);
    assert_ne!(a.adopted, b.adopted);
}

#[tokio::test]
async fn primary_and_replicas_sync() {
    // Goal: a primary with two replicas, one wired by REPLICAOF at run time and one started
    // with replicaof in its config, reaches master_link_status:up and replicates writes.
    // Method: start three nodes, wire them, poll probes until both links are up, write on the
    // primary and read the key back from each replica.
    let h = Harness::new();
    let primary = h.config("primary");
    h.ensure_running(&primary).await;
    let primary_addr = SocketAddr::new(primary.bind, primary.port);

    let wired = h.config("wired");
    h.ensure_running(&wired).await;
    let client = NodeClient::connect(&wired.address(), PROBE_TIMEOUT)
        .await
        .unwrap();
    client.replicaof(primary_addr).await.unwrap();

    let mut configured = h.config("configured");
    configured.replica_of = Some(primary_addr);
    h.ensure_running(&configured).await;

    for replica in [&wired, &configured] {
        wait_for("the replica link to come up", || async {
            matches!(
                h.agent.probe(&replica.address(), PROBE_TIMEOUT).await,
                Probe::Up(info) if info.master_link_status_up == Some(true)
            )
        })
        .await;
        let Probe::Up(info) = h.agent.probe(&replica.address(), PROBE_TIMEOUT).await else {
            panic!("replica went down");
        };
        assert_eq!(info.role, Role::Replica);
        assert_eq!(info.master_port, Some(primary.port));
    }
    let Probe::Up(info) = h.agent.probe(&primary.address(), PROBE_TIMEOUT).await else {
        panic!("primary down");
    };
    assert_eq!(info.connected_slaves, 2);

    let mut conn = data_connection(&primary).await;
    set(&mut conn, "greeting", "hello").await;
    for replica in [&wired, &configured] {
        let conn = data_connection(replica).await;
        wait_for("the write to reach the replica", || {
            let mut conn = conn.clone();
            async move { get(&mut conn, "greeting").await.as_deref() == Some("hello") }
        })
        .await;
    }
}

#[tokio::test]
async fn stop_with_save_then_start_brings_the_data_back() {
    // Goal: stop(save) writes the RDB and ends the process, with evidence of the clean stop
    // beside the RDB; the next ensure_running starts a new process that loads it and withdraws
    // the evidence; a stop without save leaves none. Stop and remove are idempotent, and remove
    // deletes the node. Method: write keys, stop with save, check the process and pidfile are
    // gone, the RDB there and vouched for, start again and read the keys; then stop twice and
    // remove twice.
    let h = Harness::new();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    let mut conn = data_connection(&cfg).await;
    for i in 0..100 {
        set(&mut conn, &format!("key:{i}"), &format!("value {i}")).await;
    }

    h.agent.stop("n1", &cfg.address(), true).await.unwrap();
    assert_eq!(h.agent.pid("n1"), None);
    assert!(!cfg.pid_path().exists());
    assert!(cfg.rdb_path().exists());
    assert!(h.agent.stopped_cleanly("n1"));
    assert!(matches!(
        h.agent.probe(&cfg.address(), PROBE_TIMEOUT).await,
        Probe::Down(_)
    ));

    let second = h.ensure_running(&cfg).await;
    assert!(
        !h.agent.stopped_cleanly("n1"),
        "a running node's data file vouches for nothing"
    );
    assert!(!second.adopted);
    assert_ne!(second.pid, first.pid);
    let mut conn = data_connection(&cfg).await;
    assert_eq!(get(&mut conn, "key:42").await.as_deref(), Some("value 42"));
    let client = NodeClient::connect(&cfg.address(), PROBE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(client.dbsize().await.unwrap(), 100);

    h.agent.stop("n1", &cfg.address(), false).await.unwrap();
    assert!(
        !h.agent.stopped_cleanly("n1"),
        "a stop without save proves nothing"
    );
    h.agent.stop("n1", &cfg.address(), false).await.unwrap();
    h.agent.remove("n1", &cfg.address()).await.unwrap();
    assert!(!cfg.dir.exists());
    h.agent.remove("n1", &cfg.address()).await.unwrap();
}

#[tokio::test]
async fn sigkill_then_ensure_running_restarts() {
    // Goal: after a node is SIGKILLed (crash, OOM kill), ensure_running starts a new process
    // rather than trusting the stale pidfile.
    // Method: start, SIGKILL through the agent, wait until pid() reports nothing, then
    // ensure_running and probe.
    let h = Harness::new();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    let killed = h.crash("n1").await;
    assert_eq!(killed, first.pid);
    // Redis had no chance to remove its pidfile.
    assert!(cfg.pid_path().exists());

    let second = h.ensure_running(&cfg).await;
    assert!(!second.adopted);
    assert_ne!(second.pid, first.pid);
    assert!(matches!(
        h.agent.probe(&cfg.address(), PROBE_TIMEOUT).await,
        Probe::Up(info) if info.process_id == second.pid
    ));
}

#[tokio::test]
async fn hung_node_is_reported_then_stopped_by_signal() {
    // Goal: a node that runs but does not answer is neither adopted nor silently replaced;
    // stop() ends it by signal even though SHUTDOWN cannot be delivered.
    // Method: SIGSTOP the node, expect ensure_running to fail with Unresponsive, stop it
    // (SHUTDOWN times out, then SIGTERM + SIGCONT), and start it again.
    let h = Harness::new();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    h.agent.kill("n1", Signal::Stop).unwrap();

    let err = h.agent.ensure_running(&cfg).await.unwrap_err();
    assert!(
        matches!(err, AgentError::Unresponsive { pid, .. } if pid == first.pid),
        "{err}"
    );

    h.agent.stop("n1", &cfg.address(), false).await.unwrap();
    assert_eq!(h.agent.pid("n1"), None);
    let second = h.ensure_running(&cfg).await;
    assert!(!second.adopted);
}

#[tokio::test]
async fn stale_pidfile_naming_another_process_is_ignored() {
    // Goal: a pidfile whose PID now belongs to an unrelated live process (PID reuse) neither
    // gets that process adopted nor signalled.
    // Method: write the test process's own PID into the node's pidfile, then ensure_running.
    let h = Harness::new();
    let cfg = h.config("n1");
    std::fs::create_dir_all(&cfg.dir).unwrap();
    std::fs::write(cfg.pid_path(), format!("{}\n", std::process::id())).unwrap();

    let started = h.ensure_running(&cfg).await;
    assert!(!started.adopted);
    assert_ne!(started.pid, std::process::id());
}

#[tokio::test]
async fn node_on_a_unix_socket() {
    // Goal: nodes with a Unix socket are started, probed and adopted through it.
    // Method: configure a socket in the node directory and run the usual calls.
    let h = Harness::new();
    let mut cfg = h.config("n1");
    cfg.unix_socket = Some(cfg.dir.join("redis.sock"));
    let first = h.ensure_running(&cfg).await;
    assert!(cfg.dir.join("redis.sock").exists());
    assert!(matches!(
        h.agent.probe(&cfg.address(), PROBE_TIMEOUT).await,
        Probe::Up(info) if info.process_id == first.pid
    ));
    assert!(h.ensure_running(&cfg).await.adopted);
    h.agent.stop("n1", &cfg.address(), true).await.unwrap();
    assert_eq!(h.agent.pid("n1"), None);
}

#[tokio::test]
async fn failed_start_quotes_redis_log() {
    // Goal: when redis-server refuses to start, the error says why in Redis's own words.
    // Method: pass an invalid maxmemory-policy and look for Redis's config error in the error.
    let h = Harness::new();
    let mut cfg = h.config("n1");
    cfg.maxmemory_policy = "bogus-policy".to_string();
    let err = h.agent.ensure_running(&cfg).await.unwrap_err();
    let AgentError::ExitedDuringStart { log_tail, .. } = &err else {
        panic!("expected ExitedDuringStart, got {err}");
    };
    println!("{err}");
    assert!(log_tail.contains("FATAL CONFIG FILE ERROR"), "{err}");
    assert!(log_tail.contains("bogus-policy"), "{err}");
}

#[tokio::test]
async fn refuses_configs_outside_its_directory() {
    // Goal: the agent only runs nodes in <nodes_dir>/<node_id>, and only with safe ids.
    // Method: a config pointing elsewhere, and an id with a path separator.
    let h = Harness::new();
    let mut cfg = h.config("n1");
    cfg.dir = std::env::temp_dir().join("elsewhere");
    assert!(matches!(
        h.agent.ensure_running(&cfg).await,
        Err(AgentError::DirMismatch { .. })
    ));
    let mut cfg = h.config("n1");
    cfg.node_id = "../n1".to_string();
    assert!(matches!(
        h.agent.ensure_running(&cfg).await,
        Err(AgentError::InvalidConfig { .. })
    ));
    assert_eq!(h.agent.pid("../n1"), None);
    assert!(matches!(
        h.agent.kill("n1", Signal::Kill),
        Err(AgentError::NotRunning { .. })
    ));
}
