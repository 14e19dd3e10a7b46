//! Refusals: [`LogsError`] (what the edge answers with) and `Refusal`, the typed reasons the
//! operations give. Every code, status and message AWS answers with is made here, in
//! `Refusal::into_error` and the clause builders beside it, so a text is fixed in one place.
//!
//! Sources of the texts: LocalStack's snapshot tests recorded against AWS (2026), users' quotes of
//! real answers in public issues, the model `logs/2014-03-28` (botocore). A text no source
//! confirmed is marked `[unsure]`.

use std::fmt;

/// A refusal, with the code, HTTP status and message AWS answers with. The edge writes it as the
/// AWS JSON 1.1 error body `{"__type": code, "message": message}` with [`status`](Self::status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsError {
    code: &'static str,
    status: u16,
    message: String,
}

impl LogsError {
    /// A refusal with `code` (AWS's error code), `status` and `message`.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// AWS's error code (`InvalidParameterException`, `ResourceNotFoundException`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message, as AWS words it (empty when AWS sends none: leave the member out).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the fault is the service's (a 5xx), not the caller's.
    pub fn is_server_fault(&self) -> bool {
        self.status >= 500
    }
}

impl fmt::Display for LogsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for LogsError {}

/// The text of an over-long log group or stream name, whichever operation receives it (AWS's own
/// check runs instead of the framework's length constraint; LocalStack's snapshot of AWS).
pub(crate) const NAME_TOO_LONG: &str =
    "Invalid LogGroup or LogStream, both must have length less than or equal to 512.";

/// Why an operation refuses a request: the kind of rule broken, with its text when the text
/// varies. Turned into the wire's error by [`Refusal::into_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The framework's constraint checks (length, range, pattern, presence): one clause per
    /// violation. CloudWatch Logs answers them as `InvalidParameterException`.
    Validation(Vec<String>),
    /// `InvalidParameterException` with a text of the service's own.
    InvalidParameter(String),
    /// `ValidationException`, which a few newer checks answer with.
    ValidationException(String),
    /// A member of the wrong JSON type.
    Serialization(String),
    /// The log group does not exist.
    GroupNotFound,
    /// The log stream does not exist.
    StreamNotFound,
    /// `CreateLogGroup` of a name taken.
    GroupExists,
    /// `CreateLogStream` of a name taken.
    StreamExists,
    /// Too many log groups in the region.
    LimitExceeded,
    /// More than 50 tags on a group.
    TooManyTags,
    /// `InvalidOperationException`.
    InvalidOperation(String),
    /// A `nextToken` this service did not hand out.
    InvalidNextToken,
    /// An operation this service does not have.
    UnknownOperation,
    /// Ours: storage failed (logged where it happened).
    Unavailable,
}

impl Refusal {
    /// The wire's error for this refusal.
    pub(crate) fn into_error(self) -> LogsError {
        match self {
            Refusal::Validation(clauses) => {
                let n = clauses.len();
                let s = if n == 1 { "" } else { "s" };
                LogsError::new(
                    "InvalidParameterException",
                    400,
                    format!("{n} validation error{s} detected: {}", clauses.join("; ")),
                )
            }
            Refusal::InvalidParameter(text) => {
                LogsError::new("InvalidParameterException", 400, text)
            }
            Refusal::ValidationException(text) => LogsError::new("ValidationException", 400, text),
            // [unsure] the message: the JSON protocol's framework answers with this code.
            Refusal::Serialization(text) => LogsError::new("SerializationException", 400, text),
            Refusal::GroupNotFound => LogsError::new(
                "ResourceNotFoundException",
                400,
                "The specified log group does not exist.",
            ),
            Refusal::StreamNotFound => LogsError::new(
                "ResourceNotFoundException",
                400,
                "The specified log stream does not exist.",
            ),
            Refusal::GroupExists => LogsError::new(
                "ResourceAlreadyExistsException",
                400,
                "The specified log group already exists",
            ),
            Refusal::StreamExists => LogsError::new(
                "ResourceAlreadyExistsException",
                400,
                "The specified log stream already exists",
            ),
            // [unsure] the text (moto's).
            Refusal::LimitExceeded => {
                LogsError::new("LimitExceededException", 400, "Resource limit exceeded.")
            }
            // [unsure] the text: the model's documentation of the shape.
            Refusal::TooManyTags => LogsError::new(
                "TooManyTagsException",
                400,
                "A resource can have no more than 50 tags.",
            ),
            Refusal::InvalidOperation(text) => {
                LogsError::new("InvalidOperationException", 400, text)
            }
            Refusal::InvalidNextToken => LogsError::new(
                "InvalidParameterException",
                400,
                "The specified nextToken is invalid.",
            ),
            // [unsure] AWS's JSON services answer an unknown target with this code and no
            // message.
            Refusal::UnknownOperation => LogsError::new("UnknownOperationException", 400, ""),
            // [unsure] the status and text: the model marks the shape a fault and documents it
            // with this sentence.
            Refusal::Unavailable => LogsError::new(
                "ServiceUnavailableException",
                500,
                "The service cannot complete the request.",
            ),
        }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        tracing::error!(error = %e, "CloudWatch Logs storage failed");
        Refusal::Unavailable
    }
}

// ---- texts of the service's own checks -----------------------------------------------------

/// `PutLogEvents` with events out of order (LocalStack's snapshot of AWS).
pub(crate) const NOT_CHRONOLOGICAL: &str =
    "Log events in a single PutLogEvents request must be in chronological order.";

/// `PutLogEvents` whose kept events span more than a day (quoted from AWS in
/// maxbanton/cwh#96 and aws/amazon-cloudwatch-logs-for-fluent-bit#29).
pub(crate) const SPANS_OVER_A_DAY: &str =
    "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.";

/// `PutLogEvents` over the batch size (quoted from AWS in cloudstax/firecamp#82).
pub(crate) fn upload_too_large(bytes: usize) -> Refusal {
    Refusal::InvalidParameter(format!(
        "Upload too large: {bytes} bytes exceeds limit of 1048576"
    ))
}

/// One event over the event size (AWS's wording from when the limit was 256 KiB, quoted in
/// aws/aws-sdk-js-v3#6164; [unsure] that today's 1 MiB limit keeps it).
pub(crate) fn event_too_large(bytes: usize) -> Refusal {
    Refusal::InvalidParameter(format!(
        "Log event too large: {bytes} bytes exceeds limit of 1048576"
    ))
}

/// Both `logGroupName` and `logGroupIdentifier` (LocalStack's snapshot of AWS).
pub(crate) fn name_and_identifier() -> Refusal {
    Refusal::ValidationException(
        "LogGroup name and LogGroup ARN are mutually exclusive parameters.".into(),
    )
}

/// Neither `logGroupName` nor `logGroupIdentifier` ([unsure] the text).
pub(crate) fn no_group_given() -> Refusal {
    Refusal::InvalidParameter("Either logGroupName or logGroupIdentifier must be provided.".into())
}

/// `DescribeLogGroups` with a prefix and a pattern (LocalStack's snapshot of AWS).
pub(crate) fn prefix_and_pattern() -> Refusal {
    Refusal::InvalidParameter(
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.".into(),
    )
}

/// `FilterLogEvents` with stream names and a stream name prefix ([unsure] the text; the model
/// says only that it is an `InvalidParameterException`).
pub(crate) fn stream_names_and_prefix() -> Refusal {
    Refusal::InvalidParameter(
        "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.".into(),
    )
}

/// `DescribeLogStreams` ordered by event time with a name prefix ([unsure] the text, moto's).
pub(crate) fn prefix_with_last_event_time() -> Refusal {
    Refusal::InvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.".into())
}

/// `FilterLogEvents` newest first from before 2024 (the model documents the rule; [unsure] the
/// text).
pub(crate) fn descending_before_2024() -> Refusal {
    Refusal::InvalidParameter(
        "startFromHead=false is supported only when startTime is on or after \
         2024-01-01T00:00:00Z."
            .into(),
    )
}

/// `CreateLogGroup` of a name starting `aws/` (the model documents the rule; [unsure] the
/// text).
pub(crate) fn reserved_group_name() -> Refusal {
    Refusal::InvalidParameter("Log group names can't start with the string aws/".into())
}

/// `DeleteLogGroup` of a group with deletion protection ([unsure] the text; the model lists
/// `ValidationException` for the operation since deletion protection came).
pub(crate) fn deletion_protected() -> Refusal {
    Refusal::ValidationException(
        "Log group deletion protection is enabled. Disable it before deleting the log group."
            .into(),
    )
}

/// `PutRetentionPolicy` on a `DELIVERY` class group, whose retention is fixed at one day
/// ([unsure] the code and text).
pub(crate) fn delivery_class_retention() -> Refusal {
    Refusal::InvalidOperation(
        "Retention policy cannot be changed for log groups of the DELIVERY log class.".into(),
    )
}

// ---- the framework's constraint clauses ------------------------------------------------------
// "Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or
// equal to 10000" (LocalStack's snapshot of AWS): the framework's words, one clause per broken
// constraint, joined by "; " after "N validation error(s) detected: ".

/// A required member left out.
pub(crate) fn clause_missing(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// A string shorter than the model allows.
pub(crate) fn clause_too_short(path: &str, value: &str, min: usize) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must have length \
         greater than or equal to {min}"
    )
}

/// A string longer than the model allows.
pub(crate) fn clause_too_long(path: &str, value: &str, max: usize) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must have length less \
         than or equal to {max}"
    )
}

/// A list or map with too few or too many members ([unsure] whether the framework shows the
/// value; this form leaves it out, as AWS does for `logGroupIdentifiers` in moto's quote).
pub(crate) fn clause_count(path: &str, bound: &str, n: usize) -> String {
    format!("Value at '{path}' failed to satisfy constraint: Member must have length {bound} {n}")
}

/// A string outside the model's pattern.
pub(crate) fn clause_pattern(path: &str, value: &str, pattern: &str) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular \
         expression pattern: {pattern}"
    )
}

/// A number below the model's minimum.
pub(crate) fn clause_below(path: &str, value: i64, min: i64) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value greater \
         than or equal to {min}"
    )
}

/// A number above the model's maximum.
pub(crate) fn clause_above(path: &str, value: i64, max: i64) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less \
         than or equal to {max}"
    )
}

/// A value outside an enumeration (`retentionInDays` is checked this way though the model has
/// no enum for it: [unsure], from users' quotes of the AWS CLI).
pub(crate) fn clause_enum(path: &str, value: &str, allowed: &str) -> String {
    format!(
        "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value \
         set: [{allowed}]"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_are_counted_and_joined() {
        let one = Refusal::Validation(vec![clause_above("limit", 10001, 10000)]).into_error();
        assert_eq!(one.code(), "InvalidParameterException");
        assert_eq!(one.status(), 400);
        assert_eq!(
            one.message(),
            "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to 10000"
        );
        let two = Refusal::Validation(vec!["a".into(), "b".into()]).into_error();
        assert_eq!(two.message(), "2 validation errors detected: a; b");
    }

    #[test]
    fn storage_failures_are_the_services_fault() {
        let e = Refusal::from(std::io::Error::other("disk")).into_error();
        assert_eq!(e.code(), "ServiceUnavailableException");
        assert!(e.is_server_fault());
    }
}
