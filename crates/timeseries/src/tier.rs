//! The three resolution tiers, how long each keeps its data ([`Retention`]) and how each is cut
//! into partitions (the unit files and expiry work in).

use std::time::Duration;

/// The fine tier's step: datapoints of one second (CloudWatch's high resolution).
pub const FINE_STEP_SECONDS: u32 = 1;
/// The standard tier's step: one-minute datapoints.
pub const STANDARD_STEP_SECONDS: u32 = 60;
/// The coarse tier's step: five-minute datapoints.
pub const COARSE_STEP_SECONDS: u32 = 300;

/// How long each tier keeps its datapoints. CloudWatch's are the [`Default`]: 1-second data
/// for 3 hours, 1-minute data for 15 days, 5-minute data for 63 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The fine (1 s) tier's.
    pub fine: Duration,
    /// The standard (60 s) tier's. Points older than this are refused by `record`.
    pub standard: Duration,
    /// The coarse (300 s) tier's.
    pub coarse: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            fine: Duration::from_secs(3 * 3600),
            standard: Duration::from_secs(15 * 86_400),
            coarse: Duration::from_secs(63 * 86_400),
        }
    }
}

/// A resolution tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Tier {
    Fine,
    Standard,
    Coarse,
}

impl Tier {
    pub(crate) const ALL: [Tier; 3] = [Tier::Fine, Tier::Standard, Tier::Coarse];

    pub(crate) fn step_ms(self) -> i64 {
        let seconds = match self {
            Tier::Fine => FINE_STEP_SECONDS,
            Tier::Standard => STANDARD_STEP_SECONDS,
            Tier::Coarse => COARSE_STEP_SECONDS,
        };
        i64::from(seconds) * 1000
    }

    /// The directory under the store's where the tier's files live.
    pub(crate) fn dir_name(self) -> &'static str {
        match self {
            Tier::Fine => "fine",
            Tier::Standard => "standard",
            Tier::Coarse => "coarse",
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.code() == code)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Tier::Fine => 1,
            Tier::Standard => 2,
            Tier::Coarse => 3,
        }
    }

    pub(crate) fn retention_ms(self, retention: &Retention) -> i64 {
        let d = match self {
            Tier::Fine => retention.fine,
            Tier::Standard => retention.standard,
            Tier::Coarse => retention.coarse,
        };
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// The oldest time the tier still serves at `now_ms`.
    pub(crate) fn cutoff_ms(self, retention: &Retention, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.retention_ms(retention))
    }

    /// How much time one partition (one set of files, expired as a whole) spans: a fraction
    /// of the retention, so a tier always has about the same number of partitions (with the
    /// default retention: 1 hour, 1 day and 7 days, i.e. 3, 15 and 9 partitions). A partition
    /// is deleted once its end is older than the retention, so the disk holds up to one
    /// partition more than the retention.
    pub(crate) fn partition_ms(self, retention: &Retention) -> i64 {
        let parts = match self {
            Tier::Fine => 3,
            Tier::Standard => 15,
            Tier::Coarse => 9,
        };
        let step = self.step_ms();
        let len = self.retention_ms(retention) / parts;
        (len / step).max(1) * step
    }

    /// Where a datapoint at `t_ms` goes: its step's start.
    pub(crate) fn align(self, t_ms: i64) -> i64 {
        t_ms.div_euclid(self.step_ms()) * self.step_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_partitions_are_an_hour_a_day_and_a_week() {
        let r = Retention::default();
        assert_eq!(Tier::Fine.partition_ms(&r), 3_600_000);
        assert_eq!(Tier::Standard.partition_ms(&r), 86_400_000);
        assert_eq!(Tier::Coarse.partition_ms(&r), 7 * 86_400_000);
    }

    #[test]
    fn align_rounds_down_to_the_step() {
        assert_eq!(Tier::Standard.align(119_999), 60_000);
        assert_eq!(Tier::Coarse.align(-1), -300_000);
        assert_eq!(Tier::Fine.align(1_500), 1_000);
    }
}
