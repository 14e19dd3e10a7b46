//! [`HostsRuntime`]: the control plane's [`NodeRuntime`] when several hosts share the store.
//!
//! A node's process work (start, adopt, stop, remove, its data file, its liveness) goes to the
//! agent of the host the node is placed on: this host's own [`Agent`], or another's through a
//! [`RemoteHost`]. Which host that is comes from the node's configuration (`NodeConfig::host`)
//! and from the placements in the store (`NodeIntent::host`); the hosts themselves from their
//! registrations. Everything said to the nodes in Redis goes straight to them, from here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_agent::host::HostFigures;
use ferrocache_agent::slots::SlotOwner;
use ferrocache_agent::{Agent, Liveness, NodeEvent, NodeProcess, Probe};
use ferrocache_control::runtime::{BoxFuture, NodeRuntime, RuntimeError};
use ferrocache_engine::{
    ClusterFailoverMode, ClusterInfo, ClusterNode, Info, NodeAddress, NodeConfig, SaveStart,
};
use ferrocache_model::host::HostRecord;
use ferrocache_model::node::NodeIntent;
use ferrocache_store::{ReadExt, Store, StoreError};
use parking_lot::RwLock;
use tokio::sync::broadcast;

use crate::client::RemoteHost;

/// How many process events wait for a slow consumer.
const EVENTS_CAPACITY: usize = 4096;

/// The node runtime across hosts.
pub struct HostsRuntime {
    local: Arc<Agent>,
    local_name: String,
    token: String,
    /// How other hosts' agents are called (TLS trusting the hosts' CA).
    tls: Arc<rustls::ClientConfig>,
    /// The other hosts, by name.
    hosts: RwLock<HashMap<String, Arc<RemoteHost>>>,
    /// The host each node is placed on, by node id.
    placed: RwLock<HashMap<String, String>>,
    events: broadcast::Sender<NodeEvent>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for HostsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostsRuntime")
            .field("local_name", &self.local_name)
            .finish_non_exhaustive()
    }
}

impl HostsRuntime {
    /// The runtime of host `local_name`, whose own agent is `local`; other hosts are called
    /// over TLS with `tls` (trusting the hosts' CA) and `token`. Call
    /// [`HostsRuntime::follow_store`] to learn the hosts.
    pub fn new(
        local: Arc<Agent>,
        local_name: &str,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Arc<HostsRuntime> {
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        let (stop, _) = tokio::sync::watch::channel(false);
        let runtime = Arc::new(HostsRuntime {
            local: local.clone(),
            local_name: local_name.to_string(),
            token: token.to_string(),
            tls,
            hosts: RwLock::new(HashMap::new()),
            placed: RwLock::new(HashMap::new()),
            events: events.clone(),
            stop,
        });
        let mut own = local.process_events();
        let mut stop = runtime.stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = own.recv() => match event {
                        Ok(e) => { let _ = events.send(e); }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = stop.changed() => return,
                }
            }
        });
        runtime
    }

    /// Learns the hosts and the nodes' placements from `store`, now and as they change, until
    /// [`HostsRuntime::shutdown`].
    ///
    /// # Errors
    /// The store's, reading it the first time.
    pub fn follow_store(self: &Arc<Self>, store: Arc<dyn Store>) -> Result<(), StoreError> {
        let mut feed = store.watch();
        let (hosts, intents) = ferrocache_store::view(store.as_ref(), |r| {
            Ok::<_, StoreError>((r.docs::<HostRecord>("")?, r.docs::<NodeIntent>("")?))
        })?;
        for (_, host) in hosts {
            self.learn_host(&host);
        }
        for (key, intent) in intents {
            self.learn_placement(&key, Some(&intent));
        }
        let runtime = self.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                let commit = tokio::select! {
                    commit = feed.recv() => commit,
                    _ = stop.changed() => return,
                };
                match commit {
                    Ok(commit) => {
                        for change in &commit.changes {
                            if change.is::<HostRecord>() {
                                if let Some(host) = change.new_doc::<HostRecord>() {
                                    runtime.learn_host(&host);
                                }
                            } else if change.is::<NodeIntent>() {
                                runtime.learn_placement(
                                    &change.key,
                                    change.new_doc::<NodeIntent>().as_ref(),
                                );
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let read = ferrocache_store::view(store.as_ref(), |r| {
                            Ok::<_, StoreError>((
                                r.docs::<HostRecord>("")?,
                                r.docs::<NodeIntent>("")?,
                            ))
                        });
                        if let Ok((hosts, intents)) = read {
                            for (_, host) in hosts {
                                runtime.learn_host(&host);
                            }
                            for (key, intent) in intents {
                                runtime.learn_placement(&key, Some(&intent));
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(())
    }

    fn learn_host(&self, host: &HostRecord) {
        if host.name == self.local_name {
            return;
        }
        let Some(agent) = &host.agent else {
            return;
        };
        let mut hosts = self.hosts.write();
        if hosts.get(&host.name).is_some_and(|h| h.agent() == agent) {
            return;
        }
        let remote = RemoteHost::new(&host.name, agent, &self.token, self.tls.clone());
        tokio::spawn(
            remote
                .clone()
                .follow(self.events.clone(), self.stop.subscribe()),
        );
        // A host that registered again elsewhere: its old stream stops with it.
        hosts.insert(host.name.clone(), remote);
    }

    fn learn_placement(&self, key: &str, intent: Option<&NodeIntent>) {
        let node_id = key.rsplit('/').next().unwrap_or(key).to_string();
        match intent.and_then(|i| i.host_name()) {
            Some(host) => {
                self.placed.write().insert(node_id, host.to_string());
            }
            None => {
                self.placed.write().remove(&node_id);
            }
        }
    }

    /// Waits (at most `bound` in all) until every known host's stream is open, so nodes on
    /// hosts that are up are not taken for gone while their streams open; the hosts still
    /// not connected then.
    pub async fn wait_for_hosts(&self, bound: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + bound;
        let hosts: Vec<Arc<RemoteHost>> = self.hosts.read().values().cloned().collect();
        let mut missing = Vec::new();
        for host in hosts {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !host.wait_connected(left).await {
                missing.push(host.name().to_string());
            }
        }
        missing
    }

    /// Stops following the hosts.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Where the process work of `node_id`, placed on `host`, goes: `None` to this host's own
    /// agent, `Some` to another host's; an error for a host this one does not know (not
    /// registered yet, or gone).
    fn resolve(
        &self,
        node_id: &str,
        host: Option<&str>,
    ) -> Result<Option<Arc<RemoteHost>>, RuntimeError> {
        match host {
            None => Ok(None),
            Some(name) if name == self.local_name => Ok(None),
            Some(name) => self
                .hosts
                .read()
                .get(name)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    RuntimeError::Agent(ferrocache_agent::AgentError::Host {
                        node_id: node_id.to_string(),
                        host: name.to_string(),
                        message: "the host is not registered".into(),
                    })
                }),
        }
    }

    /// The host a node's configuration names.
    fn for_config(&self, cfg: &NodeConfig) -> Result<Option<Arc<RemoteHost>>, RuntimeError> {
        self.resolve(&cfg.node_id, cfg.host.as_deref())
    }

    /// The host `node_id` is placed on, as the store (or this runtime's own start of it) says.
    fn for_node(&self, node_id: &str) -> Result<Option<Arc<RemoteHost>>, RuntimeError> {
        let placed = self.placed.read().get(node_id).cloned();
        self.resolve(node_id, placed.as_deref())
    }

    /// The host to stop or remove `node_id` at `addr` on. A node on a host this one does not
    /// know is not running anywhere it can reach: this host's agent answers that it has no
    /// such process, so deleting a group whose host is gone does not wait for the host.
    fn for_call(&self, node_id: &str, addr: &NodeAddress) -> Option<Arc<RemoteHost>> {
        match addr {
            NodeAddress::Tcp(_) => self.for_node(node_id).ok().flatten(),
            NodeAddress::Unix(_) => None,
        }
    }

    fn remember(&self, node_id: &str, host: &RemoteHost) {
        self.placed
            .write()
            .insert(node_id.to_string(), host.name().to_string());
    }

    fn tcp(addr: &NodeAddress) -> Option<SocketAddr> {
        match addr {
            NodeAddress::Tcp(a) => Some(*a),
            NodeAddress::Unix(_) => None,
        }
    }
}

impl NodeRuntime for HostsRuntime {
    fn host_in_touch(&self, node_id: &str) -> bool {
        match self.for_node(node_id) {
            Ok(Some(host)) => host.connected(),
            _ => true,
        }
    }

    fn liveness(&self, node_id: &str) -> Liveness {
        match self.for_node(node_id) {
            Ok(Some(host)) => host.liveness(node_id).unwrap_or(Liveness::Gone),
            Ok(None) => self.local.liveness(node_id),
            Err(_) => Liveness::Gone,
        }
    }

    fn process_events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    fn ensure_running<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<NodeProcess, RuntimeError>> {
        Box::pin(async move {
            match self.for_config(cfg)? {
                Some(host) => {
                    self.remember(&cfg.node_id, &host);
                    Ok(host.ensure_running(cfg).await?)
                }
                None => NodeRuntime::ensure_running(self.local.as_ref(), cfg).await,
            }
        })
    }

    fn adopt<'a>(
        &'a self,
        cfg: &'a NodeConfig,
    ) -> BoxFuture<'a, Result<Option<NodeProcess>, RuntimeError>> {
        Box::pin(async move {
            match self.for_config(cfg)? {
                Some(host) => {
                    self.remember(&cfg.node_id, &host);
                    Ok(host.adopt(cfg).await?)
                }
                None => NodeRuntime::adopt(self.local.as_ref(), cfg).await,
            }
        })
    }

    fn stop<'a>(
        &'a self,
        node_id: &'a str,
        addr: &'a NodeAddress,
        save: bool,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            match (self.for_call(node_id, addr), Self::tcp(addr)) {
                (Some(host), Some(a)) => Ok(host.stop(node_id, a, save).await?),
                _ => NodeRuntime::stop(self.local.as_ref(), node_id, addr, save).await,
            }
        })
    }

    fn remove<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        addr: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        // A host this one does not know runs nothing it can reach: this host's agent answers
        // that it has no such node (deleting a group whose host is gone does not wait).
        Box::pin(async move {
            match self.resolve(node_id, host).ok().flatten() {
                // The host stops a live process through the node's socket there; the address
                // is its fallback (a Unix path of this host means nothing there).
                Some(remote) => {
                    let address =
                        Self::tcp(addr).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    Ok(remote.remove(node_id, address).await?)
                }
                None => NodeRuntime::remove(self.local.as_ref(), node_id, None, addr).await,
            }
        })
    }

    fn probe<'a>(&'a self, addr: &'a NodeAddress, timeout: Duration) -> BoxFuture<'a, Probe> {
        NodeRuntime::probe(self.local.as_ref(), addr, timeout)
    }

    fn info<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Info, RuntimeError>> {
        NodeRuntime::info(self.local.as_ref(), addr, timeout)
    }

    fn command_categories<'a>(
        &'a self,
        addr: &'a NodeAddress,
        categories: &'a [&'a str],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<HashMap<String, Vec<String>>, RuntimeError>> {
        NodeRuntime::command_categories(self.local.as_ref(), addr, categories, timeout)
    }

    fn slowlog<'a>(
        &'a self,
        addr: &'a NodeAddress,
        count: u32,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(String, Vec<ferrocache_engine::SlowlogEntry>), RuntimeError>> {
        NodeRuntime::slowlog(self.local.as_ref(), addr, count, timeout)
    }

    fn read_log(
        &self,
        path: &Path,
        offset: u64,
        max: usize,
    ) -> std::io::Result<ferrocache_agent::process::LogChunk> {
        NodeRuntime::read_log(self.local.as_ref(), path, offset, max)
    }

    fn host_figures(&self) -> HostFigures {
        NodeRuntime::host_figures(self.local.as_ref())
    }

    fn sample_infos<'a>(
        &'a self,
        addrs: &'a [NodeAddress],
        timeout: Duration,
    ) -> BoxFuture<'a, Vec<(Result<String, RuntimeError>, std::time::SystemTime)>> {
        NodeRuntime::sample_infos(self.local.as_ref(), addrs, timeout)
    }

    fn forget_metrics_connection(&self, addr: &NodeAddress) {
        NodeRuntime::forget_metrics_connection(self.local.as_ref(), addr)
    }

    fn replicaof<'a>(
        &'a self,
        addr: &'a NodeAddress,
        primary: Option<SocketAddr>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::replicaof(self.local.as_ref(), addr, primary, timeout)
    }

    fn set_aside_data<'a>(
        &'a self,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::path::PathBuf>, RuntimeError>> {
        Box::pin(async move {
            match self.for_node(node_id)? {
                Some(host) => Ok(host.set_aside_data(node_id).await?),
                None => NodeRuntime::set_aside_data(self.local.as_ref(), node_id).await,
            }
        })
    }

    fn copy_data_file<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        target: &'a Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>> {
        Box::pin(async move {
            match self.resolve(node_id, host)? {
                Some(remote) => Ok(remote.copy_data_file(node_id, target).await?),
                None => {
                    NodeRuntime::copy_data_file(self.local.as_ref(), node_id, None, target).await
                }
            }
        })
    }

    fn copy_snapshot_file<'a>(
        &'a self,
        host: &'a str,
        region: &'a str,
        name: &'a str,
        file: &'a str,
        target: &'a Path,
    ) -> BoxFuture<'a, Result<(u64, String), RuntimeError>> {
        Box::pin(async move {
            let file = crate::wire::SnapshotFileRef {
                region: region.to_string(),
                name: name.to_string(),
                file: file.to_string(),
            };
            match self.resolve(name, Some(host))? {
                Some(remote) => Ok(remote.copy_snapshot_file(&file, target).await?),
                None => Err(RuntimeError::Agent(ferrocache_agent::AgentError::Host {
                    node_id: name.to_string(),
                    host: host.to_string(),
                    message: "the snapshot's files are not where this host keeps them".into(),
                })),
            }
        })
    }

    fn issue_node_tls<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        names: &'a ferrocache_pki::ServerNames,
    ) -> BoxFuture<'a, Result<ferrocache_agent::NodeTlsFiles, RuntimeError>> {
        Box::pin(async move {
            match self.resolve(node_id, host)? {
                Some(remote) => Ok(remote.issue_node_tls(node_id, names).await?),
                None => {
                    NodeRuntime::issue_node_tls(self.local.as_ref(), node_id, None, names).await
                }
            }
        })
    }

    fn stopped_cleanly<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            match self.for_node(node_id) {
                Ok(Some(host)) => host.stopped_cleanly(node_id).await,
                Ok(None) => NodeRuntime::stopped_cleanly(self.local.as_ref(), node_id).await,
                // A host out of reach proves nothing about how its node stopped.
                Err(_) => false,
            }
        })
    }

    fn seed_data<'a>(
        &'a self,
        node_id: &'a str,
        host: Option<&'a str>,
        source: &'a Path,
        expected_sha256: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            match self.resolve(node_id, host)? {
                Some(remote) => Ok(remote.seed_data(node_id, source, expected_sha256).await?),
                None => {
                    NodeRuntime::seed_data(
                        self.local.as_ref(),
                        node_id,
                        None,
                        source,
                        expected_sha256,
                    )
                    .await
                }
            }
        })
    }

    fn publish<'a>(
        &'a self,
        addr: &'a NodeAddress,
        channel: &'a str,
        message: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::publish(self.local.as_ref(), addr, channel, message, timeout)
    }

    fn config_set<'a>(
        &'a self,
        addr: &'a NodeAddress,
        name: &'a str,
        value: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::config_set(self.local.as_ref(), addr, name, value, timeout)
    }

    fn set_acl_users<'a>(
        &'a self,
        addr: &'a NodeAddress,
        users: &'a [(String, Vec<String>)],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::set_acl_users(self.local.as_ref(), addr, users, timeout)
    }

    fn bgsave<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
        digest: bool,
    ) -> BoxFuture<'a, Result<Option<SaveStart>, RuntimeError>> {
        NodeRuntime::bgsave(self.local.as_ref(), addr, timeout, digest)
    }

    fn digest<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>> {
        NodeRuntime::digest(self.local.as_ref(), addr, timeout)
    }

    fn cluster_myid<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, RuntimeError>> {
        NodeRuntime::cluster_myid(self.local.as_ref(), addr, timeout)
    }

    fn cluster_nodes<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<ClusterNode>, RuntimeError>> {
        NodeRuntime::cluster_nodes(self.local.as_ref(), addr, timeout)
    }

    fn cluster_info<'a>(
        &'a self,
        addr: &'a NodeAddress,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ClusterInfo, RuntimeError>> {
        NodeRuntime::cluster_info(self.local.as_ref(), addr, timeout)
    }

    fn cluster_meet<'a>(
        &'a self,
        addr: &'a NodeAddress,
        ip: IpAddr,
        port: u16,
        bus_port: u16,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::cluster_meet(self.local.as_ref(), addr, ip, port, bus_port, timeout)
    }

    fn cluster_add_slots_range<'a>(
        &'a self,
        addr: &'a NodeAddress,
        ranges: &'a [(u16, u16)],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::cluster_add_slots_range(self.local.as_ref(), addr, ranges, timeout)
    }

    fn cluster_replicate<'a>(
        &'a self,
        addr: &'a NodeAddress,
        primary: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::cluster_replicate(self.local.as_ref(), addr, primary, timeout)
    }

    fn cluster_forget<'a>(
        &'a self,
        addr: &'a NodeAddress,
        node_id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::cluster_forget(self.local.as_ref(), addr, node_id, timeout)
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
        NodeRuntime::move_slots(
            self.local.as_ref(),
            from,
            to,
            others,
            slots,
            deadline,
            timeout,
        )
    }

    fn claim_slots<'a>(
        &'a self,
        owner: &'a SlotOwner,
        slots: &'a [u16],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::claim_slots(self.local.as_ref(), owner, slots, timeout)
    }

    fn cluster_failover<'a>(
        &'a self,
        addr: &'a NodeAddress,
        mode: ClusterFailoverMode,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        NodeRuntime::cluster_failover(self.local.as_ref(), addr, mode, timeout)
    }
}
