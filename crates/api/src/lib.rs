//! The HTTP edge of Ferrocache: the ElastiCache API (awsQuery, `Version=2015-02-02`) on one
//! axum router.
//!
//! A request is `POST /` with a form body (or the same parameters in the query string). The
//! edge decodes the form by the AWS model's shape rules, reads the caller's region from the
//! SigV4 credential scope, picks the operation from one table, calls the control plane's
//! [`ferrocache_control::Service`], and writes the AWS model's XML with the exact element names,
//! or the `ErrorResponse` envelope with the exact wire code and HTTP status.
//!
//! ```no_run
//! # async fn run(service: ferrocache_control::Service) -> std::io::Result<()> {
//! let app = ferrocache_api::router(service, ferrocache_api::ApiConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4566").await?;
//! ferrocache_api::serve(listener, app, std::future::pending()).await
//! # }
//! ```
//!
//! # Layout
//! - [`server`]: [`router`], [`serve`] and the one request handler (method, body limit, id).
//! - [`query`]: form decoding into [`query::Params`] and the typed readers of §2.1.
//! - [`sigv4`]: region and access key from the credential scope.
//! - [`signature`]: SigV4 signature checks against `--credentials` (off by default).
//! - [`operation`]: the operation table (`Action` → required members, handler); unknown
//!   actions answered once.
//! - [`xml`]: the XML writer and the success envelope.
//! - [`error`]: [`ApiError`] and the one mapping from domain faults to wire codes.
//! - [`ec2`]: the EC2 subset on the same port: its own operation table, envelope and error
//!   document; `decode` (EC2's flattened lists, filters), `vpc` (VPCs and subnets),
//!   `security_group`.
//! - [`elasticache`]: one module per resource (`replication_group`, `cache_cluster`, `modify`
//!   (the two Modify operations), `event`, `tag`, `engine_version`, `parameter_group`,
//!   `subnet_group`, `snapshot`, `user` (users and user groups)): decode a request, call the
//!   service, encode the result.
//!
//! # Dependency rules
//! Its Ferrocache dependencies are exactly `ferrocache-model` (request types, faults),
//! `ferrocache-control` (the `Service` facade) and `ferrocache-metrics` (the `/metrics` page
//! and the request counts), plus axum/tokio for HTTP: never directly
//! `store`, `engine`, `agent`, `router` or `s3` (tests use `store` to build a `Service`), nor
//! `redis` or `redb` (Redis and storage are reached only through `control`).
//! The api holds no business logic: every rule and every default lives in `model`/`control`;
//! the edge decodes shapes, maps errors once, and encodes views.

pub mod ec2;
pub mod elasticache;
pub mod error;
pub mod operation;
pub mod query;
pub mod server;
pub mod signature;
pub mod sigv4;
pub mod xml;

pub use error::ApiError;
pub use server::{router, serve};

/// Largest request body the edge reads by default: 1 MiB. The largest real ElastiCache request
/// (a `CreateReplicationGroup` with every member, 50 tags and 90 node group configurations)
/// is a few tens of KiB.
pub const BODY_BYTES_MAX_DEFAULT: usize = 1024 * 1024;

/// The region used when a request carries no SigV4 credentials.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Settings of the edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Region of unsigned requests (`aws --no-sign-request`, plain `curl`).
    pub default_region: String,
    /// Largest body read; larger ones get `413 RequestEntityTooLarge` without being buffered.
    pub body_bytes_max: usize,
    /// When set, every request must carry a valid SigV4 signature by one of these keys;
    /// when `None`, any key is accepted.
    pub credentials: Option<std::sync::Arc<signature::Credentials>>,
    /// What `GET /metrics` renders, and where API requests are counted; `None`: no page.
    pub metrics: Option<std::sync::Arc<ferrocache_metrics::Exposition>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            default_region: DEFAULT_REGION.to_string(),
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            credentials: None,
            metrics: None,
        }
    }
}
