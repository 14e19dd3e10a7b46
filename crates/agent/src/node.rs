//! [`Agent`], the owner of node processes on this host. Each node lives in
//! `<nodes_dir>/<node_id>/` with its `redis.conf`, `dump.rdb`, `redis.pid` and `redis.log`
//! (and, in cluster mode, the `nodes.conf` Redis keeps its cluster state in).
//! Every operation is idempotent and serialised per node, so the control plane can call it
//! again after any failure, including a crash of Ferrocache itself: a running node is then
//! found through its pidfile and adopted instead of restarted.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ferrocache_engine::sampling::exchange;
use ferrocache_engine::{
    check_node_id, render, AdminIdentity, ClusterFailoverMode, ClusterInfo, ClusterNode,
    EngineError, Info, NodeAddress, NodeClient, NodeConfig, SamplingConnection, SlotState,
};
use tracing::{debug, info, warn};

use crate::error::AgentError;
use crate::process::{log_tail, proc_cwd, read_pidfile, ProcessHandle, Signal};
use crate::watch::{NodeEvent, Watches};

/// How long a started (or adopted, still loading) node may take to answer `PING` with
/// `loading:0`. Generous because loading a large RDB runs at a few hundred MB/s.
pub const START_TIMEOUT_DEFAULT: Duration = Duration::from_secs(120);
/// How often a starting node is checked for readiness; short, because group creation waits on
/// it.
pub const START_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Bound on connecting to a node and on each admin call the agent makes while identifying,
/// starting or stopping it.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);
/// After `SHUTDOWN` returned, how long the process may take to exit (freeing a large heap
/// takes a moment).
pub const SHUTDOWN_EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// After SIGTERM, how long the process may take to exit; Redis 7 may first wait up to
/// `shutdown-timeout` (10 s) for lagging replicas.
pub const TERM_EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// After SIGKILL, how long until the kernel has removed the process.
pub const KILL_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// File in the node directory that receives redis-server's stdout and stderr. Redis logs to
/// `redis.log` once it has read its config, so this only catches what comes before, such as
/// `FATAL CONFIG FILE ERROR`.
pub const STDOUT_LOG_FILE_NAME: &str = "stdout.log";
/// `stdout.log` is appended to across starts (to keep the story of a crash loop) and
/// truncated at start once it exceeds this size.
pub const STDOUT_LOG_LEN_MAX: u64 = 1024 * 1024;

/// A node process the agent found running or started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProcess {
    /// Its PID.
    pub pid: u32,
    /// True when an already running process was adopted rather than started.
    pub adopted: bool,
    /// The `INFO` an adopted, ready node answered while being recognised; callers that need
    /// the node's state (role, link) use it instead of asking again. `None` after a start or a
    /// wait for loading, when the state is fresh anyway and must be read anew.
    pub info: Option<Info>,
}

/// The result of [`Agent::liveness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// No process of the node exists.
    Gone,
    /// The process exists but is stopped by a signal and answers nothing.
    Stopped(u32),
    /// The process exists and is scheduled (it may still be busy).
    Running(u32),
}

/// The result of [`Agent::probe`].
// `Up` is far larger than the other variants, but a probe result is short-lived and matched
// on at once, never stored in bulk, so boxing would only cost an allocation per probe.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// The node answered `INFO` and is serving.
    Up(Info),
    /// The node is up but still loading its dataset.
    Loading,
    /// The node did not answer; the reason is for logs and events.
    Down(String),
}

/// Starts, adopts, stops, probes and watches the `redis-server` processes of this host.
#[derive(Debug)]
pub struct Agent {
    /// Parent of every node directory; absolute, because Redis resolves relative paths
    /// against the directory it `chdir`s into.
    nodes_dir: PathBuf,
    /// The `redis-server` binary (a bare name is looked up on `PATH`).
    redis_server: PathBuf,
    /// Bound on waiting for a node to become ready.
    start_timeout: Duration,
    /// One async lock per node id, so concurrent calls for one node run one at a time while
    /// different nodes proceed in parallel. Entries are never removed: removing one while a
    /// task waits on it would let a second lock for the same node appear. There is one small
    /// entry per node this agent ever managed.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The control plane's identity on the nodes, if any.
    identity: Option<AdminIdentity>,
    /// Master keys for nodes encrypted at rest; `None` until [`Agent::with_key_ring`].
    keys: Option<ferrocache_encryption::KeyRing>,
    /// One watch per node process started or adopted, reporting its exit, stops and
    /// continues to [`Agent::process_events`] (see [`crate::watch`]); dropped with the agent,
    /// which ends them.
    watches: Watches,
    /// One kept connection per node for sampling (see [`Agent::sample_infos`]), each behind
    /// its own lock so the slow log reader and the sampler take turns on it.
    sampling: Mutex<HashMap<NodeAddress, SamplingSlot>>,
    /// The CA that issues nodes' own TLS certificates; `None` until
    /// [`Agent::with_certificates`].
    pub(crate) certificates: Option<Arc<ferrocache_pki::Certificates>>,
}

/// The connection kept to one node for sampling, if one is open; taken out while in use.
type SamplingSlot = Arc<tokio::sync::Mutex<Option<SamplingConnection>>>;

/// What the pidfile's process turned out to be.
enum Found {
    /// No live process, or one that is not ours (its PID was reused): start a new one.
    Nothing,
    /// Our node, answering on the configured address, with the `INFO` it answered.
    Ours(ProcessHandle, Box<Info>),
    /// A process in our node's directory that does not answer as our node.
    Stray(ProcessHandle, String),
}

impl Agent {
    /// An agent keeping nodes under `nodes_dir` (made absolute against the current directory)
    /// and running them with `redis_server`. Nothing is touched on disk until a node is
    /// started.
    pub fn new(nodes_dir: PathBuf, redis_server: PathBuf) -> Agent {
        // `absolute` only fails for an empty path; `render` then refuses the relative `dir`.
        let nodes_dir = std::path::absolute(&nodes_dir).unwrap_or(nodes_dir);
        Agent {
            nodes_dir,
            redis_server,
            start_timeout: START_TIMEOUT_DEFAULT,
            locks: Mutex::new(HashMap::new()),
            identity: None,
            keys: None,
            watches: Watches::new(),
            sampling: Mutex::new(HashMap::new()),
            certificates: None,
        }
    }

    /// Watches process exits with the polling fallback (a liveness check every
    /// [`EXIT_POLL_FALLBACK_INTERVAL`](crate::watch::EXIT_POLL_FALLBACK_INTERVAL)) even where
    /// `pidfd_open(2)` works. For tests of the fallback, which a kernel without `pidfd_open`
    /// (before 5.3) or a sandbox that forbids it gets on its own.
    pub fn without_pidfd(mut self) -> Agent {
        self.watches.force_polling();
        self
    }

    /// Runs every node with the control plane's `identity` (renamed restricted commands, the
    /// internal ACL user) and uses it for every admin connection, including probes and
    /// adoption. Without one, nodes run with Redis's own names and no ACL users.
    pub fn with_identity(mut self, identity: AdminIdentity) -> Agent {
        self.identity = Some(identity);
        self
    }

    /// Issues nodes' own TLS certificates from the CA of `certificates` (see [`crate::tls`]).
    pub fn with_certificates(mut self, certificates: Arc<ferrocache_pki::Certificates>) -> Agent {
        self.certificates = Some(certificates);
        self
    }

    /// The identity set with [`with_identity`](Self::with_identity).
    pub fn identity(&self) -> Option<&AdminIdentity> {
        self.identity.as_ref()
    }

    /// An admin connection to `addr`, as the control plane when there is an identity, every
    /// call bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`NodeClient::connect`].
    pub async fn admin_client(
        &self,
        addr: &NodeAddress,
        timeout: Duration,
    ) -> Result<NodeClient, EngineError> {
        let client = match &self.identity {
            Some(identity) => NodeClient::connect_as(addr, timeout, identity).await?,
            None => NodeClient::connect(addr, timeout).await?,
        };
        Ok(client.with_call_timeout(timeout))
    }

    /// `INFO default commandstats` of each node of `addrs` (its text), for metrics, and when
    /// each answer was read, in the order of `addrs`: all asked at once over the connection
    /// kept for each ([`SamplingConnection`], which says why not a [`NodeClient`]; a
    /// connection per sample would also cost a handshake and an `AUTH` each time and show in
    /// the node's own connection figures), the missing ones opened first, everything within
    /// `timeout`. A connection is dropped after any error (the node restarted, froze or went)
    /// and opened again on the next sample.
    pub async fn sample_infos(
        &self,
        addrs: &[NodeAddress],
        timeout: Duration,
    ) -> Vec<(Result<String, EngineError>, SystemTime)> {
        let started = Instant::now();
        let slots: Vec<SamplingSlot> = {
            let mut kept = self.sampling_slots();
            addrs
                .iter()
                .map(|addr| kept.entry(addr.clone()).or_default().clone())
                .collect()
        };
        // Each node's connection is held for the round; a slow log read waits its turn.
        let mut held = Vec::with_capacity(slots.len());
        for slot in slots {
            held.push(slot.lock_owned().await);
        }
        // Taken out of their slots for the exchange: if this future is dropped half-way, a
        // connection that may hold half a reply goes with it.
        let mut taken: Vec<Option<SamplingConnection>> =
            held.iter_mut().map(|slot| slot.take()).collect();
        let missing: Vec<usize> = (0..taken.len()).filter(|&at| taken[at].is_none()).collect();
        let opening = missing
            .iter()
            .map(|&at| SamplingConnection::open(&addrs[at], timeout, self.identity.as_ref()));
        let opened = futures_util::future::join_all(opening).await;
        let mut answers: Vec<Option<Result<String, EngineError>>> =
            addrs.iter().map(|_| None).collect();
        for (at, opened) in missing.into_iter().zip(opened) {
            match opened {
                Ok(connection) => taken[at] = Some(connection),
                Err(e) => answers[at] = Some(Err(e)),
            }
        }
        let (positions, mut connections): (Vec<usize>, Vec<&mut SamplingConnection>) = taken
            .iter_mut()
            .enumerate()
            .filter_map(|(at, connection)| connection.as_mut().map(|c| (at, c)))
            .unzip();
        for connection in &mut connections {
            connection.start_info_for_metrics();
        }
        let left = timeout.saturating_sub(started.elapsed());
        let exchanged = exchange(&mut connections, left).await;
        let taken_at = SystemTime::now();
        for ((at, connection), exchanged) in positions.into_iter().zip(connections).zip(exchanged) {
            answers[at] = Some(exchanged.and_then(|()| connection.take_text("INFO")));
        }
        let answers: Vec<Result<String, EngineError>> = answers
            .into_iter()
            .zip(addrs)
            .map(|(answer, addr)| {
                answer.unwrap_or_else(|| {
                    Err(EngineError::Timeout {
                        addr: addr.to_string(),
                        command: "INFO".to_string(),
                        timeout,
                    })
                })
            })
            .collect();
        for ((slot, connection), answer) in held.iter_mut().zip(taken).zip(&answers) {
            if answer.is_ok() {
                **slot = connection;
            }
        }
        answers
            .into_iter()
            .map(|answer| (answer, taken_at))
            .collect()
    }

    /// The commands in each of `categories` (`ACL CAT`), as the node at `addr` knows them:
    /// what the metrics' per-command-type counts are defined by.
    ///
    /// # Errors
    /// As for [`Agent::admin_client`] and [`NodeClient::acl_cat`].
    pub async fn command_categories(
        &self,
        addr: &NodeAddress,
        categories: &[&str],
        timeout: Duration,
    ) -> Result<HashMap<String, Vec<String>>, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        let mut out = HashMap::new();
        for category in categories {
            out.insert(category.to_string(), client.acl_cat(category).await?);
        }
        Ok(out)
    }

    /// The node's `run_id` (slow log ids start again with each process) and the newest
    /// `count` entries of its slow log, newest first, over the connection kept for sampling:
    /// read every few seconds, a connection each time would show in the node's own
    /// connection figures.
    ///
    /// # Errors
    /// As for [`SamplingConnection::open`] and
    /// [`SamplingConnection::take_run_id_and_slowlog`], or [`EngineError::Timeout`] after
    /// `timeout`.
    pub async fn slowlog(
        &self,
        addr: &NodeAddress,
        count: u32,
        timeout: Duration,
    ) -> Result<(String, Vec<ferrocache_engine::SlowlogEntry>), EngineError> {
        let started = Instant::now();
        let slot = self
            .sampling_slots()
            .entry(addr.clone())
            .or_default()
            .clone();
        let mut held = slot.lock().await;
        let mut connection = match held.take() {
            Some(connection) => connection,
            None => SamplingConnection::open(addr, timeout, self.identity.as_ref()).await?,
        };
        connection.start_run_id_and_slowlog(count);
        let left = timeout.saturating_sub(started.elapsed());
        let exchanged = exchange(&mut [&mut connection], left).await.pop();
        let answer = match exchanged {
            Some(Ok(())) => connection.take_run_id_and_slowlog(),
            Some(Err(e)) => Err(e),
            None => unreachable!("one connection, one result"),
        };
        if answer.is_ok() {
            *held = Some(connection);
        }
        answer
    }

    /// Drops the sampling connection to `addr` (its node is gone).
    pub fn forget_sampling(&self, addr: &NodeAddress) {
        self.sampling_slots().remove(addr);
    }

    fn sampling_slots(&self) -> std::sync::MutexGuard<'_, HashMap<NodeAddress, SamplingSlot>> {
        self.sampling.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets how long [`ensure_running`](Self::ensure_running) waits for a node to be ready.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Agent {
        self.start_timeout = timeout;
        self
    }

    /// Gives the agent the master keys of nodes encrypted at rest (see [`crate::at_rest`]).
    pub fn with_key_ring(mut self, keys: ferrocache_encryption::KeyRing) -> Agent {
        self.keys = Some(keys);
        self
    }

    /// A receiver of every node process event from now on: each process this agent starts or
    /// adopts is watched until it exits, and its exit, stops and continues are sent as they
    /// happen (how each is detected, and how fast, is in [`crate::watch`]). A node stopped or
    /// removed through the agent also yields `Exited`; the consumer knows it asked for it.
    ///
    /// The channel holds [`PROCESS_EVENTS_CAPACITY`](crate::watch::PROCESS_EVENTS_CAPACITY)
    /// events; a receiver that falls further behind gets `RecvError::Lagged` and must treat
    /// every node as possibly changed. The channel closes once the agent is dropped and its
    /// watcher tasks have wound down.
    pub fn process_events(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.watches.subscribe()
    }

    /// The processes being watched now, as (node id, PID), sorted; for diagnostics and tests.
    /// A process is no longer listed by the time its `Exited` is received.
    pub fn watched_processes(&self) -> Vec<(String, u32)> {
        self.watches.watched()
    }

    /// Ends every watch and starts no new ones: no more events are sent. Dropping the agent
    /// does the same; this is for an agent shared behind an `Arc` at shutdown.
    pub fn stop_watching(&self) {
        self.watches.shutdown();
    }

    /// The directory holding every node.
    pub fn nodes_dir(&self) -> &Path {
        &self.nodes_dir
    }

    /// The directory of one node, `<nodes_dir>/<node_id>`; what [`NodeConfig::dir`] must be.
    pub fn node_dir(&self, node_id: &str) -> PathBuf {
        self.nodes_dir.join(node_id)
    }

    /// Makes sure the node described by `cfg` is running and ready, adopting a process that
    /// already runs it.
    ///
    /// A process is adopted when the pidfile names a live process that answers on
    /// `cfg.address()` with that PID and this node's config file; it is not restarted and its
    /// config file is not rewritten (changing a running node is done with `CONFIG SET`). If it
    /// is still loading, this waits for it. Otherwise the config file is (re)written and
    /// `redis-server <dir>/redis.conf` is started in a process group of its own, so a Ctrl-C in
    /// Ferrocache's terminal or a crash of Ferrocache leaves it running; this returns once it
    /// answers `PING` with `loading:0`.
    ///
    /// # Errors
    ///
    /// [`AgentError::InvalidConfig`] / [`AgentError::DirMismatch`] for a config this agent
    /// cannot run; [`AgentError::Unresponsive`] when a process of this node runs but does not
    /// answer as configured (stop it first); [`AgentError::Spawn`],
    /// [`AgentError::ExitedDuringStart`] (with Redis's last log lines) or
    /// [`AgentError::StartTimeout`] (the process is left running) when starting fails;
    /// [`AgentError::Io`] for file errors.
    ///
    /// # Cancel safety
    ///
    /// Cancelling leaves a started process running; calling again adopts it.
    pub async fn ensure_running(&self, cfg: &NodeConfig) -> Result<NodeProcess, AgentError> {
        let node_id = cfg.node_id.as_str();
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let expected = self.node_dir(node_id);
        if cfg.dir != expected {
            return Err(AgentError::DirMismatch {
                node_id: node_id.to_string(),
                expected,
                found: cfg.dir.clone(),
            });
        }
        let text = match (&self.identity, &cfg.admin) {
            (Some(identity), None) => {
                let mut with_identity = cfg.clone();
                with_identity.admin = Some(identity.clone());
                render(&with_identity)
            }
            _ => render(cfg),
        }
        .map_err(|source| invalid(node_id, source))?;
        let _lock = self.lock(node_id).await;
        let addr = cfg.address();
        if let Some(process) = self.adopt_locked(cfg, &addr).await? {
            return Ok(process);
        }

        let dir = &cfg.dir;
        std::fs::create_dir_all(dir).map_err(|e| io_error(node_id, "create", dir, e))?;
        write_config(node_id, &cfg.config_path(), &text)?;
        // A stale pidfile (left by a crash) would otherwise name a dead or foreign PID until
        // the new process writes its own.
        remove_if_exists(&cfg.pid_path())
            .map_err(|e| io_error(node_id, "remove", &cfg.pid_path(), e))?;
        self.blocking(node_id, {
            let (keys, node, dir, key) = (
                self.keys.clone(),
                node_id.to_string(),
                dir.clone(),
                cfg.at_rest_key_id.clone(),
            );
            move || crate::at_rest::prepare_start(keys.as_ref(), &node, &dir, key.as_deref())
        })
        .await?;

        let mut child = self.spawn(cfg)?;
        let Some(pid) = child.id() else {
            // Only possible if the child was already reaped, which needs a wait we never did.
            return Err(self.exited_during_start(cfg, "exited at once".to_string()));
        };
        info!(node_id, pid, "started redis-server");
        // Not `capture`: if the child already exited, `wait_ready` reports it with its status.
        let process = ProcessHandle::from_pid(pid);
        // Watched from the start, so a crash while loading is reported like any other.
        self.watches.watch(node_id, process);
        self.wait_ready(cfg, &addr, process, Some(&mut child))
            .await?;
        crate::at_rest::after_start(node_id, dir, cfg.at_rest_key_id.as_deref())?;
        // It runs again: from now on its data file is only as new as its last save.
        crate::clean_stop::withdraw(dir).map_err(|e| {
            io_error(
                node_id,
                "remove",
                &dir.join(crate::clean_stop::CLEAN_STOP_FILE_NAME),
                e,
            )
        })?;
        // Dropping the child neither kills nor waits for it (`kill_on_drop` is off); tokio
        // reaps it in the background once it exits.
        drop(child);
        Ok(NodeProcess {
            pid,
            adopted: false,
            info: None,
        })
    }

    /// Adopts the node's process if one of ours runs it (as [`Agent::ensure_running`] does),
    /// but never starts one: `None` when it is not running. For a caller that must decide what
    /// to do with a node that just died (a primary about to fail over is not restarted in
    /// place), without a window between its own check and a start.
    ///
    /// # Errors
    ///
    /// As [`Agent::ensure_running`], except the start errors.
    pub async fn adopt(&self, cfg: &NodeConfig) -> Result<Option<NodeProcess>, AgentError> {
        let node_id = cfg.node_id.as_str();
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let expected = self.node_dir(node_id);
        if cfg.dir != expected {
            return Err(AgentError::DirMismatch {
                node_id: node_id.to_string(),
                expected,
                found: cfg.dir.clone(),
            });
        }
        let _lock = self.lock(node_id).await;
        self.adopt_locked(cfg, &cfg.address()).await
    }

    /// The adopting half of [`Agent::ensure_running`]; the caller holds the node's lock.
    async fn adopt_locked(
        &self,
        cfg: &NodeConfig,
        addr: &NodeAddress,
    ) -> Result<Option<NodeProcess>, AgentError> {
        let node_id = cfg.node_id.as_str();
        match self.find(cfg, addr).await {
            Found::Ours(process, info) => {
                // A process watched already (started or adopted before) keeps its one watch.
                self.watches.watch(node_id, process);
                let info = if info.loading {
                    self.wait_ready(cfg, addr, process, None).await?;
                    None
                } else {
                    Some(*info)
                };
                debug!(node_id, pid = process.pid, "adopted running node");
                Ok(Some(NodeProcess {
                    pid: process.pid,
                    adopted: true,
                    info,
                }))
            }
            Found::Stray(process, reason) => Err(AgentError::Unresponsive {
                node_id: node_id.to_string(),
                pid: process.pid,
                addr: addr.to_string(),
                reason,
            }),
            Found::Nothing => Ok(None),
        }
    }

    /// Stops the node: `SHUTDOWN SAVE` (or `NOSAVE`) through `addr`, then waits for the
    /// process to exit, escalating to SIGTERM and then SIGKILL by PID if it does not. A node
    /// that is not running is already stopped.
    ///
    /// The command is only sent after `INFO` on `addr` shows the pidfile's PID, so a reused
    /// address never shuts down someone else's server. When the node cannot be reached it is
    /// stopped by signal, and then it is not saved even if `save` was asked for (nodes run with
    /// no save points, so SIGTERM does not save): there is no way to ask it.
    ///
    /// # Errors
    ///
    /// [`AgentError::ShutdownRefused`] when `save` was asked and Redis could not write the RDB
    /// (the node keeps running, with its data); [`AgentError::StillRunning`] if even SIGKILL
    /// did not end it; [`AgentError::Signal`] / [`AgentError::Io`] for OS errors.
    ///
    /// # Cancel safety
    ///
    /// Cancelling may leave the node stopping or stopped; calling again finishes the job.
    pub async fn stop(
        &self,
        node_id: &str,
        addr: &NodeAddress,
        save: bool,
    ) -> Result<(), AgentError> {
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let _lock = self.lock(node_id).await;
        let saved = self.stop_locked(node_id, addr, save).await?;
        self.blocking(node_id, {
            let (keys, node, dir) = (
                self.keys.clone(),
                node_id.to_string(),
                self.node_dir(node_id),
            );
            move || crate::at_rest::seal_after_stop(keys.as_ref(), &node, &dir)
        })
        .await?;
        if saved {
            if let Err(e) = crate::clean_stop::record(&self.node_dir(node_id)) {
                warn!(node_id, error = %e, "cannot record the clean stop beside the data file");
            }
        }
        Ok(())
    }

    /// Whether the node's data file is the one its last clean stop saved (`SHUTDOWN SAVE`
    /// through [`Agent::stop`], the file unchanged since): it holds everything the node
    /// acknowledged, so a restart loads it. Read from the node's directory, not from any store.
    pub fn stopped_cleanly(&self, node_id: &str) -> bool {
        check_node_id(node_id).is_ok() && crate::clean_stop::vouches(&self.node_dir(node_id))
    }

    /// Runs file work (sealing, unsealing) off the async threads.
    async fn blocking<F>(&self, node_id: &str, work: F) -> Result<(), AgentError>
    where
        F: FnOnce() -> Result<(), AgentError> + Send + 'static,
    {
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            io_error(
                node_id,
                "seal",
                &self.node_dir(node_id),
                io::Error::other(e),
            )
        })?
    }

    /// Stops the node without saving and deletes its directory, data included.
    ///
    /// # Errors
    ///
    /// As for [`stop`](Self::stop), and [`AgentError::Io`] if the directory cannot be removed.
    pub async fn remove(&self, node_id: &str, addr: &NodeAddress) -> Result<(), AgentError> {
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let _lock = self.lock(node_id).await;
        self.stop_locked(node_id, addr, false).await?;
        let dir = self.node_dir(node_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                info!(node_id, "removed node directory");
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(node_id, "remove", &dir, e)),
        }
    }

    /// Name of the folder inside a node's directory where data files of a replaced node are
    /// kept.
    pub const SET_ASIDE_DIR: &'static str = "replaced";

    /// Moves the node's data file (`dump.rdb`, and `dump.rdb.sealed` for a node encrypted at
    /// rest) out of the way, into `<node dir>/replaced/<unix time>-<name>`, so the next start begins empty (a replica
    /// then resyncs from its primary). Used to replace a node whose data keeps it from
    /// starting; the file is kept, never deleted, so nothing is lost without a trace. Returns
    /// where it went, or `None` when there was no data file.
    ///
    /// Only for a node that is not running: the caller has seen it fail to start.
    ///
    /// # Errors
    ///
    /// [`AgentError::Io`] if the file cannot be moved.
    pub async fn set_aside_data(&self, node_id: &str) -> Result<Option<PathBuf>, AgentError> {
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let _lock = self.lock(node_id).await;
        let dir = self.node_dir(node_id);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let aside = dir.join(Self::SET_ASIDE_DIR);
        let mut moved = None;
        // The plaintext file and, for a node encrypted at rest, the sealed one.
        for name in [
            ferrocache_engine::config::RDB_FILE_NAME,
            crate::at_rest::SEALED_RDB_FILE_NAME,
        ] {
            let file = dir.join(name);
            if !file.exists() {
                continue;
            }
            std::fs::create_dir_all(&aside).map_err(|e| io_error(node_id, "create", &aside, e))?;
            let target = aside.join(format!("{stamp}-{name}"));
            std::fs::rename(&file, &target).map_err(|e| io_error(node_id, "move", &file, e))?;
            info!(node_id, to = %target.display(), "set the node's data file aside");
            moved.get_or_insert(target);
        }
        Ok(moved)
    }

    /// Places `source` as the node's data file (`dump.rdb`) before its first start, so it
    /// starts with that data (a restore from a snapshot).
    ///
    /// The file is linked (or, across file systems, copied) to a temporary name in the node's
    /// directory and its SHA-256 computed; only a file whose digest equals `expected_sha256` is
    /// synced and renamed over `dump.rdb` (and the directory synced), so a crash or a corrupt
    /// source never leaves a partial data file for redis-server to load, and a failed attempt
    /// leaves no file at all. Calling it again simply places it again.
    ///
    /// # Errors
    ///
    /// [`AgentError::SeedWhileRunning`] while the node's process lives;
    /// [`AgentError::DigestMismatch`] for a source whose bytes do not match;
    /// [`AgentError::Io`] for file failures.
    pub async fn seed_data(
        &self,
        node_id: &str,
        source: &Path,
        expected_sha256: &str,
    ) -> Result<(), AgentError> {
        check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let _lock = self.lock(node_id).await;
        if !matches!(self.liveness(node_id), crate::Liveness::Gone) {
            return Err(AgentError::SeedWhileRunning {
                node_id: node_id.to_string(),
            });
        }
        let dir = self.node_dir(node_id);
        let (node, source, expected, keys) = (
            node_id.to_string(),
            source.to_path_buf(),
            expected_sha256.to_ascii_lowercase(),
            self.keys.clone(),
        );
        tokio::task::spawn_blocking(move || {
            seed_file(&node, &dir, &source, &expected, keys.as_ref())
        })
        .await
        .map_err(|e| io_error(node_id, "copy", Path::new("dump.rdb"), io::Error::other(e)))?
    }

    /// Asks the node at `addr` for `INFO`, within `timeout` overall.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn probe(&self, addr: &NodeAddress, timeout: Duration) -> Probe {
        let attempt = async {
            let client = self.admin_client(addr, timeout).await?;
            client.info().await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(info)) if info.loading => Probe::Loading,
            Ok(Ok(info)) => Probe::Up(info),
            Ok(Err(error)) if error.is_loading() => Probe::Loading,
            Ok(Err(error)) => Probe::Down(error.to_string()),
            Err(_) => Probe::Down(format!("no INFO from {addr} within {timeout:?}")),
        }
    }

    /// `CLUSTER MYID` on the node at `addr` (see [`NodeClient::cluster_myid`]); connecting and
    /// the call are each bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_myid`].
    pub async fn cluster_myid(
        &self,
        addr: &NodeAddress,
        timeout: Duration,
    ) -> Result<String, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_myid().await
    }

    /// `CLUSTER MEET` from the node at `addr` to the node announcing `ip:port`, bus on
    /// `ip:bus_port` (see [`NodeClient::cluster_meet`]); connecting and the call are each
    /// bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_meet`].
    pub async fn cluster_meet(
        &self,
        addr: &NodeAddress,
        ip: IpAddr,
        port: u16,
        bus_port: u16,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_meet(ip, port, bus_port).await
    }

    /// `CLUSTER ADDSLOTSRANGE` on the node at `addr` with the inclusive `ranges` (see
    /// [`NodeClient::cluster_add_slots_range`]); connecting and the call are each bounded by
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_add_slots_range`].
    pub async fn cluster_add_slots_range(
        &self,
        addr: &NodeAddress,
        ranges: &[(u16, u16)],
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_add_slots_range(ranges).await
    }

    /// `CLUSTER REPLICATE <primary_id>` on the node at `addr` (see
    /// [`NodeClient::cluster_replicate`]); connecting and the call are each bounded by
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_replicate`].
    pub async fn cluster_replicate(
        &self,
        addr: &NodeAddress,
        primary_id: &str,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_replicate(primary_id).await
    }

    /// `CLUSTER FORGET <node_id>` on the node at `addr` (see [`NodeClient::cluster_forget`]);
    /// connecting and the call are each bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_forget`].
    pub async fn cluster_forget(
        &self,
        addr: &NodeAddress,
        node_id: &str,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_forget(node_id).await
    }

    /// `CLUSTER SETSLOT <slot> <state>` on the node at `addr` (see
    /// [`NodeClient::cluster_setslot`]); connecting and the call are each bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_setslot`].
    pub async fn cluster_setslot(
        &self,
        addr: &NodeAddress,
        slot: u16,
        state: SlotState<'_>,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_setslot(slot, state).await
    }

    /// Up to `count` keys of `slot` held by the node at `addr`, and how many it holds in all
    /// (see [`NodeClient::cluster_keys_in_slot`]).
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_keys_in_slot`].
    pub async fn cluster_keys_in_slot(
        &self,
        addr: &NodeAddress,
        slot: u16,
        count: u32,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_keys_in_slot(slot, count).await
    }

    /// How many keys of `slot` the node at `addr` holds.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_count_keys_in_slot`].
    pub async fn cluster_count_keys_in_slot(
        &self,
        addr: &NodeAddress,
        slot: u16,
        timeout: Duration,
    ) -> Result<u64, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_count_keys_in_slot(slot).await
    }

    /// Moves `keys` from the node at `addr` to the node listening on `target` (see
    /// [`NodeClient::migrate_keys`]), logging in there as the control plane's internal user
    /// when the agent has an identity. `timeout` bounds connecting and the transfer.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::migrate_keys`].
    pub async fn migrate_keys(
        &self,
        addr: &NodeAddress,
        target: std::net::SocketAddr,
        keys: &[Vec<u8>],
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        let auth = self
            .identity
            .as_ref()
            .map(|i| (i.user.as_str(), i.password.as_str()));
        client.migrate_keys(target, keys, timeout, auth).await
    }

    /// `CLUSTER FAILOVER` in `mode` on the replica at `addr` (see
    /// [`NodeClient::cluster_failover`]); connecting and the call are each bounded by
    /// `timeout`. Returns once the failover has started, not when it is done.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_failover`].
    pub async fn cluster_failover(
        &self,
        addr: &NodeAddress,
        mode: ClusterFailoverMode,
        timeout: Duration,
    ) -> Result<(), EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_failover(mode).await
    }

    /// `CLUSTER INFO` of the node at `addr`, parsed (see [`NodeClient::cluster_info`]);
    /// connecting and the call are each bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_info`].
    pub async fn cluster_info(
        &self,
        addr: &NodeAddress,
        timeout: Duration,
    ) -> Result<ClusterInfo, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_info().await
    }

    /// `CLUSTER NODES` of the node at `addr`, parsed (see [`NodeClient::cluster_nodes`]);
    /// connecting and the call are each bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Agent::admin_client`] and [`NodeClient::cluster_nodes`].
    pub async fn cluster_nodes(
        &self,
        addr: &NodeAddress,
        timeout: Duration,
    ) -> Result<Vec<ClusterNode>, EngineError> {
        let client = self.admin_client(addr, timeout).await?;
        client.cluster_nodes().await
    }

    /// The PID in the node's pidfile, if that process is alive (zombies count as dead).
    pub fn pid(&self, node_id: &str) -> Option<u32> {
        check_node_id(node_id).ok()?;
        let pid = read_pidfile(
            &self
                .node_dir(node_id)
                .join(ferrocache_engine::PID_FILE_NAME),
        )?;
        ProcessHandle::capture(pid).map(|process| process.pid)
    }

    /// What the node's process is doing, from the operating system's point of view: how the
    /// control plane tells a dead or frozen primary (fail over) from a merely busy one (wait).
    pub fn liveness(&self, node_id: &str) -> Liveness {
        match self.pid(node_id) {
            None => Liveness::Gone,
            Some(pid) if crate::process::is_stopped(pid) => Liveness::Stopped(pid),
            Some(pid) => Liveness::Running(pid),
        }
    }

    /// Sends `signal` to the node's process, for tests and failure injection; returns the PID.
    ///
    /// # Errors
    ///
    /// [`AgentError::NotRunning`] when the node has no live process, [`AgentError::Signal`]
    /// when `kill(2)` fails.
    pub fn kill(&self, node_id: &str, signal: Signal) -> Result<u32, AgentError> {
        let not_running = || AgentError::NotRunning {
            node_id: node_id.to_string(),
        };
        let pid = self.pid(node_id).ok_or_else(not_running)?;
        let process = ProcessHandle::capture(pid).ok_or_else(not_running)?;
        process
            .signal(signal)
            .map_err(|source| AgentError::Signal {
                node_id: node_id.to_string(),
                pid,
                source,
            })?;
        Ok(pid)
    }

    async fn lock(&self, node_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(node_id.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Identifies the process named by the node's pidfile.
    async fn find(&self, cfg: &NodeConfig, addr: &NodeAddress) -> Found {
        let Some(pid) = read_pidfile(&cfg.pid_path()) else {
            return Found::Nothing;
        };
        let Some(process) = ProcessHandle::capture(pid) else {
            return Found::Nothing;
        };
        let answer = async {
            let client = self.admin_client(addr, ADMIN_TIMEOUT).await?;
            client.info().await
        }
        .await;
        let reason = match answer {
            Ok(info)
                if info.process_id == pid && same_file(&info.config_file, &cfg.config_path()) =>
            {
                return Found::Ours(process, Box::new(info));
            }
            Ok(info) => format!(
                "{addr} is process {} with config file {:?}",
                info.process_id, info.config_file
            ),
            Err(error) => error.to_string(),
        };
        // Not answering as our node. If it runs from our directory it is ours all the same
        // (hung, or started with another address); otherwise the PID was reused by an
        // unrelated process and the pidfile is stale.
        match proc_cwd(pid) {
            Some(cwd) if same_path(&cwd, &cfg.dir) => Found::Stray(process, reason),
            _ => Found::Nothing,
        }
    }

    fn spawn(&self, cfg: &NodeConfig) -> Result<tokio::process::Child, AgentError> {
        let node_id = cfg.node_id.as_str();
        let stdout_path = cfg.dir.join(STDOUT_LOG_FILE_NAME);
        let too_big = std::fs::metadata(&stdout_path).is_ok_and(|m| m.len() > STDOUT_LOG_LEN_MAX);
        let stdout = OpenOptions::new()
            .create(true)
            .append(!too_big)
            .write(true)
            .truncate(too_big)
            .open(&stdout_path)
            .map_err(|e| io_error(node_id, "open", &stdout_path, e))?;
        let stderr = stdout
            .try_clone()
            .map_err(|e| io_error(node_id, "open", &stdout_path, e))?;

        let mut command = tokio::process::Command::new(&self.redis_server);
        command
            .arg(cfg.config_path())
            .current_dir(&cfg.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(false)
            // A process group of its own, so Ctrl-C (SIGINT to the terminal's foreground group)
            // and the shell's SIGHUP to its jobs do not reach the node. Set through
            // posix_spawn's attributes rather than a `pre_exec` hook: with a hook the standard
            // library must fork(), whose cost grows with this process's page tables and open
            // descriptors (thousands of listening sockets at 1000 nodes); posix_spawn
            // (vfork-style) keeps a node's start-up cost flat.
            .process_group(0);
        command.spawn().map_err(|source| AgentError::Spawn {
            node_id: node_id.to_string(),
            program: self.redis_server.clone(),
            source,
        })
    }

    /// Waits until `process` answers `PING` on `addr` with `loading:0` and its own PID in
    /// `INFO`, failing early if it exits.
    async fn wait_ready(
        &self,
        cfg: &NodeConfig,
        addr: &NodeAddress,
        process: ProcessHandle,
        mut child: Option<&mut tokio::process::Child>,
    ) -> Result<(), AgentError> {
        let deadline = Instant::now() + self.start_timeout;
        let mut client: Option<NodeClient> = None;
        let mut last_error = "no answer yet".to_string();
        loop {
            // Our own child is checked through its exit status, which also reaps it.
            let exit_status = match child.as_deref_mut() {
                Some(child) => child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|status| status.to_string()),
                None => (!process.is_alive()).then(|| "exited".to_string()),
            };
            if let Some(status) = exit_status {
                return Err(self.exited_during_start(cfg, status));
            }
            if client.is_none() {
                match self.admin_client(addr, ADMIN_TIMEOUT).await {
                    Ok(connected) => client = Some(connected),
                    Err(error) => last_error = error.to_string(),
                }
            }
            if let Some(connected) = &client {
                match ready(connected, process.pid).await {
                    Ok(()) => return Ok(()),
                    Err(NotReady { reason, reconnect }) => {
                        last_error = reason;
                        // A broken or stalled connection is dialled again next round.
                        if reconnect {
                            client = None;
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(AgentError::StartTimeout {
                    node_id: cfg.node_id.clone(),
                    pid: process.pid,
                    timeout: self.start_timeout,
                    last_error,
                });
            }
            tokio::time::sleep(START_POLL_INTERVAL).await;
        }
    }

    fn exited_during_start(&self, cfg: &NodeConfig, status: String) -> AgentError {
        let mut tail = String::new();
        for path in [cfg.log_path(), cfg.dir.join(STDOUT_LOG_FILE_NAME)] {
            let lines = log_tail(&path);
            if lines.is_empty() {
                continue;
            }
            tail.push_str(&format!("{}:\n", path.display()));
            for line in lines {
                tail.push_str("  ");
                tail.push_str(&line);
                tail.push('\n');
            }
        }
        if tail.is_empty() {
            tail.push_str("(both logs are empty)\n");
        }
        AgentError::ExitedDuringStart {
            node_id: cfg.node_id.clone(),
            status,
            log_tail: tail,
        }
    }

    async fn stop_locked(
        &self,
        node_id: &str,
        addr: &NodeAddress,
        save: bool,
    ) -> Result<bool, AgentError> {
        let pid_path = self
            .node_dir(node_id)
            .join(ferrocache_engine::PID_FILE_NAME);
        let process = read_pidfile(&pid_path).and_then(ProcessHandle::capture);
        let Some(process) = process else {
            // Already stopped; a pidfile left by a crash would only mislead later.
            remove_if_exists(&pid_path).map_err(|e| io_error(node_id, "remove", &pid_path, e))?;
            return Ok(false);
        };
        let pid = process.pid;

        match self.shutdown_command(addr, pid, save).await {
            Ok(()) => {
                if process.wait_exit(SHUTDOWN_EXIT_TIMEOUT).await {
                    info!(node_id, pid, save, "node stopped by SHUTDOWN");
                    self.forget_pidfile(node_id, &pid_path, pid)?;
                    return Ok(save);
                }
                warn!(
                    node_id,
                    pid, "node did not exit after SHUTDOWN; sending SIGTERM"
                );
            }
            Err(ShutdownFailure::Refused(source)) => {
                return Err(AgentError::ShutdownRefused {
                    node_id: node_id.to_string(),
                    source,
                })
            }
            Err(ShutdownFailure::Unreachable(reason)) => {
                warn!(node_id, pid, save, %reason, "cannot SHUTDOWN node; stopping it by signal without saving");
            }
        }

        let signal_error = |source| AgentError::Signal {
            node_id: node_id.to_string(),
            pid,
            source,
        };
        process.signal(Signal::Term).map_err(signal_error)?;
        // A stopped (SIGSTOP) process only acts on SIGTERM once continued.
        process.signal(Signal::Cont).map_err(signal_error)?;
        if process.wait_exit(TERM_EXIT_TIMEOUT).await {
            info!(node_id, pid, "node stopped by SIGTERM");
            self.forget_pidfile(node_id, &pid_path, pid)?;
            return Ok(false);
        }
        warn!(node_id, pid, "node ignored SIGTERM; sending SIGKILL");
        process.signal(Signal::Kill).map_err(signal_error)?;
        if process.wait_exit(KILL_EXIT_TIMEOUT).await {
            self.forget_pidfile(node_id, &pid_path, pid)?;
            return Ok(false);
        }
        Err(AgentError::StillRunning {
            node_id: node_id.to_string(),
            pid,
        })
    }

    /// Sends `SHUTDOWN` to `addr` if, and only if, it is process `pid`.
    async fn shutdown_command(
        &self,
        addr: &NodeAddress,
        pid: u32,
        save: bool,
    ) -> Result<(), ShutdownFailure> {
        let client = self
            .admin_client(addr, ADMIN_TIMEOUT)
            .await
            .map_err(|e| ShutdownFailure::Unreachable(e.to_string()))?;
        let info = client
            .info()
            .await
            .map_err(|e| ShutdownFailure::Unreachable(e.to_string()))?;
        if info.process_id != pid {
            return Err(ShutdownFailure::Unreachable(format!(
                "{addr} is process {}, not {pid}",
                info.process_id
            )));
        }
        match client.shutdown(save).await {
            Ok(()) => Ok(()),
            // Redis keeps running (and keeps the data) when it cannot save; killing it now
            // would lose what the caller asked us to keep.
            Err(error @ EngineError::Reply { .. }) if save => Err(ShutdownFailure::Refused(error)),
            Err(error) => Err(ShutdownFailure::Unreachable(error.to_string())),
        }
    }

    /// Removes the pidfile after the process exited, if it still names that process (Redis
    /// removes it itself on a clean shutdown, but not when killed).
    fn forget_pidfile(&self, node_id: &str, pid_path: &Path, pid: u32) -> Result<(), AgentError> {
        if read_pidfile(pid_path) == Some(pid) {
            remove_if_exists(pid_path).map_err(|e| io_error(node_id, "remove", pid_path, e))?;
        }
        Ok(())
    }
}

/// Why `SHUTDOWN` did not do the job.
enum ShutdownFailure {
    /// Redis answered and refused: do not escalate.
    Refused(EngineError),
    /// Redis could not be asked (down, hung, someone else on the address): use signals.
    Unreachable(String),
}

/// Why a readiness check failed.
struct NotReady {
    /// For the `StartTimeout` error.
    reason: String,
    /// The connection itself failed and must be dialled again.
    reconnect: bool,
}

impl From<EngineError> for NotReady {
    fn from(error: EngineError) -> Self {
        let reconnect = matches!(
            error,
            EngineError::Connection { .. } | EngineError::Timeout { .. }
        );
        NotReady {
            reason: error.to_string(),
            reconnect,
        }
    }
}

/// One readiness check: `INFO` shows our PID and `loading:0`, and `PING` answers.
async fn ready(client: &NodeClient, pid: u32) -> Result<(), NotReady> {
    let info = client.info().await?;
    if info.process_id != pid {
        // Someone else holds the address; our process will fail to bind and exit.
        return Err(NotReady {
            reason: format!(
                "{} is answered by process {}, not {pid}",
                client.address(),
                info.process_id
            ),
            reconnect: true,
        });
    }
    if info.loading {
        return Err(NotReady {
            reason: "still loading the dataset".to_string(),
            reconnect: false,
        });
    }
    Ok(client.ping().await?)
}

pub(crate) fn invalid(node_id: &str, source: EngineError) -> AgentError {
    AgentError::InvalidConfig {
        node_id: node_id.to_string(),
        source,
    }
}

pub(crate) fn io_error(
    node_id: &str,
    action: &'static str,
    path: &Path,
    source: io::Error,
) -> AgentError {
    AgentError::Io {
        node_id: node_id.to_string(),
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Buffer of a data-file copy.
const SEED_COPY_BUFFER_BYTES: usize = 1 << 20;

/// The blocking half of [`Agent::seed_data`].
fn seed_file(
    node_id: &str,
    dir: &Path,
    source: &Path,
    expected: &str,
    keys: Option<&ferrocache_encryption::KeyRing>,
) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(node_id, "create", dir, e))?;
    let target = dir.join(ferrocache_engine::config::RDB_FILE_NAME);
    let temp = dir.join(format!(
        ".{}.seed.tmp",
        ferrocache_engine::config::RDB_FILE_NAME
    ));
    // A leftover goes unopened: it may be a link to a snapshot file, which writing would change.
    remove_if_exists(&temp).map_err(|e| io_error(node_id, "remove", &temp, e))?;
    let placed = link_or_copy(node_id, source, &temp).and_then(|actual| {
        if actual == expected {
            Ok(())
        } else {
            Err(AgentError::DigestMismatch {
                node_id: node_id.to_string(),
                source_path: source.to_path_buf(),
                expected: expected.to_string(),
                actual,
            })
        }
    });
    if let Err(e) = placed {
        // No partial file stays behind (on a full disk, its room is what is missing).
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    // A sealed snapshot file (encryption at rest) is unsealed on the way.
    crate::at_rest::place_seed(keys, node_id, &temp, &target)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(node_id, "sync", dir, e))?;
    info!(node_id, from = %source.display(), "placed the node's data file");
    Ok(())
}

/// Puts `source` at the new name `target` — a hard link where the file system allows it (data
/// files are only ever replaced by a rename, never written in place, so sharing the bytes with
/// the snapshot is safe and takes no room), a copy otherwise — synced; answers its SHA-256.
fn link_or_copy(node_id: &str, source: &Path, target: &Path) -> Result<String, AgentError> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    let linked = std::fs::hard_link(source, target).is_ok();
    let mut input = std::fs::File::open(if linked { target } else { source })
        .map_err(|e| io_error(node_id, "open", source, e))?;
    let mut output = if linked {
        None
    } else {
        Some(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(target)
                .map_err(|e| io_error(node_id, "create", target, e))?,
        )
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; SEED_COPY_BUFFER_BYTES];
    loop {
        let n = input
            .read(&mut buffer)
            .map_err(|e| io_error(node_id, "read", source, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some(output) = output.as_mut() {
            output
                .write_all(&buffer[..n])
                .map_err(|e| io_error(node_id, "write", target, e))?;
        }
    }
    let synced = match output {
        Some(output) => output.sync_all(),
        None => input.sync_all(),
    };
    synced.map_err(|e| io_error(node_id, "sync", target, e))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes the config through a temporary file and a rename, so a crash mid-write never
/// leaves a truncated `redis.conf` for the next start.
fn write_config(node_id: &str, path: &Path, text: &str) -> Result<(), AgentError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("conf.tmp");
    // 0600: the file holds the internal user's password (`masterauth`) and auth tokens.
    let _ = std::fs::remove_file(&tmp);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| io_error(node_id, "write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(node_id, "write", path, e))
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Compares the `config_file` Redis reports with ours, falling back to resolved paths in
/// case either went through a symlink.
fn same_file(reported: &str, ours: &Path) -> bool {
    !reported.is_empty() && same_path(Path::new(reported), ours)
}

fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
