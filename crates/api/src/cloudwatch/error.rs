//! [`Error`]: a CloudWatch refusal as the wire needs it — the query code (XML `<Code>` and the
//! `x-amzn-query-error` header), the JSON/CBOR `__type`, HTTP status, fault and message — and
//! the one place where the service's [`CloudWatchError`] and the edge's [`ApiError`] become one.
//!
//! CloudWatch is `awsQueryCompatible`: on JSON and CBOR, `__type` carries the error's *shape
//! id* (`com.amazonaws.cloudwatch#InvalidParameterValueException`) while the header carries
//! the query *code* (`InvalidParameterValue;Sender`), which botocore, the JS SDK v3 and the
//! Rust SDK read first. The header is sent on every JSON and CBOR error: the JS SDK's
//! query-compatible error handling fails on an error without it.

use axum::http::StatusCode;
use ferrocache_cloudwatch::{CloudWatchError, Fault};

use crate::error::ApiError;

/// The namespace of the CloudWatch model's shapes.
pub const MODEL_NAMESPACE: &str = "com.amazonaws.cloudwatch";
/// The namespace AWS's JSON front end gives the errors it raises itself (unknown operation,
/// unreadable body, signatures, throttling).
pub const FRAMEWORK_NAMESPACE: &str = "com.amazon.coral.service";

/// The modeled errors: query code → error shape name, and the name of the shape's message
/// member (`InternalServiceFault` alone spells it `Message`).
const MODELED: &[(&str, &str, &str)] = &[
    (
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "message",
    ),
    (
        "InvalidParameterCombination",
        "InvalidParameterCombinationException",
        "message",
    ),
    (
        "MissingParameter",
        "MissingRequiredParameterException",
        "message",
    ),
    ("InternalServiceError", "InternalServiceFault", "Message"),
    ("InvalidNextToken", "InvalidNextToken", "message"),
    ("LimitExceeded", "LimitExceededFault", "message"),
    (
        "LimitExceededException",
        "LimitExceededException",
        "message",
    ),
    ("ResourceNotFound", "ResourceNotFound", "message"),
    (
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        "message",
    ),
    ("InvalidFormat", "InvalidFormatFault", "message"),
    (
        "ConcurrentModificationException",
        "ConcurrentModificationException",
        "message",
    ),
];

/// A refused CloudWatch request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct Error {
    /// The query code: `<Code>` and the first half of `x-amzn-query-error`.
    code: &'static str,
    /// HTTP status.
    status: StatusCode,
    /// Whose fault: `<Type>` and the second half of the header.
    fault: Fault,
    /// Human text.
    message: String,
}

impl Error {
    /// An error with every part given.
    pub fn new(
        code: &'static str,
        status: StatusCode,
        fault: Fault,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            status,
            fault,
            message: message.into(),
        }
    }

    /// The query code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sender or receiver.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `Sender` / `Receiver`, as the XML `<Type>` and the header spell it.
    pub fn fault_name(&self) -> &'static str {
        match self.fault {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }

    /// The value of `x-amzn-query-error`: `Code;Sender`.
    pub fn query_error_header(&self) -> String {
        format!("{};{}", self.code, self.fault_name())
    }

    /// The JSON/CBOR `__type`: the modeled error's shape id, or the front end's own for the
    /// others (`com.amazon.coral.service#UnknownOperationException`).
    pub fn type_id(&self) -> String {
        match MODELED.iter().find(|(code, _, _)| *code == self.code) {
            Some((_, shape, _)) => format!("{MODEL_NAMESPACE}#{shape}"),
            None => format!("{FRAMEWORK_NAMESPACE}#{}", self.code),
        }
    }

    /// The name of the message member in the JSON/CBOR body (`message`, or `Message` where
    /// the error's shape spells it so).
    pub fn message_member(&self) -> &'static str {
        MODELED
            .iter()
            .find(|(code, _, _)| *code == self.code)
            .map_or("message", |(_, _, member)| member)
    }

    /// An operation name not in the table, on JSON or CBOR: `UnknownOperationException`, 400.
    pub fn unknown_operation(name: &str) -> Self {
        Self::new(
            "UnknownOperationException",
            StatusCode::BAD_REQUEST,
            Fault::Sender,
            format!(
                "The operation {} is not supported by CloudWatch.",
                crate::query::echo(name)
            ),
        )
    }

    /// The same on the query protocol: `InvalidAction`, 400, worded as for ElastiCache.
    pub fn invalid_action(action: &str) -> Self {
        ApiError::invalid_action(action).into()
    }

    /// A JSON or CBOR body that cannot be read as the operation's input:
    /// `SerializationException`, 400.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(
            "SerializationException",
            StatusCode::BAD_REQUEST,
            Fault::Sender,
            message,
        )
    }

    /// A query parameter that cannot be read as its model type: `InvalidParameterValue`, 400
    /// (the modeled error, so typed clients get `InvalidParameterValueException`).
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterValue",
            StatusCode::BAD_REQUEST,
            Fault::Sender,
            message,
        )
    }

    /// Our own failure (an answer that does not fit the model, a panicked handler):
    /// `InternalFailure`, 500; the cause is logged by the caller, never sent.
    pub fn internal() -> Self {
        ApiError::internal().into()
    }

    /// This error as the JSON and CBOR protocols name it: the service answers an operation it
    /// does not implement with the query protocol's `InvalidAction`, which on these protocols
    /// is `UnknownOperationException`.
    pub fn for_rpc(self, operation: &str) -> Self {
        if self.code == "InvalidAction" {
            Self::unknown_operation(operation)
        } else {
            self
        }
    }
}

impl From<ApiError> for Error {
    /// The edge's own refusals (body too large, signatures, methods): same code, status and
    /// text; 5xx are the receiver's fault, the rest the sender's.
    fn from(error: ApiError) -> Self {
        let fault = if error.status().is_server_error() {
            Fault::Receiver
        } else {
            Fault::Sender
        };
        Self::new(error.code(), error.status(), fault, error.message())
    }
}

impl From<CloudWatchError> for Error {
    fn from(error: CloudWatchError) -> Self {
        let status = StatusCode::from_u16(error.status()).unwrap_or_else(|_| {
            tracing::warn!(
                status = error.status(),
                code = error.code(),
                "CloudWatch error with an invalid HTTP status; answering 500"
            );
            StatusCode::INTERNAL_SERVER_ERROR
        });
        Self::new(error.code(), status, error.fault(), error.message())
    }
}

impl From<Error> for ApiError {
    /// For the metrics and logs of the edge, which count every API's errors alike.
    fn from(error: Error) -> Self {
        ApiError::new(error.code, error.status, error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: modeled errors get their shape id and message member, the others the front end's
    // namespace; the header is `Code;Fault`. Method: one of each.
    #[test]
    fn type_ids_and_headers() {
        let e = Error::from(CloudWatchError::new(
            "InvalidParameterValue",
            400,
            Fault::Sender,
            "bad",
        ));
        assert_eq!(
            e.type_id(),
            "com.amazonaws.cloudwatch#InvalidParameterValueException"
        );
        assert_eq!(e.query_error_header(), "InvalidParameterValue;Sender");
        assert_eq!(e.message_member(), "message");

        let e = Error::from(CloudWatchError::new(
            "InternalServiceError",
            500,
            Fault::Receiver,
            "oops",
        ));
        assert_eq!(e.type_id(), "com.amazonaws.cloudwatch#InternalServiceFault");
        assert_eq!(e.message_member(), "Message");
        assert_eq!(e.query_error_header(), "InternalServiceError;Receiver");

        let e = Error::unknown_operation("Nope");
        assert_eq!(
            e.type_id(),
            "com.amazon.coral.service#UnknownOperationException"
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    // Goal: the service's "not implemented" InvalidAction becomes UnknownOperationException on
    // JSON/CBOR; edge errors keep their code with the fault their status implies. Method:
    // convert each.
    #[test]
    fn conversions() {
        let e = Error::from(CloudWatchError::unknown_operation("GetMetricData"));
        assert_eq!(e.code(), "InvalidAction");
        assert_eq!(
            e.for_rpc("GetMetricData").code(),
            "UnknownOperationException"
        );
        let e = Error::from(ApiError::too_large(10));
        assert_eq!(
            (e.code(), e.fault()),
            ("RequestEntityTooLarge", Fault::Sender)
        );
        let e = Error::internal();
        assert_eq!((e.code(), e.fault()), ("InternalFailure", Fault::Receiver));
        let e = Error::from(CloudWatchError::new("X", 99, Fault::Sender, "m"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
