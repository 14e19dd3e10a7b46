//! One running `ferrocache up` and its lifecycle: start, wait for `Ready.`, stop, kill, restart
//! on the same data dir, and teardown that leaves no process behind.
//!
//! The binary's stdout is read by a thread that keeps every line (tests may assert on the
//! `export` lines) and signals the `Ready.` line; stderr goes to a log file next to the data
//! directory, whose tail is printed when a test panics.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{self, NodePid};
use crate::{net, Error, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// The line `ferrocache up` prints once its API answers.
const READY_LINE: &str = "Ready.";

/// How many log lines an error or a panicking test shows.
const LOG_TAIL_LINES: usize = 60;

/// Grace period for leftover redis-servers between SIGTERM and SIGKILL at teardown.
const NODE_KILL_GRACE: Duration = Duration::from_secs(5);

/// How often start-up and stop check on the child process.
const CHILD_POLL: Duration = Duration::from_millis(20);

/// How to start an instance. `Options::default()` is what [`Ferrocache::start`] uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// The binary to run; `None` means `FERROCACHE_BIN`, else `<target>/debug/ferrocache`.
    pub binary: Option<PathBuf>,
    /// A data directory to use instead of a fresh temporary one. It is not deleted afterwards;
    /// tests use it to start a second instance on the data of a first.
    pub data_dir: Option<PathBuf>,
    /// Passed as `--redis-server`; `None` lets Ferrocache find `redis-server` on `PATH`.
    pub redis_server: Option<PathBuf>,
    /// More arguments appended after the harness's own `up` flags.
    pub extra_args: Vec<String>,
    /// Environment variables set for the binary (in addition to the test's own).
    pub env: Vec<(String, String)>,
    /// How long to wait for `Ready.`; generous because CI machines have 2 busy cores.
    pub ready_timeout: Duration,
    /// How long [`Ferrocache::stop`] waits after SIGTERM before it sends SIGKILL.
    pub stop_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            binary: None,
            data_dir: None,
            redis_server: None,
            extra_args: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(30),
        }
    }
}

/// A running (or stopped, between restarts) `ferrocache up` on private resources.
///
/// Dropping it stops Ferrocache and kills the node processes recorded in its data directory.
pub struct Ferrocache {
    /// How it was started; reused by [`Ferrocache::restart`].
    options: Options,
    /// The binary that is run.
    binary: PathBuf,
    /// Owns the temporary directory holding the data dir and logs; `None` once kept.
    root: Option<TempDir>,
    /// The root directory path (valid even after `root` was kept).
    root_path: PathBuf,
    /// `--data-dir`.
    data_dir: PathBuf,
    /// `--listen`; the same across restarts so clients keep working.
    listen: SocketAddr,
    /// `--endpoint-cidr`; the same across restarts so endpoints keep their addresses.
    cidr: String,
    /// The running process, `None` after stop or kill.
    child: Option<Child>,
    /// Every stdout line of every run, in order.
    stdout_lines: Arc<Mutex<Vec<String>>>,
    /// Number of times the binary was spawned; names the per-run stderr log.
    runs: u32,
}

impl std::fmt::Debug for Ferrocache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ferrocache")
            .field("pid", &self.pid())
            .field("listen", &self.listen)
            .field("cidr", &self.cidr)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Ferrocache {
    /// Starts `ferrocache up` with default [`Options`] and waits until it is ready.
    ///
    /// # Errors
    /// See [`Ferrocache::start_with`].
    pub fn start() -> Result<Self, Error> {
        Self::start_with(Options::default())
    }

    /// Starts `ferrocache up` on a fresh data dir, a free port and a private endpoint CIDR,
    /// and waits until it prints `Ready.`.
    ///
    /// # Errors
    /// [`Error::BinaryNotFound`] when there is no binary; [`Error::Exited`] when it dies during
    /// start-up; [`Error::NotReady`] when it is not ready within `options.ready_timeout`;
    /// [`Error::Io`] when the temp dir, port or CIDR cannot be had.
    pub fn start_with(options: Options) -> Result<Self, Error> {
        let binary = match &options.binary {
            Some(path) => path.clone(),
            None => default_binary(),
        };
        if !binary.is_file() {
            return Err(Error::BinaryNotFound { path: binary });
        }
        let root = tempfile::Builder::new()
            .prefix("fc")
            .tempdir()
            .map_err(|e| Error::io("creating the instance's temp dir", e))?;
        let root_path = root.path().to_path_buf();
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| root_path.join("data"));
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        let cidr = net::allocate_cidr()?;
        let mut instance = Ferrocache {
            options,
            binary,
            root: Some(root),
            root_path,
            data_dir,
            listen,
            cidr,
            child: None,
            stdout_lines: Arc::new(Mutex::new(Vec::new())),
            runs: 0,
        };
        instance.spawn_and_wait_ready()?;
        Ok(instance)
    }

    /// The API URL, e.g. `http://127.0.0.1:40123`, for `AWS_ENDPOINT_URL` or an SDK's endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// The `--listen` address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The `--endpoint-cidr`, e.g. `127.123.17.0/24`.
    pub fn cidr(&self) -> &str {
        &self.cidr
    }

    /// The pid of the running binary, `None` when stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the binary runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Every line the binary printed on stdout so far, across restarts.
    pub fn stdout_lines(&self) -> Vec<String> {
        lock(&self.stdout_lines).clone()
    }

    /// The environment a CLI or SDK needs to reach this instance: `AWS_ENDPOINT_URL`,
    /// credentials and region.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint_url()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_ACCESS_KEY.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
        ]
    }

    /// The node processes recorded in the data directory.
    pub fn node_pids(&self) -> Vec<NodePid> {
        process::node_pids(&self.data_dir)
    }

    /// The last lines of this instance's stdout and stderr, for diagnostics.
    pub fn log_tail(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        {
            let stdout = lock(&self.stdout_lines);
            let skip = stdout.len().saturating_sub(LOG_TAIL_LINES / 3);
            lines.extend(stdout.iter().skip(skip).map(|l| format!("[stdout] {l}")));
        }
        if let Ok(stderr) = std::fs::read_to_string(self.stderr_log_path(self.runs)) {
            let all: Vec<&str> = stderr.lines().collect();
            let skip = all.len().saturating_sub(LOG_TAIL_LINES);
            lines.extend(all[skip..].iter().map(|l| format!("[stderr] {l}")));
        }
        lines.join("\n")
    }

    /// Stops the binary with SIGTERM and waits for it to exit; the nodes are expected to save
    /// their data and stop with it. Returns its exit status.
    ///
    /// # Errors
    /// [`Error::NotRunning`] when it is not running; [`Error::StopTimeout`] when it did not
    /// exit within `stop_timeout` (it is then killed with SIGKILL).
    pub fn stop(&mut self) -> Result<ExitStatus, Error> {
        let mut child = self.child.take().ok_or(Error::NotRunning)?;
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        process::signal(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + self.options.stop_timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(CHILD_POLL),
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::StopTimeout {
                        timeout: self.options.stop_timeout,
                    });
                }
            }
        }
    }

    /// Kills the binary alone with SIGKILL, as a crash would; its redis-server nodes keep
    /// running and should be adopted by the next start.
    ///
    /// # Errors
    /// [`Error::NotRunning`] when it is not running; [`Error::Io`] when it cannot be reaped.
    pub fn kill9(&mut self) -> Result<(), Error> {
        let mut child = self.child.take().ok_or(Error::NotRunning)?;
        process::signal(child.id() as i32, libc::SIGKILL);
        child
            .wait()
            .map_err(|e| Error::io("reaping ferrocache after SIGKILL", e))?;
        Ok(())
    }

    /// Starts the binary again on the same data dir, port and CIDR, stopping it first (SIGTERM)
    /// if it still runs, and waits until it is ready.
    ///
    /// # Errors
    /// As [`Ferrocache::stop`] and [`Ferrocache::start_with`].
    pub fn restart(&mut self) -> Result<(), Error> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.spawn_and_wait_ready()
    }

    /// Where the stderr of run number `run` is written.
    fn stderr_log_path(&self, run: u32) -> PathBuf {
        self.root_path.join(format!("ferrocache-{run}.stderr.log"))
    }

    /// Spawns `ferrocache up` with this instance's flags and waits for `Ready.`.
    fn spawn_and_wait_ready(&mut self) -> Result<(), Error> {
        self.runs += 1;
        let stderr_path = self.stderr_log_path(self.runs);
        let stderr = File::create(&stderr_path)
            .map_err(|e| Error::io(format!("creating {}", stderr_path.display()), e))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("up")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.listen.to_string())
            .arg("--endpoint-cidr")
            .arg(&self.cidr);
        if let Some(redis_server) = &self.options.redis_server {
            command.arg("--redis-server").arg(redis_server);
        }
        command
            .args(&self.options.extra_args)
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.binary.display()), e))?;
        let stdout = child.stdout.take().ok_or_else(|| {
            Error::io(
                "taking ferrocache's stdout",
                std::io::Error::other("no stdout pipe"),
            )
        })?;
        let ready = spawn_stdout_reader(stdout, Arc::clone(&self.stdout_lines));
        self.child = Some(child);
        self.wait_ready(&ready)
    }

    /// Waits for the `Ready.` signal from the stdout reader, watching for an early exit.
    fn wait_ready(&mut self, ready: &Receiver<()>) -> Result<(), Error> {
        let timeout = self.options.ready_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            match ready.recv_timeout(CHILD_POLL) {
                Ok(()) => return Ok(()),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => return Err(Error::NotRunning),
            };
            if let Some(status) = exited {
                // Give the reader a moment to collect the last lines before reporting.
                std::thread::sleep(Duration::from_millis(50));
                self.child = None;
                return Err(Error::Exited {
                    status,
                    log: self.log_tail(),
                });
            }
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(Error::NotReady {
                    timeout,
                    log: self.log_tail(),
                });
            }
        }
    }
}

impl Drop for Ferrocache {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.stop() {
                eprintln!("ferrocache-testkit: stopping ferrocache at teardown: {e}");
            }
        }
        let killed = process::kill_leftover_nodes(&self.data_dir, NODE_KILL_GRACE);
        if !killed.is_empty() {
            eprintln!("ferrocache-testkit: killed leftover redis-server pids {killed:?}");
        }
        if std::thread::panicking() {
            eprintln!(
                "ferrocache-testkit: instance at {} ({}) — log tail:\n{}",
                self.endpoint_url(),
                self.root_path.display(),
                self.log_tail()
            );
        }
        if std::env::var_os("FERROCACHE_TEST_KEEP").is_some_and(|v| v != "0") {
            if let Some(root) = self.root.take() {
                let kept = root.keep();
                eprintln!("ferrocache-testkit: kept {}", kept.display());
            }
        }
    }
}

/// `FERROCACHE_BIN`, else `<target dir>/debug/ferrocache` of this workspace.
fn default_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FERROCACHE_BIN") {
        return PathBuf::from(bin);
    }
    // This crate lives at <workspace>/crates/testkit.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("debug").join("ferrocache")
}

/// Reads `stdout` line by line into `lines` on a thread; sends once on the returned channel
/// when the `Ready.` line arrives.
fn spawn_stdout_reader(
    stdout: std::process::ChildStdout,
    lines: Arc<Mutex<Vec<String>>>,
) -> Receiver<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let is_ready = line.trim() == READY_LINE;
            lock(&lines).push(line);
            if is_ready {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a missing binary is reported with the path and how to build it, before anything is
    // spawned. Method: point the options at a path that does not exist.
    #[test]
    fn missing_binary_is_reported() {
        let options = Options {
            binary: Some(PathBuf::from("/nonexistent/ferrocache")),
            ..Options::default()
        };
        let err = Ferrocache::start_with(options).unwrap_err();
        assert!(matches!(err, Error::BinaryNotFound { .. }));
        assert!(err.to_string().contains("cargo build -p ferrocache"));
    }

    // Goal: a binary that dies during start-up is reported with its exit and output, not
    // waited on until the timeout. Method: run `false`-like shell as the binary.
    #[test]
    fn early_exit_is_reported() {
        let options = Options {
            binary: Some(PathBuf::from("/bin/sh")),
            extra_args: vec!["-c".into(), "echo boom >&2; exit 3".into()],
            ready_timeout: Duration::from_secs(30),
            ..Options::default()
        };
        // `/bin/sh up --data-dir …` fails at once (no script named `up`).
        let started = Instant::now();
        let err = Ferrocache::start_with(options).unwrap_err();
        assert!(matches!(err, Error::Exited { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
