//! The HTTP edge of Ferrocache: the ElastiCache API (awsQuery, `Version=2015-02-02`), the EC2
//! subset it needs, CloudWatch (`monitoring`, `2010-08-01`, in its JSON, RPC v2 CBOR and
//! query protocols) and CloudWatch Logs (`logs`, JSON 1.1) on one axum router.
//!
//! A request is `POST /` with a form body (or the same parameters in the query string). The
//! edge decodes the form by the AWS model's shape rules, reads the caller's region from the
//! SigV4 credential scope, picks the operation from one table, calls the control plane's
//! [`ferrocache_control::Service`], and writes the AWS model's XML with the exact element names,
//! or the `ErrorResponse` envelope with the exact wire code and HTTP status. CloudWatch's
//! requests (a form signed for `monitoring`, a JSON body with its `X-Amz-Target`, or CBOR on
//! `/service/…/operation/…`) take the same path to one protocol-neutral call of
//! `ferrocache_cloudwatch` and are answered in the caller's protocol ([`cloudwatch`]).
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
//! - [`cloudwatch`]: CloudWatch's three wire protocols over one protocol-neutral value for
//!   `ferrocache_cloudwatch`: `shapes` (the model's operations and shapes, by hand), `json`
//!   (AWS JSON 1.0, `X-Amz-Target`), `cbor` (Smithy RPC v2 CBOR, `/service/…/operation/…`),
//!   `query` (form in, XML out), `error` (one refusal written three ways, with
//!   `x-amzn-query-error`), `tests` (the three protocols through the router).
//! - [`console`]: the web console under `/console/` (files from `ferrocache_console`, with
//!   their headers), the browser's redirect from `GET /`, and the cross-site refusal of API
//!   requests a browser sends from another origin.
//! - [`logs`]: CloudWatch Logs' JSON 1.1 (`X-Amz-Target: Logs_20140328.*`) to and from
//!   `ferrocache_logs`, and its error document.
//! - [`elasticache`]: one module per resource (`replication_group`, `cache_cluster`, `modify`
//!   (the two Modify operations), `event`, `tag`, `engine_version`, `parameter_group`,
//!   `subnet_group`, `snapshot`, `user` (users and user groups), `log_delivery` (the
//!   `LogDeliveryConfigurations` of groups and cache clusters)): decode a request, call the
//!   service, encode the result.
//!
//! # Dependency rules
//! Its Ferrocache dependencies are exactly `ferrocache-model` (request types, faults),
//! `ferrocache-control` (the `Service` facade), `ferrocache-metrics` (the `/metrics` page
//! and the request counts), `ferrocache-cloudwatch` (CloudWatch's `call`, re-exported as
//! [`CloudWatch`] for the binary) and `ferrocache-logs` (CloudWatch Logs' `call`) and `ferrocache-console` (the web UI's embedded
//! files, served by [`console`]), plus axum/tokio for HTTP and minicbor for CBOR: never directly
//! `store`, `engine`, `agent`, `router` or `s3` (tests use `store` to build a `Service`), nor
//! `redis` or `redb` (Redis and storage are reached only through `control`).
//! The api holds no business logic: every rule and every default lives in `model`/`control`
//! (CloudWatch's in `cloudwatch`); the edge decodes shapes, maps errors once, and encodes views.

pub mod cloudwatch;
pub mod console;
pub mod ec2;
pub mod elasticache;
pub mod error;
pub mod logs;
pub mod operation;
pub mod query;
pub mod server;
pub mod signature;
pub mod sigv4;
pub mod xml;

pub use error::ApiError;
pub use ferrocache_cloudwatch::CloudWatch;
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
    /// The CloudWatch service behind the `monitoring` API; `None`: every CloudWatch operation
    /// is answered as unknown, in the caller's protocol.
    pub cloudwatch: Option<std::sync::Arc<CloudWatch>>,
    /// The CloudWatch Logs service behind the `logs` API; `None`: its operations are answered
    /// as unknown.
    pub logs: Option<std::sync::Arc<ferrocache_logs::Logs>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            default_region: DEFAULT_REGION.to_string(),
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
            credentials: None,
            metrics: None,
            cloudwatch: None,
            logs: None,
        }
    }
}
