//! `DescribeEvents` and the `Event` element.

use ferrocache_control::service::event::EventQuery;
use ferrocache_model::event::Event;

use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `DescribeEvents` (`SourceIdentifier`, `SourceType`, `StartTime`/`EndTime`/`Duration`,
/// paging) → `[Marker]`, `<Events>`, newest first.
///
/// # Errors
/// Decoding errors (timestamps, integers), the service's faults.
pub fn describe_events(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let query = EventQuery {
        source_identifier: p.string("SourceIdentifier"),
        source_type: p.string("SourceType"),
        start_time: p.timestamp("StartTime")?,
        end_time: p.timestamp("EndTime")?,
        duration: p.integer("Duration")?,
        max_records: p.integer("MaxRecords")?,
        marker: p.string("Marker"),
    };
    let page = call.service.describe_events(call.region, &query)?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list("Events", "Event", &page.items, event);
    Ok(())
}

/// The children of an `Event` element, in model order.
pub fn event(x: &mut Xml, event: &Event) {
    x.text("SourceIdentifier", &event.source_id);
    x.text("SourceType", event.source_type.as_str());
    x.text("Message", &event.message);
    x.timestamp("Date", &event.date);
}
