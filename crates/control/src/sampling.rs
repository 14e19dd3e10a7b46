//! Samples every node's engine figures for the metrics: `INFO default commandstats` on each
//! node every [`SAMPLE_EVERY`] (over a connection kept per node), kept as the node's latest
//! sample in
//! [`ferrocache_metrics::Samples`] (what `GET /metrics` renders).
//!
//! The nodes to sample follow the store's change feed, as the data path follows its routes: all
//! of them once at start (and after the feed fell behind), then only the nodes a commit
//! changed. Sampling is the one periodic pass over every node — metrics are a time series —
//! and it is bounded: at most [`SAMPLES_IN_FLIGHT_MAX`] nodes asked at once, each within
//! [`SAMPLE_TIMEOUT`], a node that does not answer recorded as down (`redis_up 0`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrocache_engine::NodeAddress;
use ferrocache_metrics::{NodeLabels, NodeSample, Samples};
use ferrocache_model::ids;
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_store::{view, Doc, ReadExt, StoreError};
use tokio::sync::broadcast;

use crate::reconcile::Context;

/// How often each node is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Bound on one node's answer.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most nodes asked at once.
pub const SAMPLES_IN_FLIGHT_MAX: usize = 64;

/// One node to sample.
#[derive(Debug, Clone)]
struct Target {
    labels: NodeLabels,
    addr: NodeAddress,
}

/// Samples the nodes into `samples` until the store's feed closes.
pub(crate) async fn sample_nodes(ctx: Arc<Context>, samples: Arc<Samples>) {
    let mut feed = ctx.store.watch();
    let mut targets = relist(&ctx, &samples);
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Ok(commit) => {
                    for change in &commit.changes {
                        if change.table == NodeSpec::TABLE || change.table == NodeIntent::TABLE {
                            refresh(&ctx, &samples, &mut targets, &change.key);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    targets = relist(&ctx, &samples);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick() => sample_all(&ctx, &samples, &targets).await,
        }
    }
}

/// The target of the node at `key`, if it exists and is placed.
fn target(
    ctx: &Context,
    r: &dyn ferrocache_store::Reader,
    key: &str,
) -> Result<Option<Target>, StoreError> {
    let Some(spec) = r.doc::<NodeSpec>(key)? else {
        return Ok(None);
    };
    target_of(ctx, r, key, spec)
}

/// The target of node `spec` (at `key`), once it is placed.
fn target_of(
    ctx: &Context,
    r: &dyn ferrocache_store::Reader,
    key: &str,
    spec: NodeSpec,
) -> Result<Option<Target>, StoreError> {
    let Some(intent) = r.doc::<NodeIntent>(key)? else {
        return Ok(None);
    };
    let addr = crate::reconcile::node::node_config(&ctx.config, &spec, &intent, None).address();
    Ok(Some(Target {
        labels: NodeLabels {
            instance: format!("{}:{}", intent.endpoint, spec.port),
            replication_group: spec.group_id.unwrap_or_else(|| spec.id.clone()),
            cache_cluster: spec.id,
            node: ids::CACHE_NODE_ID.to_string(),
        },
        addr,
    }))
}

/// Every node, read afresh; samples of nodes that are gone are dropped.
fn relist(ctx: &Context, samples: &Samples) -> HashMap<String, Target> {
    let read = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let mut out = HashMap::new();
        for (key, spec) in r.docs::<NodeSpec>("")? {
            if let Some(t) = target_of(ctx, r, &key, spec)? {
                out.insert(key, t);
            }
        }
        Ok(out)
    });
    let targets = read.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list the nodes to sample");
        HashMap::new()
    });
    let kept: std::collections::HashSet<&str> = targets
        .values()
        .map(|t| t.labels.cache_cluster.as_str())
        .collect();
    for id in samples.nodes() {
        if !kept.contains(id.as_str()) {
            samples.forget(&id);
        }
    }
    targets
}

/// Reads the node at `key` again after a commit changed it.
fn refresh(ctx: &Context, samples: &Samples, targets: &mut HashMap<String, Target>, key: &str) {
    match view(ctx.store.as_ref(), |r| target(ctx, r, key)) {
        Ok(Some(t)) => {
            targets.insert(key.to_string(), t);
        }
        Ok(None) => {
            if let Some(gone) = targets.remove(key) {
                samples.forget(&gone.labels.cache_cluster);
                ctx.agent.forget_metrics_connection(&gone.addr);
            }
        }
        Err(e) => tracing::warn!(node = %key, error = %e, "cannot read a node to sample"),
    }
}

/// Asks every target, at most [`SAMPLES_IN_FLIGHT_MAX`] at once, and records what each said.
/// The feed is read again only after this returns, so a node deleted meanwhile is forgotten
/// after its last sample, never before.
async fn sample_all(ctx: &Arc<Context>, samples: &Arc<Samples>, targets: &HashMap<String, Target>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(SAMPLES_IN_FLIGHT_MAX));
    let mut asks = tokio::task::JoinSet::new();
    for target in targets.values().cloned() {
        let (ctx, samples, slots) = (ctx.clone(), samples.clone(), slots.clone());
        asks.spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let answer = tokio::time::timeout(
                SAMPLE_TIMEOUT,
                ctx.agent.info_for_metrics(&target.addr, SAMPLE_TIMEOUT),
            )
            .await;
            let info = match answer {
                Ok(Ok(text)) => Some(text),
                _ => None,
            };
            samples.record(NodeSample {
                labels: target.labels,
                up: info.is_some(),
                info: info.unwrap_or_default(),
                taken_at: SystemTime::now(),
            });
        });
    }
    while asks.join_next().await.is_some() {}
}
