//! [`Logs`]: the store — the catalog of groups and streams (in memory, journaled), each group's
//! events on disk, the limits (retention, the byte cap) — and the entry points: [`Logs::call`]
//! for the API, [`Logs::deliver`] for Ferrocache's own log delivery.
//!
//! Locks, always taken in this order: the group map, a group's state, the journal; a group's
//! settings are held only for a moment and never while taking another lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::error::{LogsError, Refusal};
use crate::events::EventLog;
use crate::group::{Group, GroupState, Settings, Stream};
use crate::input::Checks;
use crate::journal::{self, Journal, Record};
use crate::names;
use crate::segment::Span;

/// The default cap on the bytes of events the store keeps, all groups together: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Largest segment file.
const MAX_SEGMENT_BYTES: u64 = 8 << 20;

/// How often appends also drop expired segments.
const SWEEP_INTERVAL_MS: i64 = 10 * 60 * 1000;

/// Most log groups in a region (AWS's quota).
const MAX_GROUPS_PER_REGION: usize = 1_000_000;

/// Longest message [`Logs::deliver`] keeps (AWS's event limit, 1 MiB counted with the 26 bytes
/// of overhead); longer ones are cut at a character boundary.
const MAX_MESSAGE_BYTES: usize = 1_048_576 - 26;

/// How much the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsOptions {
    /// The cap on the bytes of stored events, all groups together. Over it, whole segments are
    /// dropped, the one whose newest event is oldest first, whatever their groups' retention.
    pub max_bytes: u64,
    /// The size at which a group's segment file is sealed and a new one started: the unit in
    /// which retention and the cap free space.
    pub segment_bytes: u64,
}

impl LogsOptions {
    /// A cap of `max_bytes`, with segments a sixteenth of it (at least 4 KiB, at most 8 MiB).
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(4096, MAX_SEGMENT_BYTES),
        }
    }
}

impl Default for LogsOptions {
    fn default() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }
}

/// The CloudWatch Logs service of one Ferrocache, over its directory.
#[derive(Debug)]
pub struct Logs {
    root: PathBuf,
    account: String,
    options: LogsOptions,
    clock: Arc<dyn Clock>,
    /// By (region, name).
    groups: RwLock<BTreeMap<(String, String), Arc<Group>>>,
    journal: Mutex<Journal>,
    next_group_id: AtomicU64,
    stored_bytes: AtomicU64,
    next_sweep: AtomicI64,
    sequence: AtomicU64,
}

fn groups_dir(root: &Path) -> PathBuf {
    root.join("groups")
}

fn group_dir(root: &Path, id: u64) -> PathBuf {
    groups_dir(root).join(format!("{id:016x}"))
}

impl Logs {
    /// Opens the store in `dir` (created when missing) for the account `account`, with the
    /// default cap ([`DEFAULT_MAX_BYTES`]) and the system clock.
    ///
    /// # Errors
    /// `ServiceUnavailableException` when the directory cannot be read or written.
    pub fn open(dir: &Path, account: &str) -> Result<Logs, LogsError> {
        Self::open_with(dir, account, LogsOptions::default(), Arc::new(SystemClock))
    }

    /// Opens the store in `dir` with `options` and `clock`.
    ///
    /// # Errors
    /// `ServiceUnavailableException` when the directory cannot be read or written.
    pub fn open_with(
        dir: &Path,
        account: &str,
        options: LogsOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Logs, LogsError> {
        Self::load(dir, account, options, clock).map_err(Refusal::into_error)
    }

    fn load(
        dir: &Path,
        account: &str,
        options: LogsOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Logs, Refusal> {
        fs::create_dir_all(groups_dir(dir))?;
        let (mut journal, records) = Journal::open(&dir.join("catalog.log"))?;
        let live = journal::live_records(&records);
        if records.len() > 2 * live.len() + 1024 {
            journal.rewrite(&live)?;
        }
        let mut next_group_id = 0;
        for r in &records {
            if let Record::GroupCreated { id, .. } = r {
                next_group_id = next_group_id.max(id + 1);
            }
        }

        let mut by_id: BTreeMap<u64, Arc<Group>> = BTreeMap::new();
        let mut stream_records = Vec::new();
        for r in live {
            match r {
                Record::GroupCreated {
                    id,
                    region,
                    name,
                    created,
                    retention_days,
                    kms_key_id,
                    tags,
                    class,
                    deletion_protection,
                } => {
                    let events = EventLog::open(&group_dir(dir, id), options.segment_bytes)?;
                    by_id.insert(
                        id,
                        Arc::new(Group {
                            id,
                            region,
                            name,
                            created,
                            settings: RwLock::new(Settings {
                                retention_days,
                                kms_key_id,
                                tags,
                                class,
                                deletion_protection,
                            }),
                            state: Mutex::new(GroupState::new(events)),
                        }),
                    );
                }
                Record::StreamCreated {
                    group,
                    id,
                    name,
                    created,
                } => stream_records.push((group, id, name, created)),
                _ => unreachable!("live records are groups and streams"),
            }
        }
        let mut stored = 0;
        for group in by_id.values() {
            let mut state = group.state.lock();
            let spans = state.events.stream_spans();
            for (g, id, name, created) in stream_records.iter().filter(|s| s.0 == group.id) {
                debug_assert_eq!(*g, group.id);
                let span = spans.get(id).copied().unwrap_or_default();
                state.add_stream(*id, name, *created, span);
            }
            stored += state.events.stored_bytes();
        }

        // Directories of groups no longer in the catalog (deleted before a crash could remove
        // them) go now.
        for entry in fs::read_dir(groups_dir(dir))? {
            let path = entry?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| u64::from_str_radix(n, 16).ok());
            if let Some(id) = id {
                next_group_id = next_group_id.max(id + 1);
                if !by_id.contains_key(&id) {
                    tracing::info!(path = %path.display(), "removing a deleted log group's events");
                    fs::remove_dir_all(&path)?;
                }
            }
        }

        let groups = by_id
            .into_values()
            .map(|g| ((g.region.clone(), g.name.clone()), g))
            .collect();
        let logs = Logs {
            root: dir.to_path_buf(),
            account: account.to_string(),
            options,
            clock,
            groups: RwLock::new(groups),
            journal: Mutex::new(journal),
            next_group_id: AtomicU64::new(next_group_id),
            stored_bytes: AtomicU64::new(stored),
            next_sweep: AtomicI64::new(i64::MIN),
            sequence: AtomicU64::new(0),
        };
        logs.enforce()?;
        Ok(logs)
    }

    /// Runs `operation` (its name in the model, e.g. `GetLogEvents`: the part of
    /// `X-Amz-Target: Logs_20140328.<Op>` after the dot) for a caller in `region`, on `input` in
    /// the AWS JSON 1.1 protocol's shape (members as in the model `logs/2014-03-28`, timestamps
    /// in milliseconds since the epoch); answers in the same shape.
    ///
    /// # Errors
    /// AWS's refusal for the request (see [`LogsError`]).
    pub fn call(&self, region: &str, operation: &str, input: Value) -> Result<Value, LogsError> {
        crate::operations::call(self, region, operation, input).map_err(Refusal::into_error)
    }

    /// Stores events Ferrocache delivers (ElastiCache's slow and engine logs) in stream
    /// `stream` of group `group`, making the stream when it is missing. `events` are
    /// `(timestamp in ms since the epoch, message)`, in any order; none of `PutLogEvents`' batch
    /// rules apply, but a message over AWS's event size is cut to it. Cheap to call often with
    /// small batches: one write to the group's open segment (plus, for a new stream, one synced
    /// catalog record).
    ///
    /// # Errors
    /// `ResourceNotFoundException` ("The specified log group does not exist.") when the group
    /// does not exist — as on AWS, where the delivery then shows an error; AWS's refusal of an
    /// invalid stream name; `ServiceUnavailableException` when storing fails.
    pub fn deliver<M: AsRef<str>>(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, M)],
    ) -> Result<(), LogsError> {
        let mut checks = Checks::default();
        names::check_stream_name(&mut checks, "logStreamName", stream)
            .and_then(|()| checks.finish())
            .map_err(Refusal::into_error)?;
        let group = self.group(region, group).map_err(Refusal::into_error)?;
        let events: Vec<(i64, &str)> = events
            .iter()
            .map(|(ts, m)| ((*ts).max(0), truncate(m.as_ref(), MAX_MESSAGE_BYTES)))
            .collect();
        self.append(&group, stream, &events, true)
            .map_err(Refusal::into_error)
    }

    /// Whether log group `name` exists in `region`.
    pub fn group_exists(&self, region: &str, name: &str) -> bool {
        self.groups
            .read()
            .contains_key(&(region.to_string(), name.to_string()))
    }

    /// Applies the limits now: drops segments whose events have all expired under their
    /// group's retention, then, while the store is over its byte cap, the segment whose newest
    /// event is oldest. (Appends do this on their own every ten minutes, and at once when over
    /// the cap.)
    ///
    /// # Errors
    /// `ServiceUnavailableException` when deleting fails.
    pub fn enforce_limits(&self) -> Result<(), LogsError> {
        self.next_sweep.store(
            self.now().saturating_add(SWEEP_INTERVAL_MS),
            Ordering::SeqCst,
        );
        self.expire_all()
            .and_then(|()| self.enforce_cap())
            .map_err(Refusal::into_error)
    }

    /// Bytes of stored events, all groups together (what the cap limits).
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes.load(Ordering::SeqCst)
    }

    // ---- for the operations ---------------------------------------------------------------

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    /// The group `name` of `region`.
    pub(crate) fn group(&self, region: &str, name: &str) -> Result<Arc<Group>, Refusal> {
        self.groups
            .read()
            .get(&(region.to_string(), name.to_string()))
            .cloned()
            .ok_or(Refusal::GroupNotFound)
    }

    /// The groups of `region` whose names start with `prefix`, in name order.
    pub(crate) fn groups_with_prefix(&self, region: &str, prefix: &str) -> Vec<Arc<Group>> {
        let start = (region.to_string(), prefix.to_string());
        self.groups
            .read()
            .range(start..)
            .take_while(|((r, n), _)| r == region && n.starts_with(prefix))
            .map(|(_, g)| Arc::clone(g))
            .collect()
    }

    /// Makes group `name` in `region`.
    pub(crate) fn create_group(
        &self,
        region: &str,
        name: &str,
        settings: Settings,
    ) -> Result<(), Refusal> {
        let mut groups = self.groups.write();
        let key = (region.to_string(), name.to_string());
        if groups.contains_key(&key) {
            return Err(Refusal::GroupExists);
        }
        let in_region = groups
            .range((region.to_string(), String::new())..)
            .take_while(|((r, _), _)| r == region)
            .count();
        if in_region >= MAX_GROUPS_PER_REGION {
            return Err(Refusal::LimitExceeded);
        }
        let id = self.next_group_id.fetch_add(1, Ordering::SeqCst);
        let created = self.now();
        let events = EventLog::open(&group_dir(&self.root, id), self.options.segment_bytes)?;
        self.journal.lock().append(&Record::GroupCreated {
            id,
            region: region.to_string(),
            name: name.to_string(),
            created,
            retention_days: settings.retention_days,
            kms_key_id: settings.kms_key_id.clone(),
            tags: settings.tags.clone(),
            class: settings.class.clone(),
            deletion_protection: settings.deletion_protection,
        })?;
        groups.insert(
            key,
            Arc::new(Group {
                id,
                region: region.to_string(),
                name: name.to_string(),
                created,
                settings: RwLock::new(settings),
                state: Mutex::new(GroupState::new(events)),
            }),
        );
        Ok(())
    }

    /// Deletes group `name` of `region` with its streams and events.
    pub(crate) fn delete_group(&self, region: &str, name: &str) -> Result<(), Refusal> {
        let mut groups = self.groups.write();
        let key = (region.to_string(), name.to_string());
        let group = groups.get(&key).cloned().ok_or(Refusal::GroupNotFound)?;
        if group.settings.read().deletion_protection {
            return Err(crate::error::deletion_protected());
        }
        let mut state = group.state.lock();
        self.journal
            .lock()
            .append(&Record::GroupDeleted { id: group.id })?;
        groups.remove(&key);
        state.deleted = true;
        let bytes = state.events.stored_bytes();
        self.stored_bytes.fetch_sub(bytes, Ordering::SeqCst);
        // The catalog no longer has the group: should this fail, the next open removes the
        // directory.
        if let Err(e) = state.events.destroy() {
            tracing::warn!(error = %e, group = name, "could not remove a deleted log group's events");
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) the group's retention.
    pub(crate) fn set_retention(&self, group: &Group, days: Option<u32>) -> Result<(), Refusal> {
        let state = group.state.lock();
        if state.deleted {
            return Err(Refusal::GroupNotFound);
        }
        self.journal
            .lock()
            .append(&Record::Retention { id: group.id, days })?;
        group.settings.write().retention_days = days;
        drop(state);
        if days.is_some() {
            // Let the next append sweep, so a shortened retention frees space soon.
            self.next_sweep.store(i64::MIN, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Replaces the group's tags.
    pub(crate) fn set_tags(&self, group: &Group, tags: crate::input::Tags) -> Result<(), Refusal> {
        let state = group.state.lock();
        if state.deleted {
            return Err(Refusal::GroupNotFound);
        }
        self.journal.lock().append(&Record::Tags {
            id: group.id,
            tags: tags.clone(),
        })?;
        group.settings.write().tags = tags;
        Ok(())
    }

    /// Makes stream `name` in `group`.
    pub(crate) fn create_stream(&self, group: &Group, name: &str) -> Result<(), Refusal> {
        let mut state = group.state.lock();
        if state.deleted {
            return Err(Refusal::GroupNotFound);
        }
        if state.streams.contains_key(name) {
            return Err(Refusal::StreamExists);
        }
        self.add_stream(group, &mut state, name)
    }

    fn add_stream(&self, group: &Group, state: &mut GroupState, name: &str) -> Result<(), Refusal> {
        let id = state.next_stream_id;
        let created = self.now();
        self.journal.lock().append(&Record::StreamCreated {
            group: group.id,
            id,
            name: name.to_string(),
            created,
        })?;
        state.add_stream(id, name, created, Span::default());
        Ok(())
    }

    /// Deletes stream `name` of `group`.
    pub(crate) fn delete_stream(&self, group: &Group, name: &str) -> Result<(), Refusal> {
        let mut state = group.state.lock();
        if state.deleted {
            return Err(Refusal::GroupNotFound);
        }
        let id = state.streams.get(name).ok_or(Refusal::StreamNotFound)?.id;
        self.journal.lock().append(&Record::StreamDeleted {
            group: group.id,
            id,
        })?;
        state.remove_stream(name);
        Ok(())
    }

    /// Stores `events` in stream `stream` of `group` (making the stream when `create` says so),
    /// ingested now; then applies the limits when due.
    pub(crate) fn append(
        &self,
        group: &Arc<Group>,
        stream: &str,
        events: &[(i64, &str)],
        create: bool,
    ) -> Result<(), Refusal> {
        {
            let mut state = group.state.lock();
            if state.deleted {
                return Err(Refusal::GroupNotFound);
            }
            if !state.streams.contains_key(stream) {
                if !create {
                    return Err(Refusal::StreamNotFound);
                }
                self.add_stream(group, &mut state, stream)?;
            }
            if events.is_empty() {
                return Ok(());
            }
            let now = self.now();
            let id = state.streams[stream].id;
            let written = state.events.append(id, now, events)?;
            let s: &mut Stream = state.streams.get_mut(stream).expect("checked above");
            for (ts, _) in events {
                s.span.add(*ts, now);
            }
            self.stored_bytes.fetch_add(written, Ordering::SeqCst);
        }
        self.enforce()
    }

    /// A fresh `nextSequenceToken`.
    pub(crate) fn next_sequence_token(&self) -> String {
        crate::paging::sequence_token(self.sequence.fetch_add(1, Ordering::SeqCst) + 1)
    }

    // ---- limits ---------------------------------------------------------------------------

    /// The limits, when due: retention every [`SWEEP_INTERVAL_MS`], the cap whenever over it.
    fn enforce(&self) -> Result<(), Refusal> {
        let now = self.now();
        let due = self.next_sweep.load(Ordering::SeqCst);
        if now >= due
            && self
                .next_sweep
                .compare_exchange(
                    due,
                    now.saturating_add(SWEEP_INTERVAL_MS),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        {
            self.expire_all()?;
        }
        if self.stored_bytes() > self.options.max_bytes {
            self.enforce_cap()?;
        }
        Ok(())
    }

    fn all_groups(&self) -> Vec<Arc<Group>> {
        self.groups.read().values().cloned().collect()
    }

    fn expire_all(&self) -> Result<(), Refusal> {
        let now = self.now();
        for group in self.all_groups() {
            let Some(cutoff) = group.settings.read().expiry_cutoff(now) else {
                continue;
            };
            let mut state = group.state.lock();
            if state.deleted {
                continue;
            }
            let freed = state.events.expire(cutoff)?;
            self.stored_bytes.fetch_sub(freed, Ordering::SeqCst);
        }
        Ok(())
    }

    fn enforce_cap(&self) -> Result<(), Refusal> {
        while self.stored_bytes() > self.options.max_bytes {
            let oldest = self
                .all_groups()
                .into_iter()
                .filter_map(|g| {
                    let found = g.state.lock().events.oldest();
                    found.map(|(ts, segment)| (ts, g.id, segment, g))
                })
                .min_by_key(|(ts, group, segment, _)| (*ts, *group, *segment));
            let Some((_, _, segment, group)) = oldest else {
                break;
            };
            let mut state = group.state.lock();
            if state.deleted {
                continue;
            }
            let freed = state.events.remove(segment)?;
            tracing::debug!(group = %group.name, segment, freed, "over the byte cap: dropped a segment");
            self.stored_bytes.fetch_sub(freed, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
