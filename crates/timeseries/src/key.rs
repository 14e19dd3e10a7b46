//! What names a series ([`SeriesKey`]) and the handle writes use once it is interned
//! ([`SeriesId`]).

use serde::{Deserialize, Serialize};

/// One dimension of a metric: a name and its value (`CacheClusterId` = `my-cluster-001`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dimension {
    /// The dimension's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl Dimension {
    /// A dimension `name` = `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Dimension {
        Dimension {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// What CloudWatch calls a metric: namespace, metric name and dimensions. Two keys name the same
/// series when all three are equal; the dimensions are kept sorted by name so the order a caller
/// gives them in does not matter (build keys with [`SeriesKey::new`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// `AWS/ElastiCache`, or a caller's own namespace.
    pub namespace: String,
    /// `CPUUtilization`, …
    pub metric: String,
    /// Sorted by name (then value).
    pub dimensions: Vec<Dimension>,
}

impl SeriesKey {
    /// The key of `metric` in `namespace` with `dimensions`, which are sorted here.
    pub fn new(
        namespace: impl Into<String>,
        metric: impl Into<String>,
        mut dimensions: Vec<Dimension>,
    ) -> SeriesKey {
        dimensions.sort();
        SeriesKey {
            namespace: namespace.into(),
            metric: metric.into(),
            dimensions,
        }
    }

    /// The value of the dimension called `name`, if the key has one.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

/// An interned series: what [`Store::series`](crate::Store::series) hands out so writes need
/// not hash the key. Only meaningful for the store that gave it; stable across restarts of
/// that store (ids are kept in its catalog and never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub(crate) u32);

impl SeriesId {
    /// The id as a number (for logs and maps kept by callers).
    pub fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}
