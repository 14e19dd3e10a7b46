//! The cgroup v2 root the programs attach to: every `connect()` on the host passes through it.
//!
//! Where the unified hierarchy is already mounted (a cgroup v2 host), its mount is opened.
//! Where it is not (a host on cgroup v1, like the machines Ferrocache is built on), it is
//! mounted on a fresh private directory, the directory is opened, and the mount is detached at
//! once: the open descriptor keeps naming the cgroup, and nothing is left mounted behind us,
//! whatever way the process ends.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// An open cgroup v2 directory; BPF programs attached to it see the sockets of every process in
/// it and below.
pub(crate) struct CgroupRoot {
    /// The directory, opened read-only.
    pub(crate) dir: File,
    /// Where it was found, or `None` when we mounted it and let the mount go.
    pub(crate) mounted_at: Option<PathBuf>,
}

/// Opens the cgroup v2 root: an existing mount of the unified hierarchy, or one of our own,
/// mounted in `scratch` (a directory we may create and remove) and detached at once.
///
/// # Errors
/// The operating system's, e.g. `EPERM` without `CAP_SYS_ADMIN`.
pub(crate) fn open_root(scratch: &Path) -> io::Result<CgroupRoot> {
    if let Some(path) = existing_mount()? {
        return Ok(CgroupRoot {
            dir: File::open(&path)?,
            mounted_at: Some(path),
        });
    }
    std::fs::create_dir_all(scratch)?;
    let target = CString::new(scratch.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    let fstype = c"cgroup2";
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; no data.
    let mounted = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if mounted != 0 {
        let error = io::Error::last_os_error();
        let _ = std::fs::remove_dir(scratch);
        return Err(error);
    }
    let dir = File::open(scratch);
    // SAFETY: as above. MNT_DETACH lets the mount go even while `dir` holds it open.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    let _ = std::fs::remove_dir(scratch);
    Ok(CgroupRoot {
        dir: dir?,
        mounted_at: None,
    })
}

/// The mount point of the unified hierarchy whose root is the hierarchy's root, if any.
fn existing_mount() -> io::Result<Option<PathBuf>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo.lines().find_map(|line| {
        // `id parent major:minor root mount-point options… - fstype source super-options`
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        (root == "/").then(|| PathBuf::from(unescape(mount_point)))
    }))
}

/// Undoes mountinfo's octal escapes (`\040` for a space) in a path.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = i + 3 < bytes.len()
            && bytes[i] == b'\\'
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b));
        if octal {
            let digit = |k: usize| u32::from(bytes[i + k] - b'0');
            out.push((digit(1) * 64 + digit(2) * 8 + digit(3)) as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: mount points with spaces come back as the kernel escaped them. Method: one path.
    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape(r"/a\040b/c"), "/a b/c");
        assert_eq!(unescape("/sys/fs/cgroup"), "/sys/fs/cgroup");
        assert_eq!(unescape(r"/x\04"), r"/x\04");
    }
}
