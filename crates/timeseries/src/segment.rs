//! Segment files: the points of many series for one tier and one partition of time, in
//! groups of whole series compressed column by column.
//!
//! ```text
//! "FCTSSEG1"
//! frame: header (JSON: tier, level, partition, sequence number, the files it replaces)
//! frame: 'G' group … (series in ascending id order; a series is never split)
//! frame: 'I' index (per group: first and last id, oldest and newest time, offset, length)
//! index offset (u64 LE), "FCTSEND1"
//! ```
//!
//! A group holds whole series until it reaches [`GROUP_ROWS`] points, so a query reads and
//! decodes at most one group per file, and the columns are long enough for pco to compress
//! well (a file written at flush time holds a few points per series). Its columns: the
//! series ids, each one's point count, the times, then either one value column (when every
//! point is a single sample) or count, sum, min and max.
//!
//! Files are written under a temporary name, synced and renamed, so a crash leaves either
//! the whole file or none. Damage found later (a torn tail, flipped bits) costs only the
//! damaged groups: each frame has its checksum, and when the index is unreadable the groups
//! are found again by walking the frames from the start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codec::{ColumnsReader, ColumnsWriter, Effort};
use crate::error::TimeseriesError;
use crate::frame::{self, FRAME_OVERHEAD};
use crate::head::Point;
use crate::stats::Stats;
use crate::tier::Tier;

const MAGIC: &[u8; 8] = b"FCTSSEG1";
const END_MAGIC: &[u8; 8] = b"FCTSEND1";
const TRAILER: u64 = 16;
const KIND_GROUP: u8 = b'G';
const KIND_INDEX: u8 = b'I';

/// A group is closed once it holds this many points (at a series boundary). Small enough that
/// a merged file's groups hold one series each (a minute series has 1440 points a day): pco
/// then compresses each series on its own, 25–35 % smaller than groups of 8192 points that mix
/// counters, gauges and constants (measured with the load example), and a query decodes less.
pub(crate) const GROUP_ROWS: usize = 1024;

/// The level of a partition's file that merged all its others once the partition closed.
pub(crate) const FINAL_LEVEL: u8 = u8::MAX;

/// What a segment file says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentHeader {
    /// [`Tier::code`].
    pub tier: u8,
    /// 0 for a file written by a flush, one more than its inputs' for a merge,
    /// [`FINAL_LEVEL`] for the merge of a closed partition.
    pub level: u8,
    /// The partition: `[partition_start_ms, partition_start_ms + partition_ms)`.
    pub partition_start_ms: i64,
    pub partition_ms: i64,
    /// Unique in the store, growing; the file's name.
    pub seq: u64,
    /// The files this one merged: if they are still there after a crash, they are deleted
    /// when the store opens, so no point is counted twice.
    pub replaces: Vec<u64>,
}

impl SegmentHeader {
    pub(crate) fn tier(&self) -> Option<Tier> {
        Tier::from_code(self.tier)
    }
}

/// Where one group is and what it holds, as the file's index says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub first_id: u32,
    pub last_id: u32,
    pub min_t: i64,
    pub max_t: i64,
    /// The group's frame: offset in the file and whole length.
    pub offset: u64,
    pub len: u32,
}

/// The part of a file's index kept in memory: 16 bytes a group (a merged file has a group
/// per series, so this is most of the store's memory after the series themselves).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupIndex {
    first_id: Vec<u32>,
    last_id: Vec<u32>,
    /// Where each group's frame starts, and where the last one ends: groups are contiguous.
    offsets: Vec<u64>,
}

impl GroupIndex {
    /// The index of contiguous `entries`.
    fn new(entries: &[GroupEntry]) -> GroupIndex {
        let mut offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
        offsets.extend(entries.last().map(|e| e.offset + u64::from(e.len)));
        GroupIndex {
            first_id: entries.iter().map(|e| e.first_id).collect(),
            last_id: entries.iter().map(|e| e.last_id).collect(),
            offsets,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.first_id.len()
    }

    /// The first and last series id of group `i`.
    #[cfg(test)]
    pub(crate) fn ids(&self, i: usize) -> (u32, u32) {
        (self.first_id[i], self.last_id[i])
    }

    /// Where group `i`'s frame is: offset and length.
    pub(crate) fn span(&self, i: usize) -> (u64, usize) {
        (
            self.offsets[i],
            (self.offsets[i + 1] - self.offsets[i]) as usize,
        )
    }

    /// The group that holds series `id`, if any.
    fn find(&self, id: u32) -> Option<usize> {
        let i = self.last_id.partition_point(|&last| last < id);
        (i < self.len() && self.first_id[i] <= id).then_some(i)
    }

    fn memory_bytes(&self) -> usize {
        self.first_id.capacity() * 4 + self.last_id.capacity() * 4 + self.offsets.capacity() * 8
    }
}

/// A group's points, decoded: series by series in id order, each one's sorted by time.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub ids: Vec<u32>,
    /// Series `i`'s points are `t[starts[i]..starts[i + 1]]` (and the same in `stats`).
    pub starts: Vec<usize>,
    pub t: Vec<i64>,
    pub stats: Vec<Stats>,
}

impl Group {
    /// The points of the `i`th series of the group.
    pub(crate) fn points(&self, i: usize) -> impl Iterator<Item = Point> + '_ {
        (self.starts[i]..self.starts[i + 1]).map(|r| Point {
            t: self.t[r],
            stats: self.stats[r],
        })
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    fn rows(&self) -> usize {
        self.t.len()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.starts.clear();
        self.t.clear();
        self.stats.clear();
    }

    fn entry(&self, offset: u64, len: u32) -> GroupEntry {
        GroupEntry {
            first_id: self.ids[0],
            last_id: *self.ids.last().expect("a group is not empty"),
            min_t: self.t.iter().copied().min().unwrap_or(0),
            max_t: self.t.iter().copied().max().unwrap_or(0),
            offset,
            len,
        }
    }

    fn encode(&self, effort: Effort) -> Result<Vec<u8>, TimeseriesError> {
        let singles = self.stats.iter().all(Stats::is_single);
        let counts: Vec<u32> = self
            .starts
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect();
        let mut columns = ColumnsWriter::new(effort);
        columns.put_ascending(&self.ids)?;
        columns.put(&counts)?;
        columns.put_ascending(&self.t)?;
        let column = |f: fn(&Stats) -> f64| self.stats.iter().map(f).collect::<Vec<f64>>();
        if singles {
            columns.put(&column(|s| s.sum))?;
        } else {
            columns.put(&column(|s| s.count))?;
            columns.put(&column(|s| s.sum))?;
            columns.put(&column(|s| s.min))?;
            columns.put(&column(|s| s.max))?;
        }
        let body = columns.finish();
        let mut payload = Vec::with_capacity(body.len() + 10);
        payload.push(KIND_GROUP);
        payload.push(u8::from(singles));
        payload.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        payload.extend_from_slice(&(self.t.len() as u32).to_le_bytes());
        payload.extend_from_slice(&body);
        Ok(payload)
    }

    fn decode(payload: &[u8]) -> Result<Group, String> {
        if payload.len() < 10 || payload[0] != KIND_GROUP {
            return Err("not a group".into());
        }
        let singles = payload[1] == 1;
        let word =
            |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().expect("4")) as usize;
        let (series, rows) = (word(2), word(6));
        let mut columns = ColumnsReader::new(&payload[10..])?;
        let ids: Vec<u32> = columns.take(series)?;
        let counts: Vec<u32> = columns.take(series)?;
        let t: Vec<i64> = columns.take(rows)?;
        let stats: Vec<Stats> = if singles {
            columns
                .take::<f64>(rows)?
                .into_iter()
                .map(Stats::single)
                .collect()
        } else {
            let count: Vec<f64> = columns.take(rows)?;
            let sum: Vec<f64> = columns.take(rows)?;
            let min: Vec<f64> = columns.take(rows)?;
            let max: Vec<f64> = columns.take(rows)?;
            (0..rows)
                .map(|r| Stats {
                    count: count[r],
                    sum: sum[r],
                    min: min[r],
                    max: max[r],
                })
                .collect()
        };
        let mut starts = Vec::with_capacity(series + 1);
        starts.push(0);
        for c in &counts {
            starts.push(starts.last().expect("starts with 0") + *c as usize);
        }
        if starts.last() != Some(&rows) || series == 0 || ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err("group's series do not add up".into());
        }
        Ok(Group {
            ids,
            starts,
            t,
            stats,
        })
    }
}

/// A segment file that is part of the store.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub index: GroupIndex,
    /// The oldest and newest point's times (a query outside them skips the file).
    pub min_t: i64,
    pub max_t: i64,
    /// The file's size.
    pub bytes: u64,
    file: File,
}

impl Segment {
    /// Opens a segment file. A damaged index or tail is reported and what can be read is
    /// kept; an unreadable header is an error (the caller sets the file aside).
    pub(crate) fn open(path: &Path) -> Result<Segment, TimeseriesError> {
        let corrupt = |reason: String| TimeseriesError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| TimeseriesError::io("opening", path, e))?;
        let bytes = file
            .metadata()
            .map_err(|e| TimeseriesError::io("reading", path, e))?
            .len();
        let mut start = [0u8; 12];
        file.read_exact_at(&mut start, 0)
            .map_err(|_| corrupt("shorter than a header".into()))?;
        if &start[..8] != MAGIC {
            return Err(corrupt("not a segment file".into()));
        }
        let header_len = frame::frame_len(&start[8..]).map_err(|e| corrupt(e.to_string()))?;
        let header_end = (8 + FRAME_OVERHEAD + header_len) as u64;
        let header_frame = read_at(&file, 8, FRAME_OVERHEAD + header_len)
            .map_err(|_| corrupt("header cut short".into()))?;
        let (payload, _) = frame::read_frame(&header_frame).map_err(|e| corrupt(e.to_string()))?;
        let header: SegmentHeader =
            serde_json::from_slice(payload).map_err(|e| corrupt(format!("header: {e}")))?;
        if header.tier().is_none() {
            return Err(corrupt(format!("unknown tier {}", header.tier)));
        }
        let groups = match read_index(&file, bytes, header_end) {
            Ok(groups) => groups,
            Err(reason) => {
                let (groups, stopped) = scan_groups(&file, bytes, header_end);
                tracing::warn!(
                    path = %path.display(),
                    "segment index unreadable ({reason}); {} group(s) found by walking the file, {}",
                    groups.len(),
                    stopped.as_deref().unwrap_or("the rest is intact")
                );
                groups
            }
        };
        Ok(Segment::new(
            path.to_path_buf(),
            header,
            &groups,
            bytes,
            file,
        ))
    }

    fn new(
        path: PathBuf,
        header: SegmentHeader,
        groups: &[GroupEntry],
        bytes: u64,
        file: File,
    ) -> Segment {
        Segment {
            path,
            header,
            index: GroupIndex::new(groups),
            min_t: groups.iter().map(|g| g.min_t).min().unwrap_or(i64::MAX),
            max_t: groups.iter().map(|g| g.max_t).max().unwrap_or(i64::MIN),
            bytes,
            file,
        }
    }

    pub(crate) fn tier(&self) -> Tier {
        self.header.tier().expect("checked when opened")
    }

    pub(crate) fn seq(&self) -> u64 {
        self.header.seq
    }

    /// The largest series id the file holds.
    pub(crate) fn max_id(&self) -> Option<u32> {
        self.index.last_id.last().copied()
    }

    /// Memory the index takes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    /// Decodes the `i`th group; damage is reported and yields an error.
    pub(crate) fn group(&self, i: usize) -> Result<Group, String> {
        let (offset, len) = self.index.span(i);
        let bytes = read_at(&self.file, offset, len).map_err(|e| e.to_string())?;
        let (payload, _) = frame::read_frame(&bytes).map_err(|e| e.to_string())?;
        Group::decode(payload)
    }

    /// Adds the points of series `id` in `[from, to)` to `out`. A damaged group is reported
    /// and skipped: its points are missing from the answer, never wrong.
    pub(crate) fn read_series(&self, id: u32, from: i64, to: i64, out: &mut Vec<Point>) {
        if self.max_t < from || self.min_t >= to {
            return;
        }
        let Some(i) = self.index.find(id) else {
            return;
        };
        match self.group(i) {
            Ok(group) => {
                if let Some(s) = group.find(id) {
                    out.extend(group.points(s).filter(|p| p.t >= from && p.t < to));
                }
            }
            Err(reason) => tracing::warn!(
                path = %self.path.display(),
                offset = self.index.span(i).0,
                "skipping a damaged group: {reason}"
            ),
        }
    }
}

fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

fn read_index(file: &File, bytes: u64, header_end: u64) -> Result<Vec<GroupEntry>, String> {
    if bytes < header_end + TRAILER {
        return Err("no trailer".into());
    }
    let trailer = read_at(file, bytes - TRAILER, TRAILER as usize).map_err(|e| e.to_string())?;
    if &trailer[8..] != END_MAGIC {
        return Err("no trailer".into());
    }
    let offset = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
    if offset < header_end || offset >= bytes - TRAILER {
        return Err("index offset out of the file".into());
    }
    let frame_bytes =
        read_at(file, offset, (bytes - TRAILER - offset) as usize).map_err(|e| e.to_string())?;
    let (payload, _) = frame::read_frame(&frame_bytes).map_err(|e| e.to_string())?;
    let groups = decode_index(payload)?;
    let mut at = header_end;
    for g in &groups {
        if g.offset != at {
            return Err("index does not match the groups".into());
        }
        at += u64::from(g.len);
    }
    if at != offset {
        return Err("index does not match the groups".into());
    }
    Ok(groups)
}

/// Finds the groups by reading frame after frame; stops at the first damaged one (what
/// follows cannot be trusted to start where the damaged length says). Returns why it stopped
/// early, if it did.
fn scan_groups(file: &File, bytes: u64, header_end: u64) -> (Vec<GroupEntry>, Option<String>) {
    let mut groups = Vec::new();
    let mut at = header_end;
    while at + FRAME_OVERHEAD as u64 <= bytes {
        let mut head = [0u8; FRAME_OVERHEAD];
        if file.read_exact_at(&mut head, at).is_err() {
            break;
        }
        let len = match frame::frame_len(&head) {
            Ok(len) if at + (FRAME_OVERHEAD + len) as u64 <= bytes => len,
            _ => {
                return (
                    groups,
                    Some(format!(
                        "a torn or damaged record at byte {at} and after are lost"
                    )),
                )
            }
        };
        let Ok(frame_bytes) = read_at(file, at, FRAME_OVERHEAD + len) else {
            break;
        };
        let payload = match frame::read_frame(&frame_bytes) {
            Ok((payload, _)) => payload,
            Err(e) => {
                return (
                    groups,
                    Some(format!("{e} at byte {at}; it and what follows are lost")),
                )
            }
        };
        match payload.first() {
            Some(&KIND_GROUP) => match Group::decode(payload) {
                Ok(group) => groups.push(group.entry(at, (FRAME_OVERHEAD + len) as u32)),
                Err(e) => {
                    return (
                        groups,
                        Some(format!("undecodable group at byte {at} ({e})")),
                    )
                }
            },
            _ => break,
        }
        at += (FRAME_OVERHEAD + len) as u64;
    }
    (groups, None)
}

fn encode_index(groups: &[GroupEntry]) -> Result<Vec<u8>, TimeseriesError> {
    let mut columns = ColumnsWriter::new(Effort::Quick);
    columns.put(&groups.iter().map(|g| g.first_id).collect::<Vec<_>>())?;
    columns.put(&groups.iter().map(|g| g.last_id).collect::<Vec<_>>())?;
    columns.put(&groups.iter().map(|g| g.min_t).collect::<Vec<_>>())?;
    columns.put(&groups.iter().map(|g| g.max_t).collect::<Vec<_>>())?;
    columns.put(&groups.iter().map(|g| g.offset).collect::<Vec<_>>())?;
    columns.put(&groups.iter().map(|g| g.len).collect::<Vec<_>>())?;
    let mut payload = vec![KIND_INDEX];
    payload.extend_from_slice(&(groups.len() as u32).to_le_bytes());
    payload.extend_from_slice(&columns.finish());
    Ok(payload)
}

fn decode_index(payload: &[u8]) -> Result<Vec<GroupEntry>, String> {
    if payload.len() < 5 || payload[0] != KIND_INDEX {
        return Err("not an index".into());
    }
    let n = u32::from_le_bytes(payload[1..5].try_into().expect("4 bytes")) as usize;
    let mut columns = ColumnsReader::new(&payload[5..])?;
    let first_id: Vec<u32> = columns.take(n)?;
    let last_id: Vec<u32> = columns.take(n)?;
    let min_t: Vec<i64> = columns.take(n)?;
    let max_t: Vec<i64> = columns.take(n)?;
    let offset: Vec<u64> = columns.take(n)?;
    let len: Vec<u32> = columns.take(n)?;
    let groups: Vec<GroupEntry> = (0..n)
        .map(|i| GroupEntry {
            first_id: first_id[i],
            last_id: last_id[i],
            min_t: min_t[i],
            max_t: max_t[i],
            offset: offset[i],
            len: len[i],
        })
        .collect();
    if groups.windows(2).any(|w| w[0].last_id >= w[1].first_id) {
        return Err("index out of order".into());
    }
    Ok(groups)
}

/// Writes a segment file: series pushed in ascending id order, then [`SegmentWriter::finish`].
pub(crate) struct SegmentWriter {
    tmp: PathBuf,
    path: PathBuf,
    header: SegmentHeader,
    out: BufWriter<File>,
    offset: u64,
    groups: Vec<GroupEntry>,
    group: Group,
    effort: Effort,
}

impl SegmentWriter {
    /// Starts the file for `header` in `dir`, compressed with `effort`.
    pub(crate) fn create(
        dir: &Path,
        header: SegmentHeader,
        effort: Effort,
    ) -> Result<SegmentWriter, TimeseriesError> {
        let path = dir.join(file_name(header.seq));
        let tmp = path.with_extension("seg.tmp");
        let file = File::create(&tmp).map_err(|e| TimeseriesError::io("creating", &tmp, e))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let json = serde_json::to_vec(&header).expect("a header serializes");
        let mut offset = MAGIC.len() as u64;
        out.write_all(MAGIC)
            .and_then(|()| frame::write_frame(&mut out, &json))
            .map(|n| offset += n)
            .map_err(|e| TimeseriesError::io("writing", &tmp, e))?;
        Ok(SegmentWriter {
            tmp,
            path,
            header,
            out,
            offset,
            groups: Vec::new(),
            group: Group::default(),
            effort,
        })
    }

    /// Adds a series' points (sorted, one per step). Ids must ascend from call to call.
    pub(crate) fn push(&mut self, id: u32, points: &[Point]) -> Result<(), TimeseriesError> {
        if points.is_empty() {
            return Ok(());
        }
        debug_assert!(self.group.ids.last().is_none_or(|&last| last < id));
        debug_assert!(self.groups.last().is_none_or(|g| g.last_id < id));
        if self.group.starts.is_empty() {
            self.group.starts.push(0);
        }
        self.group.ids.push(id);
        self.group.t.extend(points.iter().map(|p| p.t));
        self.group.stats.extend(points.iter().map(|p| p.stats));
        self.group.starts.push(self.group.t.len());
        if self.group.rows() >= GROUP_ROWS {
            self.write_group()?;
        }
        Ok(())
    }

    fn write_group(&mut self) -> Result<(), TimeseriesError> {
        if self.group.ids.is_empty() {
            return Ok(());
        }
        let payload = self.group.encode(self.effort)?;
        let len = frame::write_frame(&mut self.out, &payload)
            .map_err(|e| TimeseriesError::io("writing", &self.tmp, e))?;
        self.groups.push(self.group.entry(self.offset, len as u32));
        self.offset += len;
        self.group.clear();
        Ok(())
    }

    /// Writes the index, syncs the file and gives it its name. The caller syncs the
    /// directory (once for all the files it writes).
    pub(crate) fn finish(self) -> Result<Segment, TimeseriesError> {
        let tmp = self.tmp.clone();
        let result = self.write_out();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_out(mut self) -> Result<Segment, TimeseriesError> {
        self.write_group()?;
        let index = encode_index(&self.groups)?;
        let index_offset = self.offset;
        let tmp = self.tmp.clone();
        let io = |e| TimeseriesError::io("writing", &tmp, e);
        frame::write_frame(&mut self.out, &index).map_err(io)?;
        self.out
            .write_all(&index_offset.to_le_bytes())
            .map_err(io)?;
        self.out.write_all(END_MAGIC).map_err(io)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| TimeseriesError::io("writing", &tmp, e.into_error()))?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&tmp, &self.path).map_err(|e| TimeseriesError::io("renaming", &tmp, e))?;
        let file =
            File::open(&self.path).map_err(|e| TimeseriesError::io("opening", &self.path, e))?;
        Ok(Segment::new(
            self.path,
            self.header,
            &self.groups,
            bytes,
            file,
        ))
    }

    /// Gives up on the file (after an error), removing what was written.
    pub(crate) fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// A segment's file name: its sequence number, so names never repeat.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:016x}.seg")
}

/// The sequence number in a segment's file name.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok())?
}

/// Reads a whole small file (used by tests to damage files).
#[cfg(test)]
pub(crate) fn read_all(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u64) -> SegmentHeader {
        SegmentHeader {
            tier: Tier::Fine.code(),
            level: 0,
            partition_start_ms: 0,
            partition_ms: 3_600_000,
            seq,
            replaces: vec![],
        }
    }

    fn points(n: i64, value: f64) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                t: i * 1000,
                stats: Stats::single(value + i as f64),
            })
            .collect()
    }

    #[test]
    fn a_segment_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), header(1), Effort::Thorough).unwrap();
        for id in 0..10u32 {
            w.push(id * 2, &points(2000, f64::from(id))).unwrap();
        }
        let written = w.finish().unwrap();
        assert!(written.index.len() > 1);
        let seg = Segment::open(&written.path).unwrap();
        assert_eq!(seg.index, written.index);
        assert_eq!((seg.min_t, seg.max_t), (0, 1_999_000));
        let mut out = Vec::new();
        seg.read_series(6, 1000, 3000, &mut out);
        assert_eq!(out, points(3, 3.0)[1..].to_vec());
        out.clear();
        seg.read_series(7, 0, i64::MAX, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_torn_tail_keeps_the_groups_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), header(2), Effort::Quick).unwrap();
        for id in 0..10u32 {
            w.push(id, &points(5000, 1.0)).unwrap();
        }
        let written = w.finish().unwrap();
        let n = written.index.len();
        let cut = written.index.span(n - 1).0 + 20;
        let bytes = read_all(&written.path);
        std::fs::write(&written.path, &bytes[..cut as usize]).unwrap();
        let seg = Segment::open(&written.path).unwrap();
        assert_eq!(seg.index.len(), n - 1);
        assert_eq!(seg.index.span(n - 2), written.index.span(n - 2));
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_file_name(&file_name(0xabc)), Some(0xabc));
        assert_eq!(parse_file_name("0000000000000abc.seg.tmp"), None);
    }
}
