//! The controller: a work queue keyed by resource, the events that fill it, and the
//! reconcilers it runs.
//!
//! Work arrives from three sources, and each names only the resources it concerns:
//! - the store's change feed: every commit's changed documents are mapped to the resources
//!   they concern ([`triggers`]);
//! - the agent's process events: a node's process exited, stopped or continued;
//! - timers: a reconciler that wants to look again later says so ([`Next::After`]), and a
//!   failed step is retried with backoff.
//!
//! The [`queue::WorkQueue`] runs each resource at most once at a time (many resources at
//! once, up to [`RECONCILES_IN_FLIGHT_MAX`]) and again right after if it changed meanwhile.
//! Reconcilers read spec, intent and observed facts, do the next step and return [`Next`];
//! each step is idempotent, so a crash anywhere is finished by the next run after restart.
//! The only pass over everything is the relist at start (and after the change feed fell
//! behind).
//!
//! - [`node`]: one node's process, its role, its settings, its facts and events.
//! - [`failover`]: a shard's primary: placement and the failover state machine (the one writer
//!   of a shard's intent).
//! - [`group`]: a group's status and events over its shards and members.
//! - [`routes`]: the endpoints of a group or standalone node, written as route documents.
//! - [`snapshot`]: a snapshot's `BGSAVE` on its node and the atomic copy of the RDB.
//! - [`automatic`]: the automatic snapshots of one group or standalone node.
//! - [`reshard`]: a cluster-mode group's online resharding: slots moved with their keys.
//! - [`cluster_mode`]: a live group's members carried into cluster mode (`ClusterMode`
//!   `compatible`), primary first.
//! - [`queue`]: the work queue; [`triggers`]: which work a change queues.

pub mod automatic;
pub mod cluster_mode;
pub mod failover;
pub mod group;
pub mod node;
pub mod queue;
pub mod reshard;
pub mod routes;
pub mod snapshot;
pub mod triggers;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrocache_agent::NodeEvent;
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::Fault;
use ferrocache_store::{view, ReadExt, Store, StoreError, WriteExt};
use ipnet::Ipv4Net;
use tokio::sync::{broadcast, watch, Semaphore};

use queue::{Kind, Outcome, Work, WorkQueue};

/// How long a reconciler waiting on the engine (a replica syncing) waits before looking again.
pub const POLL_SOON: Duration = Duration::from_millis(20);
/// How long shutdown waits for running reconcilers before stopping nodes anyway.
pub const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(10);
/// Most reconciler runs at once: each node start waits for its process, so many run
/// concurrently; the bound keeps a thousand creates from starting a thousand tasks at once.
pub const RECONCILES_IN_FLIGHT_MAX: usize = 256;

/// Settings of the control loop.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Where node directories live (`<data-dir>/nodes`).
    pub nodes_dir: PathBuf,
    /// Where snapshots live (`<data-dir>/snapshots/<region>/<name>/`).
    pub snapshots_dir: PathBuf,
    /// `--endpoint-cidr`.
    pub cidr: Ipv4Net,
    /// Master keys for encryption at rest (snapshots of encrypted groups are sealed with them);
    /// `None`: encrypted groups cannot be snapshotted.
    pub keys: Option<ferrocache_encryption::KeyRing>,
    /// This host's name when several hosts share the store (`--store etcd://…`): new nodes
    /// are placed across the registered hosts, and this one reaches the nodes of the others
    /// over the network. `None`: one host, every node here.
    pub host: Option<String>,
}

/// What a reconciler wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until an event concerning the resource (a change in the store, a process
    /// event).
    Done,
    /// Run again after this long.
    After(Duration),
}

/// Why a reconcile step failed; it is logged and retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A rule refused the step (e.g. no free address).
    #[error(transparent)]
    Fault(#[from] Fault),
    /// A node operation failed.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A file of this host could not be written (a staging file).
    #[error("{0}")]
    Io(String),
}

/// Shared by the loop and its tasks.
pub(crate) struct Context {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) agent: Arc<dyn crate::runtime::NodeRuntime>,
    pub(crate) config: ControlConfig,
    /// The resources waiting to be reconciled.
    queue: WorkQueue,
    /// Every task this controller started (reconcilers, the event forwarders), so that
    /// [`Controller::halt`] can stop them all at once.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// Bounds the runs in flight (see [`RECONCILES_IN_FLIGHT_MAX`]).
    in_flight: Arc<Semaphore>,
    /// The store key of each node id (process events name nodes by id), kept from the change
    /// feed.
    node_keys: Mutex<HashMap<String, String>>,
    /// The object store of `--s3-endpoint` (exports, seeding from `SnapshotArns`).
    pub(crate) objects: Option<Arc<dyn crate::object_store::ObjectStore>>,
    /// The clock of the automatic-snapshot windows (see [`crate::clock`]).
    pub(crate) clock: crate::clock::Clock,
    /// Where node samples go for `GET /metrics`; `None`: nodes are not sampled.
    samples: Option<Arc<ferrocache_metrics::Samples>>,
    /// Ferrocache's own figures (reconcile runs, failovers, snapshots); `None`: not counted.
    pub(crate) own: Option<Arc<ferrocache_metrics::Own>>,
    /// Where ElastiCache's datapoints go (CloudWatch); `None`: not published.
    publisher: Option<Arc<dyn crate::sampling::MetricPublisher>>,
    /// Where delivered logs go (CloudWatch Logs); `None`: logs are not delivered.
    log_sink: Option<Arc<dyn crate::log_delivery::LogSink>>,
    /// Every node of a group with encryption in transit serves TLS itself (`--engine-tls`,
    /// see `reconcile::node::tls`); otherwise only those placed on named hosts do.
    pub(crate) engine_tls: bool,
}

/// The control loop.
#[derive(Clone)]
pub struct Controller {
    ctx: Arc<Context>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.ctx.config)
            .field("queue", &self.ctx.queue)
            .finish()
    }
}

impl Controller {
    /// A controller over `store`, running nodes through `agent`.
    pub fn new(
        store: Arc<dyn Store>,
        agent: Arc<dyn crate::runtime::NodeRuntime>,
        config: ControlConfig,
    ) -> Self {
        let ctx = Context {
            store,
            agent,
            config,
            queue: WorkQueue::default(),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            in_flight: Arc::new(Semaphore::new(RECONCILES_IN_FLIGHT_MAX)),
            node_keys: Mutex::new(HashMap::new()),
            objects: None,
            clock: crate::clock::Clock::from_env(),
            samples: None,
            own: None,
            publisher: None,
            log_sink: None,
            engine_tls: false,
        };
        Self { ctx: Arc::new(ctx) }
    }

    /// The same controller with the object store of `--s3-endpoint`.
    ///
    /// # Panics
    /// When called after the controller was cloned or started (it is a constructor step).
    pub fn with_object_store(
        mut self,
        objects: Option<Arc<dyn crate::object_store::ObjectStore>>,
    ) -> Self {
        Arc::get_mut(&mut self.ctx)
            .expect("with_object_store is called before the controller is shared")
            .objects = objects;
        self
    }

    /// The same controller giving every node of a group with encryption in transit its own
    /// TLS port, with a certificate the node's agent issues (see `reconcile::node::tls`).
    ///
    /// # Panics
    /// When called after the controller was cloned or started (it is a constructor step).
    pub fn with_engine_tls(mut self) -> Self {
        Arc::get_mut(&mut self.ctx)
            .expect("with_engine_tls is called before the controller is shared")
            .engine_tls = true;
        self
    }

    /// The same controller sampling every node into `samples` (see [`crate::sampling`]) and
    /// counting its work into `own`.
    ///
    /// # Panics
    /// When called after the controller was cloned or started (it is a constructor step).
    pub fn with_metrics(
        mut self,
        samples: Arc<ferrocache_metrics::Samples>,
        own: Arc<ferrocache_metrics::Own>,
    ) -> Self {
        let ctx = Arc::get_mut(&mut self.ctx)
            .expect("with_metrics is called before the controller is shared");
        ctx.samples = Some(samples);
        ctx.own = Some(own);
        self
    }

    /// The same controller publishing every node's ElastiCache metrics to `publisher` (see
    /// [`crate::sampling`]).
    ///
    /// # Panics
    /// When called after the controller was cloned or started (it is a constructor step).
    pub fn with_publisher(mut self, publisher: Arc<dyn crate::sampling::MetricPublisher>) -> Self {
        Arc::get_mut(&mut self.ctx)
            .expect("with_publisher is called before the controller is shared")
            .publisher = Some(publisher);
        self
    }

    /// The same controller delivering the nodes' logs to `sink` (see
    /// [`crate::log_delivery`]).
    ///
    /// # Panics
    /// When called after the controller was cloned or started (it is a constructor step).
    pub fn with_log_sink(mut self, sink: Arc<dyn crate::log_delivery::LogSink>) -> Self {
        Arc::get_mut(&mut self.ctx)
            .expect("with_log_sink is called before the controller is shared")
            .log_sink = Some(sink);
        self
    }

    /// Work that is ready, running or timed (diagnostics and tests).
    pub fn pending(&self) -> usize {
        self.ctx.queue.pending()
    }

    /// Runs the loop until `shutdown` turns true, then waits (bounded) for running tasks.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        // Subscribe before the relist, so no change falls in between.
        let feed = self.ctx.store.watch();
        let events = self.ctx.agent.process_events();
        if let Err(e) = relist(&self.ctx) {
            tracing::error!(error = %e, "cannot list the resources to reconcile");
        }
        {
            let mut tasks = self.ctx.tasks.lock().expect("tasks lock");
            tasks.spawn(follow_store(self.ctx.clone(), feed));
            tasks.spawn(follow_processes(self.ctx.clone(), events));
            let nodes_dir = &self.ctx.config.nodes_dir;
            let data_dir = nodes_dir.parent().unwrap_or(nodes_dir).to_path_buf();
            let sinks = crate::sampling::Sinks {
                samples: self.ctx.samples.clone(),
                publisher: self.ctx.publisher.clone(),
            };
            if sinks.samples.is_some() || sinks.publisher.is_some() {
                tasks.spawn(crate::sampling::sample_nodes(self.ctx.clone(), sinks));
            }
            if let Some(sink) = &self.ctx.log_sink {
                tasks.spawn(crate::log_delivery::ship_logs(
                    self.ctx.clone(),
                    sink.clone(),
                ));
            }
            tasks.spawn(crate::disk::watch_free_space(
                self.ctx.store.clone(),
                data_dir,
            ));
        }
        loop {
            let ctx = self.ctx.clone();
            let next = async move {
                let permit = ctx
                    .in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                (permit, ctx.queue.next().await)
            };
            let (permit, work) = tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                taken = next => taken,
            };
            let ctx = self.ctx.clone();
            let mut tasks = self.ctx.tasks.lock().expect("tasks lock");
            // Reap finished tasks so the set holds only running ones.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let started = std::time::Instant::now();
                let ran = run_work(ctx.clone(), &work).await;
                if let Some(own) = &ctx.own {
                    own.reconciled(work.kind.as_str(), started.elapsed().as_secs_f64());
                }
                let outcome = match ran {
                    Ok(next) => Outcome::Ran(next),
                    Err(e) => {
                        tracing::warn!(%work, error = %e, "reconcile step failed; will retry");
                        Outcome::Failed
                    }
                };
                ctx.queue.done(&work, outcome);
                drop(permit);
            });
        }
        // Wait (bounded) for the runs in flight: all permits back.
        let all = RECONCILES_IN_FLIGHT_MAX as u32;
        let _ = tokio::time::timeout(SHUTDOWN_WAIT_MAX, self.ctx.in_flight.acquire_many(all)).await;
        self.halt();
    }

    /// Reads every resource again and queues its reconcilers, as at start-up: after this
    /// process took the store's leadership back, whatever another leader or a refused
    /// transaction left is picked up.
    ///
    /// # Errors
    /// The store's, when it cannot be read.
    pub fn resync(&self) -> Result<(), StoreError> {
        relist(&self.ctx)
    }

    /// Stops every task of this controller at once, wherever each is, as a crash of the process
    /// would; the caller aborts [`Controller::run`] itself. A new controller over the same store
    /// must then finish whatever was left half done (the simulation tests do exactly that).
    pub fn halt(&self) {
        self.ctx.tasks.lock().expect("tasks lock").abort_all();
    }
    /// Clean shutdown of the data plane: every node saves its data and stops, so a restart
    /// finds it on disk. Call after [`Controller::run`] returned.
    pub async fn stop_nodes(&self) {
        let nodes = view(
            self.ctx.store.as_ref(),
            |r| -> Result<Vec<(NodeSpec, NodeIntent)>, StoreError> {
                let mut out = Vec::new();
                for (key, spec) in r.docs::<NodeSpec>("")? {
                    if let Some(intent) = r.doc::<NodeIntent>(&key)? {
                        out.push((spec, intent));
                    }
                }
                Ok(out)
            },
        );
        let nodes = match nodes {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot list nodes to stop");
                return;
            }
        };
        let mut stops = tokio::task::JoinSet::new();
        // Other hosts' nodes are theirs to stop: this host going away hands the leadership on,
        // not their nodes.
        let host = self.ctx.config.host.as_deref();
        for (spec, intent) in nodes.into_iter().filter(|(_, i)| i.runs_on(host)) {
            let ctx = self.ctx.clone();
            stops.spawn(async move {
                let cfg = node::node_config(&ctx.config, &spec, &intent, None);
                if let Err(e) = ctx.agent.stop(&spec.id, &cfg.address(), true).await {
                    tracing::warn!(node = %spec.id, error = %e, "node did not stop cleanly");
                    return;
                }
                // No process runs now, by our hand: the start after a restart is not a recovery.
                let key = ferrocache_store::tables::key(&spec.region, &spec.id);
                let cleared =
                    ferrocache_store::update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
                        if let Some(mut observed) = w.doc::<NodeObserved>(&key)? {
                            observed.pid = None;
                            w.put_doc(&key, &observed)?;
                        }
                        Ok(())
                    });
                if let Err(e) = cleared {
                    tracing::warn!(node = %spec.id, error = %e, "cannot record the clean stop");
                }
            });
        }
        while stops.join_next().await.is_some() {}
    }
}

/// Runs the reconciler `work` names.
async fn run_work(ctx: Arc<Context>, work: &Work) -> Result<Next, ReconcileError> {
    let key = work.key.clone();
    match work.kind {
        Kind::Node => node::reconcile(ctx, key).await,
        Kind::Shard => failover::reconcile(ctx, key).await,
        Kind::Group => group::reconcile(ctx, key).await,
        Kind::Routes => routes::reconcile(ctx, key).await,
        Kind::Snapshot => snapshot::reconcile(ctx, key).await,
        Kind::Automatic => automatic::reconcile(ctx, key).await,
        Kind::Reshard => reshard::reconcile(ctx, key).await,
        Kind::ClusterMode => cluster_mode::reconcile(ctx, key).await,
    }
}

/// Queues every resource (start-up, or a change feed that fell behind) and refreshes the map
/// of node ids to keys.
fn relist(ctx: &Context) -> Result<(), StoreError> {
    let (works, nodes) = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let nodes: HashMap<String, String> = r
            .docs::<NodeSpec>("")?
            .into_iter()
            .map(|(key, spec)| (spec.id, key))
            .collect();
        Ok((triggers::relist(r)?, nodes))
    })?;
    *ctx.node_keys.lock().expect("node keys lock") = nodes;
    ctx.queue.add_all(works);
    Ok(())
}

/// Maps every commit of the store to the work it concerns.
async fn follow_store(
    ctx: Arc<Context>,
    mut feed: broadcast::Receiver<Arc<ferrocache_store::Commit>>,
) {
    loop {
        match feed.recv().await {
            Ok(commit) => {
                note_node_keys(&ctx, &commit);
                match view(ctx.store.as_ref(), |r| triggers::for_commit(r, &commit)) {
                    Ok(works) => ctx.queue.add_all(works),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot map a change to its resources; relisting");
                        let _ = relist(&ctx);
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the change feed fell behind; relisting");
                if let Err(e) = relist(&ctx) {
                    tracing::error!(error = %e, "cannot relist");
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Keeps the node id → key map current from the node specs a commit changed.
fn note_node_keys(ctx: &Context, commit: &ferrocache_store::Commit) {
    use ferrocache_store::Doc;
    let mut keys = ctx.node_keys.lock().expect("node keys lock");
    for change in commit.changes.iter().filter(|c| c.table == NodeSpec::TABLE) {
        match change.new_doc::<NodeSpec>() {
            Some(spec) => {
                keys.insert(spec.id, change.key.clone());
            }
            None => {
                if let Some(spec) = change.old_doc::<NodeSpec>() {
                    keys.remove(&spec.id);
                }
            }
        }
    }
}

/// Queues the node of every process event (it exited, stopped or continued).
async fn follow_processes(ctx: Arc<Context>, mut events: broadcast::Receiver<NodeEvent>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                tracing::debug!(node = %event.node_id, pid = event.pid, event = ?event.event, "process event");
                let key = ctx
                    .node_keys
                    .lock()
                    .expect("node keys lock")
                    .get(&event.node_id)
                    .cloned();
                if let Some(key) = key {
                    ctx.queue.add(Work::new(Kind::Node, key));
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "process events fell behind; looking at every node");
                let keys: Vec<String> = ctx
                    .node_keys
                    .lock()
                    .expect("node keys lock")
                    .values()
                    .cloned()
                    .collect();
                ctx.queue
                    .add_all(keys.into_iter().map(|k| Work::new(Kind::Node, k)));
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
