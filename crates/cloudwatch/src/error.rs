//! Refusals: [`CloudWatchError`] (what the edge answers with) and `Refusal`, the typed reasons
//! the operations give. Every code, status and message AWS answers with is made here, in
//! `Refusal::into_error` and the constructors beside it, so a text is fixed in one place.
//!
//! Sources of the texts: LocalStack's snapshot tests recorded against AWS (2025), users' quotes
//! of real answers in public issues, Eucalyptus's CloudWatch (written to mirror AWS's texts).
//! A text no source confirmed is marked `[unsure]`.

use std::fmt;

/// Whose fault a refusal is, as AWS's query-compatible error header says (`Code;Sender`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller's request is wrong.
    Sender,
    /// Ours.
    Receiver,
}

/// A refusal, with the code, HTTP status and message AWS answers with.
///
/// Codes are the query protocol's (`InvalidParameterValue`, `MissingParameter`,
/// `ValidationError`, `ResourceNotFound`, …). Two need the edge's care in the JSON protocols:
/// `ValidationError` is AWS's framework validation (`__type`
/// `com.amazon.coral.validate#ValidationException` there), and `ResourceNotFound` from
/// `SetAlarmState` carries no message at all (an empty [`message`](Self::message): leave the
/// member out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchError {
    code: &'static str,
    status: u16,
    fault: Fault,
    message: String,
}

impl CloudWatchError {
    /// A refusal with `code` (AWS's error code), `status` and `message`.
    pub fn new(code: &'static str, status: u16, fault: Fault, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            fault,
            message: message.into(),
        }
    }

    /// An operation this service does not have: `InvalidAction`, 400.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new(
            "InvalidAction",
            400,
            Fault::Sender,
            format!("The action {operation} is not valid for this web service."),
        )
    }

    /// AWS's error code (`InvalidParameterValue`, `ResourceNotFound`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sender or receiver.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The message, as AWS words it (empty when AWS sends none).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CloudWatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CloudWatchError {}

/// Why an operation refuses a request: the kind of rule broken, with its text. Built by the
/// constructors below (which hold AWS's wording) and turned into the wire's error by
/// [`Refusal::into_error`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// `MissingParameter`: a required member is absent.
    Missing(String),
    /// `ValidationError`: the model's constraints (length, range, enum, pattern); one clause
    /// per violation, in the framework's words.
    Validation(Vec<String>),
    /// `ValidationError` with a text of the service's own.
    ValidationText(String),
    /// `InvalidParameterValue`.
    InvalidValue(String),
    /// `InvalidParameterCombination`.
    Combination(String),
    /// `InvalidNextToken`.
    InvalidNextToken,
    /// `InvalidFormat`.
    InvalidFormat(String),
    /// `ResourceNotFound` (404), which AWS sends without a message.
    NotFound,
    /// `LimitExceeded`.
    LimitExceeded(String),
    /// A member of the wrong type (only a client bypassing the edge's typing can send one).
    Serialization(String),
    /// Ours: `InternalServiceError` (500).
    Internal(String),
}

impl Refusal {
    /// The wire's error for this refusal.
    pub(crate) fn into_error(self) -> CloudWatchError {
        use Fault::{Receiver, Sender};
        match self {
            Refusal::Missing(text) => CloudWatchError::new("MissingParameter", 400, Sender, text),
            Refusal::Validation(clauses) => {
                let n = clauses.len();
                let s = if n == 1 { "" } else { "s" };
                CloudWatchError::new(
                    "ValidationError",
                    400,
                    Sender,
                    format!("{n} validation error{s} detected: {}", clauses.join("; ")),
                )
            }
            Refusal::ValidationText(text) => {
                CloudWatchError::new("ValidationError", 400, Sender, text)
            }
            Refusal::InvalidValue(text) => {
                CloudWatchError::new("InvalidParameterValue", 400, Sender, text)
            }
            Refusal::Combination(text) => {
                CloudWatchError::new("InvalidParameterCombination", 400, Sender, text)
            }
            // [unsure] the text: the model's documentation of the shape.
            Refusal::InvalidNextToken => CloudWatchError::new(
                "InvalidNextToken",
                400,
                Sender,
                "The next token specified is invalid.",
            ),
            Refusal::InvalidFormat(text) => {
                CloudWatchError::new("InvalidFormat", 400, Sender, text)
            }
            Refusal::NotFound => CloudWatchError::new("ResourceNotFound", 404, Sender, ""),
            Refusal::LimitExceeded(text) => {
                CloudWatchError::new("LimitExceeded", 400, Sender, text)
            }
            // [unsure] what a query-protocol CloudWatch says for a value of the wrong type; the
            // JSON protocol's framework says SerializationException.
            Refusal::Serialization(text) => {
                CloudWatchError::new("SerializationException", 400, Sender, text)
            }
            Refusal::Internal(text) => {
                CloudWatchError::new("InternalServiceError", 500, Receiver, text)
            }
        }
    }

    // ---- presence -------------------------------------------------------------------------

    /// "The parameter Namespace is required." (quoted from AWS in JuliaCloud/AWSSDK.jl#2).
    pub(crate) fn missing(param: &str) -> Refusal {
        Refusal::Missing(format!("The parameter {param} is required."))
    }

    // ---- the framework's constraint clauses -------------------------------------------------
    // "Value 'INVALID' at 'stateValue' failed to satisfy constraint: Member must satisfy enum
    // value set: [INSUFFICIENT_DATA, ALARM, OK]" (LocalStack's snapshot of AWS).

    /// A string longer than the model allows.
    pub(crate) fn too_long(path: &str, value: &str, max: usize) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must have length \
             less than or equal to {max}"
        )
    }

    /// A string shorter than the model allows.
    pub(crate) fn too_short(path: &str, value: &str, min: usize) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must have length \
             greater than or equal to {min}"
        )
    }

    /// A list longer than the model allows (the value shown as the framework shows lists).
    pub(crate) fn list_too_long(path: &str, shown: &str, max: usize) -> String {
        format!(
            "Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length \
             less than or equal to {max}"
        )
    }

    /// A number below the model's minimum.
    pub(crate) fn below_min(path: &str, value: i64, min: i64) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value \
             greater than or equal to {min}"
        )
    }

    /// A number above the model's maximum.
    pub(crate) fn above_max(path: &str, value: i64, max: i64) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value \
             less than or equal to {max}"
        )
    }

    /// A string outside an enum; `set` in the order AWS prints it.
    pub(crate) fn not_in_enum(path: &str, value: &str, set: &[&str]) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum \
             value set: [{}]",
            set.join(", ")
        )
    }

    /// A list member outside an enum: the framework shows the whole list and nests the
    /// member's constraint. `[unsure]` (the framework's usual form for list members).
    pub(crate) fn list_member_not_in_enum(path: &str, shown: &str, set: &[&str]) -> String {
        format!(
            "Value '{shown}' at '{path}' failed to satisfy constraint: Member must satisfy \
             constraint: [Member must satisfy enum value set: [{}]]",
            set.join(", ")
        )
    }

    /// A string not matching the model's pattern.
    pub(crate) fn not_matching(path: &str, value: &str, pattern: &str) -> String {
        format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: {pattern}"
        )
    }

    // ---- PutMetricData ----------------------------------------------------------------------

    /// "The value AWS/ for parameter Namespace is invalid." (quoted from AWS in boto/boto3#1847;
    /// the text names the prefix, not the namespace given).
    pub(crate) fn reserved_namespace() -> Refusal {
        Refusal::InvalidValue("The value AWS/ for parameter Namespace is invalid.".into())
    }

    /// "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually
    /// exclusive and you have specified both." (LocalStack's snapshot of AWS.)
    pub(crate) fn mutually_exclusive(a: &str, b: &str) -> Refusal {
        Refusal::Combination(format!(
            "The parameters {a} and {b} are mutually exclusive and you have specified both."
        ))
    }

    /// "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the
    /// same size." (LocalStack's snapshot of AWS.)
    pub(crate) fn sizes_differ(values: &str, counts: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The parameters {values} and {counts} must be of the same size."
        ))
    }

    /// "At least one of the parameters MetricData.member.1.Value and
    /// MetricData.member.1.StatisticValues must be specified." (quoted from AWS in
    /// AdRoll/goamz#301, 2014, before `Values` existed.)
    pub(crate) fn value_required(value: &str, statistic_values: &str) -> Refusal {
        Refusal::Combination(format!(
            "At least one of the parameters {value} and {statistic_values} must be specified."
        ))
    }

    /// "The value NaN for parameter MetricData.member.1.Value is invalid." (moto and
    /// LocalStack; `[unsure]` for the infinities' and out-of-range values' spelling, Java's:
    /// `Infinity`, `-Infinity`, `1.0E200`.)
    pub(crate) fn invalid_number(param: &str, shown: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The value {shown} for parameter {param} is invalid."
        ))
    }

    /// A value AWS refuses, in the same words as [`Refusal::invalid_number`]: dimension names
    /// starting with a colon, names or values not printable ASCII. `[unsure]`.
    pub(crate) fn invalid_value(param: &str, shown: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The value {shown} for parameter {param} is invalid."
        ))
    }

    /// "The parameter MetricData.member.1.StorageResolution must be a value in the set
    /// [ 1, 60 ]." (quoted from AWS in boto/botocore#1671.)
    pub(crate) fn storage_resolution(param: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The parameter {param} must be a value in the set [ 1, 60 ]."
        ))
    }

    /// A timestamp more than two weeks old: "The parameter MetricData.member.1.Timestamp must
    /// specify a time within the past two weeks." (Eucalyptus's copy of AWS's text.)
    pub(crate) fn timestamp_too_old(param: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The parameter {param} must specify a time within the past two weeks."
        ))
    }

    /// A timestamp more than two hours ahead. `[unsure]`.
    pub(crate) fn timestamp_too_new(param: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The parameter {param} must specify a time no more than two hours in the future."
        ))
    }

    /// A collection over its limit, e.g. "The collection MetricData must not have a size
    /// greater than 1000." (Eucalyptus's wording; `[unsure]` for today's AWS.)
    pub(crate) fn collection_too_big(param: &str, max: usize) -> Refusal {
        Refusal::InvalidValue(format!(
            "The collection {param} must not have a size greater than {max}."
        ))
    }

    /// A statistic set whose maximum is below its minimum, or whose sample count is not
    /// positive. `[unsure]` (Eucalyptus's wording).
    pub(crate) fn statistic_set(text: String) -> Refusal {
        Refusal::InvalidValue(text)
    }

    // ---- GetMetricStatistics / GetMetricData ----------------------------------------------

    /// "The parameter StartTime must be less than the parameter EndTime." (LocalStack's
    /// snapshot of AWS, GetMetricStatistics.)
    pub(crate) fn start_not_before_end() -> Refusal {
        Refusal::InvalidValue(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        )
    }

    /// GetMetricData's: "The parameter EndTime must be greater than StartTime." and "The
    /// parameter StartTime must not equal parameter EndTime." `[unsure]` (moto's texts).
    pub(crate) fn metric_data_times(equal: bool) -> Refusal {
        Refusal::ValidationText(if equal {
            "The parameter StartTime must not equal parameter EndTime.".into()
        } else {
            "The parameter EndTime must be greater than StartTime.".into()
        })
    }

    /// "You have requested up to 86400 datapoints, which exceeds the limit of 1440. You may
    /// reduce the datapoints requested by increasing Period, or decreasing the time range."
    /// (LocalStack's snapshot of AWS: no thousands separators.)
    pub(crate) fn too_many_datapoints(requested: i64, limit: i64) -> Refusal {
        Refusal::Combination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of \
             {limit}. You may reduce the datapoints requested by increasing Period, or \
             decreasing the time range."
        ))
    }

    /// A period that is not 1, 5, 10, 20, 30 or a multiple of 60: "The parameter Period must be
    /// a multiple of 60." (Eucalyptus's copy of AWS's text, from before high resolution.)
    pub(crate) fn period_not_allowed(param: &str) -> Refusal {
        Refusal::InvalidValue(format!("The parameter {param} must be a multiple of 60."))
    }

    /// Both `Statistics` and `ExtendedStatistics`. `[unsure]`.
    pub(crate) fn both_statistics() -> Refusal {
        Refusal::mutually_exclusive("Statistics", "ExtendedStatistics")
    }

    /// Neither `Statistics` nor `ExtendedStatistics`. `[unsure]`.
    pub(crate) fn no_statistics() -> Refusal {
        Refusal::Missing("Must specify either Statistics or ExtendedStatistics.".into())
    }

    /// An extended statistic this service does not compute: "The value p101 for parameter
    /// ExtendedStatistic is not supported." (LocalStack, PutMetricAlarm; `[unsure]` elsewhere.)
    pub(crate) fn extended_statistic(param: &str, value: &str) -> Refusal {
        Refusal::InvalidValue(format!(
            "The value {value} for parameter {param} is not supported."
        ))
    }

    /// GetMetricData's bad statistics: "The value for parameter
    /// MetricDataQueries.member.37.MetricStat.Stat is not a valid statistic." (quoted from AWS
    /// in prometheus-community/yet-another-cloudwatch-exporter#1435; several are joined by
    /// newlines.)
    pub(crate) fn metric_data_invalid(lines: Vec<String>) -> Refusal {
        Refusal::ValidationText(lines.join("\n"))
    }

    /// One line of [`Refusal::metric_data_invalid`] for a statistic.
    pub(crate) fn not_a_statistic(param: &str) -> String {
        format!("The value for parameter {param} is not a valid statistic.")
    }

    /// One line for a period. `[unsure]`.
    pub(crate) fn not_a_period(param: &str) -> String {
        format!("The value for parameter {param} is not a valid period.")
    }

    /// One line for an id: ids start with a lowercase letter and hold letters, digits and
    /// underscores. `[unsure]`.
    pub(crate) fn not_an_id(param: &str, id: &str) -> String {
        format!(
            "The value {id} for parameter {param} is not valid. The first character must be a \
             lower-case letter and the rest must be letters, numbers or underscores."
        )
    }

    /// One line for a repeated id. `[unsure]`.
    pub(crate) fn duplicate_id(id: &str) -> String {
        format!("The value {id} is used more than once as an Id in MetricDataQueries.")
    }

    /// One line for a query with both or neither of `MetricStat` and `Expression`. `[unsure]`.
    pub(crate) fn stat_or_expression(param: &str) -> String {
        format!("Exactly one of {param}.MetricStat and {param}.Expression must be specified.")
    }

    /// One line for a metric math expression that does not parse or names an unknown id.
    /// `[unsure]`.
    pub(crate) fn bad_expression(param: &str, why: &str) -> String {
        format!("Invalid expression for {param}: {why}")
    }

    /// A `MaxDatapoints` below 1. `[unsure]`.
    pub(crate) fn max_datapoints() -> Refusal {
        Refusal::InvalidValue("The parameter MaxDatapoints must be greater than 0.".into())
    }

    // ---- alarms ---------------------------------------------------------------------------

    /// "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be
    /// <= 86400)." (Eucalyptus's copy of AWS's text); the 7-day one for periods of an hour or
    /// more is `[unsure]`.
    pub(crate) fn evaluation_too_long(max_seconds: i64) -> Refusal {
        if max_seconds == 86_400 {
            Refusal::Combination(
                "Metrics cannot be checked across more than a day (EvaluationPeriods * Period \
                 must be <= 86400)."
                    .into(),
            )
        } else {
            Refusal::Combination(format!(
                "Metrics cannot be checked across more than 7 days (EvaluationPeriods * Period \
                 must be <= {max_seconds})."
            ))
        }
    }

    /// "The value X is not supported for TreatMissingData parameter. Supported values are
    /// [breaching, notBreaching, ignore, missing]." (LocalStack.)
    pub(crate) fn treat_missing_data(value: &str) -> Refusal {
        Refusal::ValidationText(format!(
            "The value {value} is not supported for TreatMissingData parameter. Supported values \
             are [breaching, notBreaching, ignore, missing]."
        ))
    }

    /// "Option X is not supported. Supported options for parameter
    /// EvaluateLowSampleCountPercentile are evaluate and ignore." (LocalStack and moto.)
    pub(crate) fn low_sample_count(value: &str) -> Refusal {
        Refusal::ValidationText(format!(
            "Option {value} is not supported. Supported options for parameter \
             EvaluateLowSampleCountPercentile are evaluate and ignore."
        ))
    }

    /// An alarm period that is not 10, 20, 30 or a multiple of 60. `[unsure]` (LocalStack's
    /// text, from before 20 was allowed).
    pub(crate) fn alarm_period() -> Refusal {
        Refusal::ValidationText("Period must be 10, 20, 30 or a multiple of 60".into())
    }

    /// `DatapointsToAlarm` above `EvaluationPeriods`. `[unsure]`.
    pub(crate) fn datapoints_to_alarm() -> Refusal {
        Refusal::ValidationText(
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods".into(),
        )
    }

    /// An anomaly-detection operator on an alarm without `ThresholdMetricId`. `[unsure]`.
    pub(crate) fn range_operator_needs_threshold_metric() -> Refusal {
        Refusal::ValidationText(
            "Comparison operators for ranges require ThresholdMetricId to be set".into(),
        )
    }

    /// `ThresholdMetricId` (anomaly detection bands), which this service does not evaluate.
    /// `[unsure]`.
    pub(crate) fn threshold_metric_unsupported() -> Refusal {
        Refusal::ValidationText(
            "ThresholdMetricId is only supported for anomaly detection band expressions".into(),
        )
    }

    /// A metric alarm that names a metric both ways or neither. `[unsure]`.
    pub(crate) fn metric_or_metrics(both: bool) -> Refusal {
        if both {
            Refusal::Combination(
                "The parameters MetricName and Metrics are mutually exclusive and you have \
                 specified both."
                    .into(),
            )
        } else {
            Refusal::ValidationText(
                "Exactly one of the parameters MetricName or Metrics must be specified.".into(),
            )
        }
    }

    /// A `Metrics` alarm whose queries do not have exactly one `ReturnData` true. `[unsure]`.
    pub(crate) fn one_return_data() -> Refusal {
        Refusal::ValidationText(
            "Exactly one element of the metrics list should return data.".into(),
        )
    }

    /// Neither `Statistic` nor `ExtendedStatistic` on a metric alarm. `[unsure]`.
    pub(crate) fn alarm_statistic_missing() -> Refusal {
        Refusal::Missing(
            "The parameter Statistic or the parameter ExtendedStatistic must be specified.".into(),
        )
    }

    /// An action that is not an ARN. `[unsure]`.
    pub(crate) fn invalid_action(arn: &str) -> Refusal {
        Refusal::ValidationText(format!("Invalid arn syntax: {arn}"))
    }

    /// `StateReasonData` that is not JSON. `[unsure]` (Eucalyptus's wording).
    pub(crate) fn state_reason_data() -> Refusal {
        Refusal::InvalidFormat("StateReasonData was not syntactically valid JSON".into())
    }

    /// `AlarmNames` with `AlarmNamePrefix`. `[unsure]` (Eucalyptus's wording).
    pub(crate) fn names_and_prefix() -> Refusal {
        Refusal::Combination("AlarmNamePrefix and AlarmNames.member are mutually exclusive".into())
    }

    /// The per-region alarm quota (5,000, AWS's default). `[unsure]`.
    pub(crate) fn too_many_alarms() -> Refusal {
        Refusal::LimitExceeded(
            "The maximum number of alarms for this account has been reached.".into(),
        )
    }

    /// ListMetrics' bad token: "Request parameter NextToken is invalid" `[unsure]` (moto).
    pub(crate) fn list_next_token() -> Refusal {
        Refusal::InvalidValue("Request parameter NextToken is invalid".into())
    }
}

impl From<Refusal> for CloudWatchError {
    fn from(r: Refusal) -> CloudWatchError {
        r.into_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_clauses_are_counted_and_joined() {
        let one = Refusal::Validation(vec![Refusal::not_in_enum(
            "stateValue",
            "INVALID",
            &["INSUFFICIENT_DATA", "ALARM", "OK"],
        )])
        .into_error();
        assert_eq!(one.code(), "ValidationError");
        assert_eq!(
            one.message(),
            "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy \
             constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
        );
        let two = Refusal::Validation(vec!["a".into(), "b".into()]).into_error();
        assert_eq!(two.message(), "2 validation errors detected: a; b");
    }

    #[test]
    fn not_found_has_no_message_and_is_404() {
        let e = Refusal::NotFound.into_error();
        assert_eq!(
            (e.code(), e.status(), e.message()),
            ("ResourceNotFound", 404, "")
        );
    }
}
