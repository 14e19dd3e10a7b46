//! Evidence of a clean stop, kept beside the node's data file rather than in the control
//! plane's store: after `SHUTDOWN SAVE` the node's RDB holds everything it acknowledged, and a
//! restart must load it — even when the store could not record the stop (a full disk). The
//! file `clean-stop` names the data file and its length and modification time as the save left
//! them; it vouches for that file only while both still match, and is removed once the node runs
//! again (a later crash leaves an RDB older than what the node acknowledged).

use std::io::Write;
use std::path::Path;
use std::time::UNIX_EPOCH;

use ferrocache_engine::config::RDB_FILE_NAME;

use crate::at_rest::SEALED_RDB_FILE_NAME;

/// The evidence file in a node's directory.
pub const CLEAN_STOP_FILE_NAME: &str = "clean-stop";

/// The node's data file as it is on disk: the sealed one for a node encrypted at rest.
fn data_file(dir: &Path) -> Option<(&'static str, u64, u128)> {
    [SEALED_RDB_FILE_NAME, RDB_FILE_NAME]
        .into_iter()
        .find_map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
            Some((name, meta.len(), modified.as_nanos()))
        })
}

fn describe((name, len, modified): (&str, u64, u128)) -> String {
    format!("{name} {len} {modified}\n")
}

/// Records that the node in `dir` just stopped with its data saved. Best effort: without the
/// evidence a restart treats the data file as it treats one left by a crash.
pub(crate) fn record(dir: &Path) -> std::io::Result<()> {
    let Some(file) = data_file(dir) else {
        return Ok(());
    };
    let temporary = dir.join(format!("{CLEAN_STOP_FILE_NAME}.tmp"));
    let mut out = std::fs::File::create(&temporary)?;
    out.write_all(describe(file).as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&temporary, dir.join(CLEAN_STOP_FILE_NAME))
}

/// Whether the data file in `dir` is the one a clean stop saved.
pub(crate) fn vouches(dir: &Path) -> bool {
    let Ok(recorded) = std::fs::read_to_string(dir.join(CLEAN_STOP_FILE_NAME)) else {
        return false;
    };
    data_file(dir).is_some_and(|file| describe(file) == recorded)
}

/// Withdraws the evidence: the node runs again.
pub(crate) fn withdraw(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(CLEAN_STOP_FILE_NAME)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the evidence vouches for the saved file only: not once the file changed, nor once
    // withdrawn, nor without a data file. Method: files written by hand in a temporary dir.
    #[test]
    fn vouches_for_the_saved_file_only() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path()).unwrap();
        assert!(!vouches(dir.path()), "no data file, nothing to vouch for");
        std::fs::write(dir.path().join(RDB_FILE_NAME), b"REDIS0010 saved").unwrap();
        record(dir.path()).unwrap();
        assert!(vouches(dir.path()));
        std::fs::write(dir.path().join(RDB_FILE_NAME), b"REDIS0010 a later save").unwrap();
        assert!(
            !vouches(dir.path()),
            "another file than the one saved at the stop"
        );
        record(dir.path()).unwrap();
        withdraw(dir.path()).unwrap();
        assert!(!vouches(dir.path()));
        withdraw(dir.path()).unwrap();
    }
}
