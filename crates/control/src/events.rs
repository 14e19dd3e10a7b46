//! Recording events and reading them back for `DescribeEvents`.

use ferrocache_model::event::{Event, SourceType, EVENT_RETENTION_DAYS};
use ferrocache_model::Timestamp;
use ferrocache_store::tables::{self, Counter, EVENT_SEQ};
use ferrocache_store::{ReadExt, Reader, StoreError, WriteExt, Writer};

/// How many events are recorded between two prunings of the expired ones.
const PRUNE_EVERY: u64 = 256;

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
    // Prune past the retention every `PRUNE_EVERY` events, reading only the oldest ones (keys
    // are in time order): cheap, and bounds the table.
    if seq % PRUNE_EVERY == 0 {
        let horizon = date - chrono::Duration::days(EVENT_RETENTION_DAYS);
        'prune: loop {
            let oldest = w.docs_from::<Event>("", "", PRUNE_EVERY as usize)?;
            let full = oldest.len() == PRUNE_EVERY as usize;
            for (key, old) in oldest {
                if old.date >= horizon {
                    break 'prune;
                }
                w.delete_doc::<Event>(&key)?;
            }
            if !full {
                break;
            }
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
