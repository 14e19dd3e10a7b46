//! How a query's periods are laid out and which tier serves each: CloudWatch's rules, kept
//! apart from where the points come from.

use crate::head::Point;
use crate::stats::{Bucket, Stats};
use crate::tier::{Retention, Tier};

/// Where the first bucket of a query starts: `start_ms` rounded down to the resolution of
/// the data the period is served from, as CloudWatch rounds a query's `StartTime`:
///
/// - a period under 60 s (only the fine tier can serve it): the whole second;
/// - otherwise, by the start's age: newer than the standard tier's retention (15 days), the
///   whole minute; newer than the coarse tier's (63 days), the 5-minute clock interval; older,
///   the hour.
///
/// Every bucket then starts a whole number of periods after it.
pub fn aligned_start(start_ms: i64, period_s: u32, now_ms: i64, retention: &Retention) -> i64 {
    let resolution_ms: i64 = if period_s < 60 {
        1_000
    } else if start_ms >= Tier::Standard.cutoff_ms(retention, now_ms) {
        60_000
    } else if start_ms >= Tier::Coarse.cutoff_ms(retention, now_ms) {
        300_000
    } else {
        3_600_000
    };
    start_ms.div_euclid(resolution_ms) * resolution_ms
}

/// A run of consecutive buckets served by one tier: bucket starts in `[first, end)` (the last
/// may reach past the query's end, which still bounds the data).
#[derive(Debug, PartialEq)]
pub(crate) struct Span {
    pub tier: Tier,
    pub first: i64,
    pub end: i64,
}

/// Which tier serves which buckets. A bucket is served by the finest tier whose step divides
/// the period and which still holds the bucket's start (its retention cutoff is not after it);
/// a bucket no tier can serve is left out. The fine tier serves only periods the standard one
/// cannot (not whole minutes): it holds only the high-resolution points, the standard tier
/// every point.
pub(crate) fn spans(
    first_bucket: i64,
    end_ms: i64,
    period_ms: i64,
    now_ms: i64,
    retention: &Retention,
) -> Vec<Span> {
    let eligible: Vec<Tier> = Tier::ALL
        .into_iter()
        .filter(|t| period_ms % t.step_ms() == 0)
        .filter(|t| *t != Tier::Fine || period_ms % Tier::Standard.step_ms() != 0)
        .collect();
    let bucket_at_or_after = |t: i64| {
        if t <= first_bucket {
            first_bucket
        } else {
            first_bucket + (t - first_bucket + period_ms - 1) / period_ms * period_ms
        }
    };
    let mut spans = Vec::new();
    for (i, &tier) in eligible.iter().enumerate() {
        // Finer tiers take every bucket from their own cutoff on.
        let finer_from = eligible[..i]
            .iter()
            .map(|t| t.cutoff_ms(retention, now_ms))
            .min()
            .unwrap_or(i64::MAX);
        let first = bucket_at_or_after(tier.cutoff_ms(retention, now_ms));
        let end = bucket_at_or_after(finer_from.min(end_ms));
        if first < end {
            spans.push(Span { tier, first, end });
        }
    }
    spans.sort_by_key(|s| s.first);
    spans
}

/// Puts a tier's points (sorted, one per step, all inside the span and before the query's
/// end) into buckets of `period_ms` starting at `first_bucket`, skipping empty ones.
pub(crate) fn fill(points: &[Point], first_bucket: i64, period_ms: i64, out: &mut Vec<Bucket>) {
    let mut current: Option<Bucket> = None;
    for p in points {
        let start = first_bucket + (p.t - first_bucket).div_euclid(period_ms) * period_ms;
        let sample = (p.stats.sum / p.stats.count, p.stats.count);
        match &mut current {
            Some(b) if b.start_ms == start => {
                b.stats.merge(&p.stats);
                b.samples.push(sample);
            }
            _ => {
                out.extend(current.take());
                current = Some(Bucket {
                    start_ms: start,
                    stats: Stats { ..p.stats },
                    samples: vec![sample],
                });
            }
        }
    }
    out.extend(current);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;

    #[test]
    fn start_rounds_to_the_data_resolution() {
        let r = Retention::default();
        let now = 100 * DAY;
        assert_eq!(aligned_start(now - 1_500, 10, now, &r), now - 2_000);
        assert_eq!(aligned_start(now - 90_000, 60, now, &r), now - 2 * MIN);
        let old = now - 20 * DAY - 90_000;
        assert_eq!(aligned_start(old, 300, now, &r), now - 20 * DAY - 5 * MIN);
        let older = now - 70 * DAY - 90_000;
        assert_eq!(
            aligned_start(older, 3600, now, &r),
            now - 70 * DAY - 60 * MIN
        );
    }

    #[test]
    fn each_bucket_goes_to_the_finest_tier_holding_it() {
        let r = Retention::default();
        let now = 100 * DAY;
        // 5-minute periods over 20 days: coarse past 15 days, standard after.
        let start = now - 20 * DAY;
        let s = spans(start, now, 5 * MIN, now, &r);
        let tiers: Vec<Tier> = s.iter().map(|s| s.tier).collect();
        assert_eq!(tiers, vec![Tier::Coarse, Tier::Standard]);
        assert_eq!(s[0].first, start);
        assert_eq!(s[1].first, now - 15 * DAY);
        assert_eq!(s[1].end, now);
        // 10-second periods over the last 4 hours: the fine tier, for its 3 hours.
        let s = spans(now - 4 * 3_600_000, now, 10_000, now, &r);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].tier, s[0].first), (Tier::Fine, now - 3 * 3_600_000));
        // 1-second periods for yesterday: nothing serves them.
        assert!(spans(now - DAY, now - DAY + 3_600_000, 1_000, now, &r).is_empty());
        // 2-minute periods 20 days back: coarse's step does not divide, standard has expired.
        let s = spans(now - 20 * DAY, now - 16 * DAY, 2 * MIN, now, &r);
        assert!(s.is_empty());
    }
}
