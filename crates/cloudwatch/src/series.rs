//! CloudWatch's metrics in the time-series store: how a region's metric with a unit becomes a
//! store series, the index from metric to series, and per-period statistics.
//!
//! Keys: the store names a series by namespace, metric and dimensions, and keeps one unit per
//! series (the last given). CloudWatch keeps data of different units apart (a metric published
//! in `Seconds` and in `Count` answers with a datapoint per unit) and every region apart, so
//! both go into the store's key as reserved dimensions, [`REGION_DIMENSION`] and
//! [`UNIT_DIMENSION`]: names starting with a colon, which AWS forbids for callers' dimensions,
//! so they never collide. The store's namespaces stay the callers' own.
//!
//! The index (metric → its units' series) lives here, rebuilt from the store's catalog at
//! open, so that a query for a metric finds every unit without scanning the catalog.

use std::collections::HashMap;
use std::sync::RwLock;

use ferrocache_timeseries::{
    Bucket, Dimension, SeriesId, SeriesKey, Stats, Store, TimeseriesError,
};

use crate::statistics::Statistic;

/// The reserved dimension holding a series' region.
pub const REGION_DIMENSION: &str = ":region";
/// The reserved dimension holding a series' unit.
pub const UNIT_DIMENSION: &str = ":unit";

/// Which unit a query without `Unit` reads when its metric has data in several: AWS picks one
/// by a fixed order and says so in a `MultipleUnits` message (order observed by LocalStack
/// against AWS).
const UNIT_PREFERENCE: [&str; 27] = [
    "Megabits",
    "Terabits",
    "Gigabits",
    "Count",
    "Bytes",
    "Gigabytes",
    "Gigabytes/Second",
    "Kilobytes",
    "Kilobits/Second",
    "Terabytes",
    "Terabits/Second",
    "Bytes/Second",
    "Percent",
    "Megabytes",
    "Megabits/Second",
    "Milliseconds",
    "Microseconds",
    "Kilobytes/Second",
    "Gigabits/Second",
    "Megabytes/Second",
    "Bits",
    "Bits/Second",
    "Count/Second",
    "Seconds",
    "Kilobits",
    "Terabytes/Second",
    "None",
];

/// A metric as CloudWatch names it within a region: namespace, name, dimensions (sorted by
/// name, then value). Its data may be in several units.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MetricKey {
    pub region: String,
    pub namespace: String,
    pub metric: String,
    pub dims: Vec<(String, String)>,
}

impl MetricKey {
    /// The key, its dimensions sorted.
    pub(crate) fn new(
        region: &str,
        namespace: &str,
        metric: &str,
        mut dims: Vec<(String, String)>,
    ) -> MetricKey {
        dims.sort();
        MetricKey {
            region: region.to_string(),
            namespace: namespace.to_string(),
            metric: metric.to_string(),
            dims,
        }
    }

    /// The store's key for this metric's data in `unit`.
    fn store_key(&self, unit: &str) -> SeriesKey {
        let mut dims: Vec<Dimension> = self
            .dims
            .iter()
            .map(|(n, v)| Dimension::new(n.clone(), v.clone()))
            .collect();
        dims.push(Dimension::new(REGION_DIMENSION, self.region.clone()));
        dims.push(Dimension::new(UNIT_DIMENSION, unit));
        SeriesKey::new(self.namespace.clone(), self.metric.clone(), dims)
    }

    /// The metric and unit a store key names; `None` for a key not made here.
    fn of_store_key(key: &SeriesKey) -> Option<(MetricKey, String)> {
        let region = key.dimension(REGION_DIMENSION)?.to_string();
        let unit = key.dimension(UNIT_DIMENSION)?.to_string();
        let dims = key
            .dimensions
            .iter()
            .filter(|d| d.name != REGION_DIMENSION && d.name != UNIT_DIMENSION)
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect();
        Some((
            MetricKey::new(&region, &key.namespace, &key.metric, dims),
            unit,
        ))
    }
}

/// One period's statistic.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    /// The period's start (unix ms).
    pub start_ms: i64,
    /// The statistic's value.
    pub value: f64,
    /// How many samples the period holds.
    pub count: f64,
}

/// What a query without a unit reads of a metric: the series chosen and every unit that had
/// data (sorted, for AWS's `MultipleUnits` message when there are several).
#[derive(Debug)]
pub(crate) struct UnitChoice {
    pub series: SeriesId,
    pub units_with_data: Vec<String>,
}

/// A dimension every metric of a namespace carries with one value, which a query may leave
/// out: the metric is then also known without it (see [`Metrics::imply_dimension`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ImpliedDimension {
    namespace: String,
    name: String,
    value: String,
}

impl ImpliedDimension {
    /// `key` with the dimension added, when `key` is of the namespace and lacks it.
    fn completed(&self, key: &MetricKey) -> Option<MetricKey> {
        if key.namespace != self.namespace || key.dims.iter().any(|(n, _)| *n == self.name) {
            return None;
        }
        let mut dims = key.dims.clone();
        dims.push((self.name.clone(), self.value.clone()));
        Some(MetricKey::new(
            &key.region,
            &key.namespace,
            &key.metric,
            dims,
        ))
    }

    /// `key` without the dimension, when `key` is of the namespace and carries it with its
    /// value.
    fn shortened(&self, key: &MetricKey) -> Option<MetricKey> {
        if key.namespace != self.namespace
            || !key
                .dims
                .iter()
                .any(|(n, v)| *n == self.name && *v == self.value)
        {
            return None;
        }
        let dims = key
            .dims
            .iter()
            .filter(|(n, _)| *n != self.name)
            .cloned()
            .collect();
        Some(MetricKey::new(
            &key.region,
            &key.namespace,
            &key.metric,
            dims,
        ))
    }
}

/// The store with CloudWatch's index over it.
pub(crate) struct Metrics {
    store: Store,
    index: RwLock<HashMap<MetricKey, Vec<(String, SeriesId)>>>,
    implied: RwLock<Vec<ImpliedDimension>>,
}

impl Metrics {
    /// Wraps `store`, indexing every series it already holds.
    pub(crate) fn new(store: Store) -> Metrics {
        let mut index: HashMap<MetricKey, Vec<(String, SeriesId)>> = HashMap::new();
        for listed in store.list(None, None, &[], i64::MIN) {
            let Some((key, unit)) = MetricKey::of_store_key(&listed.key) else {
                continue;
            };
            if let Some(id) = store.lookup(&listed.key) {
                index.entry(key).or_default().push((unit, id));
            }
        }
        Metrics {
            store,
            index: RwLock::new(index),
            implied: RwLock::new(Vec::new()),
        }
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The series of `key`'s data in `unit`, created if new. Cheap when it exists (a read
    /// lock and a hash).
    pub(crate) fn series(&self, key: &MetricKey, unit: &str) -> SeriesId {
        if let Some(units) = self.index.read().expect("index lock").get(key) {
            if let Some((_, id)) = units.iter().find(|(u, _)| u == unit) {
                return *id;
            }
        }
        let mut index = self.index.write().expect("index lock");
        let units = index.entry(key.clone()).or_default();
        if let Some((_, id)) = units.iter().find(|(u, _)| u == unit) {
            return *id;
        }
        let id = self.store.series(&key.store_key(unit), unit);
        units.push((unit.to_string(), id));
        id
    }

    /// Makes every metric of `namespace` carrying dimension `name` = `value` known without it
    /// too (queried and listed): how a Redis cache cluster's metrics, published per node
    /// (`CacheClusterId` + `CacheNodeId` `0001`), are also the cache cluster's
    /// (`CacheClusterId` alone) without being stored twice.
    pub(crate) fn imply_dimension(&self, namespace: &str, name: &str, value: &str) {
        let rule = ImpliedDimension {
            namespace: namespace.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        };
        let mut implied = self.implied.write().expect("implied lock");
        if !implied.contains(&rule) {
            implied.push(rule);
        }
    }

    /// Every unit `key` has data in, with its series (none for a metric never published); a
    /// key without an implied dimension reads the series that carries it.
    pub(crate) fn units(&self, key: &MetricKey) -> Vec<(String, SeriesId)> {
        let index = self.index.read().expect("index lock");
        let mut units = index.get(key).cloned().unwrap_or_default();
        if units.is_empty() {
            for rule in self.implied.read().expect("implied lock").iter() {
                if let Some(full) = rule.completed(key) {
                    units = index.get(&full).cloned().unwrap_or_default();
                    if !units.is_empty() {
                        break;
                    }
                }
            }
        }
        units.sort();
        units
    }

    /// Records one datapoint.
    pub(crate) fn record(
        &self,
        id: SeriesId,
        at_ms: i64,
        stats: Stats,
        high_resolution: bool,
    ) -> Result<(), TimeseriesError> {
        self.store.record(id, at_ms, stats, high_resolution)
    }

    /// The store's buckets of `id` (see [`Store::buckets`] for alignment and tiers).
    pub(crate) fn buckets(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        period_s: u32,
    ) -> Vec<Bucket> {
        self.store.buckets(id, start_ms, end_ms, period_s)
    }

    /// `stat` for every period of `id` in `[start_ms, end_ms)` that has data (and for which the
    /// statistic can be computed), oldest first.
    pub(crate) fn points(
        &self,
        id: SeriesId,
        start_ms: i64,
        end_ms: i64,
        period_s: u32,
        stat: &Statistic,
    ) -> Vec<Point> {
        self.buckets(id, start_ms, end_ms, period_s)
            .into_iter()
            .filter_map(|b| {
                stat.of(&b.stats, &b.samples).map(|value| Point {
                    start_ms: b.start_ms,
                    value,
                    count: b.stats.count,
                })
            })
            .collect()
    }

    /// The series a query without `Unit` reads: among `key`'s units with data in the range,
    /// the first in AWS's order. `None` when no unit has data there.
    pub(crate) fn choose_unit(
        &self,
        key: &MetricKey,
        start_ms: i64,
        end_ms: i64,
        period_s: u32,
    ) -> Option<UnitChoice> {
        let with_data: Vec<(String, SeriesId)> = self
            .units(key)
            .into_iter()
            .filter(|(_, id)| !self.buckets(*id, start_ms, end_ms, period_s).is_empty())
            .collect();
        let rank = |u: &str| {
            UNIT_PREFERENCE
                .iter()
                .position(|p| *p == u)
                .unwrap_or(usize::MAX)
        };
        let (_, series) = with_data.iter().min_by_key(|(u, _)| rank(u))?.clone();
        let mut units_with_data: Vec<String> = with_data.into_iter().map(|(u, _)| u).collect();
        units_with_data.sort();
        Some(UnitChoice {
            series,
            units_with_data,
        })
    }

    /// The metrics of `region` with data since `active_since_ms`, filtered as ListMetrics
    /// filters (namespace, name, dimensions by name and maybe value), one entry per metric
    /// whatever its units, with its newest datapoint's time. Sorted by key.
    pub(crate) fn list(
        &self,
        region: &str,
        namespace: Option<&str>,
        metric: Option<&str>,
        filters: &[(String, Option<String>)],
        active_since_ms: i64,
    ) -> Vec<(MetricKey, i64)> {
        let mut dims: Vec<(String, Option<String>)> = filters.to_vec();
        dims.push((REGION_DIMENSION.to_string(), Some(region.to_string())));
        let mut out: Vec<(MetricKey, i64)> = Vec::new();
        let implied = self.implied.read().expect("implied lock").clone();
        let matches = |key: &MetricKey| {
            filters.iter().all(|(name, value)| {
                key.dims
                    .iter()
                    .any(|(n, v)| n == name && value.as_ref().is_none_or(|want| want == v))
            })
        };
        for listed in self.store.list(namespace, metric, &dims, active_since_ms) {
            let Some((key, _unit)) = MetricKey::of_store_key(&listed.key) else {
                continue;
            };
            for rule in &implied {
                if let Some(short) = rule.shortened(&key).filter(|k| matches(k)) {
                    out.push((short, listed.last_ms));
                }
            }
            out.push((key, listed.last_ms));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = earlier.1.max(later.1);
                true
            } else {
                false
            }
        });
        out
    }
}
