//! The operations: each decodes its input, checks it as AWS does (the framework's constraints
//! first, all reported together; then the service's own rules), acts on the store, and answers
//! in the model's shape.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::{self, Refusal};
use crate::filter::{Pattern, MAX_PATTERN_CHARS};
use crate::group::{Group, Settings, Stream, DAY_MS, RETENTION_DAYS};
use crate::input::{self, decode, Checks, Tags, GROUP_CLASSES};
use crate::logs::Logs;
use crate::names::{self, Identified};
use crate::paging::{self, ListCursor};
use crate::query::{self, Direction, Query, StreamSet, EVENT_OVERHEAD, PAGE_BYTES};

/// Largest `PutLogEvents` batch, messages plus 26 bytes per event.
const MAX_BATCH_BYTES: usize = 1_048_576;

/// Largest event, its message plus 26 bytes.
const MAX_EVENT_BYTES: usize = 1_048_576;

/// How far in the future an event may be.
const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;

/// How far in the past an event may be.
const MAX_AGE_MS: i64 = 14 * DAY_MS;

/// The longest time a `PutLogEvents` batch may span.
const MAX_BATCH_SPAN_MS: i64 = DAY_MS;

/// 2024-01-01T00:00:00Z: `FilterLogEvents` reads newest first only from here on.
const NEWEST_FIRST_SINCE_MS: i64 = 1_704_067_200_000;

/// Runs `operation`.
pub(crate) fn call(
    logs: &Logs,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, Refusal> {
    match operation {
        "CreateLogGroup" => create_log_group(logs, region, decode(input)?),
        "DeleteLogGroup" => delete_log_group(logs, region, decode(input)?),
        "DescribeLogGroups" => describe_log_groups(logs, region, decode(input)?),
        "PutRetentionPolicy" => put_retention_policy(logs, region, decode(input)?),
        "DeleteRetentionPolicy" => delete_retention_policy(logs, region, decode(input)?),
        "CreateLogStream" => create_log_stream(logs, region, decode(input)?),
        "DeleteLogStream" => delete_log_stream(logs, region, decode(input)?),
        "DescribeLogStreams" => describe_log_streams(logs, region, decode(input)?),
        "PutLogEvents" => put_log_events(logs, region, decode(input)?),
        "GetLogEvents" => get_log_events(logs, region, decode(input)?),
        "FilterLogEvents" => filter_log_events(logs, region, decode(input)?),
        "ListTagsLogGroup" => list_tags_log_group(logs, region, decode(input)?),
        "TagLogGroup" => tag_log_group(logs, region, decode(input)?),
        "UntagLogGroup" => untag_log_group(logs, region, decode(input)?),
        "ListTagsForResource" => list_tags_for_resource(logs, region, decode(input)?),
        "TagResource" => tag_resource(logs, region, decode(input)?),
        "UntagResource" => untag_resource(logs, region, decode(input)?),
        _ => Err(Refusal::UnknownOperation),
    }
}

// ---- shared checks -------------------------------------------------------------------------

/// Checks a required `logGroupName`.
fn required_group_name<'a>(
    checks: &mut Checks,
    name: &'a Option<String>,
) -> Result<Option<&'a str>, Refusal> {
    let name = checks.required("logGroupName", name);
    if let Some(n) = name {
        names::check_group_name(checks, "logGroupName", n)?;
    }
    Ok(name.map(String::as_str))
}

/// Checks a required `logStreamName`.
fn required_stream_name<'a>(
    checks: &mut Checks,
    name: &'a Option<String>,
) -> Result<Option<&'a str>, Refusal> {
    let name = checks.required("logStreamName", name);
    if let Some(n) = name {
        names::check_stream_name(checks, "logStreamName", n)?;
    }
    Ok(name.map(String::as_str))
}

/// The group a request names by `logGroupName` or `logGroupIdentifier`.
enum GroupRef<'a> {
    Name(&'a str),
    Identifier(&'a str),
}

/// Checks `logGroupName` / `logGroupIdentifier`, exactly one of which must be given.
fn group_ref<'a>(
    checks: &mut Checks,
    name: &'a Option<String>,
    identifier: &'a Option<String>,
) -> Result<GroupRef<'a>, Refusal> {
    if let Some(n) = name {
        names::check_group_name(checks, "logGroupName", n)?;
    }
    if let Some(i) = identifier {
        names::check_identifier(checks, "logGroupIdentifier", i);
    }
    match (name, identifier) {
        (Some(_), Some(_)) => Err(error::name_and_identifier()),
        (Some(n), None) => Ok(GroupRef::Name(n)),
        (None, Some(i)) => Ok(GroupRef::Identifier(i)),
        (None, None) => Err(error::no_group_given()),
    }
}

fn find_group(logs: &Logs, region: &str, group: GroupRef<'_>) -> Result<Arc<Group>, Refusal> {
    match group {
        GroupRef::Name(n) => logs.group(region, n),
        GroupRef::Identifier(i) => match names::resolve_identifier(region, logs.account(), i) {
            Identified::Name(n) => logs.group(region, &n),
            Identified::Elsewhere => Err(Refusal::GroupNotFound),
        },
    }
}

fn empty() -> Value {
    Value::Object(Map::new())
}

// ---- groups --------------------------------------------------------------------------------

fn create_log_group(
    logs: &Logs,
    region: &str,
    input: input::CreateLogGroupInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    checks.length("kmsKeyId", input.kms_key_id.as_deref(), 0, 256);
    if let Some(tags) = &input.tags {
        input::check_tags(&mut checks, "tags", tags);
    }
    checks.one_of(
        "logGroupClass",
        input.log_group_class.as_deref(),
        &GROUP_CLASSES,
    );
    checks.finish()?;
    let name = name.expect("checked");
    if name.starts_with("aws/") {
        return Err(error::reserved_group_name());
    }
    let class = input.log_group_class.unwrap_or_else(|| "STANDARD".into());
    // AWS keeps a DELIVERY class group's events one day, whatever is asked.
    let retention_days = (class == "DELIVERY").then_some(1);
    logs.create_group(
        region,
        name,
        Settings {
            retention_days,
            kms_key_id: input.kms_key_id,
            tags: input.tags.unwrap_or_default(),
            class,
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
        },
    )?;
    Ok(empty())
}

fn delete_log_group(
    logs: &Logs,
    region: &str,
    input: input::GroupNameInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    checks.finish()?;
    logs.delete_group(region, name.expect("checked"))?;
    Ok(empty())
}

fn describe_log_groups(
    logs: &Logs,
    region: &str,
    input: input::DescribeLogGroupsInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    if let Some(prefix) = &input.log_group_name_prefix {
        names::check_group_name(&mut checks, "logGroupNamePrefix", prefix)?;
    }
    if let Some(pattern) = &input.log_group_name_pattern {
        checks.length("logGroupNamePattern", Some(pattern), 0, 512);
        if !pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_/#".contains(c))
        {
            checks.push(error::clause_pattern(
                "logGroupNamePattern",
                pattern,
                r"[\.\-_/#A-Za-z0-9]*",
            ));
        }
    }
    checks.length("nextToken", input.next_token.as_deref(), 1, usize::MAX);
    checks.range("limit", input.limit, 1, Some(50));
    checks.one_of(
        "logGroupClass",
        input.log_group_class.as_deref(),
        &GROUP_CLASSES,
    );
    checks.count(
        "logGroupIdentifiers",
        input.log_group_identifiers.as_ref().map(Vec::len),
        1,
        50,
    );
    checks.finish()?;
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(error::prefix_and_pattern());
    }
    let after = match input.next_token.as_deref().map(paging::parse_list_token) {
        None => None,
        Some(Ok(ListCursor::Name(name))) => Some(name),
        Some(_) => return Err(Refusal::InvalidNextToken),
    };
    let wanted: Option<Vec<String>> = input.log_group_identifiers.as_ref().map(|ids| {
        ids.iter()
            .filter_map(
                |i| match names::resolve_identifier(region, logs.account(), i) {
                    Identified::Name(n) => Some(n),
                    Identified::Elsewhere => None,
                },
            )
            .collect()
    });
    let pattern = input.log_group_name_pattern.as_deref();
    let limit = input.limit.unwrap_or(50) as usize;
    let mut matched = logs
        .groups_with_prefix(region, input.log_group_name_prefix.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|g| after.as_ref().is_none_or(|a| g.name > *a))
        .filter(|g| pattern.is_none_or(|p| g.name.contains(p)))
        .filter(|g| wanted.as_ref().is_none_or(|w| w.contains(&g.name)))
        .filter(|g| {
            input
                .log_group_class
                .as_ref()
                .is_none_or(|c| g.settings.read().class == *c)
        })
        .take(limit + 1)
        .collect::<Vec<_>>();
    let more = matched.len() > limit;
    matched.truncate(limit);
    let described: Vec<Value> = matched
        .iter()
        .map(|g| describe_group(logs, g, pattern.is_some()))
        .collect();
    let mut out = json!({ "logGroups": described });
    if more {
        let last = matched.last().expect("more than limit");
        out["nextToken"] = json!(paging::list_token(&ListCursor::Name(last.name.clone())));
    }
    Ok(out)
}

/// A `LogGroup`; `brief` for a `logGroupNamePattern` search, which AWS answers with fewer
/// members (LocalStack's snapshot of AWS).
fn describe_group(logs: &Logs, group: &Group, brief: bool) -> Value {
    let settings = group.settings.read().clone();
    let arn = names::group_arn(&group.region, logs.account(), &group.name);
    let mut out = json!({
        "logGroupName": group.name,
        "creationTime": group.created,
        "metricFilterCount": 0,
        "arn": format!("{arn}:*"),
        "logGroupClass": settings.class,
        "logGroupArn": arn,
    });
    if !brief {
        out["storedBytes"] = json!(group.state.lock().events.stored_bytes());
        out["deletionProtectionEnabled"] = json!(settings.deletion_protection);
        if let Some(days) = settings.retention_days {
            out["retentionInDays"] = json!(days);
        }
        if let Some(kms) = settings.kms_key_id {
            out["kmsKeyId"] = json!(kms);
        }
    }
    out
}

fn put_retention_policy(
    logs: &Logs,
    region: &str,
    input: input::PutRetentionPolicyInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    let days = checks.required("retentionInDays", &input.retention_in_days);
    let days = match days {
        Some(&d) => match u32::try_from(d).ok().filter(|d| RETENTION_DAYS.contains(d)) {
            Some(d) => Some(d),
            None => {
                let allowed: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
                checks.push(error::clause_enum(
                    "retentionInDays",
                    &d.to_string(),
                    &allowed.join(", "),
                ));
                None
            }
        },
        None => None,
    };
    checks.finish()?;
    let group = logs.group(region, name.expect("checked"))?;
    if group.settings.read().class == "DELIVERY" {
        return Err(error::delivery_class_retention());
    }
    logs.set_retention(&group, days)?;
    Ok(empty())
}

fn delete_retention_policy(
    logs: &Logs,
    region: &str,
    input: input::GroupNameInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    checks.finish()?;
    let group = logs.group(region, name.expect("checked"))?;
    if group.settings.read().class == "DELIVERY" {
        return Err(error::delivery_class_retention());
    }
    logs.set_retention(&group, None)?;
    Ok(empty())
}

// ---- streams -------------------------------------------------------------------------------

fn create_log_stream(
    logs: &Logs,
    region: &str,
    input: input::StreamNameInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = required_group_name(&mut checks, &input.log_group_name)?;
    let stream = required_stream_name(&mut checks, &input.log_stream_name)?;
    checks.finish()?;
    let group = logs.group(region, group.expect("checked"))?;
    logs.create_stream(&group, stream.expect("checked"))?;
    Ok(empty())
}

fn delete_log_stream(
    logs: &Logs,
    region: &str,
    input: input::StreamNameInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = required_group_name(&mut checks, &input.log_group_name)?;
    let stream = required_stream_name(&mut checks, &input.log_stream_name)?;
    checks.finish()?;
    let group = logs.group(region, group.expect("checked"))?;
    logs.delete_stream(&group, stream.expect("checked"))?;
    Ok(empty())
}

fn describe_log_streams(
    logs: &Logs,
    region: &str,
    input: input::DescribeLogStreamsInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = group_ref(
        &mut checks,
        &input.log_group_name,
        &input.log_group_identifier,
    );
    if let Some(prefix) = &input.log_stream_name_prefix {
        names::check_stream_name(&mut checks, "logStreamNamePrefix", prefix)?;
    }
    checks.one_of(
        "orderBy",
        input.order_by.as_deref(),
        &["LogStreamName", "LastEventTime"],
    );
    checks.length("nextToken", input.next_token.as_deref(), 1, usize::MAX);
    checks.range("limit", input.limit, 1, Some(50));
    checks.finish()?;
    let group = find_group(logs, region, group?)?;
    let by_time = input.order_by.as_deref() == Some("LastEventTime");
    if by_time && input.log_stream_name_prefix.is_some() {
        return Err(error::prefix_with_last_event_time());
    }
    let after = input
        .next_token
        .as_deref()
        .map(paging::parse_list_token)
        .transpose()?;
    let descending = input.descending.unwrap_or(false);
    let limit = input.limit.unwrap_or(50) as usize;
    let prefix = input.log_stream_name_prefix.as_deref().unwrap_or("");

    let sort_key = |name: &str, s: &Stream| -> ListCursor {
        if by_time {
            let last = if s.span.events > 0 {
                s.span.max_ts
            } else {
                i64::MIN
            };
            ListCursor::EventTime(last, name.to_string())
        } else {
            ListCursor::Name(name.to_string())
        }
    };
    let mut streams: Vec<(ListCursor, String, Stream)> = {
        let state = group.state.lock();
        state
            .streams
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, s)| (sort_key(name, s), name.clone(), s.clone()))
            .collect()
    };
    let order = |a: &ListCursor, b: &ListCursor| match (a, b) {
        (ListCursor::EventTime(ta, na), ListCursor::EventTime(tb, nb)) => (ta, na).cmp(&(tb, nb)),
        (ListCursor::Name(na), ListCursor::Name(nb)) => na.cmp(nb),
        // A cursor of the other order: AWS's tokens carry the order they were made for.
        _ => std::cmp::Ordering::Equal,
    };
    streams.sort_by(|a, b| order(&a.0, &b.0));
    if descending {
        streams.reverse();
    }
    if let Some(after) = &after {
        if matches!(after, ListCursor::EventTime(..)) != by_time {
            return Err(Refusal::InvalidNextToken);
        }
        streams.retain(|(key, _, _)| {
            let o = order(key, after);
            if descending {
                o.is_lt()
            } else {
                o.is_gt()
            }
        });
    }
    let more = streams.len() > limit;
    streams.truncate(limit);
    let described: Vec<Value> = streams
        .iter()
        .map(|(_, name, s)| describe_stream(logs, &group, name, s))
        .collect();
    let mut out = json!({ "logStreams": described });
    if more {
        let (key, _, _) = streams.last().expect("more than limit");
        out["nextToken"] = json!(paging::list_token(key));
    }
    Ok(out)
}

/// A `LogStream`. `storedBytes` is 0: AWS stopped counting per stream in 2019.
fn describe_stream(logs: &Logs, group: &Group, name: &str, stream: &Stream) -> Value {
    let mut out = json!({
        "logStreamName": name,
        "creationTime": stream.created,
        "arn": names::stream_arn(&group.region, logs.account(), &group.name, name),
        "storedBytes": 0,
    });
    if stream.span.events > 0 {
        out["firstEventTimestamp"] = json!(stream.span.min_ts);
        out["lastEventTimestamp"] = json!(stream.span.max_ts);
        out["lastIngestionTime"] = json!(stream.span.last_ingestion);
        // [unsure] AWS still lists a token for streams with events, though it ignores tokens.
        out["uploadSequenceToken"] = json!(paging::sequence_token(stream.span.events));
    }
    out
}

// ---- events --------------------------------------------------------------------------------

fn put_log_events(
    logs: &Logs,
    region: &str,
    input: input::PutLogEventsInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = required_group_name(&mut checks, &input.log_group_name)?;
    let stream = required_stream_name(&mut checks, &input.log_stream_name)?;
    let events = checks.required("logEvents", &input.log_events);
    if let Some(events) = events {
        checks.count("logEvents", Some(events.len()), 1, 10_000);
        for (i, e) in events.iter().enumerate() {
            let at = |member: &str| format!("logEvents.{}.member.{member}", i + 1);
            checks.required(&at("timestamp"), &e.timestamp);
            checks.range(&at("timestamp"), e.timestamp, 0, None);
            checks.required(&at("message"), &e.message);
            checks.length(&at("message"), e.message.as_deref(), 1, usize::MAX);
        }
    }
    checks.finish()?;
    let (group, stream) = (group.expect("checked"), stream.expect("checked"));
    let events: Vec<(i64, &str)> = events
        .expect("checked")
        .iter()
        .map(|e| {
            (
                e.timestamp.expect("checked"),
                e.message.as_deref().expect("checked"),
            )
        })
        .collect();

    let mut total = 0;
    for (_, message) in &events {
        let size = message.len() + EVENT_OVERHEAD;
        if size > MAX_EVENT_BYTES {
            return Err(error::event_too_large(size));
        }
        total += size;
    }
    if total > MAX_BATCH_BYTES {
        return Err(error::upload_too_large(total));
    }
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(Refusal::InvalidParameter(error::NOT_CHRONOLOGICAL.into()));
    }
    let group = logs.group(region, group)?;
    if !group.state.lock().streams.contains_key(stream) {
        return Err(Refusal::StreamNotFound);
    }

    // The events are in time order, so each kind of rejected event is a run at one end.
    let now = logs.now();
    let cutoff = group.settings.read().expiry_cutoff(now);
    let too_old_end = events.partition_point(|(ts, _)| *ts < now - MAX_AGE_MS);
    let expired_end = cutoff.map_or(0, |c| events.partition_point(|(ts, _)| *ts < c));
    let too_new_start = events.partition_point(|(ts, _)| *ts <= now + MAX_FUTURE_MS);
    let keep_from = too_old_end.max(expired_end).min(too_new_start);
    let kept = &events[keep_from..too_new_start];
    if let (Some(first), Some(last)) = (kept.first(), kept.last()) {
        if last.0 - first.0 > MAX_BATCH_SPAN_MS {
            return Err(Refusal::InvalidParameter(error::SPANS_OVER_A_DAY.into()));
        }
    }
    logs.append(&group, stream, kept, false)?;

    let mut out = json!({ "nextSequenceToken": logs.next_sequence_token() });
    let mut rejected = Map::new();
    if too_new_start < events.len() {
        rejected.insert("tooNewLogEventStartIndex".into(), json!(too_new_start));
    }
    if too_old_end > 0 {
        rejected.insert("tooOldLogEventEndIndex".into(), json!(too_old_end));
    }
    if expired_end > too_old_end {
        rejected.insert("expiredLogEventEndIndex".into(), json!(expired_end));
    }
    if !rejected.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(rejected);
    }
    Ok(out)
}

fn get_log_events(
    logs: &Logs,
    region: &str,
    input: input::GetLogEventsInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = group_ref(
        &mut checks,
        &input.log_group_name,
        &input.log_group_identifier,
    );
    let stream = required_stream_name(&mut checks, &input.log_stream_name)?;
    checks.range("startTime", input.start_time, 0, None);
    checks.range("endTime", input.end_time, 0, None);
    checks.length("nextToken", input.next_token.as_deref(), 1, usize::MAX);
    checks.range("limit", input.limit, 1, Some(10_000));
    checks.finish()?;
    let group = find_group(logs, region, group?)?;
    let stream = stream.expect("checked");
    let token = input
        .next_token
        .as_deref()
        .map(|t| paging::parse_event_token(t).map(|(d, b)| (d, b, t)))
        .transpose()?;

    let (id, views) = {
        let state = group.state.lock();
        let id = state.streams.get(stream).ok_or(Refusal::StreamNotFound)?.id;
        (id, state.events.views())
    };
    let cutoff = group.settings.read().expiry_cutoff(logs.now());
    let start = input.start_time.unwrap_or(0);
    let from_ts = cutoff.map_or(start, |c| start.max(c));
    let until_ts = input.end_time.unwrap_or(i64::MAX);
    let (direction, boundary) = match token {
        Some((d, b, _)) => (d, b),
        None if input.start_from_head.unwrap_or(false) => {
            (Direction::Forward, query::time_boundary(start))
        }
        None => (
            Direction::Backward,
            input.end_time.map_or(u128::MAX, query::time_boundary),
        ),
    };
    let streams = StreamSet::One(id);
    let mut page = query::run(
        &views,
        &Query {
            direction,
            boundary,
            from_ts,
            until_ts,
            streams: &streams,
            pattern: None,
            limit: input.limit.unwrap_or(10_000) as usize,
            page_bytes: PAGE_BYTES,
        },
    )?;
    if direction == Direction::Backward {
        page.events.reverse();
    }

    let (forward, backward) = match (page.events.first(), page.events.last()) {
        (Some(first), Some(last)) => (
            paging::event_token(Direction::Forward, last.key + 1),
            paging::event_token(Direction::Backward, first.key),
        ),
        // Nothing more this way: the token passed comes back as it was, as AWS does; the
        // other way starts from the same place.
        _ => {
            let at = match token {
                Some((_, b, _)) => b,
                None => query::time_boundary(start),
            };
            let mut forward = paging::event_token(Direction::Forward, at);
            let mut backward = paging::event_token(Direction::Backward, at);
            match token {
                Some((Direction::Forward, _, t)) => forward = t.to_string(),
                Some((Direction::Backward, _, t)) => backward = t.to_string(),
                None => {}
            }
            (forward, backward)
        }
    };
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            json!({
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
            })
        })
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }))
}

fn filter_log_events(
    logs: &Logs,
    region: &str,
    input: input::FilterLogEventsInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let group = group_ref(
        &mut checks,
        &input.log_group_name,
        &input.log_group_identifier,
    );
    if let Some(names) = &input.log_stream_names {
        checks.count("logStreamNames", Some(names.len()), 1, 100);
        for name in names {
            names::check_stream_name(&mut checks, "logStreamNames.member", name)?;
        }
    }
    if let Some(prefix) = &input.log_stream_name_prefix {
        names::check_stream_name(&mut checks, "logStreamNamePrefix", prefix)?;
    }
    checks.range("startTime", input.start_time, 0, None);
    checks.range("endTime", input.end_time, 0, None);
    checks.length(
        "filterPattern",
        input.filter_pattern.as_deref(),
        0,
        MAX_PATTERN_CHARS,
    );
    checks.length("nextToken", input.next_token.as_deref(), 1, usize::MAX);
    checks.range("limit", input.limit, 1, Some(10_000));
    checks.finish()?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(error::stream_names_and_prefix());
    }
    let group = find_group(logs, region, group?)?;
    let pattern = Pattern::parse(input.filter_pattern.as_deref().unwrap_or(""))?;
    let token = input
        .next_token
        .as_deref()
        .map(paging::parse_event_token)
        .transpose()?;
    let direction = match token {
        Some((d, _)) => d,
        None if input.start_from_head.unwrap_or(true) => Direction::Forward,
        None => {
            if input.start_time.is_some_and(|t| t < NEWEST_FIRST_SINCE_MS) {
                return Err(error::descending_before_2024());
            }
            Direction::Backward
        }
    };

    let (ids, names_by_id, views): (_, HashMap<u32, String>, _) = {
        let state = group.state.lock();
        let ids = match (&input.log_stream_names, &input.log_stream_name_prefix) {
            (Some(names), _) => state.stream_ids(|n| names.iter().any(|w| w == n)),
            (None, Some(prefix)) => state.stream_ids(|n| n.starts_with(prefix.as_str())),
            (None, None) => state.stream_ids(|_| true),
        };
        let names = ids
            .iter()
            .filter_map(|id| Some((*id, state.names_by_id.get(id)?.clone())))
            .collect();
        (ids, names, state.events.views())
    };
    let cutoff = group.settings.read().expiry_cutoff(logs.now());
    let start = input.start_time.unwrap_or(0);
    let from_ts = cutoff.map_or(start, |c| start.max(c));
    // FilterLogEvents' endTime is inclusive ("later than this time are not returned").
    let until_ts = input.end_time.map_or(i64::MAX, |e| e.saturating_add(1));
    let boundary = match (token, direction) {
        (Some((_, b)), _) => b,
        (None, Direction::Forward) => 0,
        (None, Direction::Backward) => u128::MAX,
    };
    let streams = StreamSet::Many(ids);
    let page = query::run(
        &views,
        &Query {
            direction,
            boundary,
            from_ts,
            until_ts,
            streams: &streams,
            pattern: Some(&pattern),
            limit: input.limit.unwrap_or(10_000) as usize,
            page_bytes: PAGE_BYTES,
        },
    )?;
    let events: Vec<Value> = page
        .events
        .iter()
        .filter_map(|e| {
            Some(json!({
                "logStreamName": names_by_id.get(&e.stream)?,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": paging::event_id(e.key),
            }))
        })
        .collect();
    // Deprecated by AWS, which now always answers an empty list.
    let mut out = json!({ "events": events, "searchedLogStreams": [] });
    if page.more {
        let last = page.events.last().expect("a page before more");
        let next = match direction {
            Direction::Forward => last.key + 1,
            Direction::Backward => last.key,
        };
        out["nextToken"] = json!(paging::event_token(direction, next));
    }
    Ok(out)
}

// ---- tags ----------------------------------------------------------------------------------

/// Checks a required tagging `resourceArn` against the model (1–1011 characters of
/// `[\w+=/:,.@-]`).
fn required_resource_arn<'a>(checks: &mut Checks, arn: &'a Option<String>) -> Option<&'a str> {
    let arn = checks.required("resourceArn", arn)?;
    checks.length("resourceArn", Some(arn), 1, 1011);
    if !arn
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c))
    {
        checks.push(error::clause_pattern("resourceArn", arn, r"[\w+=/:,.@-]*"));
    }
    Some(arn)
}

/// The group a tagging `resourceArn` names.
fn tagged_group(logs: &Logs, region: &str, arn: &str) -> Result<Arc<Group>, Refusal> {
    match names::resolve_identifier(region, logs.account(), arn) {
        Identified::Name(n) => logs.group(region, &n),
        Identified::Elsewhere => Err(Refusal::GroupNotFound),
    }
}

fn add_tags(logs: &Logs, group: &Group, tags: Tags) -> Result<(), Refusal> {
    let mut merged = group.settings.read().tags.clone();
    merged.extend(tags);
    if merged.len() > 50 {
        return Err(Refusal::TooManyTags);
    }
    logs.set_tags(group, merged)
}

fn remove_tags(logs: &Logs, group: &Group, keys: &[String]) -> Result<(), Refusal> {
    let mut left = group.settings.read().tags.clone();
    left.retain(|k, _| !keys.contains(k));
    logs.set_tags(group, left)
}

fn tags_of(group: &Group) -> Value {
    json!({ "tags": group.settings.read().tags })
}

fn list_tags_log_group(
    logs: &Logs,
    region: &str,
    input: input::GroupNameInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    checks.finish()?;
    let group = logs.group(region, name.expect("checked"))?;
    Ok(tags_of(&group))
}

fn tag_log_group(
    logs: &Logs,
    region: &str,
    input: input::TagLogGroupInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    if let Some(tags) = checks.required("tags", &input.tags) {
        input::check_tags(&mut checks, "tags", tags);
    }
    checks.finish()?;
    let group = logs.group(region, name.expect("checked"))?;
    add_tags(logs, &group, input.tags.expect("checked"))?;
    Ok(empty())
}

fn untag_log_group(
    logs: &Logs,
    region: &str,
    input: input::UntagLogGroupInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let name = required_group_name(&mut checks, &input.log_group_name)?;
    let keys = checks.required("tags", &input.tags);
    checks.count("tags", keys.map(Vec::len), 1, 50);
    checks.finish()?;
    let group = logs.group(region, name.expect("checked"))?;
    remove_tags(logs, &group, keys.expect("checked"))?;
    Ok(empty())
}

fn list_tags_for_resource(
    logs: &Logs,
    region: &str,
    input: input::ResourceArnInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let arn = required_resource_arn(&mut checks, &input.resource_arn);
    checks.finish()?;
    let group = tagged_group(logs, region, arn.expect("checked"))?;
    Ok(tags_of(&group))
}

fn tag_resource(
    logs: &Logs,
    region: &str,
    input: input::TagResourceInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let arn = required_resource_arn(&mut checks, &input.resource_arn);
    if let Some(tags) = checks.required("tags", &input.tags) {
        input::check_tags(&mut checks, "tags", tags);
    }
    checks.finish()?;
    let group = tagged_group(logs, region, arn.expect("checked"))?;
    add_tags(logs, &group, input.tags.expect("checked"))?;
    Ok(empty())
}

fn untag_resource(
    logs: &Logs,
    region: &str,
    input: input::UntagResourceInput,
) -> Result<Value, Refusal> {
    let mut checks = Checks::default();
    let arn = required_resource_arn(&mut checks, &input.resource_arn);
    let keys = checks.required("tagKeys", &input.tag_keys);
    checks.count("tagKeys", keys.map(Vec::len), 0, 50);
    checks.finish()?;
    let group = tagged_group(logs, region, arn.expect("checked"))?;
    remove_tags(logs, &group, keys.expect("checked"))?;
    Ok(empty())
}
