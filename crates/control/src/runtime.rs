//! [`NodeRuntime`]: everything the reconcilers ask of the nodes, behind one trait.
//!
//! The real runtime is the [`Agent`] (processes) plus [`NodeClient`] (the admin connection);
//! tests put a simulated runtime in its place to run the *real* reconcilers against simulated
//! nodes, a simulated clock and injected faults (see `tests/simulation.rs`). Keeping the seam
//! this narrow is what makes that simulation cheap.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use ferrocache_agent::host::HostFigures;
use ferrocache_agent::slots::SlotOwner;
use ferrocache_agent::{Agent, AgentError, Liveness, NodeEvent, NodeProcess, Probe};
use ferrocache_engine::{
    ClusterFailoverMode, ClusterInfo, ClusterNode, EngineError, Info, NodeAddress, NodeClient,
    NodeConfig, SaveStart,
};

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a node operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The agent failed (start, stop, files).
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Talking to a node failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A simulated node refused (tests only).
    #[error("simulated: {0}")]
    Simulated(String),
}

impl RuntimeError {
    /// The node's host could not be reached: what runs there is unknown, not gone.
    pub fn host_unreachable(&self) -> bool {
        matches!(
            self,
            RuntimeError::Agent(AgentError::HostUnreachable { .. })
        )
    }
}

/// The node operations the reconcilers use.
pub trait NodeRuntime: Send + Sync + 'static {
    /// Whether the node's process is gone, stopped or running.
    fn liveness(&self, node_id: &str) -> Liveness;
    /// Whether the node's host is heard from (its event stream beats). `false` while a host
    /// that fell silent is not yet taken for lost: the node may be serving there, cut off, and
    /// its liveness is the last one heard. One host is always in touch with itself.
    fn host_in_touch(&self, _node_id: &str) -> bool {
        true
    }
    /// Every process event from now on: a node's process exited, stopped or continued (see
    /// [`Agent::process_events`]).
    fn process_events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent>;
    /// Runs the node (adopting a live process); see [`Agent::ensure_running`].
    fn ensure_running<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<NodeProcess, RuntimeError>>;
    /// Adopts the node's running process, never starting one; see [`Agent::adopt`].
    fn adopt<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<Option<NodeProcess>, RuntimeError>>;
    /// Stops the node, saving its data when asked; see [`Agent::stop`].
    fn stop<'a>(
        &'a self,
        node_id: &'a str,
        addr: &'a NodeAddress,
        save: bool,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Stops the node and deletes its directory on host `host` (`None`: this one); see
    /// [`Agent::remove`].
    fn remove<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        addr: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Asks the node for `INFO`, bounded.
    fn probe<'a>(&'a self, addr: &'a NodeAddress, timeout: Duration) -> BoxFuture<'a, Probe>;
    /// The node's `INFO`.
    fn info<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Info, RuntimeError>>;
    /// The commands in each ACL category of `categories`, as the node at `addr` knows them
    /// (what the per-command-type metrics are defined by); by default none are known.
    fn command_categories<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _categories: &'a [&'a str],
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<HashMap<String, Vec<String>>, RuntimeError>> {
        Box::pin(async { Ok(HashMap::new()) })
    }
    /// The node's `run_id` and its newest `count` slow log entries; by default none.
    fn slowlog<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _count: u32,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(String, Vec<ferrocache_engine::SlowlogEntry>), RuntimeError>> {
        Box::pin(async { Ok((String::new(), Vec::new())) })
    }
    /// Whole lines of the node's own log file at `path` from `offset`, at most `max` bytes
    /// (see [`ferrocache_agent::process::read_from`]); by default the file has nothing.
    fn read_log(
        &self,
        _path: &std::path::Path,
        offset: u64,
        _max: usize,
    ) -> std::io::Result<ferrocache_agent::process::LogChunk> {
        Ok(ferrocache_agent::process::LogChunk {
            bytes: Vec::new(),
            next: offset,
            restarted: false,
        })
    }
    /// The host's figures for host-level metrics; by default none are known.
    fn host_figures(&self) -> HostFigures {
        HostFigures::default()
    }
    /// The `INFO` text for metrics (with `commandstats`) of each node of `addrs`, and when
    /// each answer came, in the order of `addrs`, each bounded by `timeout`; by default each
    /// node's plain `INFO` fields written back as text.
    fn sample_infos<'a>(
        &'a self,
        addrs: &'a [NodeAddress],
        timeout: Duration,
    ) -> BoxFuture<'a, Vec<(Result<String, RuntimeError>, std::time::SystemTime)>> {
        Box::pin(async move {
            let asks = addrs.iter().map(|addr| async move {
                let info = self.info(addr, timeout).await.map(|info| {
                    info.raw
                        .iter()
                        .map(|(k, v)| format!("{k}:{v}\r\n"))
                        .collect()
                });
                (info, std::time::SystemTime::now())
            });
            futures_util::future::join_all(asks).await
        })
    }
    /// Lets go of what sampling kept for the node at `addr` (it is gone).
    fn forget_metrics_connection(&self, _addr: &NodeAddress) {}
    /// `REPLICAOF <primary>`, or `REPLICAOF NO ONE` for `None`.
    fn replicaof<'a>(
        &'a self,
        addr: &'a NodeAddress,
        primary: Option<SocketAddr>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Moves a stopped node's data file aside so it starts empty; see [`Agent::set_aside_data`].
    fn set_aside_data<'a>(
        &'a self,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::path::PathBuf>, RuntimeError>>;
    /// Whether the node's data file is the one its last clean stop saved; see
    /// [`Agent::stopped_cleanly`]. (A runtime without data files has no such evidence.)
    fn stopped_cleanly<'a>(&'a self, _node_id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async { false })
    }
    /// Places `source` (a file on this host) as the data file of a stopped node on the host it
    /// is placed on (`host`; `None`: this one), checking its SHA-256 first; see
    /// [`Agent::seed_data`].
    fn seed_data<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        source: &'a std::path::Path,
        expected_sha256: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// `PUBLISH <channel> <message>` on a running node (a primary propagates it to its replicas).
    fn publish<'a>(
        &'a self,
        addr: &'a NodeAddress,
        channel: &'a str,
        message: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Puts a complete copy of the node's data file (its last save), from the host it is
    /// placed on (`host`; `None`: this one), at `target` on this host (a new file), synced;
    /// its size and SHA-256. On this host the file is linked where the file system allows.
    fn copy_data_file<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        target: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>>;
    /// Copies `file` of snapshot `name` (region `region`) from host `host`, which holds it,
    /// into the new file `target` here, synced; its size and SHA-256. Only where several hosts
    /// share the store: one host holds every snapshot it lists.
    fn copy_snapshot_file<'a>(
        &'a self,
        host: &'a str,
        region: &'a str,
        name: &'a str,
        file: &'a str,
        target: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>>;
    /// Issues the node's own TLS certificate, naming `names`, on the host it is placed on
    /// (`host`; `None`: this one): that host's agent writes the certificate, its key and the
    /// CA into the node's directory there and says where they are.
    fn issue_node_tls<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        names: &'a ferrocache_pki::ServerNames,
    ) -> BoxFuture<'a, Result<ferrocache_agent::NodeTlsFiles, RuntimeError>>;
    /// `CONFIG SET <name> <value>` on a running node.
    fn config_set<'a>(
        &'a self,
        addr: &'a NodeAddress,
        name: &'a str,
        value: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Makes the node's client-facing ACL users exactly `users` (name and own rules: an access
    /// string and passwords): `ACL SETUSER` for each (the agent adds `reset` and the
    /// restrictions, see `ferrocache_engine::identity`), then `ACL DELUSER` for any other user
    /// but the control plane's. Clients of kept users stay connected.
    fn set_acl_users<'a>(
        &'a self,
        addr: &'a NodeAddress,
        users: &'a [(String, Vec<String>)],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// `BGSAVE` on a running node, with the key count and (with `digest`) the dataset digest of
    /// what it saves ([`NodeClient::bgsave_with_digest`]). `Ok(None)` when the node refused because a save
    /// is already running (a replica's disk-based sync, an earlier request): the caller
    /// retries. Completion shows in [`Info::rdb_bgsave_in_progress`] /
    /// [`Info::rdb_last_bgsave_ok`].
    fn bgsave<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
        digest: bool,
    ) -> BoxFuture<'a, Result<Option<SaveStart>, RuntimeError>>;

    /// `DEBUG DIGEST` of a node's dataset; `None` when the node cannot run it.
    fn digest<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>>;

    /// `CLUSTER MYID` of a cluster-mode node. (Runtimes without cluster mode, such as the
    /// simulation, refuse every cluster call.)
    fn cluster_myid<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER NODES`, parsed.
    fn cluster_nodes<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<ClusterNode>, RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER INFO`, parsed.
    fn cluster_info<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<ClusterInfo, RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER MEET <ip> <port> <bus port>`.
    fn cluster_meet<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _ip: IpAddr,
        _port: u16,
        _bus_port: u16,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER ADDSLOTSRANGE`.
    fn cluster_add_slots_range<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _ranges: &'a [(u16, u16)],
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER REPLICATE <node id>`.
    fn cluster_replicate<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _primary: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER FORGET <node id>`.
    fn cluster_forget<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _node_id: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// Moves `slots` with their keys from `from` to `to` until done or `deadline` (see
    /// [`Agent::move_slots`]); answers how many moved.
    fn move_slots<'a>(
        &'a self,
        _from: &'a SlotOwner,
        _to: &'a SlotOwner,
        _others: &'a [NodeAddress],
        _slots: &'a [u16],
        _deadline: Instant,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// Makes `owner` claim `slots` no primary serves (see [`Agent::claim_slots`]).
    fn claim_slots<'a>(
        &'a self,
        _owner: &'a SlotOwner,
        _slots: &'a [u16],
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]`.
    fn cluster_failover<'a>(
        &'a self,
        _addr: &'a NodeAddress,
        _mode: ClusterFailoverMode,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async { Err(no_cluster_mode()) })
    }
}

fn no_cluster_mode() -> RuntimeError {
    RuntimeError::Simulated("cluster mode is not simulated".into())
}

/// Whether Redis refused `BGSAVE` only because a save is running already.
fn save_in_progress(error: &EngineError) -> bool {
    matches!(error, EngineError::Reply { message, .. } if message.contains("already in progress"))
}

/// A connection for one admin call, every step bounded by `timeout`, logged in as the control
/// plane with its renamed commands when the agent has an identity.
async fn admin_client(
    agent: &Agent,
    addr: &NodeAddress,
    timeout: Duration,
) -> Result<NodeClient, EngineError> {
    agent.admin_client(addr, timeout).await
}

impl NodeRuntime for Agent {
    fn liveness(&self, node_id: &str) -> Liveness {
        Agent::liveness(self, node_id)
    }

    fn process_events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        Agent::process_events(self)
    }

    fn ensure_running<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<NodeProcess, RuntimeError>> {
        Box::pin(async move { Ok(Agent::ensure_running(self, cfg).await?) })
    }

    fn adopt<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<Option<NodeProcess>, RuntimeError>> {
        Box::pin(async move { Ok(Agent::adopt(self, cfg).await?) })
    }

    fn stop<'a>(
        &'a self,
        node_id: &'a str,
        addr: &'a NodeAddress,
        save: bool,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::stop(self, node_id, addr, save).await?) })
    }

    fn remove<'a>(
        &'a self,
        node_id: &'a str,
        _host: Option<&'a str>,
        addr: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::remove(self, node_id, addr).await?) })
    }

    fn probe<'a>(&'a self, addr: &'a NodeAddress, timeout: Duration) -> BoxFuture<'a, Probe> {
        Box::pin(Agent::probe(self, addr, timeout))
    }

    fn set_aside_data<'a>(
        &'a self,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::path::PathBuf>, RuntimeError>> {
        Box::pin(async move { Ok(Agent::set_aside_data(self, node_id).await?) })
    }

    fn stopped_cleanly<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { Agent::stopped_cleanly(self, node_id) })
    }

    fn seed_data<'a>(
        &'a self,
        node_id: &'a str,
        _host: Option<&'a str>,
        source: &'a std::path::Path,
        expected_sha256: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::seed_data(self, node_id, source, expected_sha256).await?) })
    }

    fn info<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Info, RuntimeError>> {
        Box::pin(async move {
            let client = admin_client(self, addr, timeout).await?;
            Ok(client.info().await?)
        })
    }

    fn sample_infos<'a>(
        &'a self,
        addrs: &'a [NodeAddress],
        timeout: Duration,
    ) -> BoxFuture<'a, Vec<(Result<String, RuntimeError>, std::time::SystemTime)>> {
        Box::pin(async move {
            Agent::sample_infos(self, addrs, timeout)
                .await
                .into_iter()
                .map(|(answer, at)| (answer.map_err(RuntimeError::from), at))
                .collect()
        })
    }

    fn forget_metrics_connection(&self, addr: &NodeAddress) {
        self.forget_sampling(addr);
    }

    fn command_categories<'a>(
        &'a self,
        addr: &'a NodeAddress,
        categories: &'a [&'a str],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<HashMap<String, Vec<String>>, RuntimeError>> {
        Box::pin(
            async move { Ok(Agent::command_categories(self, addr, categories, timeout).await?) },
        )
    }

    fn host_figures(&self) -> HostFigures {
        ferrocache_agent::host::host_figures()
    }

    fn slowlog<'a>(
        &'a self,
        addr: &'a NodeAddress,
        count: u32,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(String, Vec<ferrocache_engine::SlowlogEntry>), RuntimeError>> {
        Box::pin(async move { Ok(Agent::slowlog(self, addr, count, timeout).await?) })
    }

    fn read_log(
        &self,
        path: &std::path::Path,
        offset: u64,
        max: usize,
    ) -> std::io::Result<ferrocache_agent::process::LogChunk> {
        ferrocache_agent::process::read_from(path, offset, max)
    }

    fn replicaof<'a>(
        &'a self,
        addr: &'a NodeAddress,
        primary: Option<SocketAddr>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let client = admin_client(self, addr, timeout).await?;
            match primary {
                Some(p) => client.replicaof(p).await?,
                None => client.replicaof_no_one().await?,
            }
            Ok(())
        })
    }

    fn copy_data_file<'a>(
        &'a self,
        node_id: &'a str,
        _host: Option<&'a str>,
        target: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>> {
        Box::pin(async move {
            let source = self
                .node_dir(node_id)
                .join(ferrocache_engine::RDB_FILE_NAME);
            let target = target.to_path_buf();
            let copied = tokio::task::spawn_blocking({
                let source = source.clone();
                move || crate::reconcile::snapshot::link_or_copy_hashed(&source, &target)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            copied.map_err(|e| {
                RuntimeError::Agent(AgentError::Io {
                    node_id: node_id.to_string(),
                    action: "copy",
                    path: source,
                    source: e,
                })
            })
        })
    }

    fn copy_snapshot_file<'a>(
        &'a self,
        host: &'a str,
        _region: &'a str,
        name: &'a str,
        _file: &'a str,
        _target: &'a std::path::Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>> {
        Box::pin(async move {
            Err(RuntimeError::Agent(AgentError::Host {
                node_id: name.to_string(),
                host: host.to_string(),
                message: "this ferrocache shares its store with no other host".into(),
            }))
        })
    }

    fn issue_node_tls<'a>(
        &'a self,
        node_id: &'a str,
        _host: Option<&'a str>,
        names: &'a ferrocache_pki::ServerNames,
    ) -> BoxFuture<'a, Result<ferrocache_agent::NodeTlsFiles, RuntimeError>> {
        Box::pin(async move { Ok(Agent::issue_node_tls(self, node_id, names)?) })
    }

    fn config_set<'a>(
        &'a self,
        addr: &'a NodeAddress,
        name: &'a str,
        value: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let client = admin_client(self, addr, timeout).await?;
            client.config_set(name, value).await?;
            Ok(())
        })
    }

    fn cluster_myid<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_myid(self, addr, timeout).await?) })
    }

    fn cluster_nodes<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<ClusterNode>, RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_nodes(self, addr, timeout).await?) })
    }

    fn cluster_info<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ClusterInfo, RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_info(self, addr, timeout).await?) })
    }

    fn cluster_meet<'a>(
        &'a self,
        addr: &'a NodeAddress,
        ip: IpAddr,
        port: u16,
        bus_port: u16,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(
            async move { Ok(Agent::cluster_meet(self, addr, ip, port, bus_port, timeout).await?) },
        )
    }

    fn cluster_add_slots_range<'a>(
        &'a self,
        addr: &'a NodeAddress,
        ranges: &'a [(u16, u16)],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(
            async move { Ok(Agent::cluster_add_slots_range(self, addr, ranges, timeout).await?) },
        )
    }

    fn cluster_replicate<'a>(
        &'a self,
        addr: &'a NodeAddress,
        primary: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_replicate(self, addr, primary, timeout).await?) })
    }

    fn cluster_forget<'a>(
        &'a self,
        addr: &'a NodeAddress,
        node_id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_forget(self, addr, node_id, timeout).await?) })
    }

    fn move_slots<'a>(
        &'a self,
        from: &'a SlotOwner,
        to: &'a SlotOwner,
        others: &'a [NodeAddress],
        slots: &'a [u16],
        deadline: Instant,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<usize, RuntimeError>> {
        Box::pin(async move {
            Ok(Agent::move_slots(self, from, to, others, slots, deadline, timeout).await?)
        })
    }

    fn claim_slots<'a>(
        &'a self,
        owner: &'a SlotOwner,
        slots: &'a [u16],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::claim_slots(self, owner, slots, timeout).await?) })
    }

    fn cluster_failover<'a>(
        &'a self,
        addr: &'a NodeAddress,
        mode: ClusterFailoverMode,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Agent::cluster_failover(self, addr, mode, timeout).await?) })
    }

    fn publish<'a>(
        &'a self,
        addr: &'a NodeAddress,
        channel: &'a str,
        message: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let client = admin_client(self, addr, timeout).await?;
            client.publish(channel, message).await?;
            Ok(())
        })
    }

    fn set_acl_users<'a>(
        &'a self,
        addr: &'a NodeAddress,
        users: &'a [(String, Vec<String>)],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            let client = admin_client(self, addr, timeout).await?;
            for (name, rules) in users {
                let full = match self.identity() {
                    Some(identity) => identity.client_user_rules(rules),
                    None => std::iter::once("reset".to_string())
                        .chain(rules.iter().cloned())
                        .collect(),
                };
                client.acl_setuser(name, &full).await?;
            }
            let internal = self.identity().map(|i| i.user.as_str());
            for name in client.acl_users().await? {
                let wanted = users.iter().any(|(n, _)| *n == name);
                if !wanted && Some(name.as_str()) != internal && name != "default" {
                    client.acl_deluser(&name).await?;
                }
            }
            Ok(())
        })
    }

    fn bgsave<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
        digest: bool,
    ) -> BoxFuture<'a, Result<Option<SaveStart>, RuntimeError>> {
        Box::pin(async move {
            // DEBUG DIGEST walks the whole dataset: give the call the blocking-call bound.
            let client = admin_client(self, addr, timeout)
                .await?
                .with_call_timeout(ferrocache_engine::BLOCKING_CALL_TIMEOUT_DEFAULT);
            match client.bgsave_with_digest(digest).await {
                Ok(started) => Ok(Some(started)),
                Err(e) if save_in_progress(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn digest<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(async move {
            // DEBUG DIGEST walks the whole dataset: give it the blocking-call bound.
            let client = admin_client(self, addr, timeout)
                .await?
                .with_call_timeout(ferrocache_engine::BLOCKING_CALL_TIMEOUT_DEFAULT);
            Ok(client.digest().await?)
        })
    }
}
