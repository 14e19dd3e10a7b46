//! One segment file of a log group: appended batches, each one frame (see [`crate::frame`]), and
//! the segment's [`Summary`] — what a reader needs to skip it without opening it.
//!
//! A batch is the events one call stored in one stream:
//!
//! ```text
//! u8  kind (1)
//! u32 stream id        i64 ingestion time (ms)
//! u64 first sequence   u32 event count
//! then per event:      i64 timestamp (ms), u32 message length, message (UTF-8)
//! ```
//!
//! all little-endian. The events of a batch take consecutive sequence numbers from the first.
//! A sealed segment's summary is kept beside it in `<id>.idx` (one frame of JSON), so opening
//! the store reads summaries, not events; a segment without a valid summary is scanned.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::frame::{decode_frame, encode_frame, FrameError, Frames};

/// The extension of segment files.
pub(crate) const SEGMENT_EXTENSION: &str = "seg";

/// The extension of a sealed segment's summary.
pub(crate) const SUMMARY_EXTENSION: &str = "idx";

const BATCH_KIND: u8 = 1;
const BATCH_HEADER: usize = 1 + 4 + 8 + 8 + 4;
const EVENT_HEADER: usize = 8 + 4;

/// Encodes one batch as a frame appended to `out`.
pub(crate) fn encode_batch(
    out: &mut Vec<u8>,
    stream: u32,
    ingestion: i64,
    first_seq: u64,
    events: &[(i64, &str)],
) {
    let body: usize = events.iter().map(|(_, m)| EVENT_HEADER + m.len()).sum();
    let mut payload = Vec::with_capacity(BATCH_HEADER + body);
    payload.push(BATCH_KIND);
    payload.extend_from_slice(&stream.to_le_bytes());
    payload.extend_from_slice(&ingestion.to_le_bytes());
    payload.extend_from_slice(&first_seq.to_le_bytes());
    let count = u32::try_from(events.len()).expect("batches are split well below 4G events");
    payload.extend_from_slice(&count.to_le_bytes());
    for (ts, message) in events {
        payload.extend_from_slice(&ts.to_le_bytes());
        let len = u32::try_from(message.len()).expect("messages are below 4 GiB");
        payload.extend_from_slice(&len.to_le_bytes());
        payload.extend_from_slice(message.as_bytes());
    }
    encode_frame(out, &payload);
}

/// A decoded batch header, over the payload's events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub stream: u32,
    pub ingestion: i64,
    pub first_seq: u64,
    count: u32,
    body: &'a [u8],
}

impl<'a> Batch<'a> {
    /// The batch in a frame's payload; None for a payload of another kind or shape.
    pub(crate) fn parse(payload: &'a [u8]) -> Option<Batch<'a>> {
        if payload.len() < BATCH_HEADER || payload[0] != BATCH_KIND {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8"));
        Some(Batch {
            stream: u32_at(1),
            ingestion: u64_at(5) as i64,
            first_seq: u64_at(13),
            count: u32_at(21),
            body: &payload[BATCH_HEADER..],
        })
    }

    /// The events: `(sequence, timestamp, message)`. Stops early on a malformed body (which the
    /// frame's checksum makes a bug, not damage).
    pub(crate) fn events(&self) -> impl Iterator<Item = (u64, i64, &'a str)> + 'a {
        let mut body = self.body;
        let first = self.first_seq;
        (0..u64::from(self.count)).map_while(move |i| {
            let head = body.get(..EVENT_HEADER)?;
            let ts = i64::from_le_bytes(head[..8].try_into().ok()?);
            let len = u32::from_le_bytes(head[8..].try_into().ok()?) as usize;
            let message = body.get(EVENT_HEADER..EVENT_HEADER + len)?;
            let message = std::str::from_utf8(message).ok()?;
            body = &body[EVENT_HEADER + len..];
            Some((first + i, ts, message))
        })
    }
}

/// What a segment holds, per stream: enough to skip the segment for a stream or a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Span {
    pub min_ts: i64,
    pub max_ts: i64,
    pub last_ingestion: i64,
    pub events: u64,
}

impl Span {
    /// Counts one event at `ts`, ingested at `ingestion`.
    pub(crate) fn add(&mut self, ts: i64, ingestion: i64) {
        if self.events == 0 {
            self.min_ts = ts;
            self.max_ts = ts;
        } else {
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        self.last_ingestion = self.last_ingestion.max(ingestion);
        self.events += 1;
    }

    /// Both spans as one.
    pub(crate) fn merge(&mut self, other: &Span) {
        if other.events == 0 {
            return;
        }
        if self.events == 0 {
            *self = *other;
            return;
        }
        self.min_ts = self.min_ts.min(other.min_ts);
        self.max_ts = self.max_ts.max(other.max_ts);
        self.last_ingestion = self.last_ingestion.max(other.last_ingestion);
        self.events += other.events;
    }
}

/// A segment's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// Bytes of whole frames: a reader reads no further.
    pub len: u64,
    /// All the segment's events.
    pub all: Span,
    /// The highest sequence number used (meaningful when `all.events > 0`).
    pub max_seq: u64,
    /// When the first batch was stored (for rolling segments by age).
    pub first_ingestion: i64,
    /// Per stream id.
    pub streams: BTreeMap<u32, Span>,
}

impl Summary {
    /// Counts a stored batch of `bytes` bytes.
    pub(crate) fn add(&mut self, batch: &Batch<'_>, bytes: u64) {
        if self.all.events == 0 && self.len == 0 {
            self.first_ingestion = batch.ingestion;
        }
        let span = self.streams.entry(batch.stream).or_default();
        for (seq, ts, _) in batch.events() {
            span.add(ts, batch.ingestion);
            self.all.add(ts, batch.ingestion);
            self.max_seq = self.max_seq.max(seq);
        }
        self.len += bytes;
    }
}

/// Reads a segment's whole frames: its summary, and why reading stopped early if it did.
pub(crate) fn scan(bytes: &[u8]) -> (Summary, Option<FrameError>) {
    let mut summary = Summary::default();
    let mut frames = Frames::new(bytes);
    let mut end = 0;
    for (at, payload) in frames.by_ref() {
        let frame_end = at + crate::frame::FRAME_OVERHEAD + payload.len();
        match Batch::parse(payload) {
            Some(batch) => summary.add(&batch, (frame_end - end) as u64),
            // A frame of a kind this version does not know: keep its bytes, skip its content.
            None => summary.len += (frame_end - end) as u64,
        }
        end = frame_end;
    }
    debug_assert_eq!(end, frames.good_len());
    (summary, frames.stopped())
}

/// The summary stored at `path`, if it is there, whole and readable.
pub(crate) fn read_summary(path: &Path) -> Option<Summary> {
    let bytes = fs::read(path).ok()?;
    let (payload, _) = decode_frame(&bytes).ok()?;
    serde_json::from_slice(payload).ok()
}

/// Stores `summary` at `path`, whole or not at all (written aside, then renamed).
pub(crate) fn write_summary(path: &Path, summary: &Summary) -> io::Result<()> {
    let mut out = Vec::new();
    encode_frame(&mut out, &serde_json::to_vec(summary)?);
    let aside = path.with_extension("idx.tmp");
    let mut file = fs::File::create(&aside)?;
    file.write_all(&out)?;
    file.sync_data()?;
    fs::rename(&aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_summarise() {
        let mut bytes = Vec::new();
        encode_batch(&mut bytes, 7, 1_000, 10, &[(5, "a"), (3, "héllo")]);
        let first = bytes.len();
        encode_batch(&mut bytes, 9, 2_000, 12, &[(8, "x")]);

        let (payload, _) = decode_frame(&bytes).unwrap();
        let batch = Batch::parse(payload).unwrap();
        assert_eq!(
            (batch.stream, batch.ingestion, batch.first_seq),
            (7, 1_000, 10)
        );
        let events: Vec<_> = batch.events().collect();
        assert_eq!(events, vec![(10, 5, "a"), (11, 3, "héllo")]);

        let (summary, stopped) = scan(&bytes);
        assert_eq!(stopped, None);
        assert_eq!(summary.len, bytes.len() as u64);
        assert_eq!(
            summary.all,
            Span {
                min_ts: 3,
                max_ts: 8,
                last_ingestion: 2_000,
                events: 3
            }
        );
        assert_eq!(summary.max_seq, 12);
        assert_eq!(summary.first_ingestion, 1_000);
        assert_eq!(summary.streams[&7].events, 2);

        let (torn, stopped) = scan(&bytes[..bytes.len() - 1]);
        assert_eq!(stopped, Some(FrameError::Short));
        assert_eq!(torn.len, first as u64);
        assert_eq!(torn.all.events, 2);
    }

    #[test]
    fn summaries_are_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.idx");
        let summary = Summary {
            len: 42,
            ..Summary::default()
        };
        write_summary(&path, &summary).unwrap();
        assert_eq!(read_summary(&path), Some(summary));
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(read_summary(&path), None);
    }
}
