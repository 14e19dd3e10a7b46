//! `DescribeEvents`.

use ferrocache_model::event::{
    Event, SourceType, EVENT_RETENTION_DAYS, EVENT_WINDOW_DEFAULT_MINUTES,
};
use ferrocache_model::{paging, Fault, Timestamp};
use ferrocache_store::view;

use super::{Page, Service, ServiceError};
use crate::events;

/// Longest `Duration` in minutes (14 days).
pub const DURATION_MINUTES_MAX: i64 = EVENT_RETENTION_DAYS * 24 * 60;

/// `DescribeEvents` as decoded from the wire.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// `SourceIdentifier`
    pub source_identifier: Option<String>,
    /// `SourceType` (wire spelling, validated here)
    pub source_type: Option<String>,
    /// `StartTime`
    pub start_time: Option<Timestamp>,
    /// `EndTime`
    pub end_time: Option<Timestamp>,
    /// `Duration` in minutes
    pub duration: Option<i64>,
    /// `MaxRecords`
    pub max_records: Option<i64>,
    /// `Marker`
    pub marker: Option<String>,
}

impl Service {
    /// `DescribeEvents`: events of `region` in the window, newest first.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for a bad source type, duration or window.
    pub fn describe_events(
        &self,
        region: &str,
        q: &EventQuery,
    ) -> Result<Page<Event>, ServiceError> {
        let source_type = match q.source_type.as_deref() {
            Some(t) => Some(
                SourceType::parse(t)
                    .ok_or_else(|| Fault::value(format!("Invalid value for SourceType: {t}")))?,
            ),
            None => None,
        };
        let now = chrono::Utc::now();
        if let Some(d) = q.duration {
            if !(0..=DURATION_MINUTES_MAX).contains(&d) {
                return Err(Fault::value(format!(
                    "Invalid value {d} for Duration. The value must be between 0 and {DURATION_MINUTES_MAX} minutes."
                ))
                .into());
            }
        }
        let (start, end) = match (q.start_time, q.end_time, q.duration) {
            (Some(s), Some(e), _) => (s, e),
            (Some(s), None, Some(d)) => (s, s + chrono::Duration::minutes(d)),
            (Some(s), None, None) => (s, now),
            (None, Some(e), Some(d)) => (e - chrono::Duration::minutes(d), e),
            (None, Some(e), None) => (
                e - chrono::Duration::minutes(EVENT_WINDOW_DEFAULT_MINUTES),
                e,
            ),
            (None, None, Some(d)) => (now - chrono::Duration::minutes(d), now),
            (None, None, None) => (
                now - chrono::Duration::minutes(EVENT_WINDOW_DEFAULT_MINUTES),
                now,
            ),
        };
        if start > end {
            return Err(Fault::value("The StartTime must be before the EndTime.").into());
        }
        let wanted_id = q.source_identifier.as_deref().map(str::to_ascii_lowercase);
        let stored = view(self.store(), |r| events::all(r))?;
        // Newest first: the key is the sequence number, so reverse key order is time order.
        let mut matching: Vec<(String, Event)> = stored
            .into_iter()
            .rev()
            .filter(|(_, e)| {
                e.region == region
                    && e.date >= start
                    && e.date <= end
                    && source_type.is_none_or(|t| t == e.source_type)
                    && wanted_id.as_deref().is_none_or(|id| id == e.source_id)
            })
            .collect();
        // The marker is the key of the first event of the next page; keys run backwards here, so
        // map them to a forward-sorting string before paging.
        for (key, _) in matching.iter_mut() {
            let seq: u64 = key.parse().unwrap_or(0);
            *key = format!("{:020}", u64::MAX - seq);
        }
        let (page, marker) = paging::page(
            matching,
            |(k, _)| k.clone(),
            q.marker.as_deref(),
            q.max_records,
            paging::RECORDS,
        )?;
        Ok(Page {
            items: page.into_iter().map(|(_, e)| e).collect(),
            marker,
        })
    }
}
