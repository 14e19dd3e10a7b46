//! The HTTP side: the axum [`router`], the handler every awsQuery request goes through, and
//! [`serve`].
//!
//! One request: give it a request id; refuse methods other than `POST`/`GET`; read the body up
//! to the configured limit (and no longer than [`BODY_READ_TIMEOUT`]); decode query string and
//! form body; read the caller's region from SigV4; select the operation; run its handler on the
//! blocking pool (at most [`HANDLERS_IN_FLIGHT_MAX`] at once); answer XML with
//! `x-amzn-RequestId`. Every failure on the way is an [`ApiError`] answered as XML — never
//! HTML, never a 5xx for a client's mistake.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::routing::any;
use ferrocache_control::Service;

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

/// The axum application: awsQuery on `/`, Prometheus's page on `/metrics` (when the config has
/// one), an XML 404 everywhere else.
pub fn router(service: Service, config: ApiConfig) -> axum::Router {
    let handlers = Arc::new(tokio::sync::Semaphore::new(HANDLERS_IN_FLIGHT_MAX));
    let edge = Arc::new(Edge {
        service,
        config,
        handlers,
    });
    axum::Router::new()
        .route("/", any(handle))
        .route("/metrics", axum::routing::get(metrics_page))
        .fallback(unknown_path)
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

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn handle(State(edge): State<Arc<Edge>>, request: Request) -> Response {
    let request_id = new_request_id();
    // Which dialect errors are written in: ElastiCache's until the request is known to be EC2's.
    let mut ec2 = false;
    let mut action = "unknown";
    let answered = answer(&edge, request, &request_id, &mut ec2, &mut action).await;
    if let Some(metrics) = &edge.config.metrics {
        let code = match &answered {
            Ok(_) => "200",
            Err(error) => error.code(),
        };
        metrics.own().api_request(action, code);
    }
    match answered {
        Ok(body) => {
            tracing::debug!(%request_id, action, "answered");
            xml_response(StatusCode::OK, body, &request_id)
        }
        Err(error) => {
            if error.status().is_server_error() {
                tracing::warn!(%request_id, code = error.code(), "answered with a server error");
            } else {
                tracing::debug!(%request_id, code = error.code(), "refused");
            }
            if ec2 {
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

/// Everything between the request and the success body. Sets `ec2` once the request is known
/// to be for the EC2 subset (its own table and envelope), and `action` once the operation is
/// known (for logs and metrics).
async fn answer(
    edge: &Arc<Edge>,
    request: Request,
    request_id: &str,
    ec2: &mut bool,
    action: &mut &'static str,
) -> Result<String, ApiError> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST && parts.method != Method::GET {
        return Err(ApiError::method_not_allowed(parts.method.as_str()));
    }
    let body = read_body(body, &parts.headers, edge.config.body_bytes_max).await?;
    let form = is_form(&parts.headers);
    let params = Params::parse(parts.uri.query(), if form { &body } else { &[] })?;
    let caller = sigv4::caller(&parts.headers, &params, &edge.config.default_region)?;
    *ec2 = crate::ec2::wants(&params, caller.service.as_deref());
    if let Some(credentials) = &edge.config.credentials {
        signature::verify(&parts, &body, credentials, std::time::SystemTime::now())?;
    }
    let is_ec2 = *ec2;
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
        Ok(reply) => reply,
        Err(join) => {
            tracing::error!(action = op.action, error = %join, "handler panicked");
            Err(ApiError::internal())
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
