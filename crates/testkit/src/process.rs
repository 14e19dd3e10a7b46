//! Signals and pid files. The harness only ever signals processes by pid: the `ferrocache` it
//! spawned, and the `redis-server`s named in `<data-dir>/nodes/<cache-cluster-id>/redis.pid`
//! (checked to still be a redis-server before it is signalled, since pids are reused).

use std::path::Path;
use std::time::{Duration, Instant};

/// Poll interval while waiting for a signalled process to go away.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// One node process recorded in the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePid {
    /// The cache cluster id (the directory name under `nodes/`), e.g. `demo-001`.
    pub cache_cluster_id: String,
    /// The pid written in its `redis.pid`.
    pub pid: i32,
}

/// Reads every `<data_dir>/nodes/*/redis.pid`, sorted by cache cluster id. Unreadable or
/// malformed files are skipped: a node that is still starting may not have written one yet.
pub fn node_pids(data_dir: &Path) -> Vec<NodePid> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("nodes")) else {
        return Vec::new();
    };
    let mut pids: Vec<NodePid> = entries
        .flatten()
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("redis.pid")).ok()?;
            let pid = text.trim().parse::<i32>().ok().filter(|pid| *pid > 1)?;
            Some(NodePid {
                cache_cluster_id: entry.file_name().to_string_lossy().into_owned(),
                pid,
            })
        })
        .collect();
    pids.sort_by(|a, b| a.cache_cluster_id.cmp(&b.cache_cluster_id));
    pids
}

/// True when `pid` is a live process (not a zombie).
pub fn is_alive(pid: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; it has no effect.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    if !exists {
        return false;
    }
    // A zombie still answers signal 0; its state letter in /proc/<pid>/stat is `Z`.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}

/// True when `pid` is alive and its command line names a redis-server.
pub fn is_redis_server(pid: i32) -> bool {
    if !is_alive(pid) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("redis"))
        .unwrap_or(false)
}

/// Sends `signal` to `pid`; errors (the process is already gone) are ignored.
pub fn signal(pid: i32, signal: libc::c_int) {
    if pid > 1 {
        // SAFETY: kill has no memory-safety preconditions; the pid is one we started or read
        // from a pid file we own, and was checked to be > 1 (never a process group or init).
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Waits until `pid` is gone or `timeout` passes; returns true when it is gone.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(EXIT_POLL);
    }
    true
}

/// Stops every redis-server recorded under `data_dir` that is still running: SIGTERM, then
/// SIGKILL for those still there after `grace`. Returns the pids that had to be stopped.
pub fn kill_leftover_nodes(data_dir: &Path, grace: Duration) -> Vec<i32> {
    let leftovers: Vec<i32> = node_pids(data_dir)
        .into_iter()
        .map(|node| node.pid)
        .filter(|pid| is_redis_server(*pid))
        .collect();
    for pid in &leftovers {
        signal(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for pid in &leftovers {
        let left = deadline.saturating_duration_since(Instant::now());
        if !wait_gone(*pid, left) {
            signal(*pid, libc::SIGKILL);
            wait_gone(*pid, Duration::from_secs(5));
        }
    }
    leftovers
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: pid files are read, sorted by id, and junk is skipped. Method: a fake data dir.
    #[test]
    fn reads_node_pid_files() {
        let dir = tempfile::tempdir().unwrap();
        for (id, content) in [("g-002", "4242\n"), ("g-001", "77"), ("g-003", "junk")] {
            std::fs::create_dir_all(dir.path().join("nodes").join(id)).unwrap();
            std::fs::write(dir.path().join("nodes").join(id).join("redis.pid"), content).unwrap();
        }
        let pids = node_pids(dir.path());
        let ids: Vec<_> = pids
            .iter()
            .map(|n| (n.cache_cluster_id.as_str(), n.pid))
            .collect();
        assert_eq!(ids, vec![("g-001", 77), ("g-002", 4242)]);
    }

    // Goal: liveness checks see our own process and reject nonsense pids. Method: direct calls.
    #[test]
    fn liveness() {
        assert!(is_alive(std::process::id() as i32));
        assert!(!is_alive(0));
        assert!(!is_alive(-5));
        assert!(!is_redis_server(std::process::id() as i32));
    }
}
