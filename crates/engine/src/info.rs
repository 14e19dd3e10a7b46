//! The typed view of `INFO`. [`Info::parse`] reads the `field:value` text Redis 7.0 returns
//! (sections, `\r\n` or `\n` line ends) into the fields the control plane acts on, keeps every
//! field in [`Info::raw`] for metrics and debugging, and never panics: a missing or malformed
//! field takes its documented default, and only text without a `role` (which every real `INFO`
//! and `INFO replication` has) is refused, because guessing a node's role is how two primaries
//! happen.

use std::collections::BTreeMap;

use crate::error::EngineError;

/// Replication role, from `role:master` / `role:slave`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Accepts writes (`role:master`). The default only so that [`Info::default`] exists for
    /// tests and simulations; parsing never defaults it.
    #[default]
    Master,
    /// Follows a primary (`role:slave`).
    Replica,
}

/// One `slaveN:` line of a primary's `INFO replication`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaEntry {
    /// Address the replica connected from (or announced).
    pub ip: String,
    /// The replica's listening port, as it announced it.
    pub port: u16,
    /// Link state as the primary sees it: `online`, `wait_bgsave`, `send_bulk`, ...
    pub state: String,
    /// Replication offset the replica last acknowledged.
    pub offset: i64,
    /// Seconds since the replica's last acknowledgement.
    pub lag_seconds: i64,
}

/// The facts from `INFO` that Ferrocache uses, plus every field verbatim in [`Info::raw`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    /// `role`.
    pub role: Role,
    /// `master_link_status` (`up` → true); `None` on a primary or when absent.
    pub master_link_status_up: Option<bool>,
    /// `master_host` of a replica.
    pub master_host: Option<String>,
    /// `master_port` of a replica.
    pub master_port: Option<u16>,
    /// `master_sync_in_progress` (a replica receiving its initial sync); false when absent.
    pub master_sync_in_progress: bool,
    /// `connected_slaves`; 0 when absent.
    pub connected_slaves: u32,
    /// The `slaveN:` lines of a primary, in N order.
    pub replicas: Vec<ReplicaEntry>,
    /// `master_replid`, the replication history id; empty when absent.
    pub master_replid: String,
    /// `master_repl_offset`; 0 when absent.
    pub master_repl_offset: i64,
    /// `slave_repl_offset` of a replica.
    pub slave_repl_offset: Option<i64>,
    /// `loading:1` while the dataset is being loaded; false when absent.
    pub loading: bool,
    /// `rdb_bgsave_in_progress:1`; false when absent.
    pub rdb_bgsave_in_progress: bool,
    /// `rdb_last_bgsave_status:ok`; false when absent or anything else, so that a missing
    /// field never vouches for a snapshot.
    pub rdb_last_bgsave_ok: bool,
    /// `run_id`, different for every process start; empty when absent.
    pub run_id: String,
    /// `process_id`; 0 when absent.
    pub process_id: u32,
    /// `tcp_port`; 0 when absent or when TCP is disabled.
    pub tcp_port: u16,
    /// `uptime_in_seconds`; 0 when absent.
    pub uptime_seconds: u64,
    /// `config_file`, the absolute path Redis was started with; empty when absent.
    pub config_file: String,
    /// `redis_version`; empty when absent.
    pub redis_version: String,
    /// `used_memory` in bytes; 0 when absent.
    pub used_memory: u64,
    /// `maxmemory` in bytes (0 = unlimited); 0 when absent.
    pub maxmemory: u64,
    /// Sum of `keys=` over every `dbN:` line of the keyspace section.
    pub keys_total: u64,
    /// Every `field:value` line, verbatim (the last one wins if a field repeats).
    pub raw: BTreeMap<String, String>,
}

/// Most `slaveN:` lines read into [`Info::replicas`]; ElastiCache allows 5 replicas per
/// shard, and more than this means the text is not what we think it is.
pub const REPLICA_ENTRIES_MAX: usize = 64;

impl Info {
    /// Parses the text of `INFO` (any set of sections, as long as `replication` is included).
    ///
    /// # Errors
    ///
    /// [`EngineError::InfoMalformed`] when there is no recognisable `role` field.
    pub fn parse(text: &str) -> Result<Info, EngineError> {
        let mut raw = BTreeMap::new();
        let mut keys_total: u64 = 0;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            if is_db_field(field) {
                keys_total = keys_total.saturating_add(keyspace_keys(value));
            }
            raw.insert(field.to_string(), value.to_string());
        }

        let role = match raw.get("role").map(String::as_str) {
            Some("master") => Role::Master,
            Some("slave") | Some("replica") => Role::Replica,
            Some(other) => {
                return Err(EngineError::InfoMalformed {
                    reason: format!("unknown role {other:?}"),
                })
            }
            None => {
                return Err(EngineError::InfoMalformed {
                    reason: "no role field (was the replication section requested?)".to_string(),
                })
            }
        };

        let get = |field: &str| raw.get(field).map(String::as_str);
        let number = |field: &str| get(field).and_then(|v| v.trim().parse::<i64>().ok());
        let unsigned = |field: &str| get(field).and_then(|v| v.trim().parse::<u64>().ok());
        let flag = |field: &str| get(field).is_some_and(|v| v.trim() == "1");

        let mut replicas = Vec::new();
        for n in 0..REPLICA_ENTRIES_MAX {
            match get(&format!("slave{n}")) {
                Some(value) => replicas.push(parse_replica_entry(value)),
                None => break,
            }
        }

        Ok(Info {
            role,
            master_link_status_up: match role {
                Role::Replica => get("master_link_status").map(|v| v.trim() == "up"),
                Role::Master => None,
            },
            master_host: get("master_host").map(str::to_string),
            master_port: get("master_port").and_then(|v| v.trim().parse().ok()),
            master_sync_in_progress: flag("master_sync_in_progress"),
            connected_slaves: get("connected_slaves")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            replicas,
            master_replid: get("master_replid").unwrap_or_default().to_string(),
            master_repl_offset: number("master_repl_offset").unwrap_or(0),
            slave_repl_offset: number("slave_repl_offset"),
            loading: flag("loading"),
            rdb_bgsave_in_progress: flag("rdb_bgsave_in_progress"),
            rdb_last_bgsave_ok: get("rdb_last_bgsave_status").is_some_and(|v| v.trim() == "ok"),
            run_id: get("run_id").unwrap_or_default().to_string(),
            process_id: get("process_id")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            tcp_port: get("tcp_port")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            uptime_seconds: unsigned("uptime_in_seconds").unwrap_or(0),
            config_file: get("config_file").unwrap_or_default().to_string(),
            redis_version: get("redis_version").unwrap_or_default().to_string(),
            used_memory: unsigned("used_memory").unwrap_or(0),
            maxmemory: unsigned("maxmemory").unwrap_or(0),
            keys_total,
            raw,
        })
    }
}

/// `db0`, `db15`, ...: the keyspace lines.
fn is_db_field(field: &str) -> bool {
    field
        .strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `keys=` count of a keyspace value such as `keys=2,expires=1,avg_ttl=999490`; 0 when
/// missing or malformed.
fn keyspace_keys(value: &str) -> u64 {
    value
        .split(',')
        .find_map(|part| part.strip_prefix("keys="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Parses `ip=127.0.0.1,port=53099,state=online,offset=173,lag=0`; missing parts default.
fn parse_replica_entry(value: &str) -> ReplicaEntry {
    let mut entry = ReplicaEntry::default();
    for part in value.split(',') {
        let Some((key, v)) = part.split_once('=') else {
            continue;
        };
        match key {
            "ip" => entry.ip = v.to_string(),
            "port" => entry.port = v.parse().unwrap_or(0),
            "state" => entry.state = v.to_string(),
            "offset" => entry.offset = v.parse().unwrap_or(0),
            "lag" => entry.lag_seconds = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from redis-server 7.0.15 (Debian 12 package) on loopback ports: a primary with
    // one replica and keys in db0 and db3, that replica with its link up, the same replica
    // after its primary was stopped, and a primary loading a 158 MB RDB.
    const MASTER: &str = include_str!("../testdata/info_master.txt");
    const REPLICA_UP: &str = include_str!("../testdata/info_replica_up.txt");
    const REPLICA_DOWN: &str = include_str!("../testdata/info_replica_down.txt");
    const LOADING: &str = include_str!("../testdata/info_loading.txt");

    #[test]
    fn parses_a_primary() {
        // Goal: every typed field of a real primary's INFO is read correctly.
        // Method: compare against the values visible in the captured text.
        let info = Info::parse(MASTER).unwrap();
        assert_eq!(info.role, Role::Master);
        assert_eq!(info.master_link_status_up, None);
        assert_eq!(info.master_host, None);
        assert_eq!(info.master_port, None);
        assert_eq!(info.connected_slaves, 1);
        assert_eq!(
            info.replicas,
            vec![ReplicaEntry {
                ip: "127.0.0.1".into(),
                port: 53099,
                state: "online".into(),
                offset: 173,
                lag_seconds: 0,
            }]
        );
        assert_eq!(
            info.master_replid,
            "13830539b6e69e28c83343ba4762e1e13d625d93"
        );
        assert_eq!(info.master_repl_offset, 173);
        assert_eq!(info.slave_repl_offset, None);
        assert!(!info.loading);
        assert!(!info.rdb_bgsave_in_progress);
        assert!(info.rdb_last_bgsave_ok);
        assert_eq!(info.run_id, "5e1f9e2e726f2d476da0a389ebe8aaf43a32be12");
        assert_eq!(info.process_id, 6902);
        assert_eq!(info.tcp_port, 56155);
        assert_eq!(info.config_file, "/tmp/cap/m/redis.conf");
        assert_eq!(info.redis_version, "7.0.15");
        assert_eq!(info.used_memory, 1133272);
        assert_eq!(info.maxmemory, 104857600);
        assert_eq!(info.keys_total, 3);
        assert_eq!(info.raw.get("maxmemory_policy").unwrap(), "volatile-lru");
        assert_eq!(
            info.raw.get("db3").unwrap(),
            "keys=2,expires=1,avg_ttl=999490"
        );
    }

    #[test]
    fn parses_a_replica_with_link_up_and_down() {
        // Goal: replica-only fields are read, and link state follows master_link_status.
        // Method: parse the replica captured before and after its primary stopped.
        let up = Info::parse(REPLICA_UP).unwrap();
        assert_eq!(up.role, Role::Replica);
        assert_eq!(up.master_link_status_up, Some(true));
        assert_eq!(up.master_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(up.master_port, Some(56155));
        assert_eq!(up.slave_repl_offset, Some(173));
        assert_eq!(up.master_repl_offset, 173);
        assert_eq!(up.connected_slaves, 0);
        assert!(up.replicas.is_empty());
        assert_eq!(up.keys_total, 3);
        assert_eq!(up.config_file, "/tmp/cap/r/redis.conf");

        let down = Info::parse(REPLICA_DOWN).unwrap();
        assert_eq!(down.role, Role::Replica);
        assert_eq!(down.master_link_status_up, Some(false));
        assert_eq!(down.raw.get("master_link_down_since_seconds").unwrap(), "2");
    }

    #[test]
    fn parses_a_loading_node() {
        // Goal: a node loading its RDB is recognised as loading.
        // Method: parse INFO captured while a large RDB was being loaded.
        let info = Info::parse(LOADING).unwrap();
        assert!(info.loading);
        assert_eq!(info.role, Role::Master);
        assert_eq!(info.keys_total, 53164);
        assert_eq!(info.raw.get("loading_total_bytes").unwrap(), "157775974");
    }

    #[test]
    fn accepts_lf_line_ends_and_single_sections() {
        // Goal: the parser does not depend on \r\n, nor on every section being present.
        // Method: strip the \r and keep only the replication section.
        let replication: String = REPLICA_UP
            .replace('\r', "")
            .split("\n\n")
            .find(|section| section.starts_with("# Replication"))
            .unwrap()
            .to_string();
        let info = Info::parse(&replication).unwrap();
        assert_eq!(info.role, Role::Replica);
        assert_eq!(info.master_link_status_up, Some(true));
        assert_eq!(info.process_id, 0);
        assert_eq!(info.redis_version, "");
        assert!(!info.rdb_last_bgsave_ok);
        assert_eq!(info.keys_total, 0);
    }

    #[test]
    fn failed_bgsave_and_bgsave_in_progress() {
        // Goal: a failed or running BGSAVE is reported.
        // Method: edit the captured fields.
        let text = MASTER
            .replace("rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err")
            .replace("rdb_bgsave_in_progress:0", "rdb_bgsave_in_progress:1");
        let info = Info::parse(&text).unwrap();
        assert!(!info.rdb_last_bgsave_ok);
        assert!(info.rdb_bgsave_in_progress);
    }

    #[test]
    fn refuses_text_without_a_role() {
        // Goal: garbage never becomes a primary by default.
        // Method: parse text with no role and with an unknown role.
        assert!(matches!(
            Info::parse("# Server\r\nredis_version:7.0.15\r\n"),
            Err(EngineError::InfoMalformed { .. })
        ));
        assert!(matches!(
            Info::parse("role:sentinel\n"),
            Err(EngineError::InfoMalformed { .. })
        ));
    }

    #[test]
    fn never_panics_on_garbage() {
        // Goal: malformed numbers, odd separators and binary noise degrade to defaults.
        // Method: parse a set of hostile inputs, plus every prefix of a real capture.
        let hostile = [
            "",
            ":",
            "::::",
            "role:master\nconnected_slaves:-1\nmaster_port:99999\nprocess_id:abc\n",
            "role:slave\nmaster_link_status\nslave_repl_offset:1e9\ndb0:keys=x\n",
            "role:master\nslave0:ip=,port=-5,offset=,lag\nslave1:garbage\n",
            "role:master\ndb0:keys=18446744073709551615\ndb1:keys=18446744073709551615\n",
            "role:master\ndbx:keys=5\ndb:keys=5\n",
            "\u{0}\u{1}role:master\r\r\n#\n",
        ];
        for text in hostile {
            let _ = Info::parse(text);
        }
        let info = Info::parse(hostile[3]).unwrap();
        assert_eq!(info.connected_slaves, 0);
        assert_eq!(info.master_port, None);
        assert_eq!(info.process_id, 0);
        let info = Info::parse(hostile[5]).unwrap();
        assert_eq!(info.replicas.len(), 2);
        assert_eq!(info.replicas[0].port, 0);
        assert_eq!(info.replicas[1], ReplicaEntry::default());
        let info = Info::parse(hostile[6]).unwrap();
        assert_eq!(info.keys_total, u64::MAX);
        let info = Info::parse(hostile[7]).unwrap();
        assert_eq!(info.keys_total, 0);
        for end in (0..MASTER.len()).filter(|&i| MASTER.is_char_boundary(i)) {
            let _ = Info::parse(&MASTER[..end]);
        }
    }
}
