//! CloudWatch Logs on the API port: the AWS JSON 1.1 protocol (`POST /`,
//! `X-Amz-Target: Logs_20140328.<Op>`, `Content-Type: application/x-amz-json-1.1`, SigV4
//! service `logs`), answered by [`ferrocache_logs::Logs::call`] — whose input and output are
//! already this protocol's JSON, so the edge only reads the body, names the operation and
//! writes the answer or the error document (`{"__type": <Code>, "message": …}`).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ferrocache_logs::LogsError;

use crate::error::ApiError;

/// The target prefix of every CloudWatch Logs operation.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
/// The protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The operations [`ferrocache_logs::Logs`] answers, by their model names (what requests are
/// counted under; any other is passed on and refused there).
pub const OPERATIONS: &[&str] = &[
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "ListTagsLogGroup",
    "TagLogGroup",
    "UntagLogGroup",
    "ListTagsForResource",
    "TagResource",
    "UntagResource",
];

/// The operation a request names in `X-Amz-Target`, when it is for CloudWatch Logs.
pub fn operation(headers: &HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    target.strip_prefix(TARGET_PREFIX).map(str::to_string)
}

/// The name requests are counted under: the operation's, or `unknown`.
pub fn counted_as(operation: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|o| **o == operation)
        .copied()
        .unwrap_or("unknown")
}

/// A refusal in CloudWatch Logs' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: &'static str,
    status: StatusCode,
    message: String,
}

impl Error {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A body that is not a JSON object.
    pub fn serialization(detail: &str) -> Self {
        Self {
            code: "SerializationException",
            status: StatusCode::BAD_REQUEST,
            message: format!("The request body is not valid JSON: {detail}"),
        }
    }

    /// The edge was built without CloudWatch Logs.
    pub fn unknown_operation(operation: &str) -> Self {
        Self {
            code: "UnknownOperationException",
            status: StatusCode::BAD_REQUEST,
            message: format!("The operation {operation} is not supported by CloudWatch Logs."),
        }
    }

    /// A failure of ours.
    pub fn internal() -> Self {
        Self {
            code: "ServiceUnavailableException",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The service cannot complete the request.".into(),
        }
    }
}

impl From<ApiError> for Error {
    /// The edge's own refusals (body too large, signatures, methods): same code, status and
    /// text.
    fn from(error: ApiError) -> Self {
        Self {
            code: error.code(),
            status: error.status(),
            message: error.message().to_string(),
        }
    }
}

impl From<LogsError> for Error {
    fn from(error: LogsError) -> Self {
        Self {
            code: error.code(),
            status: StatusCode::from_u16(error.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: error.message().to_string(),
        }
    }
}

/// The request's input: the body as JSON (an empty body is `{}`).
///
/// # Errors
/// [`Error::serialization`] for a body that is not a JSON object.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::serialization("expected an object")),
        Err(e) => Err(Error::serialization(&e.to_string())),
    }
}

fn json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// A success: the output document.
pub fn response(output: &serde_json::Value, request_id: &str) -> Response {
    json_response(StatusCode::OK, output.to_string(), request_id)
}

/// A refusal: `{"__type": <Code>, "message": …}` with its status.
pub fn error_response(error: &Error, request_id: &str) -> Response {
    let body = serde_json::json!({"__type": error.code, "message": error.message});
    json_response(error.status, body.to_string(), request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_bodies_and_errors() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("Logs_20140328.CreateLogGroup"),
        );
        assert_eq!(operation(&headers).as_deref(), Some("CreateLogGroup"));
        assert_eq!(counted_as("CreateLogGroup"), "CreateLogGroup");
        assert_eq!(counted_as("StartQuery"), "unknown");
        assert_eq!(decode(b"").unwrap(), serde_json::json!({}));
        assert_eq!(decode(b"[]").unwrap_err().code(), "SerializationException");
        assert_eq!(decode(b"{").unwrap_err().status(), StatusCode::BAD_REQUEST);
        let r = error_response(&Error::unknown_operation("StartQuery"), "id");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    }
}
