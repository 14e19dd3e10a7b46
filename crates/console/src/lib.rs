//! The Ferrocache web console: the browser UI that lets a person follow the ElastiCache
//! failover lab's "Step-by-Step Console Instructions" against `ferrocache up`, without a shell.
//!
//! The UI is a single-page application (Preact, the AWS SDK v3 browser clients, uPlot) built
//! by `web/build.sh` with esbuild into `dist/`. The built files are committed and embedded in
//! the binary here, so `cargo build` never needs npm and nothing is loaded from the internet at
//! run time. The UI has no private interface: it signs every call with SigV4 and sends it to
//! the same API (`POST /` on the same origin) as the aws CLI or boto3 would.
//!
//! This crate only knows which bytes answer which path and with which headers
//! ([`asset::find`], [`headers`]); `ferrocache-api` serves them under `/console/`.
//!
//! # Layout
//! - [`asset`]: the embedded files of `dist/` ([`asset::Asset`]), found by their path under
//!   `/console/`, each with its content type and entity tag.
//! - [`headers`]: the response headers every console answer carries (content security policy,
//!   caching, framing, sniffing).
//!
//! # Dependency rules
//! No Ferrocache crate and no HTTP stack: `ferrocache-api` depends on this crate, never the
//! reverse.

pub mod asset;
pub mod headers;

/// The path the console is served under (with a trailing slash: its pages' relative links
/// resolve under it).
pub const BASE_PATH: &str = "/console/";
