//! The store: interning, the write path, queries, flushing and maintenance.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::catalog::{self, SeriesLog, SeriesRecord};
use crate::clock::{Clock, SystemClock};
use crate::codec::Effort;
use crate::compact;
use crate::error::TimeseriesError;
use crate::files::Files;
use crate::head::{coarse_from_standard, normalize, Head, Point};
use crate::key::{SeriesId, SeriesKey};
use crate::query;
use crate::segment::{Segment, SegmentHeader, SegmentWriter};
use crate::stats::{Bucket, Stats};
use crate::tier::{Retention, Tier};

/// How far in the future a datapoint may be (CloudWatch accepts two hours).
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;

/// Query bounds are clamped to ±2^50 ms (±35,000 years).
const TIME_LIMIT_MS: i64 = 1 << 50;

/// At most this many merges per [`Store::maintain`] call, so one call stays bounded; the
/// next call goes on.
const MAX_MERGES_PER_CALL: usize = 16;

/// A series found by [`Store::list`].
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// Its key.
    pub key: SeriesKey,
    /// The unit last given for it.
    pub unit: String,
    /// Its newest datapoint's time (unix ms).
    pub last_ms: i64,
}

/// What the store holds, for `/metrics` and the load example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Series interned.
    pub series: usize,
    /// An estimate of the heap the store uses (keys, unflushed points, file indexes).
    pub memory_bytes: u64,
    /// Bytes of the store's files.
    pub disk_bytes: u64,
}

/// Bytes on disk, tier by tier (for the load example's projection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierBytes {
    /// The fine tier's segment files.
    pub fine: u64,
    /// The standard tier's.
    pub standard: u64,
    /// The coarse tier's.
    pub coarse: u64,
    /// The series catalog (`series.log`, `lastseen`).
    pub catalog: u64,
    /// Segment files in all.
    pub files: usize,
}

/// How a store runs, beyond its directory and retention.
#[derive(Clone)]
pub struct Options {
    /// Where "now" comes from (expiry, refusing old or future points, closing partitions).
    pub clock: Arc<dyn Clock>,
    /// How often a background thread runs [`Store::maintain`] (expiry and merging);
    /// `None`: never, the owner calls it.
    pub maintenance_every: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clock: Arc::new(SystemClock),
            maintenance_every: Some(Duration::from_secs(10)),
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("maintenance_every", &self.maintenance_every)
            .finish_non_exhaustive()
    }
}

/// One interned series.
struct Series {
    /// Shared with the name map: keys are most of a series' memory.
    key: Arc<SeriesKey>,
    unit: Mutex<String>,
    head: Mutex<Head>,
    /// Newest datapoint's time, `i64::MIN` when none.
    last_ms: AtomicI64,
}

impl Series {
    fn new(key: Arc<SeriesKey>, unit: String) -> Series {
        Series {
            key,
            unit: Mutex::new(unit),
            head: Mutex::new(Head::default()),
            last_ms: AtomicI64::new(i64::MIN),
        }
    }
}

/// The heads one flush took, while they are being written: still read by queries.
struct Batch {
    /// Ascending by id.
    heads: Vec<(u32, Head)>,
}

impl Batch {
    fn find(&self, id: u32) -> Option<&Head> {
        self.heads
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|i| &self.heads[i].1)
    }
}

/// What a query must see as one: the batches being written and the files. A flush moves
/// heads into `pending` and a batch from `pending` into `files` while holding it for writing,
/// so a query holding it for reading sees every point exactly once.
struct State {
    pending: Vec<Arc<Batch>>,
    files: Files,
}

/// The time-series store. See the crate doc.
pub struct Store {
    inner: Arc<Inner>,
    maintenance: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

struct Inner {
    dir: PathBuf,
    retention: Retention,
    clock: Arc<dyn Clock>,
    names: RwLock<HashMap<Arc<SeriesKey>, SeriesId>>,
    /// Indexed by id; `None` for an id whose catalog record was lost (its data is not shown,
    /// and the id is not given again).
    series: RwLock<Vec<Option<Arc<Series>>>>,
    /// Series whose catalog record must be written at the next flush.
    dirty: Mutex<Vec<u32>>,
    state: RwLock<State>,
    log: Mutex<SeriesLog>,
    last_seen_bytes: AtomicU64,
    next_seq: AtomicU64,
    flushing: Mutex<()>,
    maintaining: Mutex<()>,
    /// Held (locked) for the store's life: a second store on the same directory is refused.
    _lock: File,
}

impl Store {
    /// Opens (or creates) the store in `dir` with the system clock and background
    /// maintenance every 10 s.
    ///
    /// # Errors
    /// The directory cannot be created or read, or another store has it open. Damaged files
    /// do not stop it (see the crate doc).
    pub fn open(dir: &Path, retention: Retention) -> Result<Store, TimeseriesError> {
        Store::open_with(dir, retention, Options::default())
    }

    /// Opens (or creates) the store in `dir` with `options`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(
        dir: &Path,
        retention: Retention,
        options: Options,
    ) -> Result<Store, TimeseriesError> {
        std::fs::create_dir_all(dir).map_err(|e| TimeseriesError::io("creating", dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock =
            File::create(&lock_path).map_err(|e| TimeseriesError::io("creating", &lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(TimeseriesError::Locked(dir.to_path_buf()));
        }
        let (log, records) = SeriesLog::open(dir)?;
        let (files, loaded) = Files::load(dir)?;

        let max_id = records.iter().map(|r| r.id).max().max(loaded.max_id);
        let mut table: Vec<Option<Arc<Series>>> = vec![None; max_id.map_or(0, |m| m as usize + 1)];
        let mut names = HashMap::with_capacity(records.len());
        for record in records {
            match &table[record.id as usize] {
                Some(series) => *series.unit.lock() = record.unit,
                None => {
                    let key = Arc::new(record.key);
                    names.insert(key.clone(), SeriesId(record.id));
                    table[record.id as usize] = Some(Arc::new(Series::new(key, record.unit)));
                }
            }
        }
        for (id, last_ms) in catalog::read_last_seen(dir) {
            if let Some(Some(series)) = table.get(id as usize) {
                series.last_ms.store(last_ms, Ordering::Relaxed);
            }
        }
        let lost = table.iter().filter(|s| s.is_none()).count();
        if lost > 0 {
            tracing::warn!(
                dir = %dir.display(),
                "{lost} series ids are named by data files but not by the series log; their data is not served"
            );
        }

        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            retention,
            clock: options.clock,
            names: RwLock::new(names),
            series: RwLock::new(table),
            dirty: Mutex::new(Vec::new()),
            state: RwLock::new(State {
                pending: Vec::new(),
                files,
            }),
            log: Mutex::new(log),
            last_seen_bytes: AtomicU64::new(0),
            next_seq: AtomicU64::new(loaded.max_seq + 1),
            flushing: Mutex::new(()),
            maintaining: Mutex::new(()),
            _lock: lock,
        });
        let maintenance = options.maintenance_every.map(|every| {
            let (stop, stopped) = mpsc::channel::<()>();
            let inner = inner.clone();
            let thread = std::thread::Builder::new()
                .name("timeseries-maintenance".into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                        if let Err(e) = inner.maintain(false) {
                            tracing::warn!("time-series maintenance: {e}");
                        }
                    }
                })
                .expect("spawning a thread");
            (stop, thread)
        });
        Ok(Store { inner, maintenance })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The retention the store was opened with.
    pub fn retention(&self) -> Retention {
        self.inner.retention
    }

    /// Interns the series (creating it if new); `unit` is remembered (the last one given).
    pub fn series(&self, key: &SeriesKey, unit: &str) -> SeriesId {
        let inner = &self.inner;
        let known = inner.names.read().get(key).copied();
        if let Some(id) = known {
            inner.set_unit(id, unit);
            return id;
        }
        let mut names = inner.names.write();
        if let Some(&id) = names.get(key) {
            drop(names);
            inner.set_unit(id, unit);
            return id;
        }
        let mut table = inner.series.write();
        let id = u32::try_from(table.len()).expect("fewer than 2^32 series");
        let key = Arc::new(key.clone());
        table.push(Some(Arc::new(Series::new(key.clone(), unit.to_string()))));
        names.insert(key, SeriesId(id));
        inner.dirty.lock().push(id);
        SeriesId(id)
    }

    /// The id of `key`, if it was ever interned.
    pub fn lookup(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.inner.names.read().get(key).copied()
    }

    /// The unit last given for `id` (empty for an id this store did not hand out).
    pub fn unit(&self, id: SeriesId) -> String {
        self.inner
            .with_series(id, |s| s.unit.lock().clone())
            .unwrap_or_default()
    }

    /// The key of `id`, if this store handed it out.
    pub fn key(&self, id: SeriesId) -> Option<SeriesKey> {
        self.inner.with_series(id, |s| SeriesKey::clone(&s.key))
    }

    /// Records one datapoint (a single value or a statistic set) at `at_ms` (unix ms): into
    /// the standard tier's minute (merged with what the minute already has) and so the coarse
    /// tier's five minutes; into the fine tier's second too when `high_resolution` (and the
    /// point is within the fine tier's retention). Out-of-order points are fine anywhere in
    /// the accepted window. The point is in memory until the next [`Store::flush`].
    ///
    /// # Errors
    /// [`TimeseriesError::TooOld`] before the standard tier's retention,
    /// [`TimeseriesError::TooNew`] more than 2 h ahead, [`TimeseriesError::InvalidValue`] for
    /// a value that is not finite or a statistic set that is inconsistent,
    /// [`TimeseriesError::UnknownSeries`].
    pub fn record(
        &self,
        id: SeriesId,
        at_ms: i64,
        value: Stats,
        high_resolution: bool,
    ) -> Result<(), TimeseriesError> {
        let inner = &self.inner;
        check_value(&value)?;
        let now = inner.clock.now_ms();
        let oldest_ms = Tier::Standard.cutoff_ms(&inner.retention, now);
        if at_ms < oldest_ms {
            return Err(TimeseriesError::TooOld { at_ms, oldest_ms });
        }
        let newest_ms = now.saturating_add(MAX_FUTURE_MS);
        if at_ms > newest_ms {
            return Err(TimeseriesError::TooNew { at_ms, newest_ms });
        }
        let fine = high_resolution && at_ms >= Tier::Fine.cutoff_ms(&inner.retention, now);
        inner
            .with_series(id, |series| {
                let mut head = series.head.lock();
                head.add(Tier::Standard, at_ms, &value);
                if fine {
                    head.add(Tier::Fine, at_ms, &value);
                }
                drop(head);
                series.last_ms.fetch_max(at_ms, Ordering::Relaxed);
            })
            .ok_or(TimeseriesError::UnknownSeries(id))
    }

    /// Records one datapoint into the fine tier's second only: a caller that records each
    /// minute on its own (one value per minute, as ElastiCache's metrics are) and keeps the
    /// seconds for high-resolution queries.
    ///
    /// # Errors
    /// [`TimeseriesError::TooOld`] before the fine tier's retention, otherwise as
    /// [`Store::record`].
    pub fn record_fine(
        &self,
        id: SeriesId,
        at_ms: i64,
        value: Stats,
    ) -> Result<(), TimeseriesError> {
        check_value(&value)?;
        self.record_fine_many(at_ms, &[(id, value)])
    }

    /// [`Store::record_fine`] of several series' points of one instant: one look at the clock
    /// and at the series table for all of them (a node's sample is some fifty metrics). A point
    /// that is not a number, or of a series this store did not hand out, is left out; the
    /// others are kept.
    ///
    /// # Errors
    /// As [`Store::record_fine`]: the first refusal met.
    pub fn record_fine_many(
        &self,
        at_ms: i64,
        points: &[(SeriesId, Stats)],
    ) -> Result<(), TimeseriesError> {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        let oldest_ms = Tier::Fine.cutoff_ms(&inner.retention, now);
        if at_ms < oldest_ms {
            return Err(TimeseriesError::TooOld { at_ms, oldest_ms });
        }
        let newest_ms = now.saturating_add(MAX_FUTURE_MS);
        if at_ms > newest_ms {
            return Err(TimeseriesError::TooNew { at_ms, newest_ms });
        }
        let mut refused = None;
        let table = inner.series.read();
        for (id, value) in points {
            if let Err(e) = check_value(value) {
                refused.get_or_insert(e);
                continue;
            }
            match table.get(id.index()).and_then(Option::as_ref) {
                Some(series) => {
                    series.head.lock().add(Tier::Fine, at_ms, value);
                    series.last_ms.fetch_max(at_ms, Ordering::Relaxed);
                }
                None => {
                    refused.get_or_insert(TimeseriesError::UnknownSeries(*id));
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// The datapoints of `id` in `[start_ms, end_ms)` in buckets of `period_s` seconds, the
    /// empty ones left out, oldest first.
    ///
    /// Alignment: the first bucket starts at `start_ms` rounded down as CloudWatch rounds a
    /// query's `StartTime` ([`aligned_start`](crate::aligned_start): to the second for
    /// periods under a minute; otherwise to the minute when the start is within the standard
    /// tier's retention, to 5 minutes within the coarse one's, to the hour before); every
    /// bucket starts a whole number of periods later and covers `[start, start + period)`,
    /// the last one cut at `end_ms` (a stored point counts where its step starts).
    ///
    /// Each bucket is served from the finest tier whose step divides the period and that
    /// still holds the bucket's start: the fine tier for periods that are not whole minutes
    /// (for its last 3 hours only), the standard tier for whole minutes (15 days), the coarse
    /// tier for multiples of 5 minutes (63 days). A bucket no tier can serve is left out, as
    /// AWS does (1-second data of yesterday is gone).
    pub fn buckets(&self, id: SeriesId, start_ms: i64, end_ms: i64, period_s: u32) -> Vec<Bucket> {
        let inner = &self.inner;
        if period_s == 0 || end_ms <= start_ms {
            return Vec::new();
        }
        let now = inner.clock.now_ms();
        let period_ms = i64::from(period_s) * 1000;
        // Far beyond any data either way, and far from overflowing in bucket arithmetic.
        let (start_ms, end_ms) = (start_ms.max(-TIME_LIMIT_MS), end_ms.min(TIME_LIMIT_MS));
        let first = query::aligned_start(start_ms, period_s, now, &inner.retention);
        let mut out = Vec::new();
        for span in query::spans(first, end_ms, period_ms, now, &inner.retention) {
            let points = inner.points(id, span.tier, span.first, span.end.min(end_ms));
            query::fill(&points, first, period_ms, &mut out);
        }
        out
    }

    /// Every series with a datapoint since `active_since_ms`, optionally of one `namespace`
    /// and `metric` name, having every dimension of `dimensions` (its name, and its value
    /// when given). Sorted by key.
    pub fn list(
        &self,
        namespace: Option<&str>,
        metric: Option<&str>,
        dimensions: &[(String, Option<String>)],
        active_since_ms: i64,
    ) -> Vec<Listed> {
        let table = self.inner.series.read();
        let mut out: Vec<Listed> = table
            .iter()
            .flatten()
            .filter(|s| s.last_ms.load(Ordering::Relaxed) >= active_since_ms)
            .filter(|s| namespace.is_none_or(|n| s.key.namespace == n))
            .filter(|s| metric.is_none_or(|m| s.key.metric == m))
            .filter(|s| {
                dimensions
                    .iter()
                    .all(|(name, value)| match s.key.dimension(name) {
                        None => false,
                        Some(v) => value.as_deref().is_none_or(|want| want == v),
                    })
            })
            .map(|s| Listed {
                key: SeriesKey::clone(&s.key),
                unit: s.unit.lock().clone(),
                last_ms: s.last_ms.load(Ordering::Relaxed),
            })
            .collect();
        drop(table);
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Writes everything recorded so far to disk and syncs it: data recorded before a flush
    /// that returned `Ok` survives a crash; what came after it does not. At 40,000 series
    /// flushed every 5 s, a flush takes ~80 ms, much of it waiting for the disk's syncs.
    ///
    /// # Errors
    /// A file could not be written; the data stays in memory (and is served) and the next
    /// flush writes it.
    pub fn flush(&self) -> Result<(), TimeseriesError> {
        self.inner.flush()
    }

    /// Expiry and merging: deletes the partitions whose data is all past its tier's
    /// retention, and merges files (see the crate doc), at most a few merges per call. Runs
    /// in the background unless the options said not.
    ///
    /// # Errors
    /// A merged file could not be written.
    pub fn maintain(&self) -> Result<(), TimeseriesError> {
        self.inner.maintain(false)
    }

    /// Merges every partition's files into one, closed or not (for measurements and tools;
    /// maintenance does it by itself as partitions close).
    ///
    /// # Errors
    /// A merged file could not be written.
    pub fn merge_all(&self) -> Result<(), TimeseriesError> {
        self.inner.maintain(true)
    }

    /// What the store holds.
    pub fn usage(&self) -> Usage {
        let inner = &self.inner;
        let (series, mut memory) = {
            let table = inner.series.read();
            let memory: usize = table
                .iter()
                .flatten()
                .map(|s| {
                    std::mem::size_of::<Series>()
                        + key_bytes(&s.key)
                        + 32 // its entry in the name map
                        + s.head.lock().memory_bytes()
                        + 64
                })
                .sum();
            (table.len(), memory)
        };
        let state = inner.state.read();
        memory += state
            .pending
            .iter()
            .flat_map(|b| &b.heads)
            .map(|(_, h)| h.memory_bytes())
            .sum::<usize>();
        memory += state.files.all().map(|s| s.memory_bytes()).sum::<usize>();
        let bytes = self.tier_bytes();
        Usage {
            series,
            memory_bytes: memory as u64,
            disk_bytes: bytes.fine + bytes.standard + bytes.coarse + bytes.catalog,
        }
    }

    /// Bytes on disk tier by tier.
    pub fn tier_bytes(&self) -> TierBytes {
        let inner = &self.inner;
        let catalog = inner.log.lock().bytes() + inner.last_seen_bytes.load(Ordering::Relaxed);
        let state = inner.state.read();
        TierBytes {
            fine: state.files.tier_bytes(Tier::Fine),
            standard: state.files.tier_bytes(Tier::Standard),
            coarse: state.files.tier_bytes(Tier::Coarse),
            catalog,
            files: state.files.all().count(),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.maintenance.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl Inner {
    fn with_series<T>(&self, id: SeriesId, f: impl FnOnce(&Series) -> T) -> Option<T> {
        let table = self.series.read();
        table.get(id.index()).and_then(Option::as_ref).map(|s| f(s))
    }

    fn set_unit(&self, id: SeriesId, unit: &str) {
        let changed = self
            .with_series(id, |s| {
                let mut current = s.unit.lock();
                if *current == unit {
                    false
                } else {
                    *current = unit.to_string();
                    true
                }
            })
            .unwrap_or(false);
        if changed {
            self.dirty.lock().push(id.0);
        }
    }

    /// The series' points of `tier` in `[from, to)`, merged and sorted: from its head, the
    /// batches being flushed and the files.
    fn points(&self, id: SeriesId, tier: Tier, from: i64, to: i64) -> Vec<Point> {
        let mut out = Vec::new();
        let in_range = |p: &Point| p.t >= from && p.t < to;
        let add_head = |head: &Head, out: &mut Vec<Point>| match tier {
            Tier::Coarse => out.extend(
                coarse_from_standard(head.points(Tier::Standard))
                    .into_iter()
                    .filter(in_range),
            ),
            _ => out.extend(head.points(tier).iter().copied().filter(in_range)),
        };
        let segments = {
            let state = self.state.read();
            self.with_series(id, |s| add_head(&s.head.lock(), &mut out));
            for batch in &state.pending {
                if let Some(head) = batch.find(id.0) {
                    add_head(head, &mut out);
                }
            }
            state.files.overlapping(tier, from, to)
        };
        for seg in segments {
            seg.read_series(id.0, from, to, &mut out);
        }
        normalize(&mut out);
        out
    }

    fn flush(&self) -> Result<(), TimeseriesError> {
        let _flushing = self.flushing.lock();
        {
            let mut state = self.state.write();
            let table = self.series.read();
            let mut heads = Vec::new();
            for (id, series) in table.iter().enumerate() {
                let Some(series) = series else { continue };
                let mut head = series.head.lock();
                if !head.is_empty() {
                    heads.push((id as u32, head.take()));
                }
            }
            if !heads.is_empty() {
                state.pending.push(Arc::new(Batch { heads }));
            }
        }
        // The catalog first: no file may name an id the catalog does not know.
        let mut dirty = std::mem::take(&mut *self.dirty.lock());
        if !dirty.is_empty() {
            dirty.sort_unstable();
            dirty.dedup();
            let records: Vec<SeriesRecord> = {
                let table = self.series.read();
                dirty
                    .iter()
                    .filter_map(|&id| table[id as usize].as_ref().map(|s| (id, s)))
                    .map(|(id, s)| SeriesRecord {
                        id,
                        key: SeriesKey::clone(&s.key),
                        unit: s.unit.lock().clone(),
                    })
                    .collect()
            };
            if let Err(e) = self.log.lock().append(&records) {
                self.dirty.lock().extend(dirty);
                return Err(e);
            }
        }
        let batches = self.state.read().pending.clone();
        if batches.is_empty() && dirty.is_empty() {
            return Ok(());
        }
        for batch in batches {
            let segments = self.write_batch(&batch)?;
            let mut state = self.state.write();
            for seg in segments {
                state.files.add(Arc::new(seg));
            }
            state.pending.retain(|b| !Arc::ptr_eq(b, &batch));
        }
        let seen: Vec<(u32, i64)> = {
            let table = self.series.read();
            table
                .iter()
                .enumerate()
                .filter_map(|(id, s)| {
                    Some((id as u32, s.as_ref()?.last_ms.load(Ordering::Relaxed)))
                })
                .filter(|(_, t)| *t != i64::MIN)
                .collect()
        };
        let bytes = catalog::write_last_seen(&self.dir, &seen)?;
        self.last_seen_bytes.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Writes one flushed batch: a level-0 file per tier and partition it touches. On error
    /// nothing of it stays on disk (so writing it again later counts no point twice).
    fn write_batch(&self, batch: &Batch) -> Result<Vec<Segment>, TimeseriesError> {
        let now = self.clock.now_ms();
        let mut writers: BTreeMap<(Tier, i64), SegmentWriter> = BTreeMap::new();
        let mut written: Vec<Segment> = Vec::new();
        let result = self.fill_writers(batch, now, &mut writers).and_then(|()| {
            while let Some((_, w)) = writers.pop_first() {
                written.push(w.finish()?);
            }
            for tier in Tier::ALL {
                sync_dir(&self.dir.join(tier.dir_name()))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(written),
            Err(e) => {
                for w in writers.into_values() {
                    w.abandon();
                }
                for seg in written {
                    let _ = std::fs::remove_file(&seg.path);
                }
                Err(e)
            }
        }
    }

    fn fill_writers(
        &self,
        batch: &Batch,
        now: i64,
        writers: &mut BTreeMap<(Tier, i64), SegmentWriter>,
    ) -> Result<(), TimeseriesError> {
        let mut points = Vec::new();
        for (id, head) in &batch.heads {
            for tier in Tier::ALL {
                points.clear();
                match tier {
                    Tier::Coarse => points.extend(coarse_from_standard(&head.standard)),
                    _ => points.extend_from_slice(head.points(tier)),
                }
                normalize(&mut points);
                let partition_ms = tier.partition_ms(&self.retention);
                let cutoff = tier.cutoff_ms(&self.retention, now);
                for run in points
                    .chunk_by(|a, b| a.t.div_euclid(partition_ms) == b.t.div_euclid(partition_ms))
                {
                    let start = run[0].t.div_euclid(partition_ms) * partition_ms;
                    if start + partition_ms <= cutoff {
                        continue; // expired while it waited
                    }
                    let writer = match writers.entry((tier, start)) {
                        std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::btree_map::Entry::Vacant(v) => {
                            let header = SegmentHeader {
                                tier: tier.code(),
                                level: 0,
                                partition_start_ms: start,
                                partition_ms,
                                seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
                                replaces: Vec::new(),
                            };
                            let dir = self.dir.join(tier.dir_name());
                            v.insert(SegmentWriter::create(&dir, header, Effort::Quick)?)
                        }
                    };
                    writer.push(*id, run)?;
                }
            }
        }
        Ok(())
    }

    fn maintain(&self, merge_everything: bool) -> Result<(), TimeseriesError> {
        let _maintaining = self.maintaining.lock();
        let now = self.clock.now_ms();
        let expired: Vec<Arc<Segment>> = {
            let mut state = self.state.write();
            Tier::ALL
                .into_iter()
                .flat_map(|t| {
                    state
                        .files
                        .take_expired(t, t.cutoff_ms(&self.retention, now))
                })
                .collect()
        };
        for seg in expired {
            remove_file(&seg.path);
        }
        let limit = if merge_everything {
            usize::MAX
        } else {
            MAX_MERGES_PER_CALL
        };
        for _ in 0..limit {
            let Some(plan) = self.state.read().files.next_merge(now, merge_everything) else {
                break;
            };
            let dir = self.dir.join(plan.tier.dir_name());
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let merged = compact::merge(&dir, &plan, seq)?;
            sync_dir(&dir)?;
            let inputs: Vec<u64> = plan.inputs.iter().map(|s| s.seq()).collect();
            {
                let mut state = self.state.write();
                state.files.remove(plan.tier, plan.partition, &inputs);
                state.files.add(Arc::new(merged));
            }
            for seg in &plan.inputs {
                remove_file(&seg.path);
            }
        }
        Ok(())
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), "could not remove: {e}");
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), TimeseriesError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TimeseriesError::io("syncing", dir, e))
}

fn key_bytes(key: &SeriesKey) -> usize {
    key.namespace.len()
        + key.metric.len()
        + key
            .dimensions
            .iter()
            .map(|d| d.name.len() + d.value.len() + std::mem::size_of_val(d))
            .sum::<usize>()
        + std::mem::size_of::<SeriesKey>()
}

fn check_value(value: &Stats) -> Result<(), TimeseriesError> {
    let finite = value.count.is_finite()
        && value.sum.is_finite()
        && value.min.is_finite()
        && value.max.is_finite();
    if !finite {
        return Err(TimeseriesError::InvalidValue(format!(
            "not a finite number: {value:?}"
        )));
    }
    if value.count <= 0.0 || value.min > value.max {
        return Err(TimeseriesError::InvalidValue(format!(
            "inconsistent statistic set: {value:?}"
        )));
    }
    Ok(())
}
