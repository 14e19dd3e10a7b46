//! Ferrocache's time-series store: the datapoints behind CloudWatch's metrics, in three
//! resolution tiers kept on disk with CloudWatch's retention, for ~40 metrics of every node
//! every second.
//!
//! A series is a [`SeriesKey`] (namespace, metric, dimensions), interned once into a
//! [`SeriesId`] ([`Store::series`]) so writes do not hash keys. A datapoint is a [`Stats`]
//! (count, sum, min, max; a single value is `{1, v, v, v}`). [`Store::record`] merges it into
//! its minute of the **standard** tier (60 s, kept 15 days), hence into the **coarse** tier's
//! five minutes (300 s, kept 63 days), and, for high-resolution points, into its second of the
//! **fine** tier (1 s, kept 3 hours) — [`Retention`] holds the durations. Points may come in
//! any order inside the accepted window (from the standard tier's retention ago to 2 hours
//! ahead); the steps they land in are merged, so a late sample or a two-week-old
//! `PutMetricData` just adds to its minute. [`Store::buckets`] answers in CloudWatch's terms;
//! [`Store::list`] finds series by namespace, metric, dimensions and activity.
//!
//! # Storage
//! ```text
//! <dir>/LOCK                 held while a store has the directory open
//! <dir>/series.log           every series' key and unit, appended (framed JSON records)
//! <dir>/lastseen             each series' newest datapoint time, rewritten at every flush
//! <dir>/{fine,standard,coarse}/<seq>.seg   segment files
//! ```
//! What was recorded since the last flush is in memory, per series (the *head*: a few
//! seconds of points). [`Store::flush`] writes all heads as one new segment file per tier
//! (the coarse points are derived from the flushed minutes then) and syncs it. A segment
//! belongs to one tier and one *partition* of time (1 hour fine, 1 day standard, 7 days
//! coarse with the default retention), and holds the points of many series in *groups*:
//! whole series, ascending by id, a group closed once it has 1024 points (so a merged file
//! has a group per series), each compressed column by column (ids, counts, times, values) —
//! see `segment`. Maintenance ([`Store::maintain`], on a background thread every 10 s by
//! default) merges files: 8 files of one level of a partition become one of the next level,
//! and a partition 10 minutes past its end is merged into a single *final* file (late points
//! arriving after that are merged among themselves, never into the final file again). So a
//! partition has a few dozen files at most, a query reads at most one group per file, and
//! each point is rewritten about log₈(flushes per partition) + 1 times. A query merges the
//! points of all the files it touches with the heads (the same step from two files is
//! merged, as at write time).
//!
//! **Retention**: a partition is deleted whole — its files removed — once its end is older
//! than the tier's retention; points past the retention are never served even before that
//! (so the disk holds up to one partition more than the retention: 4 h, 16 d, 70 d).
//!
//! **Compression**: [pco](https://docs.rs/pco) (pcodec) compresses each column. It is made
//! for exactly this — numeric columns, lossless, `f64`/`i64`/`u32` — and it picks per chunk
//! what a hand-written Gorilla/XOR encoder would have to be taught: delta order for
//! timestamps and counters, integer-valued floats and fixed decimals (bytes, percentages with
//! two decimals), constants (a constant column costs ~28 bytes whatever its length). It is
//! pure Rust and maintained, at 1.x (the files depend on its format: upgrade it on purpose).
//! Two efforts (`codec::Effort`): flush files and the merges before a partition's final file
//! are rewritten within the hour, so they are written fast (pco level 2, first-order deltas
//! for ids and times, no delta search for values: the search was most of the store's CPU at
//! 1000 nodes); the final file, kept for the tier's retention, with pco's full search at
//! level 4. Live fine-tier files are ~25 % larger for it, final files the same.
//! Considered: `tsz` (Gorilla encoding, last release 0.1.4, unmaintained), `q_compress`
//! (pco's own predecessor, superseded), general-purpose byte compressors (`zstd`, `lz4`:
//! blind to number structure, and a C dependency). Measured with the load example (`examples/load.rs`): 1.1–1.3 bytes
//! per fine point, 4.3 per standard and 5.6 per coarse point (four statistics each). Only the
//! framing is ours: `[length][crc32]` per record (`frame`).
//!
//! # Flush, crashes and damage
//! - Data recorded before a flush that returned `Ok` survives a crash; a crash (SIGKILL,
//!   power loss) loses what was recorded since the last completed flush — at one flush every
//!   5 s, up to 5 s of points (200,000 points at 1000 nodes). Nothing is flushed on drop:
//!   call [`Store::flush`] at shutdown.
//! - A flush cut short by a crash may leave some of its tiers' files and not others (its
//!   points then count in those tiers only); no point is ever counted twice: every file is
//!   written under a temporary name, synced and renamed (temporary leftovers are removed at
//!   open), the series catalog is synced before any file naming a new id, and a merged file
//!   names the files it replaces, which are deleted at open if a crash kept them.
//! - Damage never stops [`Store::open`] and never yields a wrong value: every record, group
//!   and index has a CRC-32. A group that fails it is skipped (its points are missing from
//!   answers and from merges); a file whose index is lost (a torn tail) has its groups found
//!   again by walking them, up to the first damaged one; a torn or damaged tail of
//!   `series.log` is cut off (those series are forgotten, their ids never reused); a file
//!   whose header is unreadable is renamed `*.corrupt`. Each is logged with
//!   `tracing::warn!`.
//!
//! # Cost
//! At 40,000 series × 1 point/s (1000 nodes; `bench/README.md` has the run): `record` takes
//! ~100 ns; recording, flushing every 5 s and merging take ~3 % of one core (the hourly merge
//! of the fine tier's closed partition is a burst of ~10 s on the maintenance thread); RSS
//! ~70 MB; disk for a full retention ~210 KB per series (8.4 GB), most of it the standard and
//! coarse tiers' four statistics.
//!
//! # Concurrency
//! [`Store`] is `Send + Sync`, every method takes `&self`. `record` locks only its series;
//! a flush holds the store's state for writing only while it moves the heads into a batch
//! being written (and again to swap the batch for its files), so queries see every point
//! exactly once and never wait for the disk.
//!
//! # Layout
//! - [`key`]: series names ([`SeriesKey`], [`Dimension`]) and interned ids ([`SeriesId`]).
//! - [`stats`]: what a datapoint holds ([`Stats`]) and a query's answer ([`Bucket`]).
//! - [`tier`]: the resolution tiers, [`Retention`], partitions.
//! - [`clock`]: where "now" comes from ([`Clock`]; [`ManualClock`] for tests and the load
//!   example).
//! - [`query`]: bucket alignment ([`aligned_start`]) and which tier serves which bucket.
//! - [`store`]: [`Store`]: interning, recording, queries, flush and maintenance.
//! - [`error`]: the store's errors, [`TimeseriesError`].
//! - `head`: the points recorded since the last flush, per series.
//! - `segment`: the segment file format, its writer and reader.
//! - `files`: the segment files by tier and partition; loading, expiry, what to merge.
//! - `compact`: merging files.
//! - `catalog`: `series.log` and `lastseen`.
//! - `codec`: pco-compressed columns.
//! - `frame`: the length + checksum framing.
//! - `tests`: the store's behaviour tests.
//!
//! # Dependency rules
//! No Ferrocache crate; never tokio, axum, hyper, redis or redb (the store is synchronous:
//! std threads and `parking_lot` locks). `pco` compresses, `crc32fast` checksums,
//! `serde_json` encodes headers and catalog records.

mod catalog;
pub mod clock;
mod codec;
mod compact;
pub mod error;
mod files;
mod frame;
mod head;
pub mod key;
pub mod query;
mod segment;
pub mod stats;
pub mod store;
#[cfg(test)]
mod tests;
pub mod tier;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::TimeseriesError;
pub use key::{Dimension, SeriesId, SeriesKey};
pub use query::aligned_start;
pub use stats::{Bucket, Stats};
pub use store::{Listed, Options, Store, TierBytes, Usage, MAX_FUTURE_MS};
pub use tier::{Retention, COARSE_STEP_SECONDS, FINE_STEP_SECONDS, STANDARD_STEP_SECONDS};
