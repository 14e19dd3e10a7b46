//! Log delivery (`LogDeliveryConfigurations`): a group's or cache cluster's slow log and engine
//! log sent to a CloudWatch Logs log group (or a Kinesis Data Firehose stream), as text or JSON.
//!
//! The spec keeps one [`LogDelivery`] per [`LogType`] (the group's, copied onto each member as
//! the other group settings are); what the delivery really does is a fact of each node
//! ([`NodeLogDelivery`]), and the status a client sees ([`LogDeliveryStatus`]) is derived from
//! the two: `enabling` until a node delivered, `active` once all did, `modifying` while a node
//! still delivers an older configuration, `disabling` while one still delivers a removed one,
//! `error` (with the reason as `Message`) when a delivery fails.
//!
//! AWS's rules: a request is only taken with `ApplyImmediately` on a modify; each log type at
//! most once per request; `Enabled=false` removes that type's delivery. Messages AWS does not
//! publish are marked [unsure].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Fault;

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogType {
    /// The engine's `SLOWLOG`.
    SlowLog,
    /// The engine's own log file.
    EngineLog,
}

impl LogType {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::SlowLog => "slow-log",
            LogType::EngineLog => "engine-log",
        }
    }

    fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "slow-log" => Ok(LogType::SlowLog),
            "engine-log" => Ok(LogType::EngineLog),
            // [unsure] AWS's enum message for this member.
            other => Err(Fault::value(format!(
                "Invalid value {other} for LogType. Valid values are slow-log, engine-log."
            ))),
        }
    }
}

/// Where the entries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DestinationType {
    /// A CloudWatch Logs log group (delivered by Ferrocache's own CloudWatch Logs).
    CloudWatchLogs,
    /// A Kinesis Data Firehose delivery stream (Ferrocache has none: the delivery shows
    /// `error`).
    KinesisFirehose,
}

impl DestinationType {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::CloudWatchLogs => "cloudwatch-logs",
            DestinationType::KinesisFirehose => "kinesis-firehose",
        }
    }

    fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "cloudwatch-logs" => Ok(DestinationType::CloudWatchLogs),
            "kinesis-firehose" => Ok(DestinationType::KinesisFirehose),
            other => Err(Fault::value(format!(
                "Invalid value {other} for DestinationType. Valid values are cloudwatch-logs, kinesis-firehose."
            ))),
        }
    }
}

/// How each entry is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogFormat {
    /// One line of comma-separated fields (slow log) or the engine's line (engine log).
    Text,
    /// One JSON object per entry.
    Json,
}

impl LogFormat {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }

    fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(Fault::value(format!(
                "Invalid value {other} for LogFormat. Valid values are text, json."
            ))),
        }
    }
}

/// One log type's delivery, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogDelivery {
    /// Which log.
    pub log_type: LogType,
    /// Where to.
    pub destination_type: DestinationType,
    /// The log group's name (`CloudWatchLogsDetails.LogGroup`) or the delivery stream's
    /// (`KinesisFirehoseDetails.DeliveryStream`).
    pub destination: String,
    /// Text or JSON.
    pub format: LogFormat,
}

/// One `LogDeliveryConfigurationRequest` as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogDeliveryRequest {
    /// `LogType`.
    pub log_type: Option<String>,
    /// `DestinationType`.
    pub destination_type: Option<String>,
    /// `DestinationDetails.CloudWatchLogsDetails.LogGroup`.
    pub log_group: Option<String>,
    /// `DestinationDetails.KinesisFirehoseDetails.DeliveryStream`.
    pub delivery_stream: Option<String>,
    /// `LogFormat`.
    pub log_format: Option<String>,
    /// `Enabled` (absent: enabled).
    pub enabled: Option<bool>,
}

/// The deliveries after `requests` are applied to `current` (a create starts from none).
///
/// # Errors
/// `InvalidParameterValue` for an unknown type, destination or format, a missing member, or a
/// destination that does not match its type; `InvalidParameterCombination` for a log type
/// named twice.
pub fn apply(
    current: &[LogDelivery],
    requests: &[LogDeliveryRequest],
) -> Result<Vec<LogDelivery>, Fault> {
    let mut by_type: BTreeMap<LogType, LogDelivery> =
        current.iter().map(|d| (d.log_type, d.clone())).collect();
    let mut seen = Vec::new();
    for request in requests {
        let log_type = LogType::parse(
            request
                .log_type
                .as_deref()
                .ok_or_else(|| Fault::MissingParameter("LogType".into()))?,
        )?;
        if seen.contains(&log_type) {
            // [unsure]
            return Err(Fault::combination(format!(
                "Duplicate log type {} in LogDeliveryConfigurations.",
                log_type.as_str()
            )));
        }
        seen.push(log_type);
        if request.enabled == Some(false) {
            by_type.remove(&log_type);
            continue;
        }
        let previous = by_type.get(&log_type);
        let destination_type = match (&request.destination_type, previous) {
            (Some(v), _) => DestinationType::parse(v)?,
            (None, Some(p)) => p.destination_type,
            (None, None) => return Err(Fault::MissingParameter("DestinationType".into())),
        };
        let format = match (&request.log_format, previous) {
            (Some(v), _) => LogFormat::parse(v)?,
            (None, Some(p)) => p.format,
            (None, None) => return Err(Fault::MissingParameter("LogFormat".into())),
        };
        let named = match destination_type {
            DestinationType::CloudWatchLogs => request.log_group.clone(),
            DestinationType::KinesisFirehose => request.delivery_stream.clone(),
        };
        let destination = match (named, previous) {
            (Some(name), _) => name,
            (None, Some(p)) if p.destination_type == destination_type => p.destination.clone(),
            // [unsure]
            (None, _) => {
                return Err(Fault::value(match destination_type {
                    DestinationType::CloudWatchLogs => {
                        "CloudWatchLogsDetails with a LogGroup is required for destination type cloudwatch-logs."
                    }
                    DestinationType::KinesisFirehose => {
                        "KinesisFirehoseDetails with a DeliveryStream is required for destination type kinesis-firehose."
                    }
                }))
            }
        };
        if destination.is_empty() || destination.len() > 512 {
            // [unsure]
            return Err(Fault::value(format!(
                "Invalid destination {destination:?}: a log group name is 1 to 512 characters."
            )));
        }
        by_type.insert(
            log_type,
            LogDelivery {
                log_type,
                destination_type,
                destination,
                format,
            },
        );
    }
    Ok(by_type.into_values().collect())
}

/// What a modify with log delivery requires: `ApplyImmediately`.
///
/// # Errors
/// `InvalidParameterValue` with AWS's message when `apply_immediately` is not true.
pub fn require_apply_immediately(
    requests: &[LogDeliveryRequest],
    apply_immediately: Option<bool>,
) -> Result<(), Fault> {
    if !requests.is_empty() && apply_immediately != Some(true) {
        return Err(Fault::value(
            "To modify the log delivery configuration, set the apply-immediately parameter to true.",
        ));
    }
    Ok(())
}

/// One node's delivery of one log type, as last carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFact {
    /// The configuration delivered.
    pub delivery: LogDelivery,
    /// Why the last delivery failed (`None`: it succeeded).
    pub error: Option<String>,
}

/// A node's deliveries, as carried out (observed facts, written by the log shipper), and how
/// far each log was delivered, so a restart of Ferrocache neither repeats nor skips entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLogDelivery {
    /// Per log type.
    pub facts: BTreeMap<LogType, DeliveryFact>,
    /// The id of the newest slow log entry delivered, with the node process's `run_id`
    /// (slow log ids start again with a new process).
    #[serde(default)]
    pub slow_log_cursor: Option<(String, u64)>,
    /// The offset in the node's log file up to which lines were delivered.
    #[serde(default)]
    pub engine_log_offset: u64,
}

/// The status a client sees for one log type's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDeliveryStatus {
    /// Configured; no node delivered yet.
    Enabling,
    /// Every node delivers it.
    Active,
    /// A node still delivers an older configuration.
    Modifying,
    /// Removed; a node still delivers it.
    Disabling,
    /// A delivery failed.
    Error,
}

impl LogDeliveryStatus {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogDeliveryStatus::Enabling => "enabling",
            LogDeliveryStatus::Active => "active",
            LogDeliveryStatus::Modifying => "modifying",
            LogDeliveryStatus::Disabling => "disabling",
            LogDeliveryStatus::Error => "error",
        }
    }
}

/// One row of `LogDeliveryConfigurations` in a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDeliveryView {
    /// The configuration (for `disabling`: the one still delivered).
    pub delivery: LogDelivery,
    /// Its status.
    pub status: LogDeliveryStatus,
    /// Why it failed, for `error`.
    pub message: Option<String>,
}

/// The rows a group (or cache cluster) shows: its configured deliveries with their status over
/// its `nodes`' facts, then the removed ones some node still delivers (`disabling`).
pub fn describe(configured: &[LogDelivery], nodes: &[NodeLogDelivery]) -> Vec<LogDeliveryView> {
    let mut rows = Vec::new();
    for delivery in configured {
        let facts: Vec<Option<&DeliveryFact>> = nodes
            .iter()
            .map(|n| n.facts.get(&delivery.log_type))
            .collect();
        let error = facts
            .iter()
            .flatten()
            .find(|f| f.delivery == *delivery && f.error.is_some())
            .and_then(|f| f.error.clone());
        let status = if error.is_some() {
            LogDeliveryStatus::Error
        } else if facts.is_empty() || facts.iter().all(Option::is_none) {
            LogDeliveryStatus::Enabling
        } else if facts
            .iter()
            .any(|f| f.is_some_and(|f| f.delivery != *delivery))
        {
            LogDeliveryStatus::Modifying
        } else if facts.iter().any(Option::is_none) {
            LogDeliveryStatus::Enabling
        } else {
            LogDeliveryStatus::Active
        };
        rows.push(LogDeliveryView {
            delivery: delivery.clone(),
            status,
            message: error,
        });
    }
    let mut removed: BTreeMap<LogType, LogDelivery> = BTreeMap::new();
    for node in nodes {
        for (log_type, fact) in &node.facts {
            if !configured.iter().any(|d| d.log_type == *log_type) {
                removed
                    .entry(*log_type)
                    .or_insert_with(|| fact.delivery.clone());
            }
        }
    }
    for delivery in removed.into_values() {
        rows.push(LogDeliveryView {
            delivery,
            status: LogDeliveryStatus::Disabling,
            message: None,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow_json(group: &str) -> LogDeliveryRequest {
        LogDeliveryRequest {
            log_type: Some("slow-log".into()),
            destination_type: Some("cloudwatch-logs".into()),
            log_group: Some(group.into()),
            log_format: Some("json".into()),
            ..LogDeliveryRequest::default()
        }
    }

    #[test]
    fn requests_set_replace_and_remove_deliveries() {
        let set = apply(&[], &[slow_json("g1")]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].destination, "g1");
        assert_eq!(set[0].format, LogFormat::Json);
        // A change of format alone keeps the destination.
        let text = LogDeliveryRequest {
            log_type: Some("slow-log".into()),
            log_format: Some("text".into()),
            ..LogDeliveryRequest::default()
        };
        let changed = apply(&set, &[text]).unwrap();
        assert_eq!(
            (changed[0].destination.as_str(), changed[0].format),
            ("g1", LogFormat::Text)
        );
        let off = LogDeliveryRequest {
            log_type: Some("slow-log".into()),
            enabled: Some(false),
            ..LogDeliveryRequest::default()
        };
        assert!(apply(&changed, &[off]).unwrap().is_empty());
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut bad = slow_json("g");
        bad.log_type = Some("audit-log".into());
        assert!(matches!(
            apply(&[], &[bad]),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert!(matches!(
            apply(&[], &[slow_json("a"), slow_json("b")]),
            Err(Fault::InvalidParameterCombination(_))
        ));
        let mut no_group = slow_json("g");
        no_group.log_group = None;
        assert!(matches!(
            apply(&[], &[no_group]),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert_eq!(
            require_apply_immediately(&[slow_json("g")], None)
                .unwrap_err()
                .to_string(),
            "To modify the log delivery configuration, set the apply-immediately parameter to true."
        );
        assert!(require_apply_immediately(&[slow_json("g")], Some(true)).is_ok());
    }

    #[test]
    fn status_follows_the_nodes_facts() {
        let configured = apply(&[], &[slow_json("g")]).unwrap();
        let fact = |delivery: &LogDelivery, error: Option<&str>| NodeLogDelivery {
            facts: [(
                delivery.log_type,
                DeliveryFact {
                    delivery: delivery.clone(),
                    error: error.map(String::from),
                },
            )]
            .into_iter()
            .collect(),
            ..NodeLogDelivery::default()
        };
        let none = NodeLogDelivery::default();
        let status = |nodes: &[NodeLogDelivery]| describe(&configured, nodes)[0].status;
        assert_eq!(
            status(&[none.clone(), none.clone()]),
            LogDeliveryStatus::Enabling
        );
        let done = fact(&configured[0], None);
        assert_eq!(
            status(&[done.clone(), none.clone()]),
            LogDeliveryStatus::Enabling
        );
        assert_eq!(
            status(&[done.clone(), done.clone()]),
            LogDeliveryStatus::Active
        );
        let failed = fact(
            &configured[0],
            Some("The specified log group does not exist."),
        );
        let rows = describe(&configured, &[done.clone(), failed]);
        assert_eq!(rows[0].status, LogDeliveryStatus::Error);
        assert!(rows[0].message.is_some());
        let older = fact(&apply(&[], &[slow_json("old")]).unwrap()[0], None);
        assert_eq!(status(&[done.clone(), older]), LogDeliveryStatus::Modifying);
        // Removed while a node still delivers it.
        let rows = describe(&[], &[done]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, LogDeliveryStatus::Disabling);
    }
}
