//! The HTTP side: the axum [`router`], the handler every request goes through, and [`serve`].
//!
//! One request: give it a request id; tell its dialect (CloudWatch's JSON and CBOR requests by
//! their header and path; the rest after the form and the signature's scope are read: EC2,
//! CloudWatch's query protocol, else ElastiCache); refuse methods other than `POST`/`GET`
//! (`POST` only for JSON and CBOR); read the body up to the configured limit (and no longer
//! than [`BODY_READ_TIMEOUT`]); decode query string and form body; read the caller's region
//! from SigV4; select the operation; run its handler on the blocking pool (at most
//! [`HANDLERS_IN_FLIGHT_MAX`] at once); answer with `x-amzn-RequestId`. Every failure on the
//! way is answered in the dialect's own error document (XML, or CloudWatch's JSON/CBOR) —
//! never HTML, never a 5xx for a client's mistake.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use ferrocache_control::Service;

use crate::cloudwatch;
use crate::error::{xml_response, ApiError};
use crate::operation::{self, Call};
use crate::query::Params;
use crate::{signature, sigv4, ApiConfig};

/// Longest wait for a request body to arrive once headers are in (a slow client must not hold
/// a task forever).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Most handlers running at once on the blocking pool. The store takes one writer at a time,
/// so more would only queue there while holding threads; requests past the limit wait for a
/// slot instead (back-pressure, no error).
pub const HANDLERS_IN_FLIGHT_MAX: usize = 32;

/// Shared by every request.
struct Edge {
    /// The control plane's operations.
    service: Service,
    /// Region default and body limit.
    config: ApiConfig,
    /// Slots for handlers ([`HANDLERS_IN_FLIGHT_MAX`]).
    handlers: Arc<tokio::sync::Semaphore>,
}

/// The axum application: awsQuery and CloudWatch's JSON on `/` (a browser's plain `GET /` is
/// sent to the console), the web console on `/console/`, CloudWatch's RPC v2 CBOR on
/// `/service/…/operation/…`, Prometheus's page on `/metrics` (when the config has one), an
/// XML 404 everywhere else.
pub fn router(service: Service, config: ApiConfig) -> axum::Router {
    let handlers = Arc::new(tokio::sync::Semaphore::new(HANDLERS_IN_FLIGHT_MAX));
    let edge = Arc::new(Edge {
        service,
        config,
        handlers,
    });
    axum::Router::new()
        .route("/", any(root))
        .route("/console", any(crate::console::serve))
        .route("/console/", any(crate::console::serve))
        .route("/console/{*file}", any(crate::console::serve))
        .route("/metrics", axum::routing::get(metrics_page))
        .fallback(fallback)
        .with_state(edge)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /metrics`: every node's latest figures and Ferrocache's own, in OpenMetrics text. Like
/// redis_exporter's, the page is not signed: scrapers do not speak SigV4.
async fn metrics_page(State(edge): State<Arc<Edge>>) -> Response {
    let Some(exposition) = edge.config.metrics.clone() else {
        return unknown_path().await;
    };
    match tokio::task::spawn_blocking(move || exposition.render()).await {
        Ok(page) => Response::builder()
            .status(StatusCode::OK)
            .header(
                header::CONTENT_TYPE,
                ferrocache_metrics::exposition::CONTENT_TYPE,
            )
            .body(Body::from(page))
            .unwrap_or_else(|_| ApiError::internal().to_response(&new_request_id())),
        Err(_) => ApiError::internal().to_response(&new_request_id()),
    }
}

async fn unknown_path() -> Response {
    let request_id = new_request_id();
    ApiError::unknown_path().to_response(&request_id)
}

/// Paths other than `/` and `/metrics`: CloudWatch's RPC v2 CBOR paths
/// (`{prefix?}/service/…/operation/…`) go to [`handle`], the rest are unknown.
async fn fallback(State(edge): State<Arc<Edge>>, request: Request) -> Response {
    if cloudwatch::cbor::route(request.uri().path()).is_some() {
        handle(State(edge), request).await
    } else {
        unknown_path().await
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Which API a request is for, as far as known so far: it decides the document its errors
/// are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// ElastiCache's awsQuery (the default).
    ElastiCache,
    /// The EC2 subset.
    Ec2,
    /// CloudWatch, in one of its protocols.
    CloudWatch(cloudwatch::Protocol),
    /// CloudWatch Logs (JSON 1.1).
    Logs,
}

/// A success, before it is sent.
enum Reply {
    /// An ElastiCache or EC2 XML document.
    Xml(String),
    /// A CloudWatch answer, already in its protocol.
    CloudWatch(cloudwatch::Answer),
    /// A CloudWatch Logs output document.
    Logs(serde_json::Value),
}

/// A refusal, in the error type of the part that refused.
enum Refusal {
    /// The edge or the ElastiCache/EC2 handlers.
    Api(ApiError),
    /// CloudWatch's decoding or service.
    CloudWatch(cloudwatch::Error),
    /// CloudWatch Logs' decoding or service.
    Logs(crate::logs::Error),
}

impl From<crate::logs::Error> for Refusal {
    fn from(error: crate::logs::Error) -> Self {
        Self::Logs(error)
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<cloudwatch::Error> for Refusal {
    fn from(error: cloudwatch::Error) -> Self {
        Self::CloudWatch(error)
    }
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Api(e) => e.code(),
            Refusal::CloudWatch(e) => e.code(),
            Refusal::Logs(e) => e.code(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::Api(e) => e.status(),
            Refusal::CloudWatch(e) => e.status(),
            Refusal::Logs(e) => e.status(),
        }
    }
}

/// `/`: a person's browser opening the address goes to the console; everything else is an API
/// request.
async fn root(State(edge): State<Arc<Edge>>, request: Request) -> Response {
    if crate::console::wants_console(&request) {
        return crate::console::redirect(ferrocache_console::BASE_PATH);
    }
    handle(State(edge), request).await
}

async fn handle(State(edge): State<Arc<Edge>>, request: Request) -> Response {
    let request_id = new_request_id();
    // CloudWatch's JSON and CBOR requests show themselves in their path and headers; the
    // others are ElastiCache's until the form or the signature says otherwise.
    let mut dialect = if crate::logs::operation(request.headers()).is_some() {
        Dialect::Logs
    } else {
        match cloudwatch::Protocol::of_request(request.uri().path(), request.headers()) {
            Some(protocol) => Dialect::CloudWatch(protocol),
            None => Dialect::ElastiCache,
        }
    };
    let mut action = "unknown";
    let answered = answer(&edge, request, &request_id, &mut dialect, &mut action).await;
    if let Some(metrics) = &edge.config.metrics {
        let code = match &answered {
            Ok(_) => "200",
            Err(refusal) => refusal.code(),
        };
        metrics.own().api_request(action, code);
    }
    match answered {
        Ok(Reply::Xml(body)) => {
            tracing::debug!(%request_id, action, "answered");
            xml_response(StatusCode::OK, body, &request_id)
        }
        Ok(Reply::CloudWatch(answer)) => {
            tracing::debug!(%request_id, action, "answered");
            answer.into_response(&request_id)
        }
        Ok(Reply::Logs(output)) => {
            tracing::debug!(%request_id, action, "answered");
            crate::logs::response(&output, &request_id)
        }
        Err(refusal) => {
            if refusal.status().is_server_error() {
                tracing::warn!(%request_id, code = refusal.code(), "answered with a server error");
            } else {
                tracing::debug!(%request_id, code = refusal.code(), "refused");
            }
            match (dialect, refusal) {
                (Dialect::Logs, refusal) => {
                    let error = match refusal {
                        Refusal::Api(e) => crate::logs::Error::from(e),
                        Refusal::Logs(e) => e,
                        Refusal::CloudWatch(_) => crate::logs::Error::internal(),
                    };
                    crate::logs::error_response(&error, &request_id)
                }
                (Dialect::CloudWatch(protocol), refusal) => {
                    let error = match refusal {
                        Refusal::Api(e) => cloudwatch::Error::from(e),
                        Refusal::CloudWatch(e) => e,
                        Refusal::Logs(_) => cloudwatch::Error::internal(),
                    };
                    cloudwatch::error_response(protocol, &error, &request_id)
                }
                (dialect, refusal) => {
                    let error = match refusal {
                        Refusal::Api(e) => e,
                        Refusal::CloudWatch(e) => ApiError::from(e),
                        Refusal::Logs(_) => ApiError::internal(),
                    };
                    if dialect == Dialect::Ec2 {
                        xml_response(
                            error.status(),
                            crate::ec2::error_xml(&error, &request_id),
                            &request_id,
                        )
                    } else {
                        error.to_response(&request_id)
                    }
                }
            }
        }
    }
}

/// Everything between the request and the success body. Sets `dialect` once the request is
/// known to be for EC2 or CloudWatch (their own tables and envelopes), and `action` once the
/// operation is known (for logs and metrics).
async fn answer(
    edge: &Arc<Edge>,
    request: Request,
    request_id: &str,
    dialect: &mut Dialect,
    action: &mut &'static str,
) -> Result<Reply, Refusal> {
    let (parts, body) = request.into_parts();
    if let Some(refusal) = crate::console::cross_site_refusal(&parts.headers) {
        return Err(refusal.into());
    }
    let rpc = matches!(
        dialect,
        Dialect::CloudWatch(cloudwatch::Protocol::Json | cloudwatch::Protocol::Cbor)
            | Dialect::Logs
    );
    // JSON and CBOR are POST only; awsQuery also takes GET with a query string.
    if parts.method != Method::POST && (rpc || parts.method != Method::GET) {
        return Err(ApiError::method_not_allowed(parts.method.as_str()).into());
    }
    let body = read_body(body, &parts.headers, edge.config.body_bytes_max).await?;
    let form = !rpc && is_form(&parts.headers);
    let params =
        Params::parse(parts.uri.query(), if form { &body } else { &[] }).map_err(ApiError::from)?;
    let caller = sigv4::caller(&parts.headers, &params, &edge.config.default_region)
        .map_err(ApiError::from)?;
    if *dialect == Dialect::ElastiCache {
        let service = caller.service.as_deref();
        *dialect = if cloudwatch::wants_json(&parts.headers, form, service) {
            Dialect::CloudWatch(cloudwatch::Protocol::Json)
        } else if form && cloudwatch::wants_query(&params, service) {
            Dialect::CloudWatch(cloudwatch::Protocol::Query)
        } else if crate::ec2::wants(&params, service) {
            Dialect::Ec2
        } else {
            Dialect::ElastiCache
        };
    }
    if let Some(credentials) = &edge.config.credentials {
        signature::verify(&parts, &body, credentials, std::time::SystemTime::now())
            .map_err(ApiError::from)?;
    }
    if *dialect == Dialect::Logs {
        let op = crate::logs::operation(&parts.headers).unwrap_or_default();
        *action = crate::logs::counted_as(&op);
        let input = crate::logs::decode(&body)?;
        return logs_call(edge, op, input, caller.region).await;
    }
    if let Dialect::CloudWatch(protocol) = *dialect {
        let op = cloudwatch::operation(protocol, parts.uri.path(), &parts.headers, &params)?;
        *action = op.name;
        let input = cloudwatch::decode(protocol, op, &body, &params)?;
        return cloudwatch_call(edge, protocol, op, input, caller.region, request_id).await;
    }
    let is_ec2 = *dialect == Dialect::Ec2;
    let op = if is_ec2 {
        crate::ec2::select(&params)?
    } else {
        operation::select(&params)?
    };
    *action = op.action;

    let slot = Arc::clone(&edge.handlers)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    let edge = Arc::clone(edge);
    let request_id = request_id.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let call = Call {
            service: &edge.service,
            region: &caller.region,
            access_key_id: caller.access_key_id.as_deref(),
            params: &params,
        };
        if is_ec2 {
            crate::ec2::run(op, &call, &request_id)
        } else {
            operation::run(op, &call, &request_id)
        }
    })
    .await;
    match result {
        Ok(reply) => Ok(Reply::Xml(reply?)),
        Err(join) => {
            tracing::error!(action = op.action, error = %join, "handler panicked");
            Err(ApiError::internal().into())
        }
    }
}

/// A CloudWatch operation with its decoded input: run the service's call on the blocking pool
/// (in the same slots as every handler) and encode the answer in `protocol`.
async fn cloudwatch_call(
    edge: &Arc<Edge>,
    protocol: cloudwatch::Protocol,
    op: &'static cloudwatch::shapes::Operation,
    input: serde_json::Value,
    region: String,
    request_id: &str,
) -> Result<Reply, Refusal> {
    let Some(service) = edge.config.cloudwatch.clone() else {
        // An edge built without CloudWatch offers none of its operations.
        return Err(match protocol {
            cloudwatch::Protocol::Query => cloudwatch::Error::invalid_action(op.name),
            _ => cloudwatch::Error::unknown_operation(op.name),
        }
        .into());
    };
    let slot = Arc::clone(&edge.handlers)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    let request_id = request_id.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let output = service
            .call(&region, op.name, input)
            .map_err(|e| cloudwatch::service_error(protocol, op, e))?;
        cloudwatch::encode(protocol, op, &output, &request_id)
    })
    .await;
    match result {
        Ok(answer) => Ok(Reply::CloudWatch(answer?)),
        Err(join) => {
            tracing::error!(action = op.name, error = %join, "CloudWatch call panicked");
            Err(cloudwatch::Error::internal().into())
        }
    }
}

/// A CloudWatch Logs operation with its input: run on the blocking pool (in the same slots as
/// every handler).
async fn logs_call(
    edge: &Arc<Edge>,
    op: String,
    input: serde_json::Value,
    region: String,
) -> Result<Reply, Refusal> {
    let Some(logs) = edge.config.logs.clone() else {
        return Err(crate::logs::Error::unknown_operation(&op).into());
    };
    let slot = Arc::clone(&edge.handlers)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    let result = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        logs.call(&region, &op, input)
    })
    .await;
    match result {
        Ok(Ok(output)) => Ok(Reply::Logs(output)),
        Ok(Err(error)) => Err(crate::logs::Error::from(error).into()),
        Err(join) => {
            tracing::error!(error = %join, "CloudWatch Logs call panicked");
            Err(crate::logs::Error::internal().into())
        }
    }
}

/// Whether the body is a form: `application/x-www-form-urlencoded` (any parameters), or no
/// content type at all. Other bodies (JSON protocols of other services) are not read as forms.
fn is_form(headers: &axum::http::HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(v) => v.split(';').next().is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }),
    }
}

/// Reads at most `limit` bytes of body: a declared `Content-Length` over the limit is refused
/// before reading, and a body that grows past it is cut off at the limit.
async fn read_body(
    body: Body,
    headers: &axum::http::HeaderMap,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::body_timeout()),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            let over_limit = std::error::Error::source(&error)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over_limit {
                Err(ApiError::too_large(limit))
            } else {
                tracing::debug!(%error, "request body not read");
                Err(ApiError::validation("The request body could not be read."))
            }
        }
    }
}
