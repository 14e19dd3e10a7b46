//! The control plane's observability hooks, wired to Ferrocache's own CloudWatch and
//! CloudWatch Logs: ElastiCache's node metrics into `AWS/ElastiCache`, the nodes' delivered
//! logs into log groups, and the tasks that evaluate alarms and flush metrics to disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrocache_cloudwatch::{AlarmTransition, CloudWatch, SeriesId};
use ferrocache_control::log_delivery::LogSink;
use ferrocache_control::sampling::{MetricPublisher, PublishedNode};
use ferrocache_logs::Logs;
use ferrocache_metrics::elasticache::Datapoint;
use tokio::sync::watch;

/// ElastiCache's namespace.
pub const NAMESPACE: &str = "AWS/ElastiCache";
/// How often metrics are written to disk (a crash loses at most this much).
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// How often alarms are looked at (each is evaluated on its own period; this only finds the
/// ones due).
pub const EVALUATE_EVERY: Duration = Duration::from_secs(1);

/// One node's interned series: by metric, and in the order its datapoints last came (which
/// is nearly always the order they come next), so a sample finds each of its ~48 series by
/// position without hashing a name.
#[derive(Default)]
struct NodeSeries {
    in_order: Vec<(&'static str, SeriesId)>,
    by_metric: HashMap<&'static str, SeriesId, foldhash::fast::RandomState>,
}

/// A region's interned series, by cache cluster.
type RegionSeries = HashMap<String, NodeSeries, foldhash::fast::RandomState>;

/// Publishes the sampler's datapoints to CloudWatch, under the node's dimensions
/// (`CacheClusterId` + `CacheNodeId`); the cache cluster's (`CacheClusterId` alone, for Redis
/// the same one node) read the same series (see [`CloudWatchPublisher::new`]).
pub struct CloudWatchPublisher {
    cloudwatch: Arc<CloudWatch>,
    /// Interned series by region and cache cluster: found without allocating once a node's
    /// metric was seen. (Entries of deleted nodes stay until a restart: a few dozen ids per
    /// node ever created.)
    series: Mutex<HashMap<String, RegionSeries>>,
}

impl CloudWatchPublisher {
    /// A publisher into `cloudwatch`, which from now on also answers for every node metric
    /// under its cache cluster's dimension alone.
    pub fn new(cloudwatch: Arc<CloudWatch>) -> Self {
        cloudwatch.imply_dimension(
            NAMESPACE,
            "CacheNodeId",
            ferrocache_model::ids::CACHE_NODE_ID,
        );
        Self {
            cloudwatch,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// The series of each of `points` for `node`, interned on first use.
    fn series_of(&self, node: &PublishedNode<'_>, points: &[Datapoint]) -> Vec<SeriesId> {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        if !series.contains_key(node.region) {
            series.insert(node.region.to_string(), RegionSeries::default());
        }
        let region = series.get_mut(node.region).expect("inserted above");
        if !region.contains_key(node.cache_cluster) {
            region.insert(node.cache_cluster.to_string(), NodeSeries::default());
        }
        let known = region.get_mut(node.cache_cluster).expect("inserted above");
        let mut ids = Vec::with_capacity(points.len());
        for (at, point) in points.iter().enumerate() {
            let same_place = known.in_order.get(at).and_then(|(metric, id)| {
                let same = std::ptr::eq(metric.as_ptr(), point.metric.as_ptr())
                    && metric.len() == point.metric.len()
                    || *metric == point.metric;
                same.then_some(*id)
            });
            let id = match same_place {
                Some(id) => id,
                None => {
                    let id = *known.by_metric.entry(point.metric).or_insert_with(|| {
                        let dimensions = [
                            ("CacheClusterId", node.cache_cluster),
                            ("CacheNodeId", node.cache_node),
                        ];
                        self.cloudwatch.series(
                            node.region,
                            NAMESPACE,
                            point.metric,
                            &dimensions,
                            point.unit,
                        )
                    });
                    known.in_order.truncate(at);
                    known.in_order.push((point.metric, id));
                    id
                }
            };
            ids.push(id);
        }
        ids
    }
}

impl MetricPublisher for CloudWatchPublisher {
    fn publish(
        &self,
        node: &PublishedNode<'_>,
        at_ms: i64,
        points: &[Datapoint],
        high_resolution: bool,
    ) {
        let ids = self.series_of(node, points);
        let recorded = if high_resolution {
            let values: Vec<(SeriesId, f64)> = ids
                .into_iter()
                .zip(points.iter().map(|p| p.value))
                .collect();
            self.cloudwatch.record_fine_many(at_ms, &values)
        } else {
            // Every point is recorded; the first refusal is reported.
            let mut first = Ok(());
            for (id, point) in ids.into_iter().zip(points) {
                let recorded = self.cloudwatch.record_point(id, at_ms, point.value, false);
                if first.is_ok() {
                    first = recorded;
                }
            }
            first
        };
        if let Err(error) = recorded {
            tracing::debug!(cache_cluster = %node.cache_cluster, %error, "datapoints were not kept");
        }
    }
}

/// Delivers the nodes' logs into Ferrocache's CloudWatch Logs.
pub struct LogsSink {
    logs: Arc<Logs>,
}

impl LogsSink {
    /// A sink into `logs`.
    pub fn new(logs: Arc<Logs>) -> Self {
        Self { logs }
    }
}

impl LogSink for LogsSink {
    fn deliver(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
    ) -> Result<(), String> {
        self.logs
            .deliver(region, group, stream, events)
            .map_err(|e| e.message().to_string())
    }
}

/// Evaluates the alarms every [`EVALUATE_EVERY`] and carries out their actions, until
/// `shutdown` turns true.
pub async fn run_alarms(cloudwatch: Arc<CloudWatch>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(EVALUATE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let cw = cloudwatch.clone();
        let evaluated = tokio::task::spawn_blocking(move || {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let transitions = cw.evaluate(now_ms);
            for transition in &transitions {
                act(&cw, transition);
            }
        })
        .await;
        if let Err(error) = evaluated {
            tracing::error!(%error, "alarm evaluation panicked");
        }
    }
}

/// Records a transition and carries out its actions: an SNS topic's notification is logged
/// (Ferrocache has no SNS to publish to) and recorded in the alarm's history as executed, as
/// AWS records a publish; any other kind of action cannot run here and is recorded as failed.
fn act(cloudwatch: &CloudWatch, transition: &AlarmTransition) {
    tracing::info!(
        region = %transition.region,
        alarm = %transition.alarm_name,
        from = transition.old_state.as_str(),
        to = transition.new_state.as_str(),
        reason = %transition.reason,
        "alarm state changed"
    );
    if !transition.actions_enabled {
        return;
    }
    for action in &transition.actions {
        if action.starts_with("arn:aws:sns:") {
            tracing::info!(alarm = %transition.alarm_name, topic = %action, notification = %transition.notification, "alarm notification");
            cloudwatch.record_action(transition, action, None);
        } else {
            cloudwatch.record_action(
                transition,
                action,
                Some("Only SNS topic actions are carried out by Ferrocache."),
            );
        }
    }
}

/// Writes CloudWatch's metrics to disk every [`FLUSH_EVERY`], and once more when `shutdown`
/// turns true.
pub async fn flush_metrics(cloudwatch: Arc<CloudWatch>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = shutdown.changed() => true,
        };
        let cw = cloudwatch.clone();
        let flushed = tokio::task::spawn_blocking(move || cw.flush()).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "metrics not written to disk; retried"),
            Err(error) => tracing::error!(%error, "flushing metrics panicked"),
        }
        if last {
            return;
        }
    }
}
