//! Tags on resources and their limits.

use serde::{Deserialize, Serialize};

use crate::Fault;

/// Most tags one resource may carry (AWS's limit).
pub const TAGS_PER_RESOURCE_MAX: usize = 50;
/// Longest tag key.
pub const TAG_KEY_LEN_MAX: usize = 128;
/// Longest tag value.
pub const TAG_VALUE_LEN_MAX: usize = 256;

/// A `Key`/`Value` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value (may be empty).
    pub value: String,
}

/// Merges `new` tags into `existing` (same key: value replaced), enforcing AWS's limits.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for an empty or too long key/value, a reserved `aws:` prefix;
/// [`Fault::TagQuotaPerResourceExceeded`] past [`TAGS_PER_RESOURCE_MAX`].
pub fn merge(existing: &mut Vec<Tag>, new: &[Tag]) -> Result<(), Fault> {
    let mut merged = existing.clone();
    for tag in new {
        if tag.key.is_empty() || tag.key.chars().count() > TAG_KEY_LEN_MAX {
            return Err(Fault::value(format!("Invalid tag key: {}", tag.key)));
        }
        if tag.key.starts_with("aws:") {
            return Err(Fault::value(
                "Tag keys starting with 'aws:' are reserved for system use.",
            ));
        }
        if tag.value.chars().count() > TAG_VALUE_LEN_MAX {
            return Err(Fault::value(format!(
                "Invalid tag value for key {}",
                tag.key
            )));
        }
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value.clone(),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > TAGS_PER_RESOURCE_MAX {
        return Err(Fault::TagQuotaPerResourceExceeded(format!(
            "The number of tags on the resource exceeds the maximum of {TAGS_PER_RESOURCE_MAX}."
        )));
    }
    *existing = merged;
    Ok(())
}

/// Removes the tags with the given keys.
///
/// # Errors
/// [`Fault::TagNotFound`] when a key is not on the resource (nothing is removed then).
pub fn remove(existing: &mut Vec<Tag>, keys: &[String]) -> Result<(), Fault> {
    if let Some(missing) = keys.iter().find(|k| !existing.iter().any(|t| &t.key == *k)) {
        return Err(Fault::TagNotFound(format!(
            "Tag with key {missing} not found."
        )));
    }
    existing.retain(|t| !keys.contains(&t.key));
    Ok(())
}
