//! Reading events: one pass over the segments a query can touch, keeping in memory only the
//! page being built.
//!
//! Events are ordered by key, `(timestamp, sequence)`: by time, and among equal times by the
//! order they were stored in. A query reads from a boundary key in a direction — forward (the
//! keys at or after it, oldest first) or backward (the keys before it, newest first) — within a
//! time window, over a set of streams, optionally through a filter pattern, and returns the
//! first page in its direction: at most `limit` events and `page_bytes` bytes (each event
//! counted as its message plus 26 bytes, as `PutLogEvents` counts; the first event always fits),
//! and whether more events follow.
//!
//! Segments are not in time order among themselves (a late batch may hold old timestamps), so
//! every segment whose summary overlaps the window is considered; they are visited nearest the
//! boundary first, and once the page (and one event past it) is settled, the rest — whose keys
//! all lie beyond the page — are skipped.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{self, Read};

use crate::events::SegmentView;
use crate::filter::Pattern;
use crate::frame::Frames;
use crate::segment::{Batch, Span, Summary};

/// Bytes an event counts for, beyond its message (AWS's figure for `PutLogEvents` batches).
pub(crate) const EVENT_OVERHEAD: usize = 26;

/// Most bytes a page of events holds (AWS: "up to 1 MB").
pub(crate) const PAGE_BYTES: usize = 1_048_576;

/// The key of the event with timestamp `ts` and sequence `seq`.
pub(crate) fn event_key(ts: i64, seq: u64) -> u128 {
    (u128::from(ts.max(0) as u64) << 64) | u128::from(seq)
}

/// The lowest key with timestamp `ts`: a boundary before every event at `ts`.
pub(crate) fn time_boundary(ts: i64) -> u128 {
    event_key(ts, 0)
}

/// Which way a query reads from its boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Keys at or after the boundary, oldest first.
    Forward,
    /// Keys before the boundary, newest first.
    Backward,
}

/// The streams a query reads.
#[derive(Debug, Clone)]
pub(crate) enum StreamSet {
    One(u32),
    Many(HashSet<u32>),
}

impl StreamSet {
    fn contains(&self, id: u32) -> bool {
        match self {
            StreamSet::One(one) => *one == id,
            StreamSet::Many(set) => set.contains(&id),
        }
    }

    /// What a segment holds of these streams, if anything.
    fn span_in(&self, summary: &Summary) -> Option<Span> {
        match self {
            StreamSet::One(id) => summary.streams.get(id).copied(),
            StreamSet::Many(set) => {
                let mut span = Span::default();
                for (id, s) in &summary.streams {
                    if set.contains(id) {
                        span.merge(s);
                    }
                }
                (span.events > 0).then_some(span)
            }
        }
    }
}

/// What to read.
#[derive(Debug)]
pub(crate) struct Query<'a> {
    pub direction: Direction,
    /// Forward: keys at or after it; backward: keys before it.
    pub boundary: u128,
    /// The time window: `from_ts <= timestamp < until_ts`.
    pub from_ts: i64,
    pub until_ts: i64,
    pub streams: &'a StreamSet,
    pub pattern: Option<&'a Pattern>,
    pub limit: usize,
    pub page_bytes: usize,
}

/// An event read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub key: u128,
    pub timestamp: i64,
    pub stream: u32,
    pub ingestion: i64,
    pub message: String,
}

/// A page of events in the query's direction, and whether more follow it.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub events: Vec<Found>,
    pub more: bool,
}

/// A candidate for the page; the heap's top is the one furthest from the boundary.
#[derive(Debug)]
struct Candidate {
    /// Distance from the boundary in the query's direction (smaller is nearer).
    rank: u128,
    size: usize,
    found: Found,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

/// The nearest events to the boundary: enough for the page and one past it, no more.
struct Nearest {
    heap: BinaryHeap<Candidate>,
    bytes: usize,
    limit: usize,
    page_bytes: usize,
}

impl Nearest {
    /// Whether the page and one event past it are among those kept (so that anything further
    /// from the boundary than all of them is of no use).
    fn settled(&self) -> bool {
        Self::covers(self.heap.len(), self.bytes, self.limit, self.page_bytes)
    }

    fn covers(n: usize, bytes: usize, limit: usize, page_bytes: usize) -> bool {
        n > limit || (n >= 2 && bytes > page_bytes)
    }

    fn furthest(&self) -> Option<u128> {
        self.heap.peek().map(|c| c.rank)
    }

    /// Whether an event at distance `rank` would be kept.
    fn wants(&self, rank: u128) -> bool {
        !self.settled() || self.furthest().is_some_and(|f| rank < f)
    }

    fn offer(&mut self, candidate: Candidate) {
        self.bytes += candidate.size;
        self.heap.push(candidate);
        while let Some(top) = self.heap.peek() {
            let nearer = self.heap.len() - 1;
            if Self::covers(nearer, self.bytes - top.size, self.limit, self.page_bytes) {
                let gone = self.heap.pop().expect("peeked");
                self.bytes -= gone.size;
            } else {
                break;
            }
        }
    }

    fn into_page(self) -> Page {
        let mut page = Page::default();
        let mut bytes = 0;
        for c in self.heap.into_sorted_vec() {
            if page.events.len() == self.limit
                || (!page.events.is_empty() && bytes + c.size > self.page_bytes)
            {
                page.more = true;
                break;
            }
            bytes += c.size;
            page.events.push(c.found);
        }
        page
    }
}

/// Runs `query` over `segments`.
pub(crate) fn run(segments: &[SegmentView], query: &Query<'_>) -> io::Result<Page> {
    let rank = |key: u128| match query.direction {
        Direction::Forward => key,
        Direction::Backward => u128::MAX - key,
    };
    // Each relevant segment with the nearest and furthest ranks it could hold.
    let mut relevant: Vec<(&SegmentView, u128, u128)> = segments
        .iter()
        .filter_map(|seg| {
            let span = query.streams.span_in(&seg.summary)?;
            if span.max_ts < query.from_ts || span.min_ts >= query.until_ts {
                return None;
            }
            let (lowest, highest) = (event_key(span.min_ts, 0), event_key(span.max_ts, u64::MAX));
            let in_bounds = match query.direction {
                Direction::Forward => highest >= query.boundary,
                Direction::Backward => lowest < query.boundary,
            };
            let (near, far) = match query.direction {
                Direction::Forward => (rank(lowest), rank(highest)),
                Direction::Backward => (rank(highest), rank(lowest)),
            };
            in_bounds.then_some((seg, near, far))
        })
        .collect();
    relevant.sort_by_key(|&(_, near, _)| near);

    let mut nearest = Nearest {
        heap: BinaryHeap::new(),
        bytes: 0,
        limit: query.limit.max(1),
        page_bytes: query.page_bytes,
    };
    for (seg, near, _) in relevant {
        if !nearest.wants(near) {
            // Every later segment starts further out still.
            break;
        }
        let Some(bytes) = read_prefix(seg)? else {
            continue;
        };
        for (_, payload) in Frames::new(&bytes) {
            let Some(batch) = Batch::parse(payload) else {
                continue;
            };
            if !query.streams.contains(batch.stream) {
                continue;
            }
            for (seq, ts, message) in batch.events() {
                if ts < query.from_ts || ts >= query.until_ts {
                    continue;
                }
                let key = event_key(ts, seq);
                let in_bounds = match query.direction {
                    Direction::Forward => key >= query.boundary,
                    Direction::Backward => key < query.boundary,
                };
                if !in_bounds || !nearest.wants(rank(key)) {
                    continue;
                }
                if query.pattern.is_some_and(|p| !p.matches(message)) {
                    continue;
                }
                nearest.offer(Candidate {
                    rank: rank(key),
                    size: message.len() + EVENT_OVERHEAD,
                    found: Found {
                        key,
                        timestamp: ts,
                        stream: batch.stream,
                        ingestion: batch.ingestion,
                        message: message.to_string(),
                    },
                });
            }
        }
    }
    Ok(nearest.into_page())
}

/// The whole frames of a segment, or None when it was dropped since the view was taken.
fn read_prefix(seg: &SegmentView) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(&seg.path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::with_capacity(seg.summary.len as usize);
    file.take(seg.summary.len).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventLog;

    /// A log whose segments hold one event each, timestamps out of storing order.
    fn scattered() -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path(), 1).unwrap();
        for ts in [50, 10, 40, 20, 30] {
            log.append(1, 0, &[(ts, "x")]).unwrap();
        }
        log.append(2, 0, &[(25, "other stream")]).unwrap();
        (dir, log)
    }

    fn query(direction: Direction, boundary: u128, limit: usize, streams: &StreamSet) -> Query<'_> {
        Query {
            direction,
            boundary,
            from_ts: 0,
            until_ts: i64::MAX,
            streams,
            pattern: None,
            limit,
            page_bytes: PAGE_BYTES,
        }
    }

    fn times(page: &Page) -> Vec<i64> {
        page.events.iter().map(|e| e.timestamp).collect()
    }

    #[test]
    fn pages_are_the_nearest_events_in_key_order() {
        let (_dir, log) = scattered();
        let one = StreamSet::One(1);
        let page = run(&log.views(), &query(Direction::Forward, 0, 2, &one)).unwrap();
        assert_eq!(times(&page), [10, 20]);
        assert!(page.more);
        let next = page.events.last().unwrap().key + 1;
        let page = run(&log.views(), &query(Direction::Forward, next, 10, &one)).unwrap();
        assert_eq!(times(&page), [30, 40, 50]);
        assert!(!page.more);

        let page = run(
            &log.views(),
            &query(Direction::Backward, u128::MAX, 2, &one),
        )
        .unwrap();
        assert_eq!(times(&page), [50, 40]);
        assert!(page.more);

        let both = StreamSet::Many([1, 2].into_iter().collect());
        let page = run(&log.views(), &query(Direction::Forward, 0, 3, &both)).unwrap();
        assert_eq!(times(&page), [10, 20, 25]);
    }

    #[test]
    fn pages_stop_at_the_byte_budget_but_hold_one_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path(), 1 << 20).unwrap();
        let big = "m".repeat(100);
        log.append(1, 0, &[(1, &big), (2, &big), (3, &big)])
            .unwrap();
        let one = StreamSet::One(1);
        let mut q = query(Direction::Forward, 0, 10, &one);
        q.page_bytes = 2 * (100 + EVENT_OVERHEAD);
        let page = run(&log.views(), &q).unwrap();
        assert_eq!(times(&page), [1, 2]);
        assert!(page.more);
        q.page_bytes = 10;
        let page = run(&log.views(), &q).unwrap();
        assert_eq!(times(&page), [1]);
        assert!(page.more);
    }

    #[test]
    fn windows_and_patterns_narrow_the_reading() {
        let (_dir, log) = scattered();
        let one = StreamSet::One(1);
        let mut q = query(Direction::Forward, 0, 10, &one);
        q.from_ts = 20;
        q.until_ts = 40;
        assert_eq!(times(&run(&log.views(), &q).unwrap()), [20, 30]);
        let none = Pattern::parse("nothing-like-this").unwrap();
        q.pattern = Some(&none);
        assert!(run(&log.views(), &q).unwrap().events.is_empty());
    }
}
