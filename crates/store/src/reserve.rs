//! Headroom for the store on a full disk: a file of real bytes kept beside the store file and
//! given back to the file system when a commit finds no space, so the control plane's own small
//! writes (a failover's new epoch above all) still fit while node data and snapshots have
//! filled the disk. It is written again once the file system has room for it twice over.
//!
//! The bytes are written, not just reserved with a file length: a sparse file frees nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The headroom's size.
pub const RESERVE_BYTES: u64 = 8 << 20;

/// The reserve file of one store.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
    /// The file is (believed) missing: given back, or never written for want of space.
    missing: AtomicBool,
}

impl Reserve {
    /// The reserve of the store file `store`: `<store>.reserve`, written now if there is room.
    pub fn beside(store: &Path) -> Self {
        let mut name = store.as_os_str().to_owned();
        name.push(".reserve");
        let reserve = Self {
            path: PathBuf::from(name),
            missing: AtomicBool::new(true),
        };
        reserve.restore();
        reserve
    }

    /// Gives the headroom back to the file system; whether there was any to give.
    pub fn release(&self) -> bool {
        self.missing.store(true, Ordering::Relaxed);
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                tracing::warn!(path = %self.path.display(), "the disk is full: the store's reserve was given back so its writes fit");
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the reserve is (believed) in place.
    pub fn in_place(&self) -> bool {
        !self.missing.load(Ordering::Relaxed)
    }

    /// Writes the reserve again if it is missing and the file system has room for it twice
    /// over. Cheap when the reserve is in place (one atomic load).
    pub fn restore(&self) {
        if !self.missing.load(Ordering::Relaxed) {
            return;
        }
        let present = std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= RESERVE_BYTES);
        if present {
            self.missing.store(false, Ordering::Relaxed);
            return;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if free_bytes(dir).is_none_or(|free| free < 2 * RESERVE_BYTES) {
            return;
        }
        match write_zeros(&self.path, RESERVE_BYTES) {
            Ok(()) => self.missing.store(false, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e, "store reserve not written");
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Room on one file system, as an unprivileged writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes that may still be written (`statvfs`'s available blocks).
    pub free: u64,
    /// Size of the file system in bytes.
    pub total: u64,
}

/// The room on the file system of `dir`; `None` when it cannot be asked. The one measure of
/// space for the whole data directory: the store's reserve, the checks before snapshots, the
/// low-space event.
pub fn space(dir: &Path) -> Option<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `stat` a valid out-parameter of the right type.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(Space {
        free: stat.f_bavail.saturating_mul(stat.f_frsize),
        total: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}

/// Bytes that may still be written on the file system of `dir` (see [`space`]).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    space(dir).map(|s| s.free)
}

fn write_zeros(path: &Path, len: u64) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the reserve holds real bytes, goes when released and comes back when restored.
    #[test]
    fn release_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("state.redb");
        let reserve = Reserve::beside(&store);
        let path = dir.path().join("state.redb.reserve");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 >= RESERVE_BYTES,
            "the reserve is sparse"
        );
        assert!(reserve.release());
        assert!(!path.exists());
        assert!(!reserve.release());
        reserve.restore();
        assert!(path.exists());
    }
}
