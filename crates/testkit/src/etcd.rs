//! A real single-member etcd for tests of the etcd-backed store: Debian's `etcd` binary on
//! free loopback ports, in its own temporary data directory, stopped (by its pid) when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{net::free_port, wait_until, Error};

/// How long etcd may take to start serving clients.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running etcd member (a cluster of one).
#[derive(Debug)]
pub struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl Etcd {
    /// Whether an `etcd` binary is on `PATH` (Debian's package `etcd-server`).
    pub fn available() -> bool {
        Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a member on two free ports of 127.0.0.1 and waits until it takes clients.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be started, [`Error::Timeout`] when it does not listen.
    pub fn start() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("ferrocache-etcd-")
            .tempdir()
            .map_err(|e| Error::io("creating etcd's data directory", e))?;
        let mut etcd = Self {
            child: None,
            dir,
            client_port: free_port()?,
            peer_port: free_port()?,
        };
        etcd.run()?;
        Ok(etcd)
    }

    fn run(&mut self) -> Result<(), Error> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .map_err(|e| Error::io("opening etcd's log", e))?;
        let err = log
            .try_clone()
            .map_err(|e| Error::io("opening etcd's log", e))?;
        let child = Command::new("etcd")
            .arg("--name=test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--max-txn-ops=10000")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::io("starting etcd (is etcd-server installed?)", e))?;
        self.child = Some(child);
        let address = self.client_address();
        wait_until(START_TIMEOUT, Duration::from_millis(50), || {
            TcpStream::connect(&address).ok()
        })?;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `127.0.0.1:<client port>`.
    pub fn client_address(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `etcd://127.0.0.1:<port><prefix>`, the `--store` value for a store under `prefix`.
    pub fn store_url(&self, prefix: &str) -> String {
        format!("etcd://{}{prefix}", self.client_address())
    }

    /// Kills the member (SIGKILL) and waits for it, keeping its data for [`Etcd::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the member again on the same ports and data.
    ///
    /// # Errors
    /// As [`Etcd::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.run()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
