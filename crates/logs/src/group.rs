//! A log group in memory: its settings, its streams and its [`EventLog`]. The settings are read
//! by every query (retention hides expired events) and changed rarely, so they sit behind their
//! own lock; streams and events change together, under the group's state lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use parking_lot::{Mutex, RwLock};

use crate::events::EventLog;
use crate::input::Tags;
use crate::segment::Span;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The retention periods AWS allows, in days.
pub(crate) const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A log group.
#[derive(Debug)]
pub(crate) struct Group {
    /// Names the group's directory; never reused, so a group made again after a delete starts
    /// empty even if the old directory lingers.
    pub id: u64,
    pub region: String,
    pub name: String,
    pub created: i64,
    pub settings: RwLock<Settings>,
    pub state: Mutex<GroupState>,
}

/// What a group's owner can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub retention_days: Option<u32>,
    pub kms_key_id: Option<String>,
    pub tags: Tags,
    pub class: String,
    pub deletion_protection: bool,
}

impl Settings {
    /// Events with a timestamp before this have expired (None: they never do).
    pub(crate) fn expiry_cutoff(&self, now: i64) -> Option<i64> {
        self.retention_days
            .map(|days| now.saturating_sub(i64::from(days) * DAY_MS))
    }
}

/// A group's streams and events.
#[derive(Debug)]
pub(crate) struct GroupState {
    /// Set by `DeleteLogGroup`: a caller that found the group before it went sees this.
    pub deleted: bool,
    pub streams: BTreeMap<String, Stream>,
    pub names_by_id: HashMap<u32, String>,
    pub next_stream_id: u32,
    pub events: EventLog,
}

/// A log stream.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub id: u32,
    pub created: i64,
    /// What the stream's stored events span (`events == 0`: none stored).
    pub span: Span,
}

impl GroupState {
    /// A state holding `events` and no streams yet.
    pub(crate) fn new(events: EventLog) -> Self {
        Self {
            deleted: false,
            streams: BTreeMap::new(),
            names_by_id: HashMap::new(),
            next_stream_id: 0,
            events,
        }
    }

    /// Adds stream `name` with id `id`.
    pub(crate) fn add_stream(&mut self, id: u32, name: &str, created: i64, span: Span) {
        self.next_stream_id = self.next_stream_id.max(id + 1);
        self.names_by_id.insert(id, name.to_string());
        self.streams
            .insert(name.to_string(), Stream { id, created, span });
    }

    /// Removes stream `name`; its events stay in the segments, unread (no live stream has their
    /// id), until their segments go.
    pub(crate) fn remove_stream(&mut self, name: &str) -> Option<Stream> {
        let stream = self.streams.remove(name)?;
        self.names_by_id.remove(&stream.id);
        Some(stream)
    }

    /// The ids of the live streams whose names pass `keep`.
    pub(crate) fn stream_ids(&self, keep: impl Fn(&str) -> bool) -> HashSet<u32> {
        self.streams
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(_, s)| s.id)
            .collect()
    }
}
