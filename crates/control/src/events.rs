//! Recording events and reading them back for `DescribeEvents`.

use ferrocache_model::event::{Event, SourceType, EVENT_RETENTION_DAYS};
use ferrocache_model::Timestamp;
use ferrocache_store::tables::{self, Counter, EVENT_SEQ};
use ferrocache_store::{ReadExt, Reader, StoreError, WriteExt, Writer};

/// Appends an event inside the caller's transaction, so the event commits with the transition
/// it describes (and not without it).
///
/// # Errors
/// Store failures.
pub fn record(
    w: &mut dyn Writer,
    region: &str,
    source_id: &str,
    source_type: SourceType,
    message: String,
    date: Timestamp,
) -> Result<(), StoreError> {
    let seq = w.doc::<Counter>(EVENT_SEQ)?.unwrap_or_default().0 + 1;
    w.put_doc(EVENT_SEQ, &Counter(seq))?;
    let event = Event {
        region: region.to_string(),
        source_id: source_id.to_string(),
        source_type,
        message,
        date,
    };
    w.put_doc(&tables::event_key(seq), &event)?;
    // Prune past the retention every 256 events: cheap, and bounds the table.
    if seq % 256 == 0 {
        let horizon = date - chrono::Duration::days(EVENT_RETENTION_DAYS);
        for (key, old) in w.docs::<Event>("")? {
            if old.date >= horizon {
                break;
            }
            w.delete_doc::<Event>(&key)?;
        }
    }
    Ok(())
}

/// Every stored event with its key, oldest first.
///
/// # Errors
/// Store failures.
pub fn all(r: &dyn Reader) -> Result<Vec<(String, Event)>, StoreError> {
    r.docs::<Event>("")
}
