//! The store's behaviour: tiers, late points, restarts, damage, retention, listing.

use std::sync::Arc;
use std::time::Duration;

use crate::segment::Segment;
use crate::*;

const SEC: i64 = 1_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// A Monday midnight: every partition of every tier starts here.
const T0: i64 = 19_698 * DAY;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    open_with(dir, clock, Retention::default())
}

fn open_with(dir: &std::path::Path, clock: &Arc<ManualClock>, retention: Retention) -> Store {
    let options = Options {
        clock: clock.clone(),
        maintenance_every: None,
    };
    Store::open_with(dir, retention, options).unwrap()
}

fn key(metric: &str, node: &str) -> SeriesKey {
    SeriesKey::new(
        "AWS/ElastiCache",
        metric,
        vec![
            Dimension::new("CacheNodeId", "0001"),
            Dimension::new("CacheClusterId", node),
        ],
    )
}

fn total(buckets: &[Bucket]) -> Stats {
    let mut all = buckets[0].stats;
    for b in &buckets[1..] {
        all.merge(&b.stats);
    }
    all
}

fn seg_files(dir: &std::path::Path, tier: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(tier))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

#[test]
fn keys_sort_their_dimensions() {
    let a = SeriesKey::new(
        "ns",
        "m",
        vec![Dimension::new("b", "1"), Dimension::new("a", "2")],
    );
    let b = SeriesKey::new(
        "ns",
        "m",
        vec![Dimension::new("a", "2"), Dimension::new("b", "1")],
    );
    assert_eq!(a, b);
    assert_eq!(a.dimensions[0].name, "a");
}

#[test]
fn each_tier_serves_its_periods() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    assert_eq!(store.unit(id), "Percent");
    // Ten minutes of one point a second, values 0..600, high resolution.
    let start = T0 + HOUR - 10 * MIN;
    for i in 0..600 {
        store
            .record(id, start + i * SEC, Stats::single(i as f64), true)
            .unwrap();
    }
    for flushed in [false, true] {
        if flushed {
            store.flush().unwrap();
        }
        let fine = store.buckets(id, start, start + 10 * MIN, 1);
        assert_eq!(fine.len(), 600);
        assert_eq!(fine[7].start_ms, start + 7 * SEC);
        assert_eq!(fine[7].stats, Stats::single(7.0));
        let tens = store.buckets(id, start, start + 10 * MIN, 10);
        assert_eq!(tens.len(), 60);
        assert_eq!(tens[1].stats.count, 10.0);
        assert_eq!(tens[1].stats.sum, (10..20).sum::<i32>() as f64);
        let minutes = store.buckets(id, start, start + 10 * MIN, 60);
        assert_eq!(minutes.len(), 10);
        assert_eq!(
            minutes[2].stats,
            Stats {
                count: 60.0,
                sum: (120..180).sum::<i32>() as f64,
                min: 120.0,
                max: 179.0
            }
        );
        let fives = store.buckets(id, start, start + 10 * MIN, 300);
        assert_eq!(fives.len(), 2);
        assert_eq!(fives[1].stats.min, 300.0);
    }
    store.maintain().unwrap();

    // 16 days later the fine and standard tiers no longer hold that hour; the coarse one does.
    clock.set(T0 + HOUR + 16 * DAY);
    assert!(store.buckets(id, start, start + 10 * MIN, 1).is_empty());
    assert!(store.buckets(id, start, start + 10 * MIN, 60).is_empty());
    let fives = store.buckets(id, start, start + 10 * MIN, 300);
    assert_eq!(fives.len(), 2);
    assert_eq!(fives[0].stats.count, 300.0);
    assert_eq!(fives[0].stats.max, 299.0);
    assert_eq!(fives[1].samples, vec![(449.5, 300.0)]);
    // An hour period from 16 days ago starts at the 5-minute boundary before the start.
    let hours = store.buckets(id, start + 2 * MIN, start + 10 * MIN, 3600);
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].start_ms, start);
    assert_eq!(hours[0].stats.count, 600.0);
}

#[test]
fn standard_resolution_points_stay_out_of_the_fine_tier() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CurrConnections", "a"), "Count");
    store
        .record(id, T0 + 30 * MIN, Stats::single(4.0), false)
        .unwrap();
    assert!(store.buckets(id, T0, T0 + HOUR, 1).is_empty());
    let minutes = store.buckets(id, T0, T0 + HOUR, 60);
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].start_ms, T0 + 30 * MIN);
}

#[test]
fn fine_only_points_stay_out_of_the_minutes() {
    // Seconds recorded on their own and the minute recorded once: the minute holds one value
    // (SampleCount 1), the seconds stay at one-second resolution, and both survive a flush.
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CacheHits", "a"), "Count");
    for s in 0..60 {
        store
            .record_fine(id, T0 + 30 * MIN + s * SEC, Stats::single(2.0))
            .unwrap();
    }
    store
        .record(id, T0 + 30 * MIN, Stats::single(120.0), false)
        .unwrap();
    store.flush().unwrap();
    let seconds = store.buckets(id, T0, T0 + HOUR, 1);
    assert_eq!(seconds.len(), 60);
    assert_eq!(total(&seconds).sum, 120.0);
    let minutes = store.buckets(id, T0, T0 + HOUR, 60);
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].stats, Stats::single(120.0));
    // Older than the fine tier keeps: refused.
    assert!(matches!(
        store.record_fine(id, T0 + HOUR - 4 * HOUR, Stats::single(1.0)),
        Err(TimeseriesError::TooOld { .. })
    ));
}

#[test]
fn late_points_merge_with_their_minute_across_flushes_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 20 * MIN));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("GetTypeCmds", "a"), "Count");
    let minute = T0 + 10 * MIN;
    store
        .record(id, minute + 30 * SEC, Stats::single(1.0), false)
        .unwrap();
    store.flush().unwrap();
    store
        .record(id, minute + 10 * SEC, Stats::single(3.0), false)
        .unwrap();
    let set = Stats {
        count: 4.0,
        sum: 10.0,
        min: 0.5,
        max: 5.0,
    };
    // A statistic set for the same minute, two weeks late (PutMetricData allows it).
    clock.advance(14 * DAY);
    store.record(id, minute + 50 * SEC, set, false).unwrap();
    let expected = Stats {
        count: 6.0,
        sum: 14.0,
        min: 0.5,
        max: 5.0,
    };
    let check = |store: &Store| {
        let b = store.buckets(id, minute, minute + MIN, 60);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].stats, expected);
        assert_eq!(b[0].samples, vec![(14.0 / 6.0, 6.0)]);
    };
    check(&store);
    store.flush().unwrap();
    check(&store);
    store.merge_all().unwrap();
    check(&store);
    assert_eq!(seg_files(dir.path(), "standard").len(), 1);
}

#[test]
fn percentile_samples_are_the_stored_points() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("EngineCPUUtilization", "a"), "Percent");
    for i in 0..10 {
        store
            .record(id, T0 + 5 * SEC * i, Stats::single(i as f64), true)
            .unwrap();
    }
    let set = Stats {
        count: 3.0,
        sum: 30.0,
        min: 9.0,
        max: 11.0,
    };
    store.record(id, T0 + 2 * MIN, set, true).unwrap();
    store.flush().unwrap();
    let fine = store.buckets(id, T0, T0 + 3 * MIN, 30);
    assert_eq!(
        fine[0].samples,
        vec![
            (0.0, 1.0),
            (1.0, 1.0),
            (2.0, 1.0),
            (3.0, 1.0),
            (4.0, 1.0),
            (5.0, 1.0)
        ]
    );
    assert_eq!(fine.last().unwrap().samples, vec![(10.0, 3.0)]);
    let minutes = store.buckets(id, T0, T0 + 3 * MIN, 60);
    assert_eq!(minutes[0].samples, vec![(4.5, 10.0)]);
    let three = store.buckets(id, T0, T0 + 3 * MIN, 180);
    assert_eq!(three[0].samples, vec![(4.5, 10.0), (10.0, 3.0)]);
}

#[test]
fn points_outside_the_window_or_not_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let now = T0 + 20 * DAY;
    let clock = Arc::new(ManualClock::new(now));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("Evictions", "a"), "Count");
    let one = Stats::single(1.0);
    assert!(matches!(
        store.record(id, now - 15 * DAY - 1, one, false),
        Err(TimeseriesError::TooOld { .. })
    ));
    store.record(id, now - 15 * DAY, one, false).unwrap();
    store.record(id, now + 2 * HOUR, one, false).unwrap();
    assert!(matches!(
        store.record(id, now + 2 * HOUR + 1, one, false),
        Err(TimeseriesError::TooNew { .. })
    ));
    assert!(matches!(
        store.record(id, now, Stats::single(f64::NAN), false),
        Err(TimeseriesError::InvalidValue(_))
    ));
    let bad_set = Stats {
        count: 0.0,
        sum: 0.0,
        min: 0.0,
        max: 0.0,
    };
    assert!(store.record(id, now, bad_set, false).is_err());
    assert!(matches!(
        store.record(SeriesId(999), now, one, false),
        Err(TimeseriesError::UnknownSeries(_))
    ));
}

#[test]
fn a_restart_sees_what_was_flushed_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let k = key("BytesUsedForCache", "a");
    {
        let store = open(dir.path(), &clock);
        let id = store.series(&k, "Bytes");
        for i in 0..120 {
            store
                .record(id, T0 + i * SEC, Stats::single(1000.0 + i as f64), true)
                .unwrap();
        }
        store.flush().unwrap();
        // Recorded but never flushed: a crash (or a drop) loses it.
        store
            .record(id, T0 + 10 * MIN, Stats::single(5.0), true)
            .unwrap();
        store.series(&key("Other", "a"), "Count");
    }
    let store = open(dir.path(), &clock);
    let id = store.lookup(&k).unwrap();
    assert_eq!(store.unit(id), "Bytes");
    let fine = store.buckets(id, T0, T0 + HOUR, 1);
    assert_eq!(fine.len(), 120);
    assert_eq!(fine[119].stats, Stats::single(1119.0));
    let minutes = store.buckets(id, T0, T0 + HOUR, 60);
    assert_eq!(minutes.len(), 2);
    assert_eq!(store.lookup(&key("Other", "a")), None);
    let listed = store.list(None, None, &[], T0);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_ms, T0 + 119 * SEC);
    // A new series gets a new id, and the unit changes are kept.
    let other = store.series(&key("Other", "a"), "Count");
    assert_ne!(other, id);
    store.series(&k, "Megabytes");
    store.flush().unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.unit(id), "Megabytes");
    assert_eq!(store.lookup(&key("Other", "a")), Some(other));
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let _store = open(dir.path(), &clock);
    let second = Store::open_with(
        dir.path(),
        Retention::default(),
        Options {
            clock: clock.clone(),
            maintenance_every: None,
        },
    );
    assert!(matches!(second, Err(TimeseriesError::Locked(_))));
}

#[test]
fn damaged_files_do_not_stop_open_nor_falsify_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let keys: Vec<SeriesKey> = (0..40)
        .map(|n| key("CPUUtilization", &n.to_string()))
        .collect();
    {
        let store = open(dir.path(), &clock);
        let ids: Vec<SeriesId> = keys.iter().map(|k| store.series(k, "Percent")).collect();
        // First flush: 10 minutes of every series. Second flush: the next 10 minutes.
        for round in 0..2 {
            for (n, &id) in ids.iter().enumerate() {
                for i in 0..600 {
                    let t = T0 + round * 10 * MIN + i * SEC;
                    store.record(id, t, Stats::single(n as f64), true).unwrap();
                }
            }
            store.flush().unwrap();
        }
    }
    let files = seg_files(dir.path(), "fine");
    assert_eq!(files.len(), 2);
    // Cut the second file in the middle of its groups: a torn tail.
    let second = std::fs::read(&files[1]).unwrap();
    let seg = Segment::open(&files[1]).unwrap();
    assert!(seg.index.len() > 2);
    let cut = seg.index.span(1).0 as usize + 100;
    drop(seg);
    std::fs::write(&files[1], &second[..cut]).unwrap();
    // Flip bits inside the first file's first group: its checksum fails.
    let mut first = std::fs::read(&files[0]).unwrap();
    let seg = Segment::open(&files[0]).unwrap();
    let (damaged_at, _) = seg.index.span(0);
    let (damaged_first, damaged_last) = seg.index.ids(0);
    drop(seg);
    first[damaged_at as usize + 40] ^= 0x55;
    std::fs::write(&files[0], &first).unwrap();
    // And tear the series log's last record.
    let log = dir.path().join("series.log");
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 5]).unwrap();

    let store = open(dir.path(), &clock);
    for (n, k) in keys.iter().enumerate() {
        let Some(id) = store.lookup(k) else {
            assert_eq!(n, 39, "only the torn record's series is forgotten");
            continue;
        };
        for b in store.buckets(id, T0, T0 + 20 * MIN, 1) {
            assert_eq!(b.stats, Stats::single(n as f64), "never a wrong value");
        }
        let first_ten = store.buckets(id, T0, T0 + 10 * MIN, 1).len();
        let in_damaged_group = n as u32 >= damaged_first && n as u32 <= damaged_last;
        assert_eq!(first_ten, if in_damaged_group { 0 } else { 600 });
    }
    // The standard tier was not damaged: every minute is whole.
    let id = store.lookup(&keys[5]).unwrap();
    assert_eq!(store.buckets(id, T0, T0 + 20 * MIN, 60).len(), 20);
    // A new series does not take the forgotten one's id.
    let new = store.series(&key("New", "x"), "Count");
    assert_eq!(new.get(), 40);
    // The store goes on writing and merging over the damage.
    store.flush().unwrap();
    store.merge_all().unwrap();
    let id = store.lookup(&keys[30]).unwrap();
    assert_eq!(store.buckets(id, T0, T0 + 10 * MIN, 1).len(), 600);
}

#[test]
fn an_unreadable_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let k = key("CPUUtilization", "a");
    {
        let store = open(dir.path(), &clock);
        let id = store.series(&k, "Percent");
        store.record(id, T0, Stats::single(1.0), true).unwrap();
        store.flush().unwrap();
    }
    let file = &seg_files(dir.path(), "fine")[0];
    std::fs::write(file, b"FCTSSEG1 garbage").unwrap();
    let store = open(dir.path(), &clock);
    let id = store.lookup(&k).unwrap();
    assert!(store.buckets(id, T0, T0 + MIN, 1).is_empty());
    assert_eq!(store.buckets(id, T0, T0 + MIN, 60).len(), 1);
    assert!(seg_files(dir.path(), "fine").is_empty());
    assert!(file.with_extension("corrupt").exists());
}

#[test]
fn a_crash_after_a_merge_does_not_count_points_twice() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let k = key("NetworkBytesIn", "a");
    {
        let store = open(dir.path(), &clock);
        let id = store.series(&k, "Bytes");
        for i in 0..3 {
            store
                .record(id, T0 + i * SEC, Stats::single(1.0), true)
                .unwrap();
            store.flush().unwrap();
        }
    }
    // Merge by hand and leave the inputs, as a crash between the two steps would.
    let inputs: Vec<Arc<Segment>> = seg_files(dir.path(), "fine")
        .iter()
        .map(|p| Arc::new(Segment::open(p).unwrap()))
        .collect();
    let plan = crate::files::MergePlan {
        tier: crate::tier::Tier::Fine,
        partition: (
            inputs[0].header.partition_start_ms,
            inputs[0].header.partition_ms,
        ),
        inputs,
        level: 1,
    };
    crate::compact::merge(&dir.path().join("fine"), &plan, 1000).unwrap();
    drop(plan);
    assert_eq!(seg_files(dir.path(), "fine").len(), 4);
    let store = open(dir.path(), &clock);
    assert_eq!(seg_files(dir.path(), "fine").len(), 1);
    let id = store.lookup(&k).unwrap();
    assert_eq!(total(&store.buckets(id, T0, T0 + MIN, 1)).count, 3.0);
}

#[test]
fn expired_partitions_are_deleted_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Partitions: fine 10 min, standard 8 min, coarse 40 min.
    let retention = Retention {
        fine: Duration::from_secs(30 * 60),
        standard: Duration::from_secs(2 * 3600),
        coarse: Duration::from_secs(6 * 3600),
    };
    let clock = Arc::new(ManualClock::new(T0));
    let store = open_with(dir.path(), &clock, retention);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    // An hour of data, one point every 10 s, flushed every 5 minutes.
    for i in 0..360 {
        let t = T0 + i * 10 * SEC;
        clock.set(t);
        store.record(id, t, Stats::single(1.0), true).unwrap();
        if i % 30 == 29 {
            store.flush().unwrap();
            store.maintain().unwrap();
        }
    }
    let now = T0 + HOUR;
    clock.set(now);
    store.maintain().unwrap();
    // Fine keeps 30 minutes: partitions ending at or before now - 30 min are gone.
    let fine = store.buckets(id, T0, now, 10);
    assert_eq!(fine.first().unwrap().start_ms, now - 30 * MIN);
    assert_eq!(fine.len(), 180);
    // Left: the partitions from 30 and 40 minutes (closed, one file each) and the one from 50
    // (still open: the two flushes' files).
    assert_eq!(seg_files(dir.path(), "fine").len(), 4);
    let files_before = seg_files(dir.path(), "standard").len();
    assert!(files_before > 1);

    // Three hours later the standard tier is empty and its files are deleted; coarse stays.
    clock.set(now + 3 * HOUR);
    store.maintain().unwrap();
    assert!(seg_files(dir.path(), "fine").is_empty());
    assert!(seg_files(dir.path(), "standard").is_empty());
    assert!(store.buckets(id, T0, now, 60).is_empty());
    let coarse = store.buckets(id, T0, now, 300);
    assert_eq!(coarse.len(), 12);
    assert_eq!(total(&coarse).count, 360.0);
    // After the coarse retention, nothing is left.
    clock.set(now + 7 * HOUR);
    store.maintain().unwrap();
    assert!(seg_files(dir.path(), "coarse").is_empty());
    assert!(store.buckets(id, T0, now, 300).is_empty());
    assert_eq!(store.tier_bytes().files, 0);
}

#[test]
fn closed_partitions_merge_into_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    // 70 minutes of points, a flush every 20 s: 210 level-0 files before merging.
    for s in 0..(70 * 60) {
        let t = T0 + s * SEC;
        clock.set(t);
        store
            .record(id, t, Stats::single((s % 100) as f64), true)
            .unwrap();
        if s % 20 == 19 {
            store.flush().unwrap();
            if s % 60 == 59 {
                store.maintain().unwrap();
            }
        }
    }
    clock.set(T0 + 70 * MIN + 1);
    store.maintain().unwrap();
    // The first hour of the fine tier is closed (10 minutes' grace) and in one file.
    let files = seg_files(dir.path(), "fine");
    let first_hour: Vec<_> = files
        .iter()
        .map(|p| Segment::open(p).unwrap())
        .filter(|s| s.header.partition_start_ms == T0)
        .collect();
    assert_eq!(first_hour.len(), 1);
    assert_eq!(first_hour[0].header.level, crate::segment::FINAL_LEVEL);
    // Few files in all: the leveled merging bounds them.
    assert!(files.len() < 20, "{} fine files", files.len());
    let fine = store.buckets(id, T0, T0 + 70 * MIN, 1);
    assert_eq!(fine.len(), 4200);
    assert!(fine
        .iter()
        .enumerate()
        .all(|(s, b)| b.stats == Stats::single((s % 100) as f64)));
}

#[test]
fn list_filters_by_namespace_metric_dimensions_and_activity() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + DAY));
    let store = open(dir.path(), &clock);
    let a = store.series(&key("CPUUtilization", "a"), "Percent");
    let b = store.series(&key("CPUUtilization", "b"), "Percent");
    let c = store.series(&key("Evictions", "a"), "Count");
    let other_ns = store.series(&SeriesKey::new("Custom", "CPUUtilization", vec![]), "None");
    let _never = store.series(&key("Reclaimed", "a"), "Count");
    store
        .record(a, T0 + DAY - HOUR, Stats::single(1.0), false)
        .unwrap();
    store
        .record(b, T0 + 2 * HOUR, Stats::single(1.0), false)
        .unwrap();
    store
        .record(c, T0 + DAY - MIN, Stats::single(1.0), false)
        .unwrap();
    store
        .record(other_ns, T0 + DAY, Stats::single(1.0), false)
        .unwrap();
    let names = |l: Vec<Listed>| -> Vec<(String, String)> {
        l.into_iter()
            .map(|l| {
                let node = l.key.dimension("CacheClusterId").unwrap_or("-").to_string();
                (l.key.metric, node)
            })
            .collect()
    };
    let all = store.list(None, None, &[], 0);
    assert_eq!(all.len(), 4);
    assert_eq!(
        names(store.list(Some("AWS/ElastiCache"), None, &[], 0)),
        vec![
            ("CPUUtilization".into(), "a".into()),
            ("CPUUtilization".into(), "b".into()),
            ("Evictions".into(), "a".into())
        ]
    );
    assert_eq!(store.list(None, Some("CPUUtilization"), &[], 0).len(), 3);
    let node_a = [("CacheClusterId".to_string(), Some("a".to_string()))];
    assert_eq!(
        names(store.list(None, None, &node_a, 0)),
        vec![
            ("CPUUtilization".into(), "a".into()),
            ("Evictions".into(), "a".into())
        ]
    );
    let any_node = [("CacheClusterId".to_string(), None)];
    assert_eq!(store.list(None, None, &any_node, 0).len(), 3);
    let recent = store.list(Some("AWS/ElastiCache"), None, &[], T0 + DAY - 2 * HOUR);
    assert_eq!(
        names(recent),
        vec![
            ("CPUUtilization".into(), "a".into()),
            ("Evictions".into(), "a".into())
        ]
    );
    let listed = store.list(None, Some("Evictions"), &[], 0);
    assert_eq!(
        (listed[0].unit.as_str(), listed[0].last_ms),
        ("Count", T0 + DAY - MIN)
    );
}

#[test]
fn queries_run_while_others_write_and_flush() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = Arc::new(open(dir.path(), &clock));
    let ids: Vec<SeriesId> = (0..50)
        .map(|n| store.series(&key("CurrItems", &n.to_string()), "Count"))
        .collect();
    let writer = {
        let (store, ids) = (store.clone(), ids.clone());
        std::thread::spawn(move || {
            for s in 0..600 {
                for &id in &ids {
                    store
                        .record(id, T0 + s * SEC, Stats::single(1.0), true)
                        .unwrap();
                }
                if s % 50 == 49 {
                    store.flush().unwrap();
                }
            }
        })
    };
    // Whatever moment a query lands on, it sees each point at most once.
    for _ in 0..200 {
        for b in store.buckets(ids[7], T0, T0 + HOUR, 1) {
            assert_eq!(b.stats, Stats::single(1.0));
        }
    }
    writer.join().unwrap();
    store.flush().unwrap();
    assert_eq!(
        total(&store.buckets(ids[7], T0, T0 + HOUR, 60)).count,
        600.0
    );
    let usage = store.usage();
    assert_eq!(usage.series, 50);
    assert!(usage.disk_bytes > 0 && usage.memory_bytes > 0);
}

#[test]
fn the_store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn extreme_query_bounds_are_safe() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    store.record(id, T0, Stats::single(1.0), true).unwrap();
    assert_eq!(store.buckets(id, i64::MIN, i64::MAX, 60).len(), 1);
    assert_eq!(store.buckets(id, i64::MIN, i64::MAX, 1).len(), 1);
    assert_eq!(store.buckets(id, T0, T0 + HOUR, u32::MAX).len(), 1);
    assert!(store.buckets(id, i64::MIN, i64::MIN + 5, 60).is_empty());
    assert!(store.buckets(id, T0, T0 + HOUR, 0).is_empty());
}

#[test]
fn a_failed_flush_keeps_the_points_and_the_next_one_writes_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    for i in 0..10 {
        store
            .record(id, T0 + i * SEC, Stats::single(2.0), true)
            .unwrap();
    }
    // The fine tier's directory is replaced by a file: writing there fails.
    let fine_dir = dir.path().join("fine");
    std::fs::remove_dir(&fine_dir).unwrap();
    std::fs::write(&fine_dir, b"in the way").unwrap();
    assert!(store.flush().is_err());
    assert!(
        seg_files(dir.path(), "standard").is_empty(),
        "nothing half-written stays"
    );
    // Still served from memory, once.
    assert_eq!(total(&store.buckets(id, T0, T0 + MIN, 1)).count, 10.0);
    store
        .record(id, T0 + 30 * SEC, Stats::single(2.0), true)
        .unwrap();
    std::fs::remove_file(&fine_dir).unwrap();
    std::fs::create_dir(&fine_dir).unwrap();
    store.flush().unwrap();
    assert_eq!(total(&store.buckets(id, T0, T0 + MIN, 1)).count, 11.0);
    assert_eq!(total(&store.buckets(id, T0, T0 + MIN, 60)).count, 11.0);
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(total(&store.buckets(id, T0, T0 + MIN, 1)).count, 11.0);
    assert_eq!(total(&store.buckets(id, T0, T0 + 5 * MIN, 300)).count, 11.0);
}

#[test]
fn late_points_for_a_closed_partition_do_not_rewrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 2 * DAY));
    let store = open(dir.path(), &clock);
    let id = store.series(&key("CPUUtilization", "a"), "Percent");
    for i in 0..3 {
        store
            .record(id, T0 + i * HOUR, Stats::single(1.0), false)
            .unwrap();
        store.flush().unwrap();
    }
    store.maintain().unwrap();
    let day = |dir: &std::path::Path| -> Vec<Segment> {
        seg_files(dir, "standard")
            .iter()
            .map(|p| Segment::open(p).unwrap())
            .filter(|s| s.header.partition_start_ms == T0)
            .collect()
    };
    let first = day(dir.path());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].header.level, crate::segment::FINAL_LEVEL);
    // Seven late flushes stay beside the final file; the eighth merges the late ones only.
    for i in 0..8 {
        store
            .record(id, T0 + 5 * HOUR + i * MIN, Stats::single(2.0), false)
            .unwrap();
        store.flush().unwrap();
        store.maintain().unwrap();
        let files = day(dir.path());
        assert!(
            files.iter().any(|s| s.seq() == first[0].seq()),
            "the final file stays"
        );
        assert_eq!(files.len(), if i < 7 { i as usize + 2 } else { 2 });
    }
    let all = total(&store.buckets(id, T0, T0 + DAY, 3600));
    assert_eq!((all.count, all.sum), (11.0, 19.0));
}
