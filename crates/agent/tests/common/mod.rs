//! Shared harness for the agent's integration tests: an [`Agent`] over a temporary nodes
//! directory, configs on loopback ports picked by the OS, and a guard that SIGKILLs every node
//! process it can find when the test ends, pass or fail.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrocache_agent::process::{proc_cwd, read_pidfile, ProcessHandle};
use ferrocache_agent::{Agent, NodeProcess, Signal};
use ferrocache_engine::{NodeConfig, PID_FILE_NAME};

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// Upper bound for anything a test waits for (sync, exit, a key to replicate); generous for
/// slow CI machines, and never a performance threshold.
pub const WAIT_MAX: Duration = Duration::from_secs(30);
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Asks the OS for a free loopback port: bind port 0, read the port, close.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An agent in a temporary directory; dropping it kills every node process it started.
pub struct Harness {
    pub agent: Agent,
    /// PIDs seen during the test, in addition to those in pidfiles at the end.
    pids: Mutex<Vec<u32>>,
    // Declared last so it is deleted after `Drop::drop` has killed the processes.
    root: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_agent(|agent| agent)
    }

    /// As [`Harness::new`], with the agent adjusted by `adjust` (e.g. `Agent::without_pidfd`).
    pub fn with_agent(adjust: impl FnOnce(Agent) -> Agent) -> Harness {
        let root = tempfile::tempdir().unwrap();
        let agent = adjust(Agent::new(
            root.path().join("nodes"),
            PathBuf::from(REDIS_SERVER),
        ));
        Harness {
            agent,
            pids: Mutex::new(Vec::new()),
            root,
        }
    }

    /// A config for `node_id` on a fresh loopback port, in the agent's directory for it.
    pub fn config(&self, node_id: &str) -> NodeConfig {
        NodeConfig::new(
            node_id,
            self.agent.node_dir(node_id),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            free_port(),
        )
    }

    /// `ensure_running`, remembering the PID for the guard.
    pub async fn ensure_running(&self, cfg: &NodeConfig) -> NodeProcess {
        let process = self.agent.ensure_running(cfg).await.unwrap();
        self.track(process.pid);
        process
    }

    pub fn track(&self, pid: u32) {
        self.pids.lock().unwrap().push(pid);
    }

    /// Kills the node's process with SIGKILL and waits until it is gone.
    pub async fn crash(&self, node_id: &str) -> u32 {
        let pid = self.agent.kill(node_id, Signal::Kill).unwrap();
        wait_for("the killed node to disappear", || async {
            self.agent.pid(node_id).is_none()
        })
        .await;
        pid
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Ok(entries) = std::fs::read_dir(self.agent.nodes_dir()) {
            for entry in entries.flatten() {
                pids.extend(read_pidfile(&entry.path().join(PID_FILE_NAME)));
            }
        }
        for pid in pids {
            let Some(process) = ProcessHandle::capture(pid) else {
                continue;
            };
            // Only processes running from our temporary directory: a PID seen earlier may
            // since have been reused by something else.
            let ours = proc_cwd(pid).is_some_and(|cwd| cwd.starts_with(self.root.path()));
            if !ours {
                continue;
            }
            let _ = process.signal(Signal::Kill);
            let deadline = Instant::now() + WAIT_MAX;
            while process.is_alive() && Instant::now() < deadline {
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }
}

/// Polls `check` until it returns true, failing the test after [`WAIT_MAX`].
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT_MAX;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A plain data connection, as an application would open one.
pub async fn data_connection(cfg: &NodeConfig) -> redis::aio::MultiplexedConnection {
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub async fn set(conn: &mut redis::aio::MultiplexedConnection, key: &str, value: &str) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async::<()>(conn)
        .await
        .unwrap();
}

pub async fn get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<String>>(conn)
        .await
        .unwrap()
}
