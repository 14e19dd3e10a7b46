//! AWS JSON 1.0, as botocore ≥ 1.42.7 (aws CLI v1, boto3) and the JS SDK v3 send it:
//! `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Op>` and
//! `Content-Type: application/x-amz-json-1.0`; the body is already the neutral value.
//!
//! Answers are `application/x-amz-json-1.0`: the output (checked against the model), or `{}`
//! for an operation without one; errors are `{"__type": …, "message": …}` with the status and
//! `x-amzn-query-error` header of [`Error`].

use axum::http::HeaderMap;
use serde_json::Value;

use super::error::Error;
use super::shapes::{self, Operation};

/// The `X-Amz-Target` prefix of CloudWatch's operations (the Smithy service shape's name).
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
/// The content type of requests and answers.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The operation named by the request's `X-Amz-Target`, if the header is there.
pub fn target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

/// The operation of a JSON request: `X-Amz-Target` must be `<TARGET_PREFIX><Op>` with `Op` in
/// the table.
///
/// # Errors
/// `UnknownOperationException` otherwise (also for another service's target).
pub fn operation(headers: &HeaderMap) -> Result<&'static Operation, Error> {
    let target = target(headers).unwrap_or_default();
    match target.strip_prefix(TARGET_PREFIX) {
        Some(name) => shapes::operation(name).ok_or_else(|| Error::unknown_operation(name)),
        None => Err(Error::unknown_operation(target)),
    }
}

/// The neutral input of `op` from a JSON body; an empty body is an empty input, as AWS's
/// JSON front ends take it.
///
/// # Errors
/// `SerializationException` for a body that is not JSON, or whose members do not have their
/// model types.
pub fn decode(op: &Operation, body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::serialization(format!("The request body is not valid JSON: {e}.")))?;
    input(op, &value)
}

/// The neutral input of `op` from a decoded JSON (or CBOR) document.
///
/// # Errors
/// `SerializationException` naming the first member of the wrong type.
pub fn input(op: &Operation, value: &Value) -> Result<Value, Error> {
    match shapes::conform(op.input, value) {
        Ok(Some(input)) => Ok(input),
        Ok(None) => Ok(Value::Object(serde_json::Map::new())),
        Err(mismatch) => Err(Error::serialization(format!(
            "The request body does not fit {}: {mismatch}.",
            op.name
        ))),
    }
}

/// The answer body of `op` for `output` (the service's answer, checked against the model).
///
/// # Errors
/// `InternalFailure` (logged) when the output does not fit the model: a bug of ours.
pub fn encode(op: &Operation, output: &Value) -> Result<Vec<u8>, Error> {
    let value = match op.output {
        None => Value::Object(serde_json::Map::new()),
        Some(shape) => super::checked_output(op, shape, output)?,
    };
    serde_json::to_vec(&value).map_err(|e| {
        tracing::error!(operation = op.name, error = %e, "CloudWatch answer not written as JSON");
        Error::internal()
    })
}

/// The body of an error: `{"__type": "<namespace>#<Shape>", "message": "…"}`.
pub fn error_body(error: &Error) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), Value::String(error.type_id()));
    body.insert(
        error.message_member().into(),
        Value::String(error.message().to_string()),
    );
    // A map of strings always serializes.
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(target: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", HeaderValue::from_str(target).unwrap());
        h
    }

    // Goal: the target picks the operation; another prefix or an unknown name is
    // UnknownOperationException. Method: three targets.
    #[test]
    fn targets() {
        let op = operation(&headers("GraniteServiceVersion20100801.ListMetrics")).unwrap();
        assert_eq!(op.name, "ListMetrics");
        let e = operation(&headers("GraniteServiceVersion20100801.Nope")).unwrap_err();
        assert_eq!(e.code(), "UnknownOperationException");
        assert!(e.message().contains("Nope"));
        let e = operation(&headers("Logs_20140328.PutLogEvents")).unwrap_err();
        assert_eq!(e.code(), "UnknownOperationException");
    }

    // Goal: bodies botocore sends decode; empty bodies are empty inputs; junk and wrong types
    // are SerializationException. Method: decode each.
    #[test]
    fn bodies() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        let body = br#"{"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization", "Dimensions": [{"Name": "CacheClusterId", "Value": "x"}], "StartTime": 1796637600, "EndTime": 1796641200, "Period": 300, "Statistics": ["Average"]}"#;
        let input = decode(op, body).unwrap();
        assert_eq!(input["Period"], json!(300));
        assert_eq!(input["StartTime"], json!(1796637600));
        assert_eq!(decode(op, b"").unwrap(), json!({}));
        assert_eq!(decode(op, b" \n").unwrap(), json!({}));
        for junk in [&b"{"[..], b"[1]", b"\"x\"", b"{\"Period\": \"300\"}"] {
            let e = decode(op, junk).unwrap_err();
            assert_eq!(e.code(), "SerializationException", "{e}");
            assert_eq!(e.status().as_u16(), 400);
        }
    }

    // Goal: the error body is what botocore and the SDKs parse. Method: render one.
    #[test]
    fn error_bodies() {
        let e = Error::invalid_parameter_value(
            "The parameter StartTime must be less than the parameter EndTime.",
        );
        let body: Value = serde_json::from_slice(&error_body(&e)).unwrap();
        assert_eq!(
            body,
            json!({"__type": "com.amazonaws.cloudwatch#InvalidParameterValueException",
                   "message": "The parameter StartTime must be less than the parameter EndTime."})
        );
    }

    // Goal: outputs are checked and members outside the model dropped; no output is `{}`.
    // Method: encode two answers.
    #[test]
    fn outputs() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        let out = encode(
            op,
            &json!({"Label": "CPUUtilization", "Datapoints": [{"Timestamp": 1796637600, "Average": 1.5, "Unit": "Percent", "Internal": 1}]}),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({"Label": "CPUUtilization",
                   "Datapoints": [{"Timestamp": 1796637600, "Average": 1.5, "Unit": "Percent"}]})
        );
        let op = shapes::operation("DeleteAlarms").unwrap();
        assert_eq!(encode(op, &json!(null)).unwrap(), b"{}");
        let op = shapes::operation("ListMetrics").unwrap();
        let e = encode(op, &json!({"Metrics": "x"})).unwrap_err();
        assert_eq!(e.code(), "InternalFailure");
    }
}
