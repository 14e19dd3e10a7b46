//! The wall clock of the automatic-snapshot scheduler.
//!
//! Production reads the real UTC time. Tests need to move it — into a `SnapshotWindow`, then a
//! day later — without waiting: when `FERROCACHE_TEST_CLOCK_FILE` names a file at start, the
//! clock adds the whole seconds that file holds (re-read on every look, so a test can move the
//! clock while Ferrocache runs). **Test-only**; nothing else reads this clock (timeouts, event
//! times and creation times stay real). A file was chosen over a flag (a flag cannot change
//! while the process runs) and over an admin endpoint (no API surface that production could
//! reach, and no port to guard).

use std::path::PathBuf;

use ferrocache_model::Timestamp;

/// Environment variable naming the offset file (test-only, see the module doc).
pub const TEST_CLOCK_FILE_ENV: &str = "FERROCACHE_TEST_CLOCK_FILE";

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_file: Option<PathBuf>,
}

impl Clock {
    /// The real clock, shifted by the file of `FERROCACHE_TEST_CLOCK_FILE` when it is set.
    pub fn from_env() -> Self {
        let offset_file = std::env::var_os(TEST_CLOCK_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        if let Some(file) = &offset_file {
            tracing::warn!(file = %file.display(), "test clock: automatic snapshots follow the offset in this file");
        }
        Self { offset_file }
    }

    /// A clock that adds the seconds written in `file` (a missing or unreadable file adds none).
    pub fn with_offset_file(file: PathBuf) -> Self {
        Self {
            offset_file: Some(file),
        }
    }

    /// Whether a test shifts this clock (it can then jump at any moment).
    pub fn is_shifted(&self) -> bool {
        self.offset_file.is_some()
    }

    /// Now, in UTC.
    pub fn now(&self) -> Timestamp {
        let offset = self
            .offset_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        chrono::Utc::now() + chrono::Duration::seconds(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the offset file moves the clock, and can be changed while it is used; no file, no
    // shift. Method: write offsets and compare with the real clock.
    #[test]
    fn offset_file_moves_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        let clock = Clock::with_offset_file(file.clone());
        let drift = |c: &Clock| (c.now() - chrono::Utc::now()).num_seconds();
        assert!(drift(&clock).abs() <= 1);
        std::fs::write(&file, "86400\n").unwrap();
        assert!((drift(&clock) - 86400).abs() <= 1);
        std::fs::write(&file, "-60").unwrap();
        assert!((drift(&clock) + 60).abs() <= 1);
    }
}
