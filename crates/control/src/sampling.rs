//! Samples every node's engine figures: `INFO default commandstats` on each node every
//! [`SAMPLE_EVERY`] (over a connection kept per node). Each sample is kept as the node's latest
//! in [`ferrocache_metrics::Samples`] (what `GET /metrics` renders) and, when a
//! [`MetricPublisher`] is given, turned into ElastiCache's metrics
//! ([`ferrocache_metrics::elasticache`]) for CloudWatch: a high-resolution point for every
//! second, from two consecutive samples, and a standard point for every minute, from the
//! samples at two minute boundaries (so a minute's rates are the minute's own).
//!
//! The nodes to sample follow the store's change feed, as the data path follows its routes: all
//! of them once at start (and after the feed fell behind), then only the nodes a commit
//! changed. Sampling is the one periodic pass over every node — metrics are a time series —
//! and it is bounded: every node is asked at once from this one task (over a plain socket kept
//! per node, [`ferrocache_engine::SamplingConnection`]: a write and a read each, no task per
//! node), each within [`SAMPLE_TIMEOUT`], a node that does not answer recorded as down
//! (`redis_up 0`, and no datapoint: CloudWatch shows a gap).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrocache_engine::NodeAddress;
use ferrocache_metrics::elasticache::{self, CommandTypes, Datapoint, HostFigures, Reading};
use ferrocache_metrics::{NodeLabels, Samples};
use ferrocache_model::ids;
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_store::{view, Doc, ReadExt, StoreError};
use tokio::sync::broadcast;

use crate::reconcile::Context;

/// How often each node is sampled: CloudWatch's high resolution.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Bound on one node's answer.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);
/// A standard datapoint covers this long.
const MINUTE_MS: i64 = 60_000;

/// Where ElastiCache's datapoints go (CloudWatch; the binary wires it).
pub trait MetricPublisher: Send + Sync {
    /// Records `points` of `node` for the interval starting at `at_ms` (unix ms): one second
    /// when `high_resolution`, else one minute.
    fn publish(
        &self,
        node: &PublishedNode<'_>,
        at_ms: i64,
        points: &[Datapoint],
        high_resolution: bool,
    );
}

/// The names a node's datapoints are published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedNode<'a> {
    /// The node's region.
    pub region: &'a str,
    /// `CacheClusterId`.
    pub cache_cluster: &'a str,
    /// `CacheNodeId`.
    pub cache_node: &'a str,
}

/// Where the sampler's findings go.
#[derive(Clone, Default)]
pub(crate) struct Sinks {
    /// `GET /metrics`.
    pub(crate) samples: Option<Arc<Samples>>,
    /// CloudWatch.
    pub(crate) publisher: Option<Arc<dyn MetricPublisher>>,
}

/// One node to sample.
#[derive(Debug, Clone)]
struct Target {
    labels: NodeLabels,
    addr: NodeAddress,
    region: String,
}

/// The earlier readings of one node that its next datapoints are counted from.
///
/// Two clocks: a reading's own moment (the node's `server_time_usec`) measures the interval a
/// rate is over, to the microsecond; the round's (when the sampler asked, every
/// [`SAMPLE_EVERY`] on the dot) names the second or minute a datapoint is published under, so
/// consecutive rounds fill consecutive seconds even when the node's answers are a few
/// milliseconds late or early across a second's edge.
#[derive(Debug, Clone)]
struct History {
    /// The last reading (the start of the next second's interval), and its round.
    last: Reading,
    last_round_ms: i64,
    /// The first reading of the current minute (the start of the minute's interval), and its
    /// round.
    minute: Reading,
    minute_round_ms: i64,
}

/// Samples the nodes into `sinks` until the store's feed closes.
pub(crate) async fn sample_nodes(ctx: Arc<Context>, sinks: Sinks) {
    let mut feed = ctx.store.watch();
    let mut targets = relist(&ctx, &sinks);
    let mut histories: Histories = Histories::default();
    let mut types: Option<CommandTypes> = None;
    let started_ms = unix_ms(SystemTime::now());
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Ok(commit) => {
                    for change in &commit.changes {
                        if change.table == NodeSpec::TABLE || change.table == NodeIntent::TABLE {
                            refresh(&ctx, &sinks, &mut targets, &mut histories, &change.key);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    targets = relist(&ctx, &sinks);
                    histories.retain(|key, _| targets.contains_key(key));
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick() => {
                let round_ms = unix_ms(SystemTime::now());
                let answers = sample_all(&ctx, &targets).await;
                if sinks.publisher.is_some() && types.is_none() {
                    types = command_types(&ctx, &answers).await;
                }
                let round = Round { started_ms, round_ms, types: types.as_ref() };
                record(&ctx, &sinks, &round, &mut histories, answers);
            }
        }
    }
}

/// What one node answered in a round: its key and target, its `INFO` text (none: no answer),
/// and when it was read.
type Answer<'a> = (&'a str, &'a Target, Option<String>, SystemTime);

/// The nodes' histories by node key (looked up for every node every second: a fast hash).
type Histories = HashMap<String, History, foldhash::fast::RandomState>;

/// What every node's datapoints of one round share.
struct Round<'a> {
    /// When the sampler started (unix ms): nodes started later count from their start.
    started_ms: i64,
    /// When this round asked (unix ms).
    round_ms: i64,
    /// The command types, once known.
    types: Option<&'a CommandTypes>,
}

/// The commands of each ACL category ElastiCache's command types are defined by, asked of the
/// first node that answered; `None` until one does.
async fn command_types(ctx: &Context, answers: &[Answer<'_>]) -> Option<CommandTypes> {
    let (_, target, _, _) = answers.iter().find(|(_, _, info, _)| info.is_some())?;
    let categories: Vec<&str> = elasticache::COMMAND_TYPES.iter().map(|(_, c)| *c).collect();
    match ctx
        .agent
        .command_categories(&target.addr, &categories, SAMPLE_TIMEOUT)
        .await
    {
        Ok(by_category) => Some(CommandTypes::new(&by_category)),
        Err(error) => {
            tracing::debug!(%error, "cannot read the engine's command categories yet");
            None
        }
    }
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Keeps every answer as its node's latest sample, and publishes the datapoints it completes.
fn record(
    ctx: &Context,
    sinks: &Sinks,
    round: &Round<'_>,
    histories: &mut Histories,
    answers: Vec<Answer<'_>>,
) {
    // The machine's figures, read once a round: every node of it shares them.
    let host = sinks.publisher.as_ref().map(|_| {
        let host = ctx.agent.host_figures();
        HostFigures {
            available_memory: host.available_memory.unwrap_or(0) as f64,
            packets_in: host.packets_in.unwrap_or(0) as f64,
            packets_out: host.packets_out.unwrap_or(0) as f64,
            swap_used: host.swap_used.unwrap_or(0) as f64,
        }
    });
    for (key, target, info, taken_at) in answers {
        if let (Some(publisher), Some(host), Some(text)) = (&sinks.publisher, host, &info) {
            let reading = Reading::parse(text, unix_ms(taken_at), host);
            publish(publisher.as_ref(), round, target, histories, key, reading);
        }
        if let Some(samples) = &sinks.samples {
            samples.update(&target.labels, info, taken_at);
        }
    }
}

/// Publishes the second (and, at a minute boundary, the minute) that `reading` completes.
fn publish(
    publisher: &dyn MetricPublisher,
    round: &Round<'_>,
    target: &Target,
    histories: &mut Histories,
    key: &str,
    reading: Reading,
) {
    let node = PublishedNode {
        region: &target.region,
        cache_cluster: &target.labels.cache_cluster,
        cache_node: &target.labels.node,
    };
    let Some(history) = histories.get_mut(key) else {
        // A node whose process started after the sampler did has had nothing published yet:
        // its first interval runs from its start. Another (adopted at start-up) was counted
        // before, so it starts here.
        let baseline = reading
            .at_process_start()
            .filter(|start| start.at_ms >= round.started_ms)
            .unwrap_or_else(|| reading.clone());
        let baseline_round_ms = if baseline.at_ms == reading.at_ms {
            round.round_ms
        } else {
            baseline.at_ms
        };
        let mut history = History {
            last: baseline.clone(),
            last_round_ms: baseline_round_ms,
            minute: baseline,
            minute_round_ms: baseline_round_ms,
        };
        if history.last.at_ms == reading.at_ms {
            histories.insert(key.to_string(), history);
            return;
        }
        publish_interval(publisher, &node, round, &mut history, reading);
        histories.insert(key.to_string(), history);
        return;
    };
    publish_interval(publisher, &node, round, history, reading);
}

/// Publishes the second (and, at a minute boundary, the minute) from `history` to `reading`.
fn publish_interval(
    publisher: &dyn MetricPublisher,
    name: &PublishedNode<'_>,
    round: &Round<'_>,
    history: &mut History,
    reading: Reading,
) {
    let second = elasticache::datapoints(&history.last, &reading, round.types);
    if !second.is_empty() {
        publisher.publish(name, history.last_round_ms, &second, true);
    }
    if round.round_ms.div_euclid(MINUTE_MS) > history.minute_round_ms.div_euclid(MINUTE_MS) {
        let minute = elasticache::datapoints(&history.minute, &reading, round.types);
        let start = history.minute_round_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        if !minute.is_empty() {
            publisher.publish(name, start, &minute, false);
        }
        history.minute = reading.clone();
        history.minute_round_ms = round.round_ms;
    }
    history.last = reading;
    history.last_round_ms = round.round_ms;
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
        region: spec.region.clone(),
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
fn relist(ctx: &Context, sinks: &Sinks) -> HashMap<String, Target> {
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
    if let Some(samples) = &sinks.samples {
        for id in samples.nodes() {
            if !kept.contains(id.as_str()) {
                samples.forget(&id);
            }
        }
    }
    targets
}

/// Reads the node at `key` again after a commit changed it.
fn refresh(
    ctx: &Context,
    sinks: &Sinks,
    targets: &mut HashMap<String, Target>,
    histories: &mut Histories,
    key: &str,
) {
    match view(ctx.store.as_ref(), |r| target(ctx, r, key)) {
        Ok(Some(t)) => {
            targets.insert(key.to_string(), t);
        }
        Ok(None) => {
            histories.remove(key);
            if let Some(gone) = targets.remove(key) {
                if let Some(samples) = &sinks.samples {
                    samples.forget(&gone.labels.cache_cluster);
                }
                ctx.agent.forget_metrics_connection(&gone.addr);
            }
        }
        Err(e) => tracing::warn!(node = %key, error = %e, "cannot read a node to sample"),
    }
}

/// Asks every target at once and answers what each said. The feed is read again only after
/// the answers are recorded, so a node deleted meanwhile is forgotten after its last sample,
/// never before.
async fn sample_all<'a>(
    ctx: &Arc<Context>,
    targets: &'a HashMap<String, Target>,
) -> Vec<Answer<'a>> {
    let addrs: Vec<NodeAddress> = targets.values().map(|t| t.addr.clone()).collect();
    let answers = ctx.agent.sample_infos(&addrs, SAMPLE_TIMEOUT).await;
    targets
        .iter()
        .zip(answers)
        .map(|((key, target), (answer, taken_at))| (key.as_str(), target, answer.ok(), taken_at))
        .collect()
}
