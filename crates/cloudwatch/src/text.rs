//! How AWS writes numbers and times inside its texts: alarm reasons print numbers as Java's
//! `Double.toString` does (`21.5`, `10.0`, `1.0E7`) and times as `dd/MM/yy HH:mm:ss`; the JSON
//! of reason data and history writes times as `2020-10-05T06:30:58.947+0000`. The answers'
//! own timestamps are epoch seconds ([`epoch_seconds`]); the edge formats them per protocol.

use serde_json::Value;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// A calendar date and time of day (UTC) of a unix-ms instant.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day number.
fn civil(ms: i64) -> Civil {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (in_day / 3_600_000) as u32,
        minute: (in_day / 60_000 % 60) as u32,
        second: (in_day / 1000 % 60) as u32,
        milli: (in_day % 1000) as u32,
    }
}

/// `2020-10-05T06:30:58.947+0000`: how AWS writes times in `StateReasonData` and
/// `HistoryData`.
pub(crate) fn iso_millis(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    )
}

/// `05/10/20 06:25:00` (day/month/year): how AWS writes a datapoint's time in a state reason
/// (`Threshold Crossed: 1 datapoint [10.25 (05/10/20 06:25:00)] …`).
pub(crate) fn reason_date(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
        c.day,
        c.month,
        c.year.rem_euclid(100),
        c.hour,
        c.minute,
        c.second
    )
}

/// A number as Java's `Double.toString` writes it, which AWS's reasons use: at least one
/// digit after the point, scientific notation (`1.0E7`, `1.5E-4`) outside `[1e-3, 1e7)`.
pub(crate) fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let magnitude = x.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let plain = format!("{x}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        // Rust's shortest `{:e}` is `1.5e-4` or `1e7`: Java's needs the `.0` and `E`.
        let sci = format!("{x:e}");
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// A unix-ms instant as the protocol-neutral answer's timestamp: epoch seconds, a JSON number
/// (fractional when the instant has milliseconds).
pub(crate) fn epoch_seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

/// A request's timestamp (epoch seconds, maybe fractional) as unix ms; `None` when it is not
/// a finite number or is out of any sane range.
pub(crate) fn millis_of_seconds(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() || seconds.abs() > 1e13 {
        return None;
    }
    Some((seconds * 1000.0).round() as i64)
}

/// A JSON object written with its members in the order given: AWS's `StateReasonData`,
/// `HistoryData` and alarm notifications are JSON texts whose member order clients see (and
/// `serde_json`'s map would sort them).
#[derive(Debug, Default)]
pub(crate) struct Ordered {
    members: Vec<(String, String)>,
}

impl Ordered {
    /// An empty object.
    pub(crate) fn new() -> Ordered {
        Ordered::default()
    }

    /// A member whose value is already JSON text.
    pub(crate) fn raw(mut self, key: &str, json: impl Into<String>) -> Ordered {
        self.members.push((key.to_string(), json.into()));
        self
    }

    /// A member of any serializable value.
    pub(crate) fn value<T: serde::Serialize + ?Sized>(self, key: &str, value: &T) -> Ordered {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        self.raw(key, text)
    }

    /// A member only when `value` is `Some`.
    pub(crate) fn maybe<T: serde::Serialize>(self, key: &str, value: Option<&T>) -> Ordered {
        match value {
            Some(v) => self.value(key, v),
            None => self,
        }
    }

    /// The JSON text.
    pub(crate) fn finish(self) -> String {
        let body: Vec<String> = self
            .members
            .into_iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap_or_default()))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

/// A JSON array of JSON texts.
pub(crate) fn json_array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(21.5), "21.5");
        assert_eq!(java_double(10.0), "10.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(-3.0), "-3.0");
        assert_eq!(java_double(0.0666851903306472), "0.0666851903306472");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12_345_678.9), "1.23456789E7");
        assert_eq!(java_double(0.00015), "1.5E-4");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
    }

    #[test]
    fn dates() {
        // 2020-10-05T06:25:00Z
        let ms = 1_601_879_100_000;
        assert_eq!(reason_date(ms), "05/10/20 06:25:00");
        assert_eq!(iso_millis(ms + 947), "2020-10-05T06:25:00.947+0000");
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000+0000");
        // A leap day.
        assert_eq!(iso_millis(951_782_400_000), "2000-02-29T00:00:00.000+0000");
    }

    #[test]
    fn ordered_objects_keep_their_order() {
        let text = Ordered::new()
            .value("version", "1.0")
            .value("threshold", &10.0)
            .maybe::<String>("unit", None)
            .raw("list", json_array(&["1".into(), "2".into()]))
            .finish();
        assert_eq!(text, r#"{"version":"1.0","threshold":10.0,"list":[1,2]}"#);
    }

    #[test]
    fn epoch_seconds_are_whole_when_they_can_be() {
        assert_eq!(epoch_seconds(1_000), Value::from(1));
        assert_eq!(epoch_seconds(1_500), Value::from(1.5));
        assert_eq!(millis_of_seconds(1.5), Some(1_500));
        assert_eq!(millis_of_seconds(f64::NAN), None);
    }
}
