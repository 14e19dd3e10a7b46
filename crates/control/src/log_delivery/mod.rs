//! Log delivery: the slow log and engine log of every node whose `LogDeliveryConfigurations`
//! ask for them, delivered to CloudWatch Logs through a [`LogSink`] (the binary wires
//! Ferrocache's own CloudWatch Logs) in ElastiCache's formats ([`format`]), one log stream per
//! node and log type, named as AWS names it ([`stream_name`]).
//!
//! Every [`SHIP_EVERY`], each such node is read — `SLOWLOG GET` for entries newer than the last
//! one delivered, the node's log file from the offset last delivered — and what is new is
//! delivered. What each delivery did becomes the node's [`NodeLogDelivery`] facts (the status
//! `DescribeReplicationGroups` shows: `active`, or `error` with the reason, e.g. a log group that
//! does not exist), written only when they change, together with the cursors, so a restart of
//! Ferrocache neither repeats nor skips entries. Entries are delivered at least once: a crash
//! between a delivery and the write of its cursor repeats that batch.
//!
//! The nodes follow the store's change feed (as sampling does); the timer only paces the
//! reading of logs, which, like metrics, are a stream over time. A node with no delivery costs
//! nothing.

pub mod format;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrocache_engine::NodeAddress;
use ferrocache_model::ids;
use ferrocache_model::log_delivery::{
    DeliveryFact, DestinationType, LogDelivery, LogType, NodeLogDelivery,
};
use ferrocache_model::node::{NodeIntent, NodeSpec};
use ferrocache_store::{update, view, Doc, ReadExt, Reader, StoreError, WriteExt};
use tokio::sync::broadcast;

use crate::reconcile::Context;

/// How often each delivering node's logs are read.
pub const SHIP_EVERY: Duration = Duration::from_secs(2);
/// Slow log entries read per look (ElastiCache reads a fixed number too; more than
/// `slowlog-max-len` cannot be there).
pub const SLOW_LOG_BATCH: u32 = 128;
/// Most bytes of a node's log file read per look; the rest waits for the next.
pub const ENGINE_LOG_READ_MAX: usize = 256 * 1024;
/// Bound on each call to a node.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Most nodes read at once.
const READS_IN_FLIGHT_MAX: usize = 32;
/// Why a Kinesis Data Firehose delivery cannot work here.
pub const NO_FIREHOSE: &str =
    "Kinesis Data Firehose is not available in Ferrocache: deliver to cloudwatch-logs instead.";

/// Where entries go (CloudWatch Logs).
pub trait LogSink: Send + Sync {
    /// Appends `events` (unix ms, message; in time order) to stream `stream` of log group
    /// `group` in `region`, creating the stream if needed. An empty batch only checks that the
    /// group exists.
    ///
    /// # Errors
    /// Why the delivery failed, worded for the delivery's `Message` (e.g. the log group does
    /// not exist).
    fn deliver(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
    ) -> Result<(), String>;
}

/// The log stream of a node's log: `elasticache/<engine>/<cache cluster>/<node>/<log type>`.
pub fn stream_name(
    engine: &str,
    cache_cluster: &str,
    cache_node: &str,
    log_type: LogType,
) -> String {
    format!(
        "elasticache/{engine}/{cache_cluster}/{cache_node}/{}",
        log_type.as_str()
    )
}

/// A node whose logs are delivered.
#[derive(Debug, Clone)]
struct Target {
    spec: NodeSpec,
    addr: NodeAddress,
    log_path: std::path::PathBuf,
}

/// Delivers the nodes' logs through `sink` until the store's feed closes.
pub(crate) async fn ship_logs(ctx: Arc<Context>, sink: Arc<dyn LogSink>) {
    let mut feed = ctx.store.watch();
    let (mut targets, mut state) = relist(&ctx);
    let mut ticks = tokio::time::interval(SHIP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Ok(commit) => {
                    for change in &commit.changes {
                        if change.table == NodeSpec::TABLE || change.table == NodeIntent::TABLE {
                            refresh(&ctx, &mut targets, &mut state, &change.key);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => (targets, state) = relist(&ctx),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick() => ship_all(&ctx, &sink, &targets, &mut state).await,
        }
    }
}

/// Every node with deliveries (or facts left to clear), read afresh.
fn relist(ctx: &Context) -> (HashMap<String, Target>, HashMap<String, NodeLogDelivery>) {
    let read = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let mut targets = HashMap::new();
        let mut state = HashMap::new();
        for (key, facts) in r.docs::<NodeLogDelivery>("")? {
            state.insert(key, facts);
        }
        for (key, spec) in r.docs::<NodeSpec>("")? {
            if let Some(t) = target_of(ctx, r, &key, spec)? {
                targets.insert(key, t);
            }
        }
        Ok((targets, state))
    });
    read.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot list the nodes whose logs are delivered");
        (HashMap::new(), HashMap::new())
    })
}

/// The target of node `spec`, when it delivers logs and is placed.
fn target_of(
    ctx: &Context,
    r: &dyn Reader,
    key: &str,
    spec: NodeSpec,
) -> Result<Option<Target>, StoreError> {
    if spec.log_delivery.is_empty() || spec.deletion.is_some() {
        return Ok(None);
    }
    let Some(intent) = r.doc::<NodeIntent>(key)? else {
        return Ok(None);
    };
    let config = crate::reconcile::node::node_config(&ctx.config, &spec, &intent, None);
    Ok(Some(Target {
        addr: config.address(),
        log_path: config.log_path(),
        spec,
    }))
}

/// Reads the node at `key` again after a commit changed it; a node gone has its facts
/// removed.
fn refresh(
    ctx: &Context,
    targets: &mut HashMap<String, Target>,
    state: &mut HashMap<String, NodeLogDelivery>,
    key: &str,
) {
    let read = view(ctx.store.as_ref(), |r| -> Result<_, StoreError> {
        let spec = r.doc::<NodeSpec>(key)?;
        let exists = spec.is_some();
        Ok((
            exists,
            spec.map(|s| target_of(ctx, r, key, s))
                .transpose()?
                .flatten(),
        ))
    });
    match read {
        Ok((_, Some(target))) => {
            targets.insert(key.to_string(), target);
        }
        Ok((exists, None)) => {
            targets.remove(key);
            if !exists && state.remove(key).is_some() {
                let gone = update(ctx.store.as_ref(), |w| w.delete_doc::<NodeLogDelivery>(key));
                if let Err(error) = gone {
                    tracing::warn!(node = %key, %error, "cannot remove a deleted node's log delivery facts");
                }
            }
        }
        Err(e) => {
            tracing::warn!(node = %key, error = %e, "cannot read a node whose logs are delivered")
        }
    }
}

/// One look at every delivering node; the facts that changed are written in one commit.
async fn ship_all(
    ctx: &Arc<Context>,
    sink: &Arc<dyn LogSink>,
    targets: &HashMap<String, Target>,
    state: &mut HashMap<String, NodeLogDelivery>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(READS_IN_FLIGHT_MAX));
    let mut reads = tokio::task::JoinSet::new();
    for (key, target) in targets {
        let before = state.get(key).cloned().unwrap_or_default();
        let (ctx, sink, slots, key, target) = (
            ctx.clone(),
            sink.clone(),
            slots.clone(),
            key.clone(),
            target.clone(),
        );
        reads.spawn(async move {
            let _slot = slots.acquire_owned().await.ok()?;
            let after = ship_node(&ctx, sink.as_ref(), &target, before.clone()).await;
            (after != before).then_some((key, after))
        });
    }
    // Nodes whose deliveries were all removed: their facts are cleared (`disabling` ends).
    let mut changed: Vec<(String, NodeLogDelivery)> = state
        .iter()
        .filter(|(key, facts)| !targets.contains_key(*key) && !facts.facts.is_empty())
        .map(|(key, facts)| {
            let cleared = NodeLogDelivery {
                facts: Default::default(),
                ..facts.clone()
            };
            (key.clone(), cleared)
        })
        .collect();
    while let Some(joined) = reads.join_next().await {
        if let Ok(Some(change)) = joined {
            changed.push(change);
        }
    }
    if changed.is_empty() {
        return;
    }
    let written = update(ctx.store.as_ref(), |w| -> Result<(), StoreError> {
        for (key, facts) in &changed {
            // A node deleted meanwhile keeps no facts.
            if w.doc::<NodeSpec>(key)?.is_some() {
                w.put_doc(key, facts)?;
            }
        }
        Ok(())
    });
    match written {
        Ok(()) => {
            for (key, facts) in changed {
                state.insert(key, facts);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot record log deliveries; they are read again"),
    }
}

/// Delivers what is new in each of the node's logs; answers the node's facts afterwards.
async fn ship_node(
    ctx: &Context,
    sink: &dyn LogSink,
    target: &Target,
    mut facts: NodeLogDelivery,
) -> NodeLogDelivery {
    let spec = &target.spec;
    facts
        .facts
        .retain(|t, _| spec.log_delivery.iter().any(|d| d.log_type == *t));
    let source = format::Source {
        cache_cluster: &spec.id,
        cache_node: ids::CACHE_NODE_ID,
    };
    for delivery in &spec.log_delivery {
        let outcome = match delivery.destination_type {
            DestinationType::KinesisFirehose => Err(NO_FIREHOSE.to_string()),
            DestinationType::CloudWatchLogs => {
                let stream = stream_name(
                    &spec.engine,
                    &spec.id,
                    ids::CACHE_NODE_ID,
                    delivery.log_type,
                );
                let deliver = |events: &[(i64, String)]| {
                    sink.deliver(&spec.region, &delivery.destination, &stream, events)
                };
                match delivery.log_type {
                    LogType::SlowLog => {
                        ship_slow_log(ctx, target, delivery, source, &mut facts, deliver).await
                    }
                    LogType::EngineLog => {
                        ship_engine_log(ctx, target, delivery, source, &mut facts, deliver)
                    }
                }
            }
        };
        match outcome {
            // The node could not be read: nothing is known of the delivery this time.
            Ok(None) => {}
            Ok(Some(())) => record(&mut facts, delivery, None),
            Err(reason) => record(&mut facts, delivery, Some(reason)),
        }
    }
    facts
}

fn record(facts: &mut NodeLogDelivery, delivery: &LogDelivery, error: Option<String>) {
    facts.facts.insert(
        delivery.log_type,
        DeliveryFact {
            delivery: delivery.clone(),
            error,
        },
    );
}

/// The slow log entries newer than the cursor, delivered; `Ok(None)` when the node could not
/// be read.
async fn ship_slow_log(
    ctx: &Context,
    target: &Target,
    delivery: &LogDelivery,
    source: format::Source<'_>,
    facts: &mut NodeLogDelivery,
    deliver: impl Fn(&[(i64, String)]) -> Result<(), String>,
) -> Result<Option<()>, String> {
    let Ok((run_id, mut entries)) = ctx
        .agent
        .slowlog(&target.addr, SLOW_LOG_BATCH, CALL_TIMEOUT)
        .await
    else {
        return Ok(None);
    };
    let after = match &facts.slow_log_cursor {
        Some((cursor_run, id)) if *cursor_run == run_id => Some(*id),
        // A new process numbers its entries from 0 again.
        _ => None,
    };
    entries.retain(|e| after.is_none_or(|a| e.id > a));
    entries.sort_by_key(|e| e.id);
    let events: Vec<(i64, String)> = entries
        .iter()
        .map(|e| format::slow_log(source, e, delivery.format))
        .collect();
    deliver(&events)?;
    if let Some(newest) = entries.last() {
        facts.slow_log_cursor = Some((run_id, newest.id));
    }
    Ok(Some(()))
}

/// The node's log lines after the delivered offset, delivered.
fn ship_engine_log(
    ctx: &Context,
    target: &Target,
    delivery: &LogDelivery,
    source: format::Source<'_>,
    facts: &mut NodeLogDelivery,
    deliver: impl Fn(&[(i64, String)]) -> Result<(), String>,
) -> Result<Option<()>, String> {
    let chunk = match ctx.agent.read_log(
        &target.log_path,
        facts.engine_log_offset,
        ENGINE_LOG_READ_MAX,
    ) {
        Ok(chunk) => chunk,
        // Not written yet (the node is being created).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("The node's log could not be read: {e}")),
    };
    let text = String::from_utf8_lossy(&chunk.bytes);
    let mut events: Vec<(i64, String)> = text
        .lines()
        .filter_map(|line| format::engine_log(source, line, delivery.format))
        .collect();
    events.sort_by_key(|(at, _)| *at);
    deliver(&events)?;
    facts.engine_log_offset = chunk.next;
    Ok(Some(()))
}
