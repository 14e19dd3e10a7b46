//! What a series has received since the last flush, per tier, in memory: the only part of the
//! store a `record` touches.

use crate::stats::Stats;
use crate::tier::Tier;

/// One stored datapoint: its step's start (unix ms) and what the step holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub t: i64,
    pub stats: Stats,
}

/// A series' datapoints not yet written to a file. The coarse tier has none: flushing derives
/// it from the standard one (five merged minutes are exactly the five-minute point).
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub fine: Vec<Point>,
    pub standard: Vec<Point>,
}

impl Head {
    /// Merges `stats` into the step of `t` in `tier`'s list. Points arrive mostly in order, so
    /// the step is nearly always the last one or new; a late one is looked for by a scan back
    /// (the list holds only the seconds since the last flush) and otherwise appended out of
    /// order: the list is sorted when it is written or read.
    pub(crate) fn add(&mut self, tier: Tier, t: i64, stats: &Stats) {
        let points = match tier {
            Tier::Fine => &mut self.fine,
            Tier::Standard => &mut self.standard,
            Tier::Coarse => unreachable!("the coarse tier is derived when flushing"),
        };
        let t = tier.align(t);
        match points.last_mut() {
            Some(last) if last.t == t => last.stats.merge(stats),
            Some(last) if last.t > t => match points.iter_mut().rev().find(|p| p.t == t) {
                Some(p) => p.stats.merge(stats),
                None => points.push(Point { t, stats: *stats }),
            },
            _ => points.push(Point { t, stats: *stats }),
        }
    }

    pub(crate) fn points(&self, tier: Tier) -> &[Point] {
        match tier {
            Tier::Fine => &self.fine,
            Tier::Standard => &self.standard,
            Tier::Coarse => &[],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fine.is_empty() && self.standard.is_empty()
    }

    /// Takes the points out, leaving room for as many as were there (the next interval will
    /// most likely bring the same number), so steady writing does not reallocate.
    pub(crate) fn take(&mut self) -> Head {
        // A burst (a caller's backlog) should not keep its room for good.
        let (fine_len, standard_len) = (self.fine.len().min(64), self.standard.len().min(64));
        let fine = std::mem::replace(&mut self.fine, Vec::with_capacity(fine_len));
        let standard = std::mem::replace(&mut self.standard, Vec::with_capacity(standard_len));
        Head { fine, standard }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.fine.capacity() + self.standard.capacity()) * std::mem::size_of::<Point>()
    }
}

/// The five-minute points of a series' minutes.
pub(crate) fn coarse_from_standard(standard: &[Point]) -> Vec<Point> {
    let mut coarse: Vec<Point> = Vec::new();
    for p in standard {
        let t = Tier::Coarse.align(p.t);
        match coarse.iter_mut().rev().find(|c| c.t == t) {
            Some(c) => c.stats.merge(&p.stats),
            None => coarse.push(Point { t, ..*p }),
        }
    }
    coarse
}

/// Sorts `points` by time and merges the ones of the same step: the form every file and every
/// answer uses. Stable, so merging happens in arrival order (sums of floats depend on order).
pub(crate) fn normalize(points: &mut Vec<Point>) {
    if points.windows(2).any(|w| w[0].t >= w[1].t) {
        points.sort_by_key(|p| p.t);
        points.dedup_by(|later, earlier| {
            if later.t == earlier.t {
                earlier.stats.merge(&later.stats);
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_points_merge_into_their_minute() {
        let mut head = Head::default();
        head.add(Tier::Standard, 60_500, &Stats::single(1.0));
        head.add(Tier::Standard, 120_000, &Stats::single(5.0));
        head.add(Tier::Standard, 119_000, &Stats::single(3.0));
        assert_eq!(head.standard.len(), 2);
        assert_eq!(head.standard[0].stats.count, 2.0);
        assert_eq!(head.standard[0].stats.max, 3.0);
    }

    #[test]
    fn normalize_sorts_and_merges() {
        let p = |t, v| Point {
            t,
            stats: Stats::single(v),
        };
        let mut points = vec![p(2, 1.0), p(1, 2.0), p(2, 3.0)];
        normalize(&mut points);
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].stats.sum, 4.0);
    }
}
