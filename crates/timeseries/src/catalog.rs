//! The series catalog on disk: `series.log`, every series' key and unit (appended when a
//! series is new or its unit changes; the last record of an id wins), and `lastseen`, each
//! series' newest datapoint time as of the last flush (rewritten whole at every flush).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codec::{ColumnsReader, ColumnsWriter, Effort};
use crate::error::TimeseriesError;
use crate::frame;
use crate::key::SeriesKey;

const LOG_NAME: &str = "series.log";
const LAST_SEEN_NAME: &str = "lastseen";

/// One series' entry in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesRecord {
    pub id: u32,
    pub key: SeriesKey,
    pub unit: String,
}

/// The append-only log of series.
#[derive(Debug)]
pub(crate) struct SeriesLog {
    path: PathBuf,
    file: File,
    bytes: u64,
}

impl SeriesLog {
    /// Opens the log in `dir` and reads it. A torn or damaged tail is reported and cut off
    /// (the records before it are kept; new ones are appended after them).
    pub(crate) fn open(dir: &Path) -> Result<(SeriesLog, Vec<SeriesRecord>), TimeseriesError> {
        let path = dir.join(LOG_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TimeseriesError::io("reading", &path, e)),
        };
        let mut records = Vec::new();
        let mut at = 0;
        let mut damage = None;
        while at < bytes.len() {
            match frame::read_frame(&bytes[at..]) {
                Ok((payload, len)) => match serde_json::from_slice::<SeriesRecord>(payload) {
                    Ok(record) => {
                        records.push(record);
                        at += len;
                    }
                    Err(e) => {
                        damage = Some(e.to_string());
                        break;
                    }
                },
                Err(e) => {
                    damage = Some(e.to_string());
                    break;
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TimeseriesError::io("opening", &path, e))?;
        if let Some(reason) = damage {
            tracing::warn!(
                path = %path.display(),
                "series log damaged at byte {at} of {} ({reason}); {} series kept, the rest cut off",
                bytes.len(),
                records.len()
            );
            file.set_len(at as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| TimeseriesError::io("truncating", &path, e))?;
        }
        Ok((
            SeriesLog {
                path,
                file,
                bytes: at as u64,
            },
            records,
        ))
    }

    /// Appends `records` and syncs them.
    pub(crate) fn append(&mut self, records: &[SeriesRecord]) -> Result<(), TimeseriesError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for record in records {
            let json = serde_json::to_vec(record).expect("a record serializes");
            frame::write_frame(&mut buf, &json).expect("writing to memory");
        }
        let io = |e| TimeseriesError::io("appending to", &self.path, e);
        self.file.write_all(&buf).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.bytes += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Writes `lastseen`: `(id, newest time)` of every series that has data.
pub(crate) fn write_last_seen(dir: &Path, seen: &[(u32, i64)]) -> Result<u64, TimeseriesError> {
    let path = dir.join(LAST_SEEN_NAME);
    let tmp = dir.join(format!("{LAST_SEEN_NAME}.tmp"));
    let mut columns = ColumnsWriter::new(Effort::Quick);
    columns.put(&seen.iter().map(|s| s.0).collect::<Vec<_>>())?;
    columns.put(&seen.iter().map(|s| s.1).collect::<Vec<_>>())?;
    let mut payload = (seen.len() as u32).to_le_bytes().to_vec();
    payload.extend_from_slice(&columns.finish());
    let mut buf = Vec::new();
    frame::write_frame(&mut buf, &payload).expect("writing to memory");
    let io = |e| TimeseriesError::io("writing", &tmp, e);
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(&buf).map_err(io)?;
    file.sync_data().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(|e| TimeseriesError::io("renaming", &tmp, e))?;
    Ok(buf.len() as u64)
}

/// Reads `lastseen`; a missing or damaged one (reported) gives nothing.
pub(crate) fn read_last_seen(dir: &Path) -> Vec<(u32, i64)> {
    let path = dir.join(LAST_SEEN_NAME);
    let Ok(bytes) = std::fs::read(&path) else {
        return Vec::new();
    };
    let decoded = frame::read_frame(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|(payload, _)| {
            let n = payload
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or("empty")?;
            let mut columns = ColumnsReader::new(&payload[4..])?;
            let ids: Vec<u32> = columns.take(n)?;
            let times: Vec<i64> = columns.take(n)?;
            Ok(ids.into_iter().zip(times).collect())
        });
    decoded.unwrap_or_else(|reason: String| {
        tracing::warn!(path = %path.display(), "ignoring damaged last-seen times: {reason}");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Dimension;

    fn record(id: u32) -> SeriesRecord {
        SeriesRecord {
            id,
            key: SeriesKey::new("ns", "m", vec![Dimension::new("d", id.to_string())]),
            unit: "Count".into(),
        }
    }

    #[test]
    fn a_damaged_log_keeps_what_precedes_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, records) = SeriesLog::open(dir.path()).unwrap();
        assert!(records.is_empty());
        log.append(&[record(0), record(1)]).unwrap();
        log.append(&[record(2)]).unwrap();
        drop(log);
        let path = dir.path().join(LOG_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (mut log, records) = SeriesLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![record(0), record(1)]);
        log.append(&[record(3)]).unwrap();
        let (_, records) = SeriesLog::open(dir.path()).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], record(3));
    }

    #[test]
    fn last_seen_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        write_last_seen(dir.path(), &[(1, 5), (7, -3)]).unwrap();
        assert_eq!(read_last_seen(dir.path()), vec![(1, 5), (7, -3)]);
        std::fs::write(dir.path().join(LAST_SEEN_NAME), b"junk").unwrap();
        assert!(read_last_seen(dir.path()).is_empty());
    }
}
