//! The controller loop and the reconcilers it runs.
//!
//! [`Controller::run`] wakes on every store commit, on a short tick (so probes notice dead
//! processes) and when a reconciler asks to be run again soon. Each pass starts one task per
//! resource that is not already being reconciled — at most one task per resource at a time,
//! many resources at once — and republishes the route table when it changed. Reconcilers read
//! spec, intent and observed facts, do the next step and return [`Next`]; each step is
//! idempotent, so a crash anywhere is finished by the next run after restart.
//!
//! - [`node`]: one node's process, its replication role, its observed facts and events.
//! - [`group`]: a group's intent (endpoints, primary, epoch), status and events.
//! - [`parameters`]: a node's parameter-group values: rendered at start, `CONFIG SET` on change.
//! - [`snapshot`]: a snapshot's `BGSAVE` on its node and the atomic copy of the RDB.

pub mod automatic;
pub mod group;
pub mod node;
pub mod parameters;
pub mod snapshot;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrocache_model::group::{GroupIntent, GroupSpec};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec};
use ferrocache_model::Fault;
use ferrocache_router::RouteTable;
use ferrocache_store::{view, ReadExt, Store, StoreError, WriteExt};
use ipnet::Ipv4Net;
use tokio::sync::{watch, Notify};

/// How often every resource is looked at even when nothing changed (health probes).
pub const TICK_DEFAULT: Duration = Duration::from_millis(250);
/// How long a reconciler waiting on the engine (a replica syncing) waits before looking again.
pub const POLL_SOON: Duration = Duration::from_millis(20);
/// How long shutdown waits for running reconcilers before stopping nodes anyway.
pub const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(10);

/// How often the processes of primaries with automatic failover are checked (a `kill(pid, 0)`
/// and a read of `/proc/<pid>/stat` each): the detection part of a failover's downtime.
pub const PRIMARY_WATCH_INTERVAL: Duration = Duration::from_millis(10);

/// Wakes the controller as soon as a watched primary's process is gone or stopped, instead of
/// waiting for the next tick.
async fn watch_primaries(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(PRIMARY_WATCH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut down: HashSet<String> = HashSet::new();
    while !*shutdown.borrow() {
        interval.tick().await;
        let primaries = ctx
            .watched_primaries
            .lock()
            .expect("primaries lock")
            .clone();
        let mut woke = false;
        for id in primaries {
            let running = matches!(
                ctx.agent.liveness(&id),
                ferrocache_agent::Liveness::Running(_)
            );
            if running {
                down.remove(&id);
            } else if down.insert(id) && !woke {
                ctx.wake.notify_one();
                woke = true;
            }
        }
    }
}

/// Settings of the control loop.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Where node directories live (`<data-dir>/nodes`).
    pub nodes_dir: PathBuf,
    /// Where snapshots live (`<data-dir>/snapshots/<region>/<name>/`).
    pub snapshots_dir: PathBuf,
    /// `--endpoint-cidr`.
    pub cidr: Ipv4Net,
    /// See [`TICK_DEFAULT`].
    pub tick: Duration,
    /// Master keys for encryption at rest (snapshots of encrypted groups are sealed with them);
    /// `None`: encrypted groups cannot be snapshotted.
    pub keys: Option<ferrocache_encryption::KeyRing>,
}

/// What a reconciler wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until something changes (or the next tick).
    Done,
    /// Run again after this long.
    After(Duration),
}

/// Why a reconcile step failed; it is logged and retried on the next pass.
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
}

/// Shared by the loop and its tasks.
pub(crate) struct Context {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) agent: Arc<dyn crate::runtime::NodeRuntime>,
    pub(crate) config: ControlConfig,
    /// Resources with a running task; guarantees one task per resource.
    inflight: Mutex<HashSet<String>>,
    /// Poked by tasks that want another pass.
    wake: Notify,
    /// The latest route table; the binary hands it to the router.
    routes: watch::Sender<RouteTable>,
    /// Primaries of groups with automatic failover, refreshed every pass; watched closely so a
    /// dead primary is noticed well within one tick.
    watched_primaries: Mutex<Vec<String>>,
    /// Every task this controller started (reconcilers, the primary watcher), so that
    /// [`Controller::halt`] can stop them all at once.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// Issues the endpoints' certificates (encryption in transit); set once at start-up.
    certificates: std::sync::OnceLock<Arc<ferrocache_pki::Certificates>>,
    /// The object store of `--s3-endpoint` (exports, seeding from `SnapshotArns`).
    pub(crate) objects: Option<Arc<dyn crate::object_store::ObjectStore>>,
    /// The clock of the automatic-snapshot windows (see [`crate::clock`]).
    pub(crate) clock: crate::clock::Clock,
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
            inflight: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            watched_primaries: Mutex::new(Vec::new()),
            routes: watch::Sender::new(RouteTable::default()),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            certificates: std::sync::OnceLock::new(),
            objects: None,
            clock: crate::clock::Clock::from_env(),
        };
        Self { ctx: Arc::new(ctx) }
    }

    /// Gives the controller the certificate authority that issues the endpoints' server
    /// certificates. Without one, endpoints of groups with encryption in transit are not
    /// served. Only the first call counts.
    pub fn set_certificates(&self, certificates: Arc<ferrocache_pki::Certificates>) {
        let _ = self.ctx.certificates.set(certificates);
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

    /// The route table, updated whenever it changes.
    pub fn routes(&self) -> watch::Receiver<RouteTable> {
        self.ctx.routes.subscribe()
    }

    /// Runs the loop until `shutdown` turns true, then waits (bounded) for running tasks.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let watcher = self
            .ctx
            .tasks
            .lock()
            .expect("tasks lock")
            .spawn(watch_primaries(self.ctx.clone(), shutdown.clone()));
        let mut revisions = self.ctx.store.subscribe();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.pass() {
                tracing::warn!(error = %e, "control pass failed");
            }
            tokio::select! {
                _ = revisions.changed() => {}
                _ = tokio::time::sleep(self.ctx.config.tick) => {}
                _ = self.ctx.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        watcher.abort();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT_MAX;
        while !self.ctx.inflight.lock().expect("inflight lock").is_empty()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every task of this controller at once, wherever each is, as a crash of the process
    /// would; the caller aborts [`Controller::run`] itself. A new controller over the same store
    /// must then finish whatever was left half done (the simulation tests do exactly that).
    pub fn halt(&self) {
        self.ctx.tasks.lock().expect("tasks lock").abort_all();
    }

    /// One pass: start a task for every resource without one, publish routes.
    fn pass(&self) -> Result<(), StoreError> {
        {
            // Reap finished tasks so the set holds only running ones.
            let mut tasks = self.ctx.tasks.lock().expect("tasks lock");
            while tasks.try_join_next().is_some() {}
        }
        let (nodes, groups, snapshots, table) =
            view(self.ctx.store.as_ref(), |r| -> Result<_, StoreError> {
                let nodes: Vec<String> = r
                    .docs::<NodeSpec>("")?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                let groups: Vec<String> = r
                    .docs::<GroupSpec>("")?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                let snapshots: Vec<String> = r
                    .docs::<ferrocache_model::snapshot::SnapshotSpec>("")?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                let table = crate::routes::table(
                    r,
                    &self.ctx.config.nodes_dir,
                    self.ctx.certificates.get().map(|c| c.as_ref()),
                )?;
                let mut primaries = Vec::new();
                for (key, spec) in r.docs::<GroupSpec>("")? {
                    if !spec.automatic_failover {
                        continue;
                    }
                    if let Some(intent) = r.doc::<GroupIntent>(&key)? {
                        primaries.push(intent.primary);
                    }
                }
                *self.ctx.watched_primaries.lock().expect("primaries lock") = primaries;
                Ok((nodes, groups, snapshots, table))
            })?;
        self.ctx.routes.send_if_modified(|current| {
            if *current == table {
                false
            } else {
                *current = table;
                true
            }
        });
        for key in nodes {
            self.spawn(format!("node:{key}"), key, |ctx, key| {
                Box::pin(node::reconcile(ctx, key))
            });
        }
        for key in groups {
            self.spawn(format!("group:{key}"), key, |ctx, key| {
                Box::pin(group::reconcile(ctx, key))
            });
        }
        for key in snapshots {
            self.spawn(format!("snapshot:{key}"), key, |ctx, key| {
                Box::pin(snapshot::reconcile(ctx, key))
            });
        }
        self.spawn("automatic-snapshots".into(), String::new(), |ctx, key| {
            Box::pin(automatic::reconcile(ctx, key))
        });
        Ok(())
    }

    fn spawn(
        &self,
        task: String,
        key: String,
        run: impl FnOnce(
                Arc<Context>,
                String,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Next, ReconcileError>> + Send>,
            > + Send
            + 'static,
    ) {
        if !self
            .ctx
            .inflight
            .lock()
            .expect("inflight lock")
            .insert(task.clone())
        {
            return;
        }
        let ctx = self.ctx.clone();
        self.ctx.tasks.lock().expect("tasks lock").spawn(async move {
            let next = run(ctx.clone(), key).await;
            let delay = match next {
                Ok(Next::Done) => None,
                Ok(Next::After(d)) => Some(d),
                Err(e) => {
                    tracing::warn!(task = %task, error = %e, "reconcile step failed; will retry");
                    Some(ctx.config.tick)
                }
            };
            ctx.inflight.lock().expect("inflight lock").remove(&task);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
                ctx.wake.notify_one();
            }
        });
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
        for (spec, intent) in nodes {
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
