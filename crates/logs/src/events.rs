//! A log group's events on disk: its directory of segment files (see [`crate::segment`]),
//! appended to one at a time and dropped whole — for retention once every event in a segment
//! has expired, and for the store's byte cap oldest first.
//!
//! The last segment takes appends until it reaches the segment size or a day has passed since
//! its first batch; then it is sealed (synced, its summary written beside it) and the next
//! append starts a new one. On open, a segment whose summary is missing or stale is scanned, and
//! a torn or damaged tail is cut off: whole frames before it are kept, nothing after it is
//! trusted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::frame::Frames;
use crate::segment::{self, Batch, Span, Summary, SEGMENT_EXTENSION, SUMMARY_EXTENSION};

/// A segment stops taking appends a day after its first batch, so that retention can drop it
/// within a day of its newest event expiring.
const MAX_SEGMENT_AGE_MS: i64 = 24 * 3600 * 1000;

/// Message bytes per batch frame: a larger call is stored as several frames.
const FRAME_MESSAGE_BYTES: usize = 1 << 20;

/// The events of one log group.
#[derive(Debug)]
pub(crate) struct EventLog {
    dir: PathBuf,
    segment_bytes: u64,
    /// In id order; only the last may be unsealed.
    segments: Vec<Segment>,
    /// Open on the last segment while it takes appends.
    writer: Option<File>,
    next_seq: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    summary: Arc<Summary>,
    sealed: bool,
}

/// What a reader needs of a segment: where it is, and how far its whole frames go.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub path: PathBuf,
    pub summary: Arc<Summary>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.{SEGMENT_EXTENSION}"))
}

fn summary_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.{SUMMARY_EXTENSION}"))
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl EventLog {
    /// Opens the group's directory, creating it when missing.
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> io::Result<EventLog> {
        fs::create_dir_all(dir)?;
        let mut ids = Vec::new();
        let mut summaries = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            match (path.extension().and_then(|e| e.to_str()), id) {
                (Some(SEGMENT_EXTENSION), Some(id)) => ids.push(id),
                (Some(SUMMARY_EXTENSION), Some(id)) => summaries.push(id),
                // Left by a crash while writing a summary aside.
                (Some("tmp"), _) => remove_if_there(&path)?,
                _ => {}
            }
        }
        ids.sort_unstable();
        for orphan in summaries.iter().filter(|id| ids.binary_search(id).is_err()) {
            remove_if_there(&summary_path(dir, *orphan))?;
        }

        let mut segments = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let last = i + 1 == ids.len();
            let path = segment_path(dir, id);
            let file_len = fs::metadata(&path)?.len();
            let stored = segment::read_summary(&summary_path(dir, id));
            let (summary, sealed) = match stored {
                Some(s) if s.len == file_len => (s, true),
                _ => {
                    let (s, stopped) = segment::scan(&fs::read(&path)?);
                    if let Some(why) = stopped {
                        tracing::warn!(
                            path = %path.display(), kept = s.len, dropped = file_len - s.len,
                            ?why, "cutting a log segment's torn or damaged tail"
                        );
                        OpenOptions::new().write(true).open(&path)?.set_len(s.len)?;
                    }
                    if !last {
                        segment::write_summary(&summary_path(dir, id), &s)?;
                    }
                    (s, !last)
                }
            };
            if summary.len == 0 && !last {
                remove_if_there(&path)?;
                remove_if_there(&summary_path(dir, id))?;
                continue;
            }
            segments.push(Segment {
                id,
                summary: Arc::new(summary),
                sealed,
            });
        }
        let next_seq = segments
            .iter()
            .filter(|s| s.summary.all.events > 0)
            .map(|s| s.summary.max_seq + 1)
            .max()
            .unwrap_or(0);
        Ok(EventLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments,
            writer: None,
            next_seq,
        })
    }

    /// Stores `events` of stream `stream`, ingested at `ingestion`; returns the bytes written.
    pub(crate) fn append(
        &mut self,
        stream: u32,
        ingestion: i64,
        events: &[(i64, &str)],
    ) -> io::Result<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        self.roll_if_due(ingestion)?;
        let mut buf = Vec::new();
        let mut seq = self.next_seq;
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < events.len()
                && (end == start || bytes + events[end].1.len() <= FRAME_MESSAGE_BYTES)
            {
                bytes += events[end].1.len();
                end += 1;
            }
            segment::encode_batch(&mut buf, stream, ingestion, seq, &events[start..end]);
            seq += (end - start) as u64;
            start = end;
        }

        self.writer()?;
        // The active segment's summary covers its file exactly (a torn tail was cut on open).
        let before = self.segments.last().map_or(0, |s| s.summary.len);
        let writer = self.writer.as_mut().expect("opened above");
        if let Err(e) = writer.write_all(&buf) {
            // Leave no partial frame for later appends to follow.
            let _ = writer.set_len(before);
            return Err(e);
        }
        let active = self.segments.last_mut().expect("the writer's segment");
        let summary = Arc::make_mut(&mut active.summary);
        for (_, payload) in Frames::new(&buf) {
            let frame_len = (crate::frame::FRAME_OVERHEAD + payload.len()) as u64;
            if let Some(batch) = Batch::parse(payload) {
                summary.add(&batch, frame_len);
            }
        }
        self.next_seq = seq;
        Ok(buf.len() as u64)
    }

    /// The file taking appends, starting a segment when there is none.
    fn writer(&mut self) -> io::Result<&mut File> {
        if self.writer.is_none() {
            match self.segments.last() {
                Some(last) if !last.sealed => {
                    let file = OpenOptions::new()
                        .append(true)
                        .open(segment_path(&self.dir, last.id))?;
                    self.writer = Some(file);
                }
                _ => {
                    let id = self.segments.last().map_or(0, |s| s.id + 1);
                    let file = OpenOptions::new()
                        .append(true)
                        .create_new(true)
                        .open(segment_path(&self.dir, id))?;
                    self.segments.push(Segment {
                        id,
                        summary: Arc::new(Summary::default()),
                        sealed: false,
                    });
                    self.writer = Some(file);
                }
            }
        }
        Ok(self.writer.as_mut().expect("just opened"))
    }

    fn roll_if_due(&mut self, now: i64) -> io::Result<()> {
        let due = self.segments.last().is_some_and(|last| {
            !last.sealed
                && last.summary.len > 0
                && (last.summary.len >= self.segment_bytes
                    || now.saturating_sub(last.summary.first_ingestion) >= MAX_SEGMENT_AGE_MS)
        });
        if due {
            self.seal()?;
        }
        Ok(())
    }

    /// Seals the last segment: synced, its summary written beside it, no more appends.
    pub(crate) fn seal(&mut self) -> io::Result<()> {
        let Some(last) = self.segments.last_mut().filter(|s| !s.sealed) else {
            return Ok(());
        };
        if let Some(file) = self.writer.take() {
            file.sync_data()?;
        }
        segment::write_summary(&summary_path(&self.dir, last.id), &last.summary)?;
        last.sealed = true;
        Ok(())
    }

    /// The segments holding events, oldest first, for a reader.
    pub(crate) fn views(&self) -> Vec<SegmentView> {
        self.segments
            .iter()
            .filter(|s| s.summary.all.events > 0)
            .map(|s| SegmentView {
                path: segment_path(&self.dir, s.id),
                summary: Arc::clone(&s.summary),
            })
            .collect()
    }

    /// Bytes of segment files.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.summary.len).sum()
    }

    /// Per stream id, what the segments hold.
    pub(crate) fn stream_spans(&self) -> BTreeMap<u32, Span> {
        let mut spans: BTreeMap<u32, Span> = BTreeMap::new();
        for s in &self.segments {
            for (id, span) in &s.summary.streams {
                spans.entry(*id).or_default().merge(span);
            }
        }
        spans
    }

    /// Drops the segments whose every event is older than `cutoff`; returns the bytes freed.
    pub(crate) fn expire(&mut self, cutoff: i64) -> io::Result<u64> {
        let expired: Vec<u64> = self
            .segments
            .iter()
            .filter(|s| s.summary.all.events > 0 && s.summary.all.max_ts < cutoff)
            .map(|s| s.id)
            .collect();
        let mut freed = 0;
        for id in expired {
            freed += self.remove(id)?;
        }
        Ok(freed)
    }

    /// The segment the byte cap drops first: the one whose newest event is oldest. Its newest
    /// timestamp and id.
    pub(crate) fn oldest(&self) -> Option<(i64, u64)> {
        self.segments
            .iter()
            .filter(|s| s.summary.len > 0)
            .map(|s| (s.summary.all.max_ts, s.id))
            .min()
    }

    /// Deletes segment `id`; returns the bytes freed.
    pub(crate) fn remove(&mut self, id: u64) -> io::Result<u64> {
        let Some(at) = self.segments.iter().position(|s| s.id == id) else {
            return Ok(0);
        };
        if at + 1 == self.segments.len() && !self.segments[at].sealed {
            self.writer = None;
        }
        let gone = self.segments.remove(at);
        remove_if_there(&segment_path(&self.dir, id))?;
        remove_if_there(&summary_path(&self.dir, id))?;
        Ok(gone.summary.len)
    }

    /// Deletes every segment and the directory.
    pub(crate) fn destroy(&mut self) -> io::Result<()> {
        self.writer = None;
        self.segments.clear();
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_roll_by_size_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path(), 200).unwrap();
        for i in 0..10 {
            log.append(
                1,
                1_000 + i,
                &[(i, "0123456789012345678901234567890123456789")],
            )
            .unwrap();
        }
        let views = log.views();
        assert!(views.len() > 1, "rolled at 200 bytes");
        let bytes = log.stored_bytes();
        drop(log);

        let log = EventLog::open(dir.path(), 200).unwrap();
        assert_eq!(log.stored_bytes(), bytes);
        assert_eq!(log.next_seq, 10);
        assert_eq!(log.stream_spans()[&1].events, 10);
    }

    #[test]
    fn expiry_and_oldest_work_on_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path(), 1).unwrap();
        log.append(1, 0, &[(100, "a")]).unwrap();
        log.append(1, 0, &[(300, "b")]).unwrap();
        log.append(1, 0, &[(200, "c")]).unwrap();
        assert_eq!(log.views().len(), 3);
        assert_eq!(log.oldest().map(|(ts, _)| ts), Some(100));
        assert!(log.expire(250).unwrap() > 0);
        let left: Vec<i64> = log.views().iter().map(|v| v.summary.all.max_ts).collect();
        assert_eq!(left, vec![300]);
        log.destroy().unwrap();
        assert!(!dir.path().exists());
    }
}
