//! Operating-system facts about node processes, by PID: reading a pidfile, telling a live
//! process from a dead one or a zombie, recognising the same process again after its PID may
//! have been reused, sending signals, and reading the tail of a log. Linux `/proc` is used
//! where it gives a sharper answer than `kill(pid, 0)`; without it the answers are the
//! conservative ones documented on each function.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most bytes read from a pidfile; a real one holds a decimal PID and a newline.
pub const PIDFILE_LEN_MAX: u64 = 32;
/// Most bytes read from the end of a log for an error message.
pub const LOG_TAIL_BYTES_MAX: u64 = 8 * 1024;
/// Most lines of a log quoted in an error message.
pub const LOG_TAIL_LINES_MAX: usize = 15;
/// How often waits for a process to exit look again.
pub const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A signal the agent can send to a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM: Redis shuts down cleanly (without saving, as our nodes have no save points).
    Term,
    /// SIGKILL: immediate death, as in a crash or an OOM kill.
    Kill,
    /// SIGSTOP: freeze, to simulate a hung node.
    Stop,
    /// SIGCONT: resume a stopped process.
    Cont,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

/// Reads a PID from `path`. `None` when the file is missing, unreadable or does not hold a
/// PID above 1: `kill(0, ..)`, `kill(-1, ..)` and `kill(1, ..)` mean "my process group",
/// "everyone" and "init", so such a value must never reach a signal call.
pub fn read_pidfile(path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(PIDFILE_LEN_MAX)
        .read_to_string(&mut text)
        .ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    valid_pid(pid).then_some(pid)
}

fn valid_pid(pid: u32) -> bool {
    pid > 1 && i32::try_from(pid).is_ok()
}

/// True when `pid` names a process that has not exited. A zombie (exited, not yet reaped by
/// its parent) counts as exited: it serves nothing, and its PID stays taken only until the
/// parent (tokio, for nodes we spawned) reaps it.
pub fn is_alive(pid: u32) -> bool {
    if !valid_pid(pid) {
        return false;
    }
    // SAFETY: signal 0 only checks that the PID exists and may be signalled; pid > 1 was
    // checked above, so this cannot address a process group.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    let exists = rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !matches!(proc_state(pid), Some('Z') | Some('X'))
}

/// True when `pid` is stopped by a signal (`SIGSTOP`, a debugger): it exists but will answer
/// nothing until continued — unlike a busy process, which is only slow.
pub fn is_stopped(pid: u32) -> bool {
    matches!(proc_state(pid), Some('T') | Some('t'))
}

/// The process state letter from `/proc/<pid>/stat` (`R`, `S`, `Z`, ...), if readable.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may itself contain spaces or parentheses, so fields are
    // counted from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

/// The process start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`), which,
/// together with the PID, names one process for good even after the PID is reused.
fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards, so field 22 is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The parent PID of `pid` (field 4 of `/proc/<pid>/stat`), if readable. The watcher uses it
/// to tell our own children, whose stops the kernel reports to us, from adopted processes.
pub fn proc_parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The working directory of `pid` (Redis `chdir`s into its `dir`), if `/proc` lets us read it.
pub fn proc_cwd(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// One specific process: a PID plus its start time, so that a later check does not mistake a
/// new process that reused the PID for the one we meant. Hashable, so it can key the set of
/// watched processes (see [`crate::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessHandle {
    /// The PID.
    pub pid: u32,
    /// Start time when first seen; `None` without `/proc`, in which case only the PID is
    /// compared.
    start_time: Option<u64>,
}

impl ProcessHandle {
    /// Captures the process `pid` is now, or `None` if it is not alive.
    pub fn capture(pid: u32) -> Option<ProcessHandle> {
        if !is_alive(pid) {
            return None;
        }
        Some(ProcessHandle {
            pid,
            start_time: proc_start_time(pid),
        })
    }

    /// A handle for `pid` without checking that it is alive, for a child just spawned (whose
    /// exit is then learnt from its exit status).
    pub fn from_pid(pid: u32) -> ProcessHandle {
        ProcessHandle {
            pid,
            start_time: proc_start_time(pid),
        }
    }

    /// A handle for `pid` started at `start_time`, to play a process whose PID was reused.
    #[cfg(test)]
    pub(crate) fn with_start_time(pid: u32, start_time: u64) -> ProcessHandle {
        ProcessHandle {
            pid,
            start_time: Some(start_time),
        }
    }

    /// True while this same process has not exited.
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid)
            && match self.start_time {
                Some(started) => proc_start_time(self.pid) == Some(started),
                None => true,
            }
    }

    /// Sends `signal` to this process if it is still the same one.
    ///
    /// # Errors
    ///
    /// The OS error of `kill(2)`; a process that is already gone is not an error.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        if !self.is_alive() {
            return Ok(());
        }
        // SAFETY: `kill` has no memory-safety preconditions; `capture` only accepts PIDs > 1.
        let rc = unsafe { libc::kill(self.pid as libc::pid_t, signal.number()) };
        if rc == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        Err(error)
    }

    /// Waits up to `timeout` for this process to exit; true if it did.
    pub async fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(EXIT_POLL_INTERVAL).await;
        }
    }
}

/// The last lines of a log file, at most [`LOG_TAIL_LINES_MAX`] lines from the last
/// [`LOG_TAIL_BYTES_MAX`] bytes; empty when the file is missing or unreadable.
pub fn log_tail(path: &Path) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOG_TAIL_BYTES_MAX);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file
        .take(LOG_TAIL_BYTES_MAX)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // The first line may be cut in the middle when we did not start at the beginning.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES_MAX);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_values_that_would_address_groups_are_refused() {
        // Goal: no pidfile content can make us signal a process group, everyone, or init.
        // Method: write dangerous and malformed contents and read them back.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis.pid");
        for bad in [
            "0",
            "1",
            "-1",
            "",
            "abc",
            "4294967295",
            "99999999999",
            "12 13",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(read_pidfile(&path), None, "{bad:?}");
        }
        std::fs::write(&path, "4242\n").unwrap();
        assert_eq!(read_pidfile(&path), Some(4242));
        assert_eq!(read_pidfile(&dir.path().join("missing")), None);
    }

    #[test]
    fn own_process_is_alive_and_recognised() {
        // Goal: liveness and identity work on a process we know is running: ourselves.
        // Method: capture our own PID and check it twice.
        let me = std::process::id();
        assert!(is_alive(me));
        let handle = ProcessHandle::capture(me).unwrap();
        assert!(handle.is_alive());
        assert!(proc_cwd(me).is_some());
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() } as u32;
        assert_eq!(proc_parent(me), Some(parent));
    }

    #[test]
    fn zombies_count_as_dead() {
        // Goal: an exited but unreaped child is not "alive".
        // Method: spawn `true`, let it exit without reaping, check, then reap.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc_state(pid) != Some('Z') {
            assert!(Instant::now() < deadline, "child never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!is_alive(pid));
        child.wait().unwrap();
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        // Goal: error messages quote the end of a log, bounded in lines and bytes.
        // Method: write a long log and read its tail.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis.log");
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path);
        assert_eq!(tail.len(), LOG_TAIL_LINES_MAX);
        assert_eq!(tail.last().unwrap(), "line 4999");
        assert!(log_tail(&dir.path().join("missing")).is_empty());
    }
}

/// What [`read_from`] found: the bytes after the offset asked for, and where the next read
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Whole lines read (a line still being written is left for the next read).
    pub bytes: Vec<u8>,
    /// The offset after them.
    pub next: u64,
    /// The file was shorter than the offset asked for (truncated or replaced): the read
    /// started again at 0.
    pub restarted: bool,
}

/// Reads at most `max` bytes of whole lines of the file at `path` from `offset` — a log being
/// followed. A file shorter than `offset` was truncated or replaced, and is read from 0.
///
/// # Errors
/// The file cannot be opened or read.
pub fn read_from(path: &Path, offset: u64, max: usize) -> io::Result<LogChunk> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let (start, restarted) = if len < offset {
        (0, true)
    } else {
        (offset, false)
    };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(max.min((len - start) as usize));
    file.take(max as u64).read_to_end(&mut bytes)?;
    // Only whole lines: the rest is read next time, once its newline is written.
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(whole);
    Ok(LogChunk {
        next: start + whole as u64,
        bytes,
        restarted,
    })
}

#[cfg(test)]
mod read_from_tests {
    use super::*;

    #[test]
    fn a_followed_log_is_read_in_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis.log");
        std::fs::write(&path, "one\ntwo\nthr").unwrap();
        let first = read_from(&path, 0, 1024).unwrap();
        assert_eq!(
            (first.bytes.as_slice(), first.next),
            (&b"one\ntwo\n"[..], 8)
        );
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let second = read_from(&path, first.next, 1024).unwrap();
        assert_eq!(second.bytes, b"three\n");
        // Replaced by a shorter file: read from the start.
        std::fs::write(&path, "new\n").unwrap();
        let third = read_from(&path, second.next, 1024).unwrap();
        assert!(third.restarted);
        assert_eq!(third.bytes, b"new\n");
    }
}
