//! What a datapoint or a bucket holds ([`Stats`]) and what a query answers with ([`Bucket`]).

/// An aggregate of samples: what one stored datapoint or one bucket holds. PutMetricData's
/// `StatisticSet` has the same four members; a single value `v` is `{1, v, v, v}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// How many samples (may be fractional only if a caller's statistic set says so).
    pub count: f64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Stats {
    /// One sample of `value`.
    pub fn single(value: f64) -> Stats {
        Stats {
            count: 1.0,
            sum: value,
            min: value,
            max: value,
        }
    }

    /// Adds `other`'s samples to these.
    pub fn merge(&mut self, other: &Stats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The mean (`sum / count`).
    pub fn average(&self) -> f64 {
        self.sum / self.count
    }

    /// True when this is one sample (stored as one column instead of four).
    pub(crate) fn is_single(&self) -> bool {
        self.count == 1.0 && self.sum == self.min && self.sum == self.max
    }
}

/// One period of a query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// Where the period starts (unix ms); it covers `[start_ms, start_ms + period)`.
    pub start_ms: i64,
    /// Every stored datapoint of the period merged.
    pub stats: Stats,
    /// `(value, weight)` of every stored datapoint in the bucket, for percentiles: a stored
    /// point with count 1 is exact (`(value, 1)`); an aggregated one gives
    /// `(sum / count, count)`. In time order.
    pub samples: Vec<(f64, f64)>,
}
