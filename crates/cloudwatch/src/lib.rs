//! CloudWatch's rules over Ferrocache's time-series store: the metric operations
//! (`PutMetricData`, `GetMetricStatistics`, `GetMetricData`, `ListMetrics`) and alarms, with
//! AWS's validation, limits and messages. No HTTP: the API edge decodes any of CloudWatch's three
//! wire protocols into one protocol-neutral JSON value (the AWS JSON protocol's shape: members
//! named as in the model, lists as arrays, timestamps as epoch seconds) and calls
//! [`CloudWatch::call`]; the answer comes back in the same shape.
//!
//! (Being written: this is the interface the edge is built against.)

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

    /// The message, as AWS words it.
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

/// The CloudWatch service of one Ferrocache.
#[derive(Debug, Default)]
pub struct CloudWatch {}

impl CloudWatch {
    /// Runs `operation` (its name in the model, e.g. `GetMetricStatistics`) for a caller in
    /// `region`, on `input` in the AWS JSON protocol's shape; answers in the same shape.
    ///
    /// # Errors
    /// AWS's refusal for the request.
    pub fn call(
        &self,
        region: &str,
        operation: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, CloudWatchError> {
        let _ = (region, input);
        Err(CloudWatchError::unknown_operation(operation))
    }
}
