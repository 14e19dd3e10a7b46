//! Helpers the control plane's real-process tests share.

use std::time::{Duration, Instant};

/// Longest wait for any condition in these tests.
pub const WAIT_MAX: Duration = Duration::from_secs(30);

/// Kills every redis-server whose pidfile is under `nodes_dir`, even when the test panics.
pub struct NodeReaper(pub std::path::PathBuf);

impl Drop for NodeReaper {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if let Ok(pid) = std::fs::read_to_string(entry.path().join("redis.pid")) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    // SAFETY: plain kill(2) on a pid we started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Polls `f` every 20 ms until it holds; fails the test after [`WAIT_MAX`].
pub async fn wait_for(mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < WAIT_MAX,
            "condition not reached in {WAIT_MAX:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs the control plane's tracing to stderr when `FERROCACHE_LOG` is set (e.g.
/// `FERROCACHE_LOG=ferrocache_control=debug`), for reading a failing test.
pub fn init_logs() {
    if let Ok(filter) = std::env::var("FERROCACHE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}
