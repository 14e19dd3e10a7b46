//! The alarms and their history on disk, in the directory CloudWatch is opened in:
//!
//! - `alarms.json`: every alarm as of the last compaction, replaced atomically (written to
//!   `alarms.json.tmp`, synced, renamed over the old file, the directory synced): a crash
//!   leaves the old file or the new one, never a mix.
//! - `alarms.journal`: the alarm changes since then, one JSON line each (`{"put": alarm}` or
//!   `{"delete": [region, name]}`), appended and synced by the call that made them. Opening
//!   replays it over `alarms.json` and compacts (a new `alarms.json`, then an empty journal);
//!   so does a journal grown past twice the alarms. Each line holds a whole alarm, so
//!   replaying a line twice (a crash between the two steps of a compaction) changes nothing,
//!   and a line torn by a crash does not decode and is dropped. A change thus costs one small
//!   append, whatever the number of alarms.
//! - `alarm-history.jsonl`: history items, one JSON object a line, appended and synced. Items
//!   older than two weeks are dropped at open and, as they pile up, by rewriting the file the
//!   same atomic way.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::alarm::{Alarm, AlarmKey};
use crate::history::{HistoryItem, KEPT_MS};
use crate::OpenError;

/// The alarm file's contents.
#[derive(Serialize, Deserialize)]
struct AlarmFile<A> {
    version: u32,
    alarms: Vec<A>,
}

/// One line of the alarm journal.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Change {
    Put(Box<Alarm>),
    Delete(AlarmKey),
}

/// The alarm journal: its file, open for appending once used, and how many lines it holds.
#[derive(Debug, Default)]
struct Journal {
    file: Option<File>,
    lines: usize,
}

/// The history file, open for appending once used, and how many items have expired from
/// memory since it was last rewritten.
#[derive(Debug, Default)]
struct Log {
    file: Option<File>,
    expired: usize,
}

/// The files of one CloudWatch.
#[derive(Debug)]
pub(crate) struct Files {
    dir: PathBuf,
    alarms: PathBuf,
    journal_path: PathBuf,
    history: PathBuf,
    journal: Mutex<Journal>,
    log: Mutex<Log>,
}

fn invalid(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// JSON lines of `items`.
fn lines<T: Serialize>(items: impl IntoIterator<Item = T>) -> io::Result<String> {
    let mut text = String::new();
    for item in items {
        text.push_str(&serde_json::to_string(&item).map_err(invalid)?);
        text.push('\n');
    }
    Ok(text)
}

/// Appends `text` to the file in `slot` (opening `path` first if need be) and syncs it.
fn append(slot: &mut Option<File>, path: &Path, text: &str) -> io::Result<()> {
    if slot.is_none() {
        *slot = Some(OpenOptions::new().create(true).append(true).open(path)?);
    }
    let file = slot.as_mut().expect("opened above");
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

impl Files {
    /// The files in `dir`.
    pub(crate) fn new(dir: &Path) -> Files {
        Files {
            dir: dir.to_path_buf(),
            alarms: dir.join("alarms.json"),
            journal_path: dir.join("alarms.journal"),
            history: dir.join("alarm-history.jsonl"),
            journal: Mutex::new(Journal::default()),
            log: Mutex::new(Log::default()),
        }
    }

    /// Reads the alarms and the history kept at `now_ms` (creating the directory), and
    /// compacts both files.
    pub(crate) fn load(&self, now_ms: i64) -> Result<(Vec<Alarm>, Vec<HistoryItem>), OpenError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let snapshot = match fs::read(&self.alarms) {
            Ok(bytes) => {
                serde_json::from_slice::<AlarmFile<Alarm>>(&bytes)
                    .map_err(|e| OpenError::Corrupt {
                        path: self.alarms.clone(),
                        reason: e.to_string(),
                    })?
                    .alarms
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&self.alarms)(e)),
        };
        let mut alarms: BTreeMap<AlarmKey, Alarm> = snapshot
            .into_iter()
            .map(|a| ((a.region.clone(), a.name.clone()), a))
            .collect();
        let mut replayed = false;
        match File::open(&self.journal_path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(io_err(&self.journal_path))?;
                    replayed = true;
                    // A torn line (a crash mid-append) does not decode: dropped.
                    match serde_json::from_str::<Change>(&line) {
                        Ok(Change::Put(a)) => {
                            alarms.insert((a.region.clone(), a.name.clone()), *a);
                        }
                        Ok(Change::Delete(key)) => {
                            alarms.remove(&key);
                        }
                        Err(_) => {}
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&self.journal_path)(e)),
        }
        if replayed {
            let all: Vec<&Alarm> = alarms.values().collect();
            self.compact(&all).map_err(io_err(&self.alarms))?;
        }

        let mut history = Vec::new();
        let mut dropped = false;
        match File::open(&self.history) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(io_err(&self.history))?;
                    match serde_json::from_str::<HistoryItem>(&line) {
                        Ok(item) if item.timestamp_ms >= now_ms - KEPT_MS => history.push(item),
                        _ => dropped = true,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&self.history)(e)),
        }
        history.sort_by_key(|i: &HistoryItem| i.timestamp_ms);
        if dropped {
            self.rewrite_history(&history)
                .map_err(io_err(&self.history))?;
        }
        Ok((alarms.into_values().collect(), history))
    }

    /// Records changed alarms: each key with what the alarm is now (`None`: deleted).
    /// Compacts once the journal holds more than twice the alarms (`all`, asked only then).
    pub(crate) fn save_alarms<'a>(
        &self,
        changed: &[(AlarmKey, Option<&Alarm>)],
        all: impl FnOnce() -> Vec<&'a Alarm>,
    ) -> io::Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let text = lines(changed.iter().map(|(key, alarm)| match alarm {
            Some(a) => Change::Put(Box::new((*a).clone())),
            None => Change::Delete(key.clone()),
        }))?;
        let journal_lines = {
            let mut journal = self.journal.lock().expect("journal lock");
            append(&mut journal.file, &self.journal_path, &text)?;
            journal.lines += changed.len();
            journal.lines
        };
        let all = all();
        if journal_lines > (2 * all.len()).max(1000) {
            self.compact(&all)?;
        }
        Ok(())
    }

    /// Writes every alarm to `alarms.json`, then empties the journal.
    fn compact(&self, all: &[&Alarm]) -> io::Result<()> {
        let bytes = serde_json::to_vec(&AlarmFile {
            version: 1,
            alarms: all.to_vec(),
        })
        .map_err(invalid)?;
        let mut journal = self.journal.lock().expect("journal lock");
        replace(&self.dir, &self.alarms, &bytes)?;
        File::create(&self.journal_path)?.sync_all()?;
        File::open(&self.dir)?.sync_all()?;
        *journal = Journal::default();
        Ok(())
    }

    /// Appends `items` to the history file.
    pub(crate) fn append_history(&self, items: &[HistoryItem]) -> io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let text = lines(items)?;
        let mut log = self.log.lock().expect("history file lock");
        append(&mut log.file, &self.history, &text)
    }

    /// Notes that `expired` items left memory; rewrites the file with `kept` once more have
    /// expired than are kept (so the file stays within twice the history).
    pub(crate) fn expired(&self, expired: usize, kept: &[HistoryItem]) -> io::Result<()> {
        let due = {
            let mut log = self.log.lock().expect("history file lock");
            log.expired += expired;
            log.expired > kept.len().max(1000)
        };
        if due {
            self.rewrite_history(kept)?;
        }
        Ok(())
    }

    fn rewrite_history(&self, kept: &[HistoryItem]) -> io::Result<()> {
        let text = lines(kept)?;
        let mut log = self.log.lock().expect("history file lock");
        replace(&self.dir, &self.history, text.as_bytes())?;
        // The appending handle points at the replaced file: reopened on next use.
        *log = Log::default();
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file, synced, renamed over `path`, the
/// directory synced.
fn replace(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ms: i64) -> HistoryItem {
        HistoryItem {
            region: "us-east-1".into(),
            alarm_name: "a".into(),
            timestamp_ms: ms,
            item_type: "StateUpdate".into(),
            summary: "s".into(),
            data: "{}".into(),
        }
    }

    fn key(a: &Alarm) -> AlarmKey {
        (a.region.clone(), a.name.clone())
    }

    #[test]
    fn torn_and_old_history_lines_are_dropped_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path());
        files.load(0).unwrap();
        files
            .append_history(&[item(1_000), item(KEPT_MS + 5_000)])
            .unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("alarm-history.jsonl"))
            .unwrap();
        f.write_all(b"{\"region\":\"us-ea").unwrap();
        drop(f);
        let files = Files::new(dir.path());
        let (_, history) = files.load(KEPT_MS + 10_000).unwrap();
        assert_eq!(history, vec![item(KEPT_MS + 5_000)]);
        // The file was compacted: it reads back the same.
        let (_, again) = Files::new(dir.path()).load(KEPT_MS + 10_000).unwrap();
        assert_eq!(again, history);
    }

    #[test]
    fn the_journal_replays_over_the_snapshot_and_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path());
        assert!(files.load(0).unwrap().0.is_empty());
        let mut a = crate::alarm::tests::sample("a");
        let b = crate::alarm::tests::sample("b");
        files
            .save_alarms(&[(key(&a), Some(&a)), (key(&b), Some(&b))], Vec::new)
            .unwrap();
        a.threshold = 99.0;
        files.save_alarms(&[(key(&a), Some(&a))], Vec::new).unwrap();
        files.save_alarms(&[(key(&b), None)], Vec::new).unwrap();
        // A torn last line is dropped.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("alarms.journal"))
            .unwrap();
        f.write_all(b"{\"put\":{\"regi").unwrap();
        drop(f);
        let (alarms, _) = Files::new(dir.path()).load(0).unwrap();
        assert_eq!(alarms, vec![a.clone()]);
        assert_eq!(fs::read(dir.path().join("alarms.journal")).unwrap(), b"");
        let (again, _) = Files::new(dir.path()).load(0).unwrap();
        assert_eq!(again, vec![a]);
    }

    #[test]
    fn a_long_journal_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path());
        files.load(0).unwrap();
        let a = crate::alarm::tests::sample("a");
        for _ in 0..1001 {
            files
                .save_alarms(&[(key(&a), Some(&a))], || vec![&a])
                .unwrap();
        }
        let journal = fs::read_to_string(dir.path().join("alarms.journal")).unwrap();
        assert!(journal.is_empty());
        let (alarms, _) = Files::new(dir.path()).load(0).unwrap();
        assert_eq!(alarms, vec![a]);
    }

    #[test]
    fn a_corrupt_alarm_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("alarms.json"), b"{nope").unwrap();
        assert!(matches!(
            Files::new(dir.path()).load(0),
            Err(OpenError::Corrupt { .. })
        ));
    }
}
