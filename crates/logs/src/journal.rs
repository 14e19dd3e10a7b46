//! The catalog's journal, `catalog.log`: every change to log groups and streams (not events) as
//! one frame of JSON, appended and synced before the change is answered. Opening replays it; a
//! torn tail (a crash mid-append) is cut off, so the catalog is the one of the last whole
//! record. When dead records (of deleted groups and streams, superseded settings) outnumber the
//! live state, opening rewrites the journal as the live state alone.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::frame::{encode_frame, Frames};
use crate::input::Tags;

/// One change to the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    /// A log group, with its settings at the time.
    GroupCreated {
        id: u64,
        region: String,
        name: String,
        created: i64,
        retention_days: Option<u32>,
        kms_key_id: Option<String>,
        tags: Tags,
        class: String,
        deletion_protection: bool,
    },
    /// `PutRetentionPolicy` (`Some`) or `DeleteRetentionPolicy` (`None`).
    Retention { id: u64, days: Option<u32> },
    /// The group's tags after a tagging call.
    Tags { id: u64, tags: Tags },
    /// `DeleteLogGroup`.
    GroupDeleted { id: u64 },
    /// A log stream of group `group`.
    StreamCreated {
        group: u64,
        id: u32,
        name: String,
        created: i64,
    },
    /// `DeleteLogStream`.
    StreamDeleted { group: u64, id: u32 },
}

/// The journal file, open for appends.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (or creates) the journal at `path`: the journal and the records it holds.
    pub(crate) fn open(path: &Path) -> io::Result<(Journal, Vec<Record>)> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut records = Vec::new();
        let mut frames = Frames::new(&bytes);
        for (at, payload) in frames.by_ref() {
            match serde_json::from_slice(payload) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::warn!(at, error = %e, "skipping a catalog record not understood")
                }
            }
        }
        let good = frames.good_len() as u64;
        if let Some(why) = frames.stopped() {
            tracing::warn!(
                path = %path.display(), kept = good, dropped = bytes.len() as u64 - good, ?why,
                "cutting the catalog journal's torn or damaged tail"
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if file.metadata()?.len() != good {
            file.set_len(good)?;
        }
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            records,
        ))
    }

    /// Appends `record`, synced.
    pub(crate) fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut buf = Vec::new();
        encode_frame(&mut buf, &serde_json::to_vec(record)?);
        let before = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if written.is_err() {
            let _ = self.file.set_len(before);
        }
        written
    }

    /// Replaces the journal with `records` (written aside, synced, renamed over it).
    pub(crate) fn rewrite(&mut self, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            encode_frame(&mut buf, &serde_json::to_vec(r)?);
        }
        let aside = self.path.with_extension("log.tmp");
        let mut file = File::create(&aside)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        fs::rename(&aside, &self.path)?;
        if let Some(dir) = self.path.parent() {
            // The rename is durable once the directory is synced (best effort where directories
            // cannot be opened).
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

/// The live catalog a journal's records describe, as the records that would recreate it:
/// each group with its current settings, then its streams.
pub(crate) fn live_records(records: &[Record]) -> Vec<Record> {
    let mut groups: BTreeMap<u64, Record> = BTreeMap::new();
    let mut streams: BTreeMap<(u64, u32), Record> = BTreeMap::new();
    for r in records {
        match r {
            Record::GroupCreated { id, .. } => {
                groups.insert(*id, r.clone());
            }
            Record::Retention { id, days } => {
                if let Some(Record::GroupCreated { retention_days, .. }) = groups.get_mut(id) {
                    *retention_days = *days;
                }
            }
            Record::Tags { id, tags } => {
                if let Some(Record::GroupCreated { tags: t, .. }) = groups.get_mut(id) {
                    *t = tags.clone();
                }
            }
            Record::GroupDeleted { id } => {
                groups.remove(id);
                streams.retain(|(g, _), _| g != id);
            }
            Record::StreamCreated { group, id, .. } => {
                if groups.contains_key(group) {
                    streams.insert((*group, *id), r.clone());
                }
            }
            Record::StreamDeleted { group, id } => {
                streams.remove(&(*group, *id));
            }
        }
    }
    groups.into_values().chain(streams.into_values()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: u64, name: &str) -> Record {
        Record::GroupCreated {
            id,
            region: "us-east-1".into(),
            name: name.into(),
            created: 1,
            retention_days: None,
            kms_key_id: None,
            tags: Tags::new(),
            class: "STANDARD".into(),
            deletion_protection: false,
        }
    }

    #[test]
    fn records_replay_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.log");
        let (mut j, records) = Journal::open(&path).unwrap();
        assert!(records.is_empty());
        j.append(&group(1, "a")).unwrap();
        j.append(&Record::Retention {
            id: 1,
            days: Some(7),
        })
        .unwrap();
        drop(j);
        let whole = fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);

        let (mut j, records) = Journal::open(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(fs::metadata(&path).unwrap().len(), whole);
        j.append(&Record::GroupDeleted { id: 1 }).unwrap();
        let (_, records) = Journal::open(&path).unwrap();
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn live_records_fold_settings_and_drop_the_dead() {
        let records = vec![
            group(1, "a"),
            group(2, "b"),
            Record::Retention {
                id: 1,
                days: Some(3),
            },
            Record::StreamCreated {
                group: 1,
                id: 0,
                name: "s".into(),
                created: 2,
            },
            Record::StreamCreated {
                group: 2,
                id: 0,
                name: "t".into(),
                created: 2,
            },
            Record::StreamCreated {
                group: 1,
                id: 1,
                name: "u".into(),
                created: 2,
            },
            Record::StreamDeleted { group: 1, id: 1 },
            Record::GroupDeleted { id: 2 },
        ];
        let live = live_records(&records);
        assert_eq!(live.len(), 2);
        assert!(matches!(
            &live[0],
            Record::GroupCreated {
                id: 1,
                retention_days: Some(3),
                ..
            }
        ));
        assert!(matches!(
            &live[1],
            Record::StreamCreated {
                group: 1,
                id: 0,
                ..
            }
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.log");
        let (mut j, _) = Journal::open(&path).unwrap();
        for r in &records {
            j.append(r).unwrap();
        }
        j.rewrite(&live).unwrap();
        j.append(&Record::GroupDeleted { id: 1 }).unwrap();
        let (_, again) = Journal::open(&path).unwrap();
        assert_eq!(again.len(), 3);
    }
}
