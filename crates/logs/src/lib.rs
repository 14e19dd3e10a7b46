//! CloudWatch Logs for Ferrocache: log groups, log streams and their events, with AWS's rules,
//! limits and messages, kept on disk. ElastiCache delivers each node's slow log and engine log
//! to CloudWatch Logs (`LogDeliveryConfigurations` with destination `cloudwatch-logs`), and users
//! read them with `aws logs get-log-events` / `filter-log-events`; this crate is that service.
//!
//! No HTTP: the API edge decodes a request (AWS JSON 1.1, `X-Amz-Target:
//! Logs_20140328.<Operation>`) into a JSON value and calls [`Logs::call`]; the answer is the JSON
//! body to send back, members named as in the model `logs/2014-03-28`, timestamps in
//! milliseconds since the epoch. A refusal is a [`LogsError`]: the edge writes
//! `{"__type": code, "message": message}` with its [`status`](LogsError::status). Every call
//! names its region, which scopes everything.
//!
//! Ferrocache's control plane delivers ElastiCache's logs with [`Logs::deliver`], which makes the
//! stream on first use but refuses with `ResourceNotFoundException` when the log group does not
//! exist (on AWS the group must exist; the delivery then shows an error), and can ask
//! [`Logs::group_exists`].
//!
//! # Operations
//! `CreateLogGroup`, `DeleteLogGroup`, `DescribeLogGroups`, `PutRetentionPolicy`,
//! `DeleteRetentionPolicy`, `CreateLogStream`, `DeleteLogStream`, `DescribeLogStreams`,
//! `PutLogEvents`, `GetLogEvents`, `FilterLogEvents`, and the tagging calls Terraform and the
//! CLI use on log groups (`ListTagsForResource`, `TagResource`, `UntagResource`,
//! `ListTagsLogGroup`, `TagLogGroup`, `UntagLogGroup`). Others answer
//! `UnknownOperationException`.
//!
//! # Storage
//! A directory holds `catalog.log`, the journal of groups and streams (see `journal`), and
//! `groups/<id>/`, one directory of segment files per log group (see `events`,
//! `segment`). Events are appended to the group's open segment, one checksummed frame per call
//! and stream; a segment is sealed at its size (a sixteenth of the cap, at most 8 MiB) or a day
//! after its first event, with a summary beside it (time span and streams) so that reads skip
//! what they cannot need and opening reads summaries, not events. After a crash, a torn or
//! damaged tail is cut off at the last whole frame, in segments and in the journal alike, so
//! opening always succeeds and never yields a partial event. Memory holds the catalog and the
//! summaries, never the events: a read streams the segments it needs and keeps only its page.
//!
//! Disk is bounded twice. Each group's retention (`PutRetentionPolicy`; none means never) hides
//! expired events from reads at once and drops a segment once all its events have expired
//! (checked by appends every ten minutes, and by [`Logs::enforce_limits`]). And the whole store
//! has a cap ([`LogsOptions::max_bytes`], [`DEFAULT_MAX_BYTES`] = 1 GiB by default): over it,
//! whole segments are dropped, the one whose newest event is oldest first, whatever their
//! group — so the oldest events go first, a segment at a time.
//!
//! Why segment files of our own rather than an embedded store (`fjall`, an LSM tree): log events
//! are written once, read by time range and dropped by age or size, in bulk. Files per group do
//! exactly that — dropping expired data is deleting a file, so the byte cap is exact and
//! immediate, with no compaction rewriting live data and no tombstones for every expired event
//! — in a few hundred lines over `std::fs`, with no large dependency to build.
//! Appends reach the operating system before a call returns (a crash of the process loses
//! nothing); segment files are synced when sealed, catalog records at once, so a power loss may
//! lose the events the system had not yet written back (typically the last seconds), never the
//! catalog's changes.
//!
//! # Layout
//! - [`logs`]: [`Logs`] (the store and its entry points), [`LogsOptions`].
//! - `operations`: each API operation: checks, action, answer.
//! - `input`: the operations' inputs decoded, and the framework's constraint checks.
//! - `names`: log group and stream names, ARNs, `logGroupIdentifier`.
//! - `group`: a log group's settings, streams and state.
//! - `journal`: the catalog's journal on disk.
//! - `events`: a group's segment files: append, seal, expire, drop.
//! - `segment`: one segment's format and summary.
//! - `frame`: the length-and-checksum framing of every file.
//! - `query`: reading events by key, window, streams and pattern, one page at a time.
//! - `filter`: filter patterns — terms (`filter::terms`), JSON (`filter::json`),
//!   space-delimited (`filter::delimited`).
//! - `paging`: `nextToken`, `nextForwardToken`, `nextBackwardToken`, event ids.
//! - [`clock`]: where "now" comes from ([`SystemClock`], [`ManualClock`] for tests).
//! - [`error`]: [`LogsError`] and every code and message AWS answers with.
//!
//! # Dependency rules
//! No Ferrocache crate; never axum, hyper, redis or redb (`scripts/test.sh` checks). From
//! crates.io: serde and serde_json (the protocol's shapes, the catalog's records), crc32fast
//! (framing), parking_lot (locks), regex-lite (`%regex%` patterns), tracing.

pub mod clock;
pub mod error;
mod events;
mod filter;
mod frame;
mod group;
mod input;
mod journal;
pub mod logs;
mod names;
mod operations;
mod paging;
mod query;
mod segment;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::LogsError;
pub use logs::{Logs, LogsOptions, DEFAULT_MAX_BYTES};
