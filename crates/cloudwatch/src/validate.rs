//! Checks several operations share: the model's constraints (gathered into one
//! `ValidationError`, as AWS's framework reports every violated constraint at once), presence,
//! namespaces, dimensions, units, periods and timestamps.
//!
//! Paths: the framework names members in camelCase with list members as
//! `metricData.1.member.metricName`; the service's own texts name them as the query protocol
//! does, `MetricData.member.1.MetricName`, whatever protocol the caller used.

use crate::error::Refusal;
use crate::request::Dimension;
use crate::text::millis_of_seconds;

/// The model's `StandardUnit` values, in its order.
pub(crate) const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The five plain statistics in the order AWS prints their enum (LocalStack's snapshot).
pub(crate) const STATISTICS_SHOWN: [&str; 5] =
    ["Maximum", "SampleCount", "Sum", "Minimum", "Average"];

/// The most dimensions a metric has.
pub(crate) const MAX_DIMENSIONS: usize = 30;

/// The constraint violations of one request, reported together.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    clauses: Vec<String>,
}

impl Checks {
    /// No violation yet.
    pub(crate) fn new() -> Checks {
        Checks::default()
    }

    /// Records a violation clause.
    pub(crate) fn add(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// A string's length (in characters, as the model counts) within `min..=max`.
    pub(crate) fn length(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.add(Refusal::too_short(path, value, min));
        } else if n > max {
            self.add(Refusal::too_long(path, value, max));
        }
    }

    /// An optional string's length.
    pub(crate) fn length_opt(&mut self, path: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            self.length(path, v, min, max);
        }
    }

    /// A list's length at most `max`; `shown` renders the list as the framework does.
    pub(crate) fn list_len<T: std::fmt::Debug>(&mut self, path: &str, list: &[T], max: usize) {
        if list.len() > max {
            self.add(Refusal::list_too_long(path, &show_list(list), max));
        }
    }

    /// A list's length at least `min` (the framework counts an empty list as too short).
    pub(crate) fn list_min<T: std::fmt::Debug>(&mut self, path: &str, list: &[T], min: usize) {
        if list.len() < min {
            self.add(Refusal::too_short(path, &show_list(list), min));
        }
    }

    /// Every member of a list of strings from `set` (`shown`: the set as AWS prints it).
    pub(crate) fn members_one_of(
        &mut self,
        path: &str,
        list: &[String],
        set: &[&str],
        shown: &[&str],
    ) {
        if list.iter().any(|v| !set.contains(&v.as_str())) {
            self.add(Refusal::list_member_not_in_enum(
                path,
                &show_list(list),
                shown,
            ));
        }
    }

    /// A number within `min..=max` (either bound optional).
    pub(crate) fn range(
        &mut self,
        path: &str,
        value: Option<i64>,
        min: Option<i64>,
        max: Option<i64>,
    ) {
        let Some(v) = value else { return };
        if let Some(min) = min.filter(|m| v < *m) {
            self.add(Refusal::below_min(path, v, min));
        } else if let Some(max) = max.filter(|m| v > *m) {
            self.add(Refusal::above_max(path, v, max));
        }
    }

    /// A string from `set` (`shown`: the set in the order AWS prints it).
    pub(crate) fn one_of(&mut self, path: &str, value: Option<&str>, set: &[&str], shown: &[&str]) {
        if let Some(v) = value.filter(|v| !set.contains(v)) {
            self.add(Refusal::not_in_enum(path, v, shown));
        }
    }

    /// A unit from the model's `StandardUnit`.
    pub(crate) fn unit(&mut self, path: &str, value: Option<&str>) {
        self.one_of(path, value, &UNITS, &UNITS);
    }

    /// A namespace: 1 to 255 characters, not starting with a colon.
    pub(crate) fn namespace(&mut self, path: &str, value: Option<&str>) {
        let Some(v) = value else { return };
        self.length(path, v, 1, 255);
        if v.starts_with(':') {
            self.add(Refusal::not_matching(path, v, "[^:].*"));
        }
    }

    /// A metric name: 1 to 255 characters.
    pub(crate) fn metric_name(&mut self, path: &str, value: Option<&str>) {
        self.length_opt(path, value, 1, 255);
    }

    /// Dimensions: at most 30, names 1 to 255 characters, values 1 to 1024.
    pub(crate) fn dimensions(&mut self, path: &str, dims: Option<&[Dimension]>) {
        let Some(dims) = dims else { return };
        self.list_len(path, dims, MAX_DIMENSIONS);
        for (i, d) in dims.iter().enumerate() {
            let at = member(path, i);
            self.length_opt(&format!("{at}.name"), d.name.as_deref(), 1, 255);
            self.length_opt(&format!("{at}.value"), d.value.as_deref(), 1, 1024);
        }
    }

    /// The violations as one refusal, or none.
    pub(crate) fn finish(self) -> Result<(), Refusal> {
        if self.clauses.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Validation(self.clauses))
        }
    }
}

/// The framework's path of a list's `i`th (0-based) member: `metricData.1.member`.
pub(crate) fn member(list_path: &str, i: usize) -> String {
    format!("{list_path}.{}.member", i + 1)
}

/// The service's name of a list's `i`th (0-based) member: `MetricData.member.1`.
pub(crate) fn param_member(list_param: &str, i: usize) -> String {
    format!("{list_param}.member.{}", i + 1)
}

/// How the framework shows a list in a violation: `[a, b]` (Debug without quotes).
fn show_list<T: std::fmt::Debug>(list: &[T]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|x| format!("{x:?}").trim_matches('"').to_string())
        .collect();
    format!("[{}]", items.join(", "))
}

/// A required member's value, or `MissingParameter` naming it.
pub(crate) fn required<'a, T>(value: &'a Option<T>, param: &str) -> Result<&'a T, Refusal> {
    value.as_ref().ok_or_else(|| Refusal::missing(param))
}

/// A required string that must also not be empty (the query protocol sends `Name=` for an empty
/// one; AWS treats it as missing).
pub(crate) fn required_str<'a>(value: &'a Option<String>, param: &str) -> Result<&'a str, Refusal> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Refusal::missing(param)),
    }
}

/// Dimensions as `(name, value)` pairs, each member present (`MissingParameter` naming it).
pub(crate) fn dimension_pairs(
    param: &str,
    dims: Option<&[Dimension]>,
) -> Result<Vec<(String, String)>, Refusal> {
    let mut out = Vec::new();
    for (i, d) in dims.unwrap_or_default().iter().enumerate() {
        let at = param_member(param, i);
        let name = required_str(&d.name, &format!("{at}.Name"))?;
        let value = required_str(&d.value, &format!("{at}.Value"))?;
        // AWS: names and values are ASCII with a non-blank character, names never start with a
        // colon (which keeps the store's reserved dimensions apart).
        if name.starts_with(':') || !printable(name) {
            return Err(Refusal::invalid_value(&format!("{at}.Name"), name));
        }
        if !printable(value) {
            return Err(Refusal::invalid_value(&format!("{at}.Value"), value));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// ASCII without control characters, and not only blanks.
fn printable(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) && !s.trim().is_empty()
}

/// Whether a query period is one CloudWatch serves: 1, 5, 10, 20, 30 or a multiple of 60.
pub(crate) fn period_allowed(period: i64) -> bool {
    matches!(period, 1 | 5 | 10 | 20 | 30) || (period > 0 && period % 60 == 0)
}

/// A request timestamp (epoch seconds) as unix ms.
pub(crate) fn timestamp(param: &str, seconds: f64) -> Result<i64, Refusal> {
    millis_of_seconds(seconds)
        .ok_or_else(|| Refusal::Serialization(format!("{param}: not a valid timestamp")))
}

/// Whether a namespace is AWS's own (`AWS/…`), which callers may not publish to.
pub(crate) fn reserved_namespace(namespace: &str) -> bool {
    namespace.starts_with("AWS/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_clauses_use_framework_paths() {
        let mut c = Checks::new();
        c.namespace("namespace", Some(":x"));
        c.range("period", Some(0), Some(1), None);
        c.unit("unit", Some("Parsecs"));
        let Err(Refusal::Validation(clauses)) = c.finish() else {
            panic!("expected violations")
        };
        assert_eq!(
            clauses[0],
            "Value ':x' at 'namespace' failed to satisfy constraint: Member must satisfy regular \
             expression pattern: [^:].*"
        );
        assert_eq!(
            clauses[1],
            "Value '0' at 'period' failed to satisfy constraint: Member must have value greater \
             than or equal to 1"
        );
        assert!(clauses[2].starts_with(
            "Value 'Parsecs' at 'unit' failed to satisfy constraint: \
             Member must satisfy enum value set: [Seconds, Microseconds,"
        ));
    }

    #[test]
    fn periods() {
        for ok in [1, 5, 10, 20, 30, 60, 120, 300, 86_400] {
            assert!(period_allowed(ok), "{ok}");
        }
        for bad in [0, 2, 15, 45, 90, -60] {
            assert!(!period_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn dimension_names_never_start_with_a_colon() {
        let dims = vec![Dimension {
            name: Some(":region".into()),
            value: Some("x".into()),
        }];
        assert_eq!(
            dimension_pairs("Dimensions", Some(&dims)).unwrap_err(),
            Refusal::InvalidValue(
                "The value :region for parameter Dimensions.member.1.Name is invalid.".into()
            )
        );
    }

    #[test]
    fn dimension_members_are_required() {
        let dims = vec![Dimension {
            name: Some("A".into()),
            value: None,
        }];
        assert_eq!(
            dimension_pairs("Dimensions", Some(&dims)).unwrap_err(),
            Refusal::missing("Dimensions.member.1.Value")
        );
    }
}
