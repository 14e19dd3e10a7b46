//! The control plane's load on the store at scale, simulated: `--series` series (40 metrics a
//! node: counters that grow, per-second rates, gauges that wobble, many constants), in two
//! phases against temporary directories, with simulated time (a settable clock) so hours
//! of data take seconds:
//!
//! 1. **Per second**: `--seconds` seconds of one high-resolution point per series per second
//!    (fine tier, and the standard and coarse aggregates), a flush every 5 simulated seconds
//!    and maintenance every 10, as the control plane will run it. Prints `record`'s
//!    throughput, the CPU all of it takes per simulated second (what it would cost live),
//!    RSS, and the bytes on disk per series per hour, live and once every partition is
//!    merged.
//! 2. **Per minute**: `--hours` hours (default 24) of one statistic set per series per minute
//!    (what the standard and coarse tiers receive) for `--minute-series` series (default
//!    10,000: the same mix of metrics, a quarter of the nodes, so a whole day fits in the time
//!    bound), flushed and maintained every 10 simulated minutes: the standard and coarse
//!    tiers' bytes per series per hour over a longer run than phase 1 can give, including the
//!    merge of a closed day.
//!
//! Then projects the disk a full retention takes: 3 h fine + 15 d standard + 63 d coarse.
//! Each phase stops at `--max-wall` seconds (default 50) even if its simulated time is not
//! done, and says so.
//!
//! ```sh
//! cargo run --release -p ferrocache-timeseries --example load -- --series 40000 --seconds 600
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_timeseries::{
    Dimension, ManualClock, Options, Retention, SeriesId, SeriesKey, Stats, Store,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const METRICS_PER_NODE: usize = 40;
/// Midnight of a Monday (unix ms): partitions start on it.
const T0: i64 = 19_698 * 86_400_000;

struct Args {
    series: usize,
    minute_series: usize,
    seconds: i64,
    hours: i64,
    max_wall: Duration,
}

fn parse_args() -> Args {
    let mut args = Args {
        series: 40_000,
        minute_series: 10_000,
        seconds: 600,
        hours: 24,
        max_wall: Duration::from_secs(50),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--series" => args.series = number as usize,
            "--minute-series" => args.minute_series = number as usize,
            "--seconds" => args.seconds = number as i64,
            "--hours" => args.hours = number as i64,
            "--max-wall" => args.max_wall = Duration::from_secs(number),
            _ => panic!(
                "unknown flag {flag} (--series, --seconds, --minute-series, --hours, --max-wall)"
            ),
        }
    }
    args
}

/// What a metric looks like over time.
#[derive(Clone, Copy)]
enum Shape {
    /// A running total: grows by a random amount each second (bytes in, commands processed).
    Counter { rate: f64 },
    /// A per-second count: random around a mean (GetTypeCmds per second).
    Rate { mean: f64 },
    /// A percentage with two decimals, wandering (CPU, memory usage).
    Percent,
    /// A large integer that wobbles (BytesUsedForCache, FreeableMemory).
    Bytes { level: f64 },
    /// Never changes (Evictions 0, IsMaster 1, ReplicationLag 0).
    Constant { value: f64 },
}

fn shape(metric: usize, node: usize) -> Shape {
    let scale = 1.0 + (node % 7) as f64;
    match metric {
        0..=7 => Shape::Counter {
            rate: 200.0 * scale * (metric + 1) as f64,
        },
        8..=15 => Shape::Rate {
            mean: 50.0 * scale * (metric - 7) as f64,
        },
        16..=21 => Shape::Percent,
        22..=27 => Shape::Bytes {
            level: 1e9 * scale + metric as f64 * 1e7,
        },
        _ => Shape::Constant {
            value: if metric.is_multiple_of(5) { 1.0 } else { 0.0 },
        },
    }
}

/// One series' generator state.
struct Gen {
    shape: Shape,
    value: f64,
}

impl Gen {
    fn new(shape: Shape, rng: &mut StdRng) -> Gen {
        let value = match shape {
            Shape::Counter { .. } => rng.random_range(0.0..1e9f64).floor(),
            Shape::Rate { mean } => mean,
            Shape::Percent => rng.random_range(5.0..60.0f64),
            Shape::Bytes { level } => level,
            Shape::Constant { value } => value,
        };
        Gen { shape, value }
    }

    /// The next second's value.
    fn next(&mut self, rng: &mut StdRng) -> f64 {
        match self.shape {
            Shape::Counter { rate } => {
                self.value += rng.random_range(0.0..2.0 * rate).floor();
                self.value
            }
            Shape::Rate { mean } => (mean * rng.random_range(0.5..1.5f64)).round(),
            Shape::Percent => {
                self.value = (self.value + rng.random_range(-1.5..1.5f64)).clamp(0.0, 100.0);
                (self.value * 100.0).round() / 100.0
            }
            Shape::Bytes { level } => {
                self.value = (self.value + rng.random_range(-65536.0..65536.0f64).round())
                    .clamp(level * 0.9, level * 1.1);
                self.value
            }
            Shape::Constant { value } => value,
        }
    }

    /// A minute of seconds, as the statistic set the standard tier gets.
    fn minute(&mut self, rng: &mut StdRng) -> Stats {
        let mut stats = Stats::single(self.next(rng));
        for _ in 1..60 {
            stats.merge(&Stats::single(self.next(rng)));
        }
        stats
    }
}

fn setup(store: &Store, series: usize, rng: &mut StdRng) -> (Vec<SeriesId>, Vec<Gen>) {
    let mut ids = Vec::with_capacity(series);
    let mut gens = Vec::with_capacity(series);
    for i in 0..series {
        let (node, metric) = (i / METRICS_PER_NODE, i % METRICS_PER_NODE);
        let key = SeriesKey::new(
            "AWS/ElastiCache",
            format!("Metric{metric:02}"),
            vec![
                Dimension::new("CacheClusterId", format!("cluster-{:04}-001", node)),
                Dimension::new("CacheNodeId", "0001"),
            ],
        );
        ids.push(store.series(&key, "Count"));
        gens.push(Gen::new(shape(metric, node), rng));
    }
    (ids, gens)
}

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    let options = Options {
        clock: clock.clone(),
        maintenance_every: None,
    };
    Store::open_with(dir, Retention::default(), options).expect("opening the store")
}

/// (VmRSS, VmHWM) in MB.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The process's CPU time (user + system).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn per_series_hour(bytes: u64, series: usize, hours: f64) -> f64 {
    bytes as f64 / series as f64 / hours
}

struct Projection {
    fine: f64,
    standard: f64,
    coarse: f64,
}

fn phase_seconds(args: &Args, rng: &mut StdRng) -> f64 {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    let (ids, mut gens) = setup(&store, args.series, rng);
    let mut values = vec![0.0; args.series];
    let (mut record_time, mut flush_time, mut maintain_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut longest_maintain = Duration::ZERO;
    let wall = Instant::now();
    let cpu_before = cpu_time();
    let mut seconds = 0;
    while seconds < args.seconds && wall.elapsed() < args.max_wall {
        let t = T0 + seconds * 1000;
        clock.set(t + 500);
        for (v, g) in values.iter_mut().zip(&mut gens) {
            *v = g.next(rng);
        }
        let started = Instant::now();
        for (&id, &v) in ids.iter().zip(&values) {
            store.record(id, t, Stats::single(v), true).expect("record");
        }
        record_time += started.elapsed();
        seconds += 1;
        if seconds % 5 == 0 {
            let started = Instant::now();
            store.flush().expect("flush");
            flush_time += started.elapsed();
        }
        if seconds % 10 == 0 {
            let started = Instant::now();
            store.maintain().expect("maintain");
            maintain_time += started.elapsed();
            longest_maintain = longest_maintain.max(started.elapsed());
        }
    }
    let started = Instant::now();
    store.flush().expect("flush");
    flush_time += started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let end = T0 + seconds * 1000;
    let live_queries = time_queries(&store, &ids, end, rng);
    let points = seconds as f64 * args.series as f64;
    let (rss, hwm) = rss_mb();
    let usage = store.usage();
    let live = store.tier_bytes();
    let started = Instant::now();
    store.merge_all().expect("merge");
    let merge_time = started.elapsed();
    let merged = store.tier_bytes();
    let merged_queries = time_queries(&store, &ids, end, rng);
    let hours = seconds as f64 / 3600.0;
    let fine = per_series_hour(merged.fine, args.series, hours);

    println!(
        "phase 1: {} series × {seconds} s of 1-s points ({points:.0} points){}",
        args.series,
        if seconds < args.seconds {
            " — stopped at --max-wall"
        } else {
            ""
        }
    );
    println!(
        "  record: {:.2} M points/s ({:.0} ns per call)",
        points / record_time.as_secs_f64() / 1e6,
        record_time.as_secs_f64() * 1e9 / points
    );
    let busy = record_time + flush_time + maintain_time;
    println!(
        "  per simulated second: record {:.1} ms + flush {:.1} ms + maintenance {:.1} ms = {:.1} % of one core (process CPU {:.1} %, with the generator)",
        record_time.as_secs_f64() * 1e3 / seconds as f64,
        flush_time.as_secs_f64() * 1e3 / seconds as f64,
        maintain_time.as_secs_f64() * 1e3 / seconds as f64,
        busy.as_secs_f64() * 100.0 / seconds as f64,
        cpu.as_secs_f64() * 100.0 / seconds as f64,
    );
    println!(
        "  longest maintenance call {:.0} ms (merges run on the store's own thread)",
        longest_maintain.as_secs_f64() * 1e3
    );
    println!(
        "  RSS {rss:.0} MB (peak {hwm:.0} MB); store's own estimate {:.0} MB",
        usage.memory_bytes as f64 / 1e6
    );
    println!(
        "  disk live: {:.1} MB in {} files (fine {:.1}, standard {:.1}, coarse {:.1}, catalog {:.1} MB)",
        usage.disk_bytes as f64 / 1e6, live.files, live.fine as f64 / 1e6, live.standard as f64 / 1e6,
        live.coarse as f64 / 1e6, live.catalog as f64 / 1e6
    );
    println!(
        "  merged ({:.1} s): fine {:.0} B/series/hour ({:.2} B/point), standard {:.0}, coarse {:.0} B/series/hour",
        merge_time.as_secs_f64(), fine, fine / 3600.0,
        per_series_hour(merged.standard, args.series, hours),
        per_series_hour(merged.coarse, args.series, hours),
    );
    println!("  queries, live files: {live_queries}");
    println!("  queries, merged:     {merged_queries}");
    fine
}

/// Mean time of `buckets` for random series: the last 10 minutes at 1 s, the last hour at
/// 60 s.
fn time_queries(store: &Store, ids: &[SeriesId], end: i64, rng: &mut StdRng) -> String {
    const QUERIES: u32 = 500;
    let mut line = String::new();
    for (span_ms, period_s) in [(600_000i64, 1u32), (3_600_000, 60)] {
        let started = Instant::now();
        let mut buckets = 0;
        for _ in 0..QUERIES {
            let id = ids[rng.random_range(0..ids.len())];
            buckets += store.buckets(id, end - span_ms, end, period_s).len();
        }
        let each = started.elapsed() / QUERIES;
        line += &format!(
            "{} min at {period_s} s: {:.2} ms ({} buckets)   ",
            span_ms / 60_000,
            each.as_secs_f64() * 1e3,
            buckets / QUERIES as usize
        );
    }
    line
}

fn phase_minutes(args: &Args, rng: &mut StdRng) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    let (ids, mut gens) = setup(&store, args.minute_series, rng);
    let mut sets = vec![Stats::single(0.0); args.minute_series];
    let wall = Instant::now();
    let mut minutes = 0;
    let (mut record_time, mut flush_time, mut maintain_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    while minutes < args.hours * 60 && wall.elapsed() < args.max_wall {
        let t = T0 + minutes * 60_000;
        clock.set(t + 59_000);
        for (s, g) in sets.iter_mut().zip(&mut gens) {
            *s = g.minute(rng);
        }
        let started = Instant::now();
        for (&id, s) in ids.iter().zip(&sets) {
            store.record(id, t, *s, false).expect("record");
        }
        record_time += started.elapsed();
        minutes += 1;
        if minutes % 10 != 0 {
            continue;
        }
        let started = Instant::now();
        store.flush().expect("flush");
        flush_time += started.elapsed();
        {
            let started = Instant::now();
            store.maintain().expect("maintain");
            maintain_time += started.elapsed();
        }
    }
    store.flush().expect("flush");
    store.merge_all().expect("merge");
    let bytes = store.tier_bytes();
    let hours = minutes as f64 / 60.0;
    let standard = per_series_hour(bytes.standard, args.minute_series, hours);
    let coarse = per_series_hour(bytes.coarse, args.minute_series, hours);
    println!(
        "phase 2: {} series × {minutes} min of statistic sets{}: record {:.2} M sets/s, flush {:.1} ms, maintenance {:.1} ms per simulated minute (both every 10); merged: standard {standard:.0} B/series/hour ({:.1} B/point), coarse {coarse:.0} B/series/hour ({:.1} B/point)",
        args.minute_series,
        if minutes < args.hours * 60 { " — stopped at --max-wall" } else { "" },
        (minutes as f64 * args.minute_series as f64) / record_time.as_secs_f64() / 1e6,
        flush_time.as_secs_f64() * 1e3 / minutes as f64,
        maintain_time.as_secs_f64() * 1e3 / minutes as f64,
        standard / 60.0,
        coarse / 12.0,
    );
    (standard, coarse)
}

fn main() {
    let args = parse_args();
    let mut rng = StdRng::seed_from_u64(20_260_601);
    let fine = phase_seconds(&args, &mut rng);
    let (standard, coarse) = phase_minutes(&args, &mut rng);
    let p = Projection {
        fine: fine * 3.0,
        standard: standard * 15.0 * 24.0,
        coarse: coarse * 63.0 * 24.0,
    };
    let per_series = p.fine + p.standard + p.coarse;
    println!(
        "projection per series: fine 3 h {:.1} KB + standard 15 d {:.1} KB + coarse 63 d {:.1} KB = {:.1} KB; × {} series = {:.2} GB",
        p.fine / 1e3, p.standard / 1e3, p.coarse / 1e3, per_series / 1e3, args.series,
        per_series * args.series as f64 / 1e9
    );
    println!("  (a tier also keeps up to one partition past its retention before deleting it whole: +1 h, +1 d, +7 d)");
}
