//! The operations' inputs as the edge hands them over (the AWS JSON protocol's shape, members
//! named as in the model) decoded into typed structs, and [`Checks`], which gathers the
//! framework's constraint clauses the way AWS reports them: all at once. Every member is
//! optional here: presence and ranges are the operations' to check. Unknown members are ignored
//! (clients send members newer than this service).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{self, Refusal};

/// Decodes `input` (an object, or null for an empty request) into `T`.
pub(crate) fn decode<T: DeserializeOwned>(input: Value) -> Result<T, Refusal> {
    let input = if input.is_null() {
        Value::Object(serde_json::Map::new())
    } else {
        input
    };
    serde_json::from_value(input).map_err(|e| Refusal::Serialization(e.to_string()))
}

/// The constraint clauses broken so far, reported together as one `InvalidParameterException`.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    clauses: Vec<String>,
}

impl Checks {
    /// Records a broken constraint.
    pub(crate) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The clauses recorded.
    #[cfg(test)]
    pub(crate) fn clauses(&self) -> &[String] {
        &self.clauses
    }

    /// The value of a required member, recording its absence.
    pub(crate) fn required<'a, T>(&mut self, path: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            self.push(error::clause_missing(path));
        }
        value.as_ref()
    }

    /// A number in `min..=max` (either bound optional).
    pub(crate) fn range(&mut self, path: &str, value: Option<i64>, min: i64, max: Option<i64>) {
        let Some(v) = value else { return };
        if v < min {
            self.push(error::clause_below(path, v, min));
        } else if let Some(max) = max.filter(|&max| v > max) {
            self.push(error::clause_above(path, v, max));
        }
    }

    /// A string of `min..=max` characters.
    pub(crate) fn length(&mut self, path: &str, value: Option<&str>, min: usize, max: usize) {
        let Some(v) = value else { return };
        let n = v.chars().count();
        if n < min {
            self.push(error::clause_too_short(path, v, min));
        } else if n > max {
            self.push(error::clause_too_long(path, v, max));
        }
    }

    /// A list or map of `min..=max` members.
    pub(crate) fn count(&mut self, path: &str, len: Option<usize>, min: usize, max: usize) {
        let Some(n) = len else { return };
        if n < min {
            self.push(error::clause_count(path, "greater than or equal to", min));
        } else if n > max {
            self.push(error::clause_count(path, "less than or equal to", max));
        }
    }

    /// One of `allowed`.
    pub(crate) fn one_of(&mut self, path: &str, value: Option<&str>, allowed: &[&str]) {
        let Some(v) = value else { return };
        if !allowed.contains(&v) {
            self.push(error::clause_enum(path, v, &allowed.join(", ")));
        }
    }

    /// Ok when nothing was broken; else the refusal listing every clause.
    pub(crate) fn finish(self) -> Result<(), Refusal> {
        if self.clauses.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Validation(self.clauses))
        }
    }
}

/// Tags as the model has them: a map of key to value.
pub(crate) type Tags = BTreeMap<String, String>;

/// The log group classes of the model.
pub(crate) const GROUP_CLASSES: [&str; 3] = ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"];

/// Checks tags against the model: at most 50, keys of 1–128 and values of up to 256 characters
/// of letters, spaces, digits and `_.:/=+-@`.
pub(crate) fn check_tags(checks: &mut Checks, path: &str, tags: &Tags) {
    checks.count(path, Some(tags.len()), 1, 50);
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    for (key, value) in tags {
        checks.length(&format!("{path}.member.key"), Some(key), 1, 128);
        if !key.chars().all(allowed) {
            checks.push(error::clause_pattern(
                &format!("{path}.member.key"),
                key,
                r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$",
            ));
        }
        checks.length(&format!("{path}.member.value"), Some(value), 0, 256);
        if !value.chars().all(allowed) {
            checks.push(error::clause_pattern(
                &format!("{path}.member.value"),
                value,
                r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
            ));
        }
    }
}

/// `CreateLogGroupRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateLogGroupInput {
    pub log_group_name: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Option<Tags>,
    pub log_group_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

/// A request naming one log group: `DeleteLogGroupRequest`, `DeleteRetentionPolicyRequest`,
/// `ListTagsLogGroupRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupNameInput {
    pub log_group_name: Option<String>,
}

/// `DescribeLogGroupsRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogGroupsInput {
    pub log_group_name_prefix: Option<String>,
    pub log_group_name_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub log_group_class: Option<String>,
    pub log_group_identifiers: Option<Vec<String>>,
}

/// `PutRetentionPolicyRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutRetentionPolicyInput {
    pub log_group_name: Option<String>,
    pub retention_in_days: Option<i64>,
}

/// A request naming one log stream: `CreateLogStreamRequest`, `DeleteLogStreamRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamNameInput {
    pub log_group_name: Option<String>,
    pub log_stream_name: Option<String>,
}

/// `DescribeLogStreamsRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DescribeLogStreamsInput {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name_prefix: Option<String>,
    pub order_by: Option<String>,
    pub descending: Option<bool>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

/// `InputLogEvent`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InputLogEvent {
    pub timestamp: Option<i64>,
    pub message: Option<String>,
}

/// `PutLogEventsRequest` (`sequenceToken` and `entity` are accepted and ignored, as AWS now
/// ignores the token).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PutLogEventsInput {
    pub log_group_name: Option<String>,
    pub log_stream_name: Option<String>,
    pub log_events: Option<Vec<InputLogEvent>>,
}

/// `GetLogEventsRequest` (`unmask` is ignored: nothing is masked here).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetLogEventsInput {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub start_from_head: Option<bool>,
}

/// `FilterLogEventsRequest` (`interleaved` is ignored, as AWS ignores it; `unmask` too).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterLogEventsInput {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_names: Option<Vec<String>>,
    pub log_stream_name_prefix: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub filter_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub start_from_head: Option<bool>,
}

/// `TagResourceRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagResourceInput {
    pub resource_arn: Option<String>,
    pub tags: Option<Tags>,
}

/// `UntagResourceRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagResourceInput {
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

/// `ListTagsForResourceRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourceArnInput {
    pub resource_arn: Option<String>,
}

/// `TagLogGroupRequest` (deprecated by AWS, still served).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagLogGroupInput {
    pub log_group_name: Option<String>,
    pub tags: Option<Tags>,
}

/// `UntagLogGroupRequest` (deprecated by AWS, still served): `tags` is a list of keys.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UntagLogGroupInput {
    pub log_group_name: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_decode_and_unknown_ones_are_ignored() {
        let input: GetLogEventsInput = decode(json!({
            "logGroupName": "g", "logStreamName": "s", "limit": 5, "startFromHead": true,
            "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(input.log_group_name.as_deref(), Some("g"));
        assert_eq!(input.limit, Some(5));
        assert_eq!(input.start_from_head, Some(true));
        let empty: GetLogEventsInput = decode(Value::Null).unwrap();
        assert!(empty.log_stream_name.is_none());
        assert!(matches!(
            decode::<GetLogEventsInput>(json!({"limit": "five"})),
            Err(Refusal::Serialization(_))
        ));
    }

    #[test]
    fn every_broken_constraint_is_reported() {
        let mut checks = Checks::default();
        checks.required::<String>("logGroupName", &None);
        checks.range("limit", Some(0), 1, Some(50));
        checks.range("limit", Some(51), 1, Some(50));
        checks.range("limit", Some(50), 1, Some(50));
        assert_eq!(
            checks.finish(),
            Err(Refusal::Validation(vec![
                "Value null at 'logGroupName' failed to satisfy constraint: Member must not be null"
                    .into(),
                "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater \
                 than or equal to 1"
                    .into(),
                "Value '51' at 'limit' failed to satisfy constraint: Member must have value less \
                 than or equal to 50"
                    .into(),
            ]))
        );
    }
}
