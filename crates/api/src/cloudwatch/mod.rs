//! CloudWatch (`monitoring`, API `2010-08-01`) on the API port, in the three wire protocols its
//! clients speak, all turned into one protocol-neutral value for
//! [`ferrocache_cloudwatch::CloudWatch::call`] and back:
//!
//! | protocol | told apart by | clients (measured) |
//! |---|---|---|
//! | AWS JSON 1.0, query-compatible ([`json`]) | `X-Amz-Target: GraniteServiceVersion20100801.<Op>` | aws CLI v1, boto3 ≥ 1.42.7, JS SDK v3 |
//! | Smithy RPC v2 CBOR ([`cbor`]) | path `/service/GraniteServiceVersion20100801/operation/<Op>` | Rust SDK, Go SDK v2 ≥ 1.52 (Terraform) |
//! | query ([`query`]) | form on `POST /` signed for `monitoring`, or `Version=2010-08-01` | aws CLI v2, older SDKs |
//!
//! The edge ([`crate::server`]) reads the body, checks the signature and runs the call on the
//! blocking pool; this module picks the operation ([`operation`]), reads the input
//! ([`decode`]), writes the answer ([`encode`]) or the refusal ([`error_response`]) in the
//! caller's protocol. Which member is a number, a timestamp or a list comes from one table,
//! [`shapes`]; every refusal is one [`Error`] rendered three ways.

pub mod cbor;
pub mod error;
pub mod json;
pub mod query;
pub mod shapes;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ferrocache_cloudwatch::CloudWatchError;
use serde_json::Value;

pub use error::Error;
use shapes::{Operation, Shape};

use crate::error::REQUEST_ID_HEADER;
use crate::query::Params;

/// CloudWatch's SigV4 signing name (the credential scope's service).
pub const SIGNING_SERVICE: &str = "monitoring";
/// The header naming the query code and fault of a JSON or CBOR error.
pub const QUERY_ERROR_HEADER: &str = "x-amzn-query-error";

/// One of CloudWatch's wire protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0 with `X-Amz-Target`.
    Json,
    /// Smithy RPC v2 CBOR on `/service/…/operation/…`.
    Cbor,
    /// The form-encoded query protocol, answered in XML.
    Query,
}

impl Protocol {
    /// The protocol a request's path and headers alone show: CBOR by its RPC v2 path, JSON by
    /// a CloudWatch `X-Amz-Target`. `None` for anything else, including query requests (known
    /// only once the form is read, see [`wants_query`]) and JSON requests for CloudWatch with
    /// an unknown target (known once the signature's scope is read, see [`wants_json`]).
    pub fn of_request(path: &str, headers: &HeaderMap) -> Option<Self> {
        if cbor::route(path).is_some() {
            return Some(Self::Cbor);
        }
        match json::target(headers) {
            Some(target) if target.starts_with(json::TARGET_PREFIX) => Some(Self::Json),
            _ => None,
        }
    }
}

/// Whether a request not shown as CloudWatch's by [`Protocol::of_request`] is its JSON protocol
/// all the same: signed for `monitoring` and either not a form or carrying some other
/// `X-Amz-Target` (answered `UnknownOperationException` in JSON, not in ElastiCache's XML).
pub fn wants_json(headers: &HeaderMap, form: bool, signing_service: Option<&str>) -> bool {
    signing_service == Some(SIGNING_SERVICE) && (!form || json::target(headers).is_some())
}

/// Whether a form request is CloudWatch's query protocol: signed for `monitoring`, or naming
/// CloudWatch's API version (an unsigned `curl`).
pub fn wants_query(params: &Params, signing_service: Option<&str>) -> bool {
    signing_service == Some(SIGNING_SERVICE) || params.get("Version") == Some(query::VERSION)
}

/// The operation a request names, in `protocol`'s way.
///
/// # Errors
/// The protocol's unknown-operation error (`UnknownOperationException`, `InvalidAction`,
/// `MissingAction`).
pub fn operation(
    protocol: Protocol,
    path: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'static Operation, Error> {
    match protocol {
        Protocol::Json => json::operation(headers),
        Protocol::Cbor => {
            // The spec: an RPC v2 request carrying a target header is malformed.
            if headers.contains_key("x-amz-target") || headers.contains_key("x-amzn-target") {
                return Err(Error::serialization(
                    "An rpcv2Cbor request must not carry an X-Amz-Target header.",
                ));
            }
            cbor::operation(path)
        }
        Protocol::Query => query::operation(params),
    }
}

/// The neutral input of `op` from the request.
///
/// # Errors
/// `SerializationException` (JSON, CBOR) or `InvalidParameterValue` (query) for input that does
/// not fit the model.
pub fn decode(
    protocol: Protocol,
    op: &Operation,
    body: &[u8],
    params: &Params,
) -> Result<Value, Error> {
    match protocol {
        Protocol::Json => json::decode(op, body),
        Protocol::Cbor => cbor::decode(op, body),
        Protocol::Query => query::decode(op, params),
    }
}

/// The service's refusal of `op`, as `protocol` names it (on JSON and CBOR the service's
/// "not implemented" `InvalidAction` is `UnknownOperationException`).
pub fn service_error(protocol: Protocol, op: &Operation, error: CloudWatchError) -> Error {
    let error = Error::from(error);
    match protocol {
        Protocol::Query => error,
        Protocol::Json | Protocol::Cbor => error.for_rpc(op.name),
    }
}

/// A success, encoded and ready to send.
#[derive(Debug)]
pub struct Answer {
    protocol: Protocol,
    body: Vec<u8>,
}

/// The answer of `op` with the service's `output`, in `protocol`.
///
/// # Errors
/// `InternalFailure` (logged) when the output does not fit the model.
pub fn encode(
    protocol: Protocol,
    op: &Operation,
    output: &Value,
    request_id: &str,
) -> Result<Answer, Error> {
    let body = match protocol {
        Protocol::Json => json::encode(op, output)?,
        Protocol::Cbor => cbor::encode(op, output)?,
        Protocol::Query => query::encode(op, output, request_id)?.into_bytes(),
    };
    Ok(Answer { protocol, body })
}

impl Answer {
    /// The HTTP response: 200 with the protocol's headers.
    pub fn into_response(self, request_id: &str) -> Response {
        response(self.protocol, StatusCode::OK, self.body, request_id, None)
    }
}

/// The HTTP response refusing a request with `error`, in `protocol`.
pub fn error_response(protocol: Protocol, error: &Error, request_id: &str) -> Response {
    let body = match protocol {
        Protocol::Json => json::error_body(error),
        Protocol::Cbor => cbor::error_body(error),
        Protocol::Query => query::error_body(error, request_id).into_bytes(),
    };
    response(protocol, error.status(), body, request_id, Some(error))
}

fn response(
    protocol: Protocol,
    status: StatusCode,
    body: Vec<u8>,
    request_id: &str,
    error: Option<&Error>,
) -> Response {
    let mut headers = HeaderMap::new();
    let content_type = match protocol {
        Protocol::Json => Some(json::CONTENT_TYPE),
        // No body, no content type: the spec's rule for operations without output.
        Protocol::Cbor => (!body.is_empty()).then_some(cbor::CONTENT_TYPE),
        Protocol::Query => Some(crate::error::CONTENT_TYPE_XML),
    };
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if protocol == Protocol::Cbor {
        headers.insert(
            cbor::PROTOCOL_HEADER,
            HeaderValue::from_static(cbor::PROTOCOL),
        );
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    if let Some(error) = error.filter(|_| protocol != Protocol::Query) {
        if let Ok(value) = HeaderValue::from_str(&error.query_error_header()) {
            headers.insert(QUERY_ERROR_HEADER, value);
        }
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The service's `output` for `op` checked against `shape` (members outside the model
/// dropped). A mismatch is our bug: logged with where it is, answered `InternalFailure`.
pub(crate) fn checked_output(
    op: &Operation,
    shape: &Shape,
    output: &Value,
) -> Result<Value, Error> {
    match shapes::conform(shape, output) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Ok(Value::Object(serde_json::Map::new())),
        Err(mismatch) => {
            tracing::error!(operation = op.name, %mismatch, "CloudWatch answer does not fit the model");
            Err(Error::internal())
        }
    }
}

#[cfg(test)]
mod tests;
