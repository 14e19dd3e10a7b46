//! CloudWatch's statistics over one period's data: the five plain ones from the period's
//! merged [`Stats`], percentiles (`p99`, `p99.9`) from its weighted samples.
//!
//! Percentiles are exact for the samples the store keeps: one per stored datapoint, which is a
//! single value or, where the store merged several values into one step (a minute, or a second
//! for high-resolution data), their mean weighted by their count. AWS keeps a finer
//! distribution; the difference shows only when many values share a step.

use ferrocache_timeseries::Stats;

/// A statistic a query or an alarm asks for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Statistic {
    /// `SampleCount`.
    SampleCount,
    /// `Average`.
    Average,
    /// `Sum`.
    Sum,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
    /// `pNN` / `pNN.NN`: the percentile (0 to 100) and the name as the caller wrote it.
    Percentile(f64, String),
}

impl Statistic {
    /// One of the five plain statistics, by its model name.
    pub(crate) fn plain(name: &str) -> Option<Statistic> {
        Some(match name {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => return None,
        })
    }

    /// A percentile, `p` followed by a number from 0 to 100 with at most two decimals
    /// (`p99`, `p99.9`, `p0.0`, `p100`). Other extended statistics (trimmed means, `IQM`, …)
    /// are not computed here.
    pub(crate) fn percentile(name: &str) -> Option<Statistic> {
        let digits = name.strip_prefix('p')?;
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.len() <= 3
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.len() <= 2
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && fraction.is_empty());
        if !well_formed {
            return None;
        }
        let p: f64 = digits.parse().ok()?;
        (0.0..=100.0)
            .contains(&p)
            .then(|| Statistic::Percentile(p, name.to_string()))
    }

    /// A plain statistic or a percentile (GetMetricData's `Stat`).
    pub(crate) fn any(name: &str) -> Option<Statistic> {
        Statistic::plain(name).or_else(|| Statistic::percentile(name))
    }

    /// The name as AWS writes it back.
    pub(crate) fn name(&self) -> &str {
        match self {
            Statistic::SampleCount => "SampleCount",
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
            Statistic::Percentile(_, name) => name,
        }
    }

    /// Whether this is a percentile (an extended statistic).
    pub(crate) fn is_percentile(&self) -> bool {
        matches!(self, Statistic::Percentile(..))
    }

    /// The statistic of a period holding `stats`, with `samples` (`(value, weight)`) for
    /// percentiles. `None` when it cannot be computed: a percentile of a period without
    /// samples, or with a negative value (AWS: "Percentile statistics are not available for
    /// metrics when any of the metric values are negative numbers").
    pub(crate) fn of(&self, stats: &Stats, samples: &[(f64, f64)]) -> Option<f64> {
        Some(match self {
            Statistic::SampleCount => stats.count,
            Statistic::Average => stats.sum / stats.count,
            Statistic::Sum => stats.sum,
            Statistic::Minimum => stats.min,
            Statistic::Maximum => stats.max,
            Statistic::Percentile(p, _) => return percentile(*p, stats, samples),
        })
    }
}

/// The nearest-rank percentile `p` of weighted samples, kept within the period's extremes
/// (a merged sample is a mean, which the true extremes bound).
fn percentile(p: f64, stats: &Stats, samples: &[(f64, f64)]) -> Option<f64> {
    if samples.is_empty() || stats.min < 0.0 {
        return None;
    }
    if p <= 0.0 {
        return Some(stats.min);
    }
    if p >= 100.0 {
        return Some(stats.max);
    }
    let mut sorted: Vec<(f64, f64)> = samples.iter().copied().filter(|s| s.1 > 0.0).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = sorted.iter().map(|s| s.1).sum();
    let rank = p / 100.0 * total;
    let mut seen = 0.0;
    for (value, weight) in &sorted {
        seen += weight;
        if seen >= rank {
            return Some(value.clamp(stats.min, stats.max));
        }
    }
    sorted.last().map(|s| s.0.clamp(stats.min, stats.max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[f64]) -> (Stats, Vec<(f64, f64)>) {
        let mut stats = Stats::single(values[0]);
        for v in &values[1..] {
            stats.merge(&Stats::single(*v));
        }
        (stats, values.iter().map(|v| (*v, 1.0)).collect())
    }

    #[test]
    fn plain_statistics() {
        let (s, samples) = of(&[1.0, 2.0, 6.0]);
        assert_eq!(Statistic::SampleCount.of(&s, &samples), Some(3.0));
        assert_eq!(Statistic::Sum.of(&s, &samples), Some(9.0));
        assert_eq!(Statistic::Average.of(&s, &samples), Some(3.0));
        assert_eq!(Statistic::Minimum.of(&s, &samples), Some(1.0));
        assert_eq!(Statistic::Maximum.of(&s, &samples), Some(6.0));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let (s, samples) = of(&values);
        let p = |name: &str| Statistic::percentile(name).unwrap().of(&s, &samples);
        assert_eq!(p("p50"), Some(50.0));
        assert_eq!(p("p90"), Some(90.0));
        assert_eq!(p("p99"), Some(99.0));
        assert_eq!(p("p99.5"), Some(100.0));
        assert_eq!(p("p0"), Some(1.0));
        assert_eq!(p("p100"), Some(100.0));
        // Weights count: 9 samples of 1 and one of 100 weigh as 10 values.
        let s2 = Stats {
            count: 10.0,
            sum: 109.0,
            min: 1.0,
            max: 100.0,
        };
        let w = [(1.0, 9.0), (100.0, 1.0)];
        assert_eq!(Statistic::percentile("p90").unwrap().of(&s2, &w), Some(1.0));
        assert_eq!(
            Statistic::percentile("p95").unwrap().of(&s2, &w),
            Some(100.0)
        );
    }

    #[test]
    fn percentiles_of_negative_data_are_not_available() {
        let (s, samples) = of(&[-1.0, 2.0]);
        assert_eq!(Statistic::percentile("p50").unwrap().of(&s, &samples), None);
    }

    #[test]
    fn percentile_names() {
        for ok in ["p0", "p0.0", "p50", "p99.9", "p99.99", "p100"] {
            assert!(Statistic::percentile(ok).is_some(), "{ok}");
        }
        for bad in ["p", "p101", "p99.999", "p9.", "P99", "tm99", "p-1", "pabc"] {
            assert!(Statistic::percentile(bad).is_none(), "{bad}");
        }
        assert_eq!(Statistic::any("p90").unwrap().name(), "p90");
        assert_eq!(Statistic::any("Sum"), Some(Statistic::Sum));
    }
}
