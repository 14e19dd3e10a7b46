//! Start the real `ferrocache` binary for end-to-end tests, each instance on its own data
//! directory, API port and endpoint addresses, and clean up every process it left behind.
//!
//! End-to-end tests drive Ferrocache the way users do: the `ferrocache up` binary, real
//! `redis-server` nodes, and real clients (the AWS SDKs, the `aws` CLI, redis-cli). This crate is
//! the harness for that. [`Ferrocache::start`] runs `ferrocache up` with
//!
//! - a fresh temporary `--data-dir` (deleted when the instance is dropped),
//! - a free `127.0.0.1` port for `--listen`,
//! - a `/24` of loopback addresses for `--endpoint-cidr` that no other instance of this process,
//!   of a parallel test process or of a leftover run is using,
//!
//! and returns once the binary printed `Ready.`. Dropping the instance stops Ferrocache
//! (SIGTERM, then SIGKILL if it hangs) and kills every `redis-server` whose pid is recorded in
//! `<data-dir>/nodes/*/redis.pid`, so a failing test never leaks node processes. Processes are
//! only ever signalled by the pids this harness started or read from those files.
//!
//! The binary is never built here: it is taken from the environment variable `FERROCACHE_BIN`,
//! else from `<workspace>/target/debug/ferrocache` (or `$CARGO_TARGET_DIR/debug/ferrocache`).
//! Build it first with `cargo build -p ferrocache`; `scripts/test.sh` does.
//!
//! ```no_run
//! use ferrocache_testkit::{wait_until, Ferrocache};
//! use std::time::Duration;
//!
//! let mut fc = Ferrocache::start()?;
//! println!("API at {}, endpoints in {}", fc.endpoint_url(), fc.cidr());
//! fc.restart()?; // SIGTERM, then `ferrocache up` again on the same data dir, port and CIDR
//! let ready = wait_until(Duration::from_secs(5), Duration::from_millis(50), || Some(()));
//! assert!(ready.is_ok());
//! # Ok::<(), ferrocache_testkit::Error>(())
//! ```
//!
//! Set `FERROCACHE_TEST_KEEP=1` to keep the data directory and logs of every instance for a
//! post-mortem (their path is printed when the instance is dropped). When a test panics, the
//! tail of the instance's log is printed to stderr.
//!
//! # Layout
//! - [`instance`]: [`Ferrocache`] and its [`Options`]: start, restart, stop, kill, teardown.
//! - [`etcd`]: [`Etcd`], a real etcd member for the etcd-backed store's tests.
//! - [`net`]: free API ports and per-instance endpoint CIDRs.
//! - [`process`]: signals, liveness checks and the node pid files.
//! - [`wait`]: [`wait_until`] and [`wait_until_async`], bounded polling.
//! - [`error`]: [`Error`], everything that can go wrong while driving the binary.
//!
//! # Dependency rules
//! A dev-only crate: it may depend on anything a test needs, but on no Ferrocache crate: it
//! sees the product only from the outside (the binary, its flags, its output and its files),
//! exactly as a user does.

pub mod error;
pub mod etcd;
pub mod instance;
pub mod net;
pub mod process;
pub mod wait;

pub use error::Error;
pub use etcd::Etcd;
pub use instance::{Ferrocache, Options};
pub use process::NodePid;
pub use wait::{wait_until, wait_until_async};

/// The access key the harness hands to clients; Ferrocache accepts any key.
pub const ACCESS_KEY_ID: &str = "test";

/// The secret key the harness hands to clients; Ferrocache does not verify signatures.
pub const SECRET_ACCESS_KEY: &str = "test";

/// The region every test uses; it appears in ARNs and availability zones.
pub const REGION: &str = "us-east-1";

/// The account id Ferrocache puts in ARNs when none is configured.
pub const ACCOUNT_ID: &str = "123456789012";
