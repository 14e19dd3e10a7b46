//! Process events (`Agent::process_events`) from real `redis-server` 7.0 processes on loopback
//! ports: exits, stops and continues of nodes the agent started (our children) and adopted
//! (not our children), with a pidfd and with the polling fallback. Each test's `Harness`
//! SIGKILLs every process the test started when it ends, pass or fail. Events are awaited with
//! a generous bound ([`WAIT_MAX`]); how fast they come is never asserted.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{wait_for, Harness, WAIT_MAX};
use ferrocache_agent::process::{is_alive, proc_parent, read_pidfile};
use ferrocache_agent::{Agent, NodeEvent, Probe, ProcessEvent, Signal};
use tokio::sync::broadcast;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The next event, failing the test if none comes within [`WAIT_MAX`].
async fn next_event(events: &mut broadcast::Receiver<NodeEvent>) -> NodeEvent {
    match tokio::time::timeout(WAIT_MAX, events.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(error)) => panic!("process events: {error}"),
        Err(_) => panic!("no process event within {WAIT_MAX:?}"),
    }
}

fn event(node_id: &str, pid: u32, event: ProcessEvent) -> NodeEvent {
    NodeEvent {
        node_id: node_id.to_string(),
        pid,
        event,
    }
}

#[tokio::test]
async fn sigkill_of_a_started_node_is_one_exited_event() {
    // Goal: a node the agent started and that is then SIGKILLed is reported by exactly one
    // `Exited` carrying its PID, and its watch is gone by then.
    // Method: subscribe, start a node, SIGKILL it, take the next event; then start the node
    // again and SIGKILL the new process: the next event must be the new process's `Exited`
    // (a second `Exited` of the first process would have come first).
    let h = Harness::new();
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    assert!(!first.adopted);
    assert_eq!(
        h.agent.watched_processes(),
        vec![("n1".to_string(), first.pid)]
    );

    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", first.pid, ProcessEvent::Exited)
    );
    assert!(h.agent.watched_processes().is_empty());

    let second = h.ensure_running(&cfg).await;
    assert_ne!(second.pid, first.pid);
    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", second.pid, ProcessEvent::Exited)
    );
}

#[tokio::test]
async fn stop_and_continue_of_a_started_node_are_heard_and_tokio_still_reaps_it() {
    // Goal: a started node is our child, so its SIGSTOP and SIGCONT are heard through SIGCHLD
    // and reported as `Stopped` then `Continued`, and its SIGKILL as `Exited`; collecting stop
    // reports with waitid (without WEXITED) does not keep tokio from reaping the child.
    // Method: start a node, check its parent is this process, SIGSTOP, SIGCONT and SIGKILL it
    // through the agent, taking one event after each; then wait (bounded) for /proc/<pid> to
    // disappear, which only happens once the zombie is reaped.
    let h = Harness::new();
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let node = h.ensure_running(&cfg).await;
    let pid = node.pid;
    assert_eq!(proc_parent(pid), Some(std::process::id()));

    h.agent.kill("n1", Signal::Stop).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Stopped)
    );
    h.agent.kill("n1", Signal::Cont).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Continued)
    );
    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Exited)
    );

    let proc_dir = format!("/proc/{pid}");
    wait_for("tokio to reap the killed node (no zombie left)", || async {
        !Path::new(&proc_dir).exists()
    })
    .await;
}

#[tokio::test]
async fn adopted_node_that_is_not_our_child_reports_stop_and_exit() {
    // Goal: a node adopted after a Ferrocache restart is not our child (its parent is init or
    // a subreaper): its exit is still heard through the pidfd, and its stop and continue are
    // found by the frozen-state timer.
    // Method: write the node's config and run `sh -c 'redis-server <config> & wait'`, so the
    // server's parent is that shell, not this process (checked), and the shell reaps it when
    // it dies (a daemonized server would be left to init, which may not reap); wait until it
    // answers, adopt it with ensure_running, then SIGSTOP, SIGCONT and SIGKILL it through the
    // agent, taking one event after each; the shell then exits.
    let h = Harness::new();
    let cfg = h.config("n1");
    std::fs::create_dir_all(&cfg.dir).unwrap();
    std::fs::write(cfg.config_path(), ferrocache_engine::render(&cfg).unwrap()).unwrap();
    let mut shell = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$1" & wait"#)
        .arg(common::REDIS_SERVER)
        .arg(cfg.config_path())
        .current_dir(&cfg.dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the node's pidfile", || async {
        read_pidfile(&cfg.pid_path()).is_some_and(is_alive)
    })
    .await;
    let pid = read_pidfile(&cfg.pid_path()).unwrap();
    h.track(pid);
    assert_eq!(proc_parent(pid), shell.id());
    assert_ne!(proc_parent(pid), Some(std::process::id()));
    wait_for("the node to answer", || async {
        matches!(
            h.agent.probe(&cfg.address(), PROBE_TIMEOUT).await,
            Probe::Up(_)
        )
    })
    .await;

    let mut events = h.agent.process_events();
    let adopted = h.ensure_running(&cfg).await;
    assert!(adopted.adopted);
    assert_eq!(adopted.pid, pid);
    assert_eq!(h.agent.watched_processes(), vec![("n1".to_string(), pid)]);

    h.agent.kill("n1", Signal::Stop).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Stopped)
    );
    h.agent.kill("n1", Signal::Cont).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Continued)
    );
    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", pid, ProcessEvent::Exited)
    );
    assert!(h.agent.watched_processes().is_empty());
    tokio::time::timeout(WAIT_MAX, shell.wait())
        .await
        .expect("the shell did not exit after its node")
        .unwrap();
}

#[tokio::test]
async fn without_pidfd_exits_are_still_reported() {
    // Goal: the fallback for kernels or sandboxes without pidfd_open reports exits too, for a
    // started node and for one adopted by another agent (as after a restart).
    // Method: an agent forced onto the fallback (`without_pidfd`) starts a node that is then
    // SIGKILLed; a second fallback agent adopts a node started by the first, which is then
    // stopped through the first; each agent's next event is the `Exited` of its process.
    let h = Harness::with_agent(Agent::without_pidfd);
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let node = h.ensure_running(&cfg).await;
    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", node.pid, ProcessEvent::Exited)
    );

    let node = h.ensure_running(&cfg).await;
    let other = Agent::new(
        h.agent.nodes_dir().to_path_buf(),
        common::REDIS_SERVER.into(),
    )
    .without_pidfd();
    let mut other_events = other.process_events();
    let adopted = other.ensure_running(&cfg).await.unwrap();
    assert!(adopted.adopted);
    h.agent.stop("n1", &cfg.address(), false).await.unwrap();
    let exited = event("n1", node.pid, ProcessEvent::Exited);
    assert_eq!(next_event(&mut events).await, exited);
    assert_eq!(next_event(&mut other_events).await, exited);
}

#[tokio::test]
async fn adopting_a_running_node_again_adds_no_second_watch() {
    // Goal: adopting the node's running process again (ensure_running, adopt) keeps its one
    // watch, so its exit is one event, not one per adoption.
    // Method: start a node, adopt it twice through ensure_running and once through adopt,
    // check one process is watched, SIGKILL it and take its `Exited`; then start and SIGKILL
    // the node again: the next event must be the new process's `Exited`.
    let h = Harness::new();
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    for _ in 0..2 {
        let again = h.ensure_running(&cfg).await;
        assert!(again.adopted);
        assert_eq!(again.pid, first.pid);
    }
    let adopted = h.agent.adopt(&cfg).await.unwrap().unwrap();
    assert_eq!(adopted.pid, first.pid);
    assert_eq!(
        h.agent.watched_processes(),
        vec![("n1".to_string(), first.pid)]
    );

    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", first.pid, ProcessEvent::Exited)
    );
    let second = h.ensure_running(&cfg).await;
    h.agent.kill("n1", Signal::Kill).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", second.pid, ProcessEvent::Exited)
    );
}

#[tokio::test]
async fn stop_and_remove_through_the_agent_report_exited() {
    // Goal: a node ended on purpose (stop, remove) is reported like any exit; the consumer,
    // which asked for it, tells the two apart.
    // Method: start a node and stop it, start it again and remove it, taking the next event
    // after each.
    let h = Harness::new();
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let first = h.ensure_running(&cfg).await;
    h.agent.stop("n1", &cfg.address(), true).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", first.pid, ProcessEvent::Exited)
    );
    let second = h.ensure_running(&cfg).await;
    h.agent.remove("n1", &cfg.address()).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        event("n1", second.pid, ProcessEvent::Exited)
    );
}

#[tokio::test]
async fn two_agents_in_one_process_both_hear_a_childs_stop() {
    // Goal: waitid(P_ALL) is process-wide and consumes each report once, yet every agent
    // watching a child hears its stop, whichever agent's collector took the report.
    // Method: one agent starts a node (our child), a second agent in this process adopts it;
    // SIGSTOP it and take the next event of each agent, then SIGKILL it and do the same.
    let h = Harness::new();
    let mut events = h.agent.process_events();
    let cfg = h.config("n1");
    let node = h.ensure_running(&cfg).await;
    let other = Agent::new(
        h.agent.nodes_dir().to_path_buf(),
        common::REDIS_SERVER.into(),
    );
    let mut other_events = other.process_events();
    assert!(other.ensure_running(&cfg).await.unwrap().adopted);

    h.agent.kill("n1", Signal::Stop).unwrap();
    let stopped = event("n1", node.pid, ProcessEvent::Stopped);
    assert_eq!(next_event(&mut events).await, stopped);
    assert_eq!(next_event(&mut other_events).await, stopped);
    h.agent.kill("n1", Signal::Kill).unwrap();
    let exited = event("n1", node.pid, ProcessEvent::Exited);
    assert_eq!(next_event(&mut events).await, exited);
    assert_eq!(next_event(&mut other_events).await, exited);
}
