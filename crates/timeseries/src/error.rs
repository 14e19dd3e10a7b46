//! The store's errors.

use std::path::PathBuf;

use crate::key::SeriesId;

/// Why an operation of the store failed.
#[derive(Debug, thiserror::Error)]
pub enum TimeseriesError {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `renaming`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Compressing a chunk failed (a bug, or a value the codec cannot take).
    #[error("encoding a chunk: {0}")]
    Encode(String),
    /// A file's contents do not pass their checksum or cannot be decoded.
    #[error("{path}: corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The datapoint is older than the standard tier keeps.
    #[error("datapoint at {at_ms} ms is older than the oldest kept ({oldest_ms} ms)")]
    TooOld {
        /// The datapoint's time.
        at_ms: i64,
        /// The oldest time accepted now.
        oldest_ms: i64,
    },
    /// The datapoint is more than two hours in the future.
    #[error("datapoint at {at_ms} ms is too far in the future (newest accepted {newest_ms} ms)")]
    TooNew {
        /// The datapoint's time.
        at_ms: i64,
        /// The newest time accepted now.
        newest_ms: i64,
    },
    /// The value is not a finite number, or the statistic set is inconsistent.
    #[error("invalid datapoint: {0}")]
    InvalidValue(String),
    /// Another store (in this process or another) has the directory open.
    #[error("{0}: another time-series store has it open")]
    Locked(PathBuf),
    /// The id was not handed out by this store.
    #[error("unknown series id {0:?}")]
    UnknownSeries(SeriesId),
}

impl TimeseriesError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        TimeseriesError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
