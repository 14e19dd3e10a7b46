//! Sampling many nodes at once over kept connections (`Agent::sample_infos`,
//! `Agent::slowlog`), against real `redis-server` 7.0 processes on loopback, with the control
//! plane's identity (renamed commands, an internal ACL user) as in production. The `Harness`
//! SIGKILLs every process the test started when it ends, pass or fail.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{data_connection, Harness};
use ferrocache_engine::{AdminIdentity, EngineError, NodeAddress};

/// Bound on each round; generous for slow machines, never a performance threshold.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// `field:value` of an `INFO` text, as a number.
fn info_number(info: &str, field: &str) -> f64 {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn many_nodes_are_sampled_at_once_over_one_kept_connection_each() {
    // Goal: one round asks every node, answers in the callers' order, a node that is not
    // there is an error (not a hang), and later rounds reuse the connections: the nodes
    // count no new connections, and the slow log is read over the same one.
    // Method: three real nodes and an address nobody listens on; five rounds; then the slow
    // log after a command made slow by `slowlog-log-slower-than 0`.
    let h = Harness::with_agent(|agent| agent.with_identity(AdminIdentity::generate()));
    let configs: Vec<_> = (0..3).map(|i| h.config(&format!("node-{i}"))).collect();
    for cfg in &configs {
        h.ensure_running(cfg).await;
    }
    let nobody = NodeAddress::Tcp(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        common::free_port(),
    ));
    let mut addrs: Vec<NodeAddress> = configs.iter().map(|c| c.address()).collect();
    addrs.insert(1, nobody);

    let mut connections_received = Vec::new();
    for _ in 0..5 {
        let answers = h.agent.sample_infos(&addrs, ROUND_TIMEOUT).await;
        assert_eq!(answers.len(), addrs.len());
        assert!(
            matches!(answers[1].0, Err(EngineError::Connect { .. })),
            "{:?}",
            answers[1].0
        );
        let texts: Vec<&String> = [0, 2, 3]
            .iter()
            .map(|&at| answers[at].0.as_ref().expect("a live node answers"))
            .collect();
        for (text, cfg) in texts.iter().zip(&configs) {
            // Each answer is its own node's, whole: commandstats come last.
            assert_eq!(info_number(text, "tcp_port"), f64::from(cfg.port));
            assert!(text.contains("# Commandstats"), "{text}");
        }
        connections_received.push(info_number(texts[0], "total_connections_received"));
    }
    assert!(
        connections_received.windows(2).all(|w| w[0] == w[1]),
        "a new connection per round: {connections_received:?}"
    );

    // The slow log over the kept connection: a command appears in it once everything is slow.
    h.agent
        .admin_client(&addrs[0], ROUND_TIMEOUT)
        .await
        .unwrap()
        .config_set("slowlog-log-slower-than", "0")
        .await
        .unwrap();
    let mut data = data_connection(&configs[0]).await;
    let _: () = redis::cmd("SET")
        .arg("sampled-key")
        .arg("v")
        .query_async(&mut data)
        .await
        .unwrap();
    let (run_id, entries) = h.agent.slowlog(&addrs[0], 16, ROUND_TIMEOUT).await.unwrap();
    assert_eq!(run_id.len(), 40, "{run_id}");
    assert!(
        entries.iter().any(|e| e
            .args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case("set"))
            && e.args.get(1).map(String::as_str) == Some("sampled-key")),
        "{entries:?}"
    );
    let after = h.agent.sample_infos(&addrs[..1], ROUND_TIMEOUT).await;
    let text = after[0].0.as_ref().unwrap();
    assert_eq!(
        info_number(text, "total_connections_received"),
        // Ours, kept, plus the admin connection and the test's data connection.
        connections_received[0] + 2.0
    );
}

#[tokio::test]
async fn a_restarted_node_is_sampled_again_over_a_new_connection() {
    // Goal: a node that died is reported down, and sampled again once it is back.
    // Method: sample, SIGKILL the node, sample (an error), restart it, sample.
    let h = Harness::with_agent(|agent| agent.with_identity(AdminIdentity::generate()));
    let cfg = h.config("node-0");
    h.ensure_running(&cfg).await;
    let addrs = [cfg.address()];
    let first = h.agent.sample_infos(&addrs, ROUND_TIMEOUT).await;
    let run_id = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .unwrap()
            .trim()
            .to_string()
    };
    let first_run = run_id(first[0].0.as_ref().unwrap());
    h.crash("node-0").await;
    let down = h.agent.sample_infos(&addrs, ROUND_TIMEOUT).await;
    assert!(down[0].0.is_err(), "a dead node answered: {:?}", down[0].0);
    h.ensure_running(&cfg).await;
    let again = h.agent.sample_infos(&addrs, ROUND_TIMEOUT).await;
    let second_run = run_id(again[0].0.as_ref().expect("the restarted node answers"));
    assert_ne!(first_run, second_run);
}
