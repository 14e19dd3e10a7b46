//! Log entries as ElastiCache writes them to CloudWatch Logs.
//!
//! Slow log (AWS's published examples):
//! - JSON: `{"CacheClusterId": "c", "CacheNodeId": "0001", "Id": 296, "Timestamp": 1605631822,
//!   "Duration (us)": 0, "Command": "GET ... (1 more arguments)", "ClientAddress":
//!   "192.168.12.104:55452", "ClientName": "name"}`;
//! - TEXT: `c,0001,1605631822,30,GET ... (1 more arguments),192.168.12.104:55452,name`.
//!
//! The command keeps only its name: its arguments are counted, never shown (they may hold
//! data).
//!
//! Engine log: the node's own log line (`<pid>:<role> <day> <mon> <year> <time> <level> <msg>`)
//! with the process id replaced by `<cache cluster>/<node>` and the time zone named:
//! - TEXT: `c/0001:M 29 Oct 2020 20:12:20.499 UTC * Ready to accept connections`;
//! - JSON: `{"CacheClusterId", "CacheNodeId", "LogLevel", "Role", "Time": "29 Oct 2020
//!   20:12:20.499 UTC", "Message"}` (`LogLevel` is Redis's level mark, `Role` its role letter:
//!   [unsure] whether AWS spells them out).

use chrono::NaiveDateTime;
use ferrocache_engine::SlowlogEntry;
use ferrocache_model::log_delivery::LogFormat;

/// The node an entry comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// `CacheClusterId`.
    pub cache_cluster: &'a str,
    /// `CacheNodeId`.
    pub cache_node: &'a str,
}

/// `GET ... (1 more arguments)`: the command's name, with its arguments counted.
fn command(args: &[String]) -> String {
    match args.split_first() {
        None => String::new(),
        Some((name, [])) => name.clone(),
        Some((name, rest)) => format!("{name} ... ({} more arguments)", rest.len()),
    }
}

/// One slow log entry: its timestamp (unix ms) and message.
pub fn slow_log(source: Source<'_>, entry: &SlowlogEntry, format: LogFormat) -> (i64, String) {
    let command = command(&entry.args);
    let message = match format {
        LogFormat::Json => serde_json::json!({
            "CacheClusterId": source.cache_cluster,
            "CacheNodeId": source.cache_node,
            "Id": entry.id,
            "Timestamp": entry.timestamp,
            "Duration (us)": entry.duration_us,
            "Command": command,
            "ClientAddress": entry.client_address,
            "ClientName": entry.client_name,
        })
        .to_string(),
        LogFormat::Text => format!(
            "{},{},{},{},{},{},{}",
            source.cache_cluster,
            source.cache_node,
            entry.timestamp,
            entry.duration_us,
            command,
            entry.client_address,
            entry.client_name
        ),
    };
    (entry.timestamp.saturating_mul(1000), message)
}

/// One line of the node's log as delivered: its timestamp (unix ms) and message; `None` for a
/// line that is not a log entry (the start-up banner's art, blank lines).
pub fn engine_log(source: Source<'_>, line: &str, format: LogFormat) -> Option<(i64, String)> {
    // `12345:M 07 Dec 2026 02:10:00.123 * Ready to accept connections tcp`
    let (_pid, rest) = line.split_once(':')?;
    let mut parts = rest.splitn(7, ' ');
    let role = parts.next()?;
    let (day, month, year, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let level = parts.next()?;
    let message = parts.next().unwrap_or("");
    if role.len() != 1 || level.len() != 1 {
        return None;
    }
    let stamp = format!("{day} {month} {year} {time}");
    let at = NaiveDateTime::parse_from_str(&stamp, "%d %b %Y %H:%M:%S%.3f").ok()?;
    let at_ms = at.and_utc().timestamp_millis();
    let text = match format {
        LogFormat::Text => format!(
            "{}/{}:{role} {stamp} UTC {level} {message}",
            source.cache_cluster, source.cache_node
        ),
        LogFormat::Json => serde_json::json!({
            "CacheClusterId": source.cache_cluster,
            "CacheNodeId": source.cache_node,
            "LogLevel": level,
            "Role": role,
            "Time": format!("{stamp} UTC"),
            "Message": message,
        })
        .to_string(),
    };
    Some((at_ms, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: Source<'static> = Source {
        cache_cluster: "rg-001",
        cache_node: "0001",
    };

    fn entry(args: &[&str]) -> SlowlogEntry {
        SlowlogEntry {
            id: 296,
            timestamp: 1_605_631_822,
            duration_us: 30,
            args: args.iter().map(|a| a.to_string()).collect(),
            client_address: "192.168.12.104:55452".into(),
            client_name: "app".into(),
        }
    }

    #[test]
    fn slow_log_entries_read_as_aws_writes_them() {
        let (at, text) = slow_log(SOURCE, &entry(&["GET", "secret-key"]), LogFormat::Text);
        assert_eq!(at, 1_605_631_822_000);
        assert_eq!(
            text,
            "rg-001,0001,1605631822,30,GET ... (1 more arguments),192.168.12.104:55452,app"
        );
        let (_, json) = slow_log(SOURCE, &entry(&["SET", "k", "v"]), LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Command"], "SET ... (2 more arguments)");
        assert_eq!(v["Duration (us)"], 30);
        assert_eq!(v["Id"], 296);
        assert_eq!(v["CacheNodeId"], "0001");
        assert!(!json.contains("secret"));
        let (_, ping) = slow_log(SOURCE, &entry(&["PING"]), LogFormat::Text);
        assert!(ping.contains(",PING,"));
    }

    #[test]
    fn engine_log_lines_read_as_aws_writes_them() {
        let line = "4242:M 29 Oct 2020 20:12:20.499 * Ready to accept connections tcp";
        let (at, text) = engine_log(SOURCE, line, LogFormat::Text).unwrap();
        assert_eq!(
            text,
            "rg-001/0001:M 29 Oct 2020 20:12:20.499 UTC * Ready to accept connections tcp"
        );
        assert_eq!(at, 1_604_002_340_499);
        let (_, json) = engine_log(SOURCE, line, LogFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Role"], "M");
        assert_eq!(v["LogLevel"], "*");
        assert_eq!(v["Time"], "29 Oct 2020 20:12:20.499 UTC");
        assert_eq!(v["Message"], "Ready to accept connections tcp");
        assert!(engine_log(SOURCE, "                _._", LogFormat::Text).is_none());
        assert!(engine_log(SOURCE, "", LogFormat::Text).is_none());
    }
}
