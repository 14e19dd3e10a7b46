//! End-to-end tests of Ferrocache: each starts the real `ferrocache` binary through
//! `ferrocache-testkit` and drives it with the clients users run.
//!
//! # Layout
//! - `e2e/sdk_roundtrip.rs`: the Rust `aws-sdk-elasticache` crate (strict, element-name
//!   parsing) creating, describing and deleting a group; typed errors.
//! - `e2e/lifecycle.rs`: what `ferrocache up` prints, clean SIGTERM, instances side by side.
//! - `py/`: pytest suite with the `aws` CLI, boto3 and redis-cli/redis-py: the failover-lab flow,
//!   validation, every implemented operation, restart and crash recovery.
//! - `js/`: the JS SDK v3 (`@aws-sdk/client-elasticache`) round trips under `node --test`.
//!
//! The binary is not built by these tests: `scripts/test.sh` builds the workspace first, or run
//! `cargo build -p ferrocache` before `cargo test -p ferrocache-tests`.
//!
//! # Dependency rules
//! Sees the product only from outside: no dependency on any Ferrocache crate but the testkit.
