//! `MaxRecords` / `Marker` paging of Describe operations.
//!
//! The marker is opaque to clients; ours is the id of the first record of the next page, so a
//! page stays correct when records are added or removed between calls.

use crate::Fault;

/// `MaxRecords` bounds and default of most Describe operations.
pub const RECORDS: PageLimits = PageLimits {
    min: 20,
    max: 100,
    default: 100,
};
/// `MaxRecords` bounds and default of `DescribeSnapshots`.
pub const SNAPSHOT_RECORDS: PageLimits = PageLimits {
    min: 20,
    max: 50,
    default: 50,
};

/// Allowed range and default of `MaxRecords` for one operation.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Smallest accepted `MaxRecords`.
    pub min: i64,
    /// Largest accepted `MaxRecords`.
    pub max: i64,
    /// Used when `MaxRecords` is absent.
    pub default: i64,
}

impl PageLimits {
    /// Validates `MaxRecords`.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] outside the range, with AWS's wording.
    pub fn page_size(&self, max_records: Option<i64>) -> Result<usize, Fault> {
        match max_records {
            None => Ok(self.default as usize),
            Some(n) if n >= self.min && n <= self.max => Ok(n as usize),
            Some(n) => Err(Fault::value(format!(
                "Invalid value {n} for MaxRecords. Value must be between {} and {}.",
                self.min, self.max
            ))),
        }
    }
}

/// One page of `items` (sorted by `key`) starting at `marker`, and the marker of the next page.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for a bad `MaxRecords`.
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_records: Option<i64>,
    limits: PageLimits,
) -> Result<(Vec<T>, Option<String>), Fault> {
    let size = limits.page_size(max_records)?;
    let mut rest: Vec<T> = match marker {
        Some(m) if !m.is_empty() => items.into_iter().filter(|i| key(i).as_str() >= m).collect(),
        _ => items,
    };
    let next = if rest.len() > size {
        Some(key(&rest[size]))
    } else {
        None
    };
    rest.truncate(size);
    Ok((rest, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_all_items() {
        let items: Vec<String> = (0..45).map(|i| format!("g{i:02}")).collect();
        let (p1, m1) = page(items.clone(), |s| s.clone(), None, Some(20), RECORDS).unwrap();
        assert_eq!(p1.len(), 20);
        let (p2, m2) = page(
            items.clone(),
            |s| s.clone(),
            m1.as_deref(),
            Some(20),
            RECORDS,
        )
        .unwrap();
        assert_eq!(p2[0], "g20");
        let (p3, m3) = page(items, |s| s.clone(), m2.as_deref(), Some(20), RECORDS).unwrap();
        assert_eq!(p3.len(), 5);
        assert!(m3.is_none());
        assert!(RECORDS.page_size(Some(19)).is_err());
        assert!(RECORDS.page_size(Some(101)).is_err());
    }
}
