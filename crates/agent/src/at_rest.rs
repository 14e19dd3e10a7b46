//! A node's data files under encryption at rest.
//!
//! An encrypted node (its config names an `at_rest_key_id`) keeps no plaintext RDB at rest:
//! - a clean stop saves `dump.rdb`, which is sealed at once into [`SEALED_RDB_FILE_NAME`]
//!   (temp + sync + rename) and the plaintext removed;
//! - a start unseals that file into `dump.rdb` for redis-server to load, and removes the
//!   plaintext as soon as the node is ready (the data then lives in memory);
//! - full syncs are diskless on both ends (see the engine's config), so replication writes no
//!   RDB at all;
//! - a plaintext `dump.rdb` a snapshot's `BGSAVE` wrote is sealed by the snapshot code and
//!   removed as soon as it is copied.
//!
//! [`KEY_ID_FILE_NAME`] records the key id in the node's directory, so a stop, which is not
//! given the node's config, knows the node is encrypted.

use std::path::Path;

use ferrocache_encryption::{decrypt_file, encrypt_file, is_encrypted, KeyRing};
use tracing::info;

use crate::error::AgentError;
use crate::node::io_error;

/// The sealed data file in an encrypted node's directory.
pub const SEALED_RDB_FILE_NAME: &str = "dump.rdb.sealed";
/// The file that names the key an encrypted node's data is sealed with.
pub const KEY_ID_FILE_NAME: &str = "at-rest-key-id";

fn at_rest_error(node_id: &str, source: ferrocache_encryption::EncryptionError) -> AgentError {
    AgentError::AtRest {
        node_id: node_id.to_string(),
        source,
    }
}

fn ring<'a>(
    ring: Option<&'a KeyRing>,
    node_id: &str,
    key_id: &str,
) -> Result<&'a KeyRing, AgentError> {
    ring.ok_or_else(|| {
        at_rest_error(
            node_id,
            ferrocache_encryption::EncryptionError::KeyUnavailable {
                key_id: key_id.to_string(),
            },
        )
    })
}

/// The key id recorded in a node's directory, if the node is encrypted.
pub fn recorded_key_id(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(KEY_ID_FILE_NAME))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Before a start: records (or forgets) the node's key id, and for an encrypted node unseals
/// its sealed data file, if any, into `dump.rdb`.
///
/// # Errors
/// [`AgentError::AtRest`] when the key is missing or the sealed file is damaged (the start
/// fails, as it would on a corrupt RDB); [`AgentError::Io`].
pub fn prepare_start(
    keys: Option<&KeyRing>,
    node_id: &str,
    dir: &Path,
    key_id: Option<&str>,
) -> Result<(), AgentError> {
    let marker = dir.join(KEY_ID_FILE_NAME);
    let Some(key_id) = key_id else {
        return match std::fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(node_id, "remove", &marker, e)),
        };
    };
    let keys = ring(keys, node_id, key_id)?;
    keys.ensure(key_id).map_err(|e| at_rest_error(node_id, e))?;
    std::fs::write(&marker, key_id).map_err(|e| io_error(node_id, "write", &marker, e))?;
    let sealed = dir.join(SEALED_RDB_FILE_NAME);
    if !sealed.exists() {
        return Ok(());
    }
    let rdb = dir.join(ferrocache_engine::config::RDB_FILE_NAME);
    let temp = dir.join(".dump.rdb.unsealing");
    decrypt_file(keys, &sealed, &temp).map_err(|e| at_rest_error(node_id, e))?;
    std::fs::rename(&temp, &rdb).map_err(|e| io_error(node_id, "rename", &temp, e))?;
    info!(node_id, "unsealed the node's data file for its start");
    Ok(())
}

/// After an encrypted node is ready: its plaintext data file is no longer needed.
///
/// # Errors
/// [`AgentError::Io`].
pub fn after_start(node_id: &str, dir: &Path, key_id: Option<&str>) -> Result<(), AgentError> {
    if key_id.is_none() {
        return Ok(());
    }
    remove_plaintext(node_id, dir)
}

/// Removes `dump.rdb` from the node's directory.
///
/// # Errors
/// [`AgentError::Io`].
pub fn remove_plaintext(node_id: &str, dir: &Path) -> Result<(), AgentError> {
    let rdb = dir.join(ferrocache_engine::config::RDB_FILE_NAME);
    match std::fs::remove_file(&rdb) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(node_id, "remove", &rdb, e)),
    }
}

/// After an encrypted node stopped: seals the `dump.rdb` its shutdown saved (replacing the
/// older sealed file) and removes the plaintext. Does nothing for a node that is not
/// encrypted.
///
/// # Errors
/// [`AgentError::AtRest`] when the key is missing (the plaintext is then kept: losing the data
/// would be worse); [`AgentError::Io`].
pub fn seal_after_stop(
    keys: Option<&KeyRing>,
    node_id: &str,
    dir: &Path,
) -> Result<(), AgentError> {
    let Some(key_id) = recorded_key_id(dir) else {
        return Ok(());
    };
    let rdb = dir.join(ferrocache_engine::config::RDB_FILE_NAME);
    if !rdb.exists() {
        return Ok(());
    }
    let keys = ring(keys, node_id, &key_id)?;
    let temp = dir.join(".dump.rdb.sealing");
    encrypt_file(keys, &key_id, &rdb, &temp).map_err(|e| at_rest_error(node_id, e))?;
    let sealed = dir.join(SEALED_RDB_FILE_NAME);
    std::fs::rename(&temp, &sealed).map_err(|e| io_error(node_id, "rename", &temp, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(node_id, "sync", dir, e))?;
    remove_plaintext(node_id, dir)?;
    info!(node_id, "sealed the node's data file");
    Ok(())
}

/// For a restore: when `file` (already checked against its manifest) is sealed, unseals it
/// into `target`; otherwise renames it there. `file` is gone afterwards either way.
///
/// # Errors
/// [`AgentError::AtRest`] when the snapshot's key is not available here or the file is
/// damaged; [`AgentError::Io`].
pub fn place_seed(
    keys: Option<&KeyRing>,
    node_id: &str,
    file: &Path,
    target: &Path,
) -> Result<(), AgentError> {
    let sealed = is_encrypted(file).map_err(|e| io_error(node_id, "read", file, e))?;
    if !sealed {
        return std::fs::rename(file, target).map_err(|e| io_error(node_id, "rename", file, e));
    }
    let key_id = ferrocache_encryption::key_id_of(file).map_err(|e| at_rest_error(node_id, e))?;
    // Unsealed beside the target, then renamed over it: a crash never leaves a partial file
    // under the name redis-server loads.
    let unsealing = target.with_file_name(".dump.rdb.unsealing");
    let result = ring(keys, node_id, &key_id).and_then(|keys| {
        decrypt_file(keys, file, &unsealing).map_err(|e| at_rest_error(node_id, e))
    });
    let _ = std::fs::remove_file(file);
    result?;
    std::fs::rename(&unsealing, target).map_err(|e| io_error(node_id, "rename", &unsealing, e))
}
