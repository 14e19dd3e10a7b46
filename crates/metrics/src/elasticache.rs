//! ElastiCache's metric set (namespace `AWS/ElastiCache`), from a node's `INFO`.
//!
//! A [`Reading`] is what one `INFO default commandstats` (plus the host's figures) says at one
//! moment; [`datapoints`] turns two readings of the same node into the metrics over the time
//! between them, under ElastiCache's names and units: counters (`CacheHits`, `NetworkBytesIn`,
//! `GetTypeCmds`, …) as what happened in the interval, rates (`CPUUtilization`,
//! `EngineCPUUtilization`, `CacheHitRate`) over the interval, gauges (`CurrConnections`,
//! `BytesUsedForCache`, …) as the later reading says. The same function serves the 1-second
//! high-resolution points (two readings a second apart) and the 60-second ones (the readings at
//! two minute boundaries), so a minute's `CacheHitRate` is the minute's own hits over its own
//! lookups, not an average of per-second ratios.
//!
//! The per-command-type counts (`GetTypeCmds`, `StringBasedCmds`, …) follow ElastiCache's
//! definitions through Redis's own ACL categories (`@read`, `@write`, `@string`, …): which
//! command is in which category is asked of the engine (`ACL CAT <category>`) and given as
//! [`CommandTypes`], not kept in a table here.
//!
//! Host-level figures: `CPUUtilization` is the node process's CPU (user and system, all its
//! threads) — on ElastiCache the host runs only that node; `FreeableMemory` is the machine's
//! available memory, `SwapUsage` the machine's swap in use and `NetworkPacketsIn/Out` the
//! machine's packet counts, shared by every node on it (as the host's, which on ElastiCache
//! runs the one node); `NetworkBytesIn/Out` are the node's own (clients and replication).

use std::collections::{BTreeMap, HashMap};

/// ElastiCache's command types, each with the Redis ACL category that defines it (`None`: a
/// definition that is not one category, computed in [`datapoints`]).
pub const COMMAND_TYPES: &[(&str, &str)] = &[
    ("EvalBasedCmds", "scripting"),
    ("GeoSpatialBasedCmds", "geo"),
    ("GetTypeCmds", "read"),
    ("HashBasedCmds", "hash"),
    ("HyperLogLogBasedCmds", "hyperloglog"),
    ("KeyBasedCmds", "keyspace"),
    ("ListBasedCmds", "list"),
    ("PubSubBasedCmds", "pubsub"),
    ("SetBasedCmds", "set"),
    ("SetTypeCmds", "write"),
    ("SortedSetBasedCmds", "sortedset"),
    ("StringBasedCmds", "string"),
    ("StreamBasedCmds", "stream"),
];

/// Which commands (`get`, `client|list`, …) are in each ACL category of [`COMMAND_TYPES`], as
/// the engine answers `ACL CAT <category>`: kept as each command's set of types, so a sample
/// looks each command up once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandTypes {
    /// Command (lower case, `command|subcommand` for subcommands) → bit `i` set when it is in
    /// the category of `COMMAND_TYPES[i]`.
    by_command: HashMap<String, u16>,
}

/// The bit of `KeyBasedCmds` (`COMMAND_TYPES[5]`) in a [`CommandTypes`] set.
const KEY_BASED: u16 = 1 << 5;
const _: () = assert!(COMMAND_TYPES.len() <= 16);

impl CommandTypes {
    /// The types of commands by category, as `ACL CAT <category>` listed them (category →
    /// commands); categories not in [`COMMAND_TYPES`] are ignored.
    pub fn new(by_category: &HashMap<String, Vec<String>>) -> Self {
        let mut by_command: HashMap<String, u16> = HashMap::new();
        for (bit, (_, category)) in COMMAND_TYPES.iter().enumerate() {
            for command in by_category.get(*category).into_iter().flatten() {
                *by_command.entry(command.clone()).or_default() |= 1 << bit;
            }
        }
        Self { by_command }
    }

    /// The set of [`COMMAND_TYPES`] a command is in. A subcommand's stats are its own
    /// (`cmdstat_client|list`); `ACL CAT` lists container commands with their subcommands too,
    /// so both forms are looked up as given.
    fn types_of(&self, command: &str) -> u16 {
        self.by_command.get(command).copied().unwrap_or(0)
    }
}

/// The machine's figures at the moment of a reading (shared by every node on it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostFigures {
    /// Available memory (`MemAvailable`), bytes.
    pub available_memory: f64,
    /// Packets received on every interface since boot.
    pub packets_in: f64,
    /// Packets sent on every interface since boot.
    pub packets_out: f64,
    /// Swap in use on the machine, bytes.
    pub swap_used: f64,
}

/// One node's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// When it was taken, unix milliseconds.
    pub at_ms: i64,
    /// The `INFO` fields used, by [`Field`]; 0 where absent.
    fields: [f64; FIELD_COUNT],
    /// Bit `f` set when [`Field`] `f` was in the `INFO`.
    present: u32,
    /// `role:master`.
    primary: bool,
    /// Keys and keys with a TTL in all databases, and db0's average TTL (ms).
    keys: f64,
    volatile_keys: f64,
    db0_avg_ttl: Option<f64>,
    /// Per command: calls and microseconds spent.
    commands: BTreeMap<String, (f64, f64)>,
    host: HostFigures,
}

/// Declares [`Field`] and [`FIELDS`] from one list, so a field's name and index never part.
macro_rules! info_fields {
    (counters: { $($field:ident = $name:literal,)* }
     gauges: { $($gauge:ident = $gauge_name:literal,)* }) => {
        /// The `INFO` fields read: counters (they count from the process's start) first, then
        /// gauges.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Field {
            $($field,)*
            $($gauge,)*
        }
        /// Every [`Field`] with its `INFO` name, in order.
        const FIELDS: &[(&str, Field)] = &[$(($name, Field::$field),)* $(($gauge_name, Field::$gauge),)*];
        /// How many of [`FIELDS`], from the first, are counters.
        const COUNTER_COUNT: usize = [$($name,)*].len();
    };
}

info_fields! {
    counters: {
        UsedCpuSys = "used_cpu_sys",
        UsedCpuUser = "used_cpu_user",
        UsedCpuSysMainThread = "used_cpu_sys_main_thread",
        UsedCpuUserMainThread = "used_cpu_user_main_thread",
        TotalNetInputBytes = "total_net_input_bytes",
        TotalNetOutputBytes = "total_net_output_bytes",
        TotalNetReplInputBytes = "total_net_repl_input_bytes",
        TotalNetReplOutputBytes = "total_net_repl_output_bytes",
        ActiveDefragHits = "active_defrag_hits",
        AclAccessDeniedAuth = "acl_access_denied_auth",
        AclAccessDeniedCmd = "acl_access_denied_cmd",
        AclAccessDeniedKey = "acl_access_denied_key",
        AclAccessDeniedChannel = "acl_access_denied_channel",
        KeyspaceHits = "keyspace_hits",
        KeyspaceMisses = "keyspace_misses",
        EvictedKeys = "evicted_keys",
        ExpiredKeys = "expired_keys",
        TotalConnectionsReceived = "total_connections_received",
        MasterReplOffset = "master_repl_offset",
    }
    gauges: {
        UsedMemory = "used_memory",
        Maxmemory = "maxmemory",
        TotalSystemMemory = "total_system_memory",
        ConnectedClients = "connected_clients",
        MemFragmentationRatio = "mem_fragmentation_ratio",
        MasterLastIoSecondsAgo = "master_last_io_seconds_ago",
        RdbBgsaveInProgress = "rdb_bgsave_in_progress",
        ConnectedSlaves = "connected_slaves",
        UptimeInSeconds = "uptime_in_seconds",
    }
}

const FIELD_COUNT: usize = FIELDS.len();
const _: () = assert!(FIELD_COUNT <= 32);

/// [`FIELDS`] by name: `INFO` has some 200 lines, and each is looked up once per sample.
fn field_named(name: &str) -> Option<Field> {
    static NAMES: std::sync::OnceLock<HashMap<&'static str, Field, foldhash::fast::FixedState>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| FIELDS.iter().copied().collect())
        .get(name)
        .copied()
}

/// Whether `field` counts from the process's start.
fn is_counter(field: Field) -> bool {
    (field as usize) < COUNTER_COUNT
}

impl Reading {
    /// Reads `info` (the text of `INFO default commandstats`) taken at `at_ms`, with the host's
    /// figures of the same moment.
    ///
    /// The reading's moment is the node's own `server_time_usec` when the text has it (when
    /// the node answered, not when its answer was read), else `at_ms`.
    pub fn parse(info: &str, at_ms: i64, host: HostFigures) -> Self {
        let mut reading = Reading {
            at_ms,
            host,
            ..Reading::default()
        };
        // Some 200 lines a node, every second: split with `memchr`'s vectorised search.
        let mut line_start = 0;
        for line_end in memchr::memchr_iter(b'\n', info.as_bytes()).chain([info.len()]) {
            // `\n` and `:` are ASCII, so these are char boundaries.
            let line = info[line_start..line_end].trim_end_matches('\r');
            line_start = line_end + 1;
            let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if name == "server_time_usec" {
                if let Ok(usec) = value.parse::<i64>() {
                    reading.at_ms = usec / 1000;
                }
            } else if let Some(command) = name.strip_prefix("cmdstat_") {
                let calls = stat(value, "calls");
                let usec = stat(value, "usec");
                if let (Some(calls), Some(usec)) = (calls, usec) {
                    reading.commands.insert(command.to_string(), (calls, usec));
                }
            } else if let Some(db) = name.strip_prefix("db") {
                if db.parse::<u32>().is_err() {
                    continue;
                }
                reading.keys += stat(value, "keys").unwrap_or(0.0);
                reading.volatile_keys += stat(value, "expires").unwrap_or(0.0);
                if db == "0" {
                    reading.db0_avg_ttl = stat(value, "avg_ttl");
                }
            } else if name == "role" {
                reading.primary = value == "master";
            } else if let Some(field) = field_named(name) {
                if let Ok(number) = value.parse::<f64>() {
                    reading.fields[field as usize] = number;
                    reading.present |= 1 << field as usize;
                }
            }
        }
        reading
    }

    fn field(&self, field: Field) -> f64 {
        self.fields[field as usize]
    }

    fn has(&self, field: Field) -> bool {
        self.present & (1 << field as usize) != 0
    }

    /// When the node's process started (unix ms), as its uptime says.
    pub fn process_started_ms(&self) -> Option<i64> {
        self.has(Field::UptimeInSeconds)
            .then(|| self.at_ms - (self.field(Field::UptimeInSeconds) * 1000.0) as i64)
    }

    /// The reading the node's process had when it started: every counter zero, the gauges and
    /// the host's figures as now (the host's counters are the machine's, not the process's).
    /// The first datapoints of a node started while it is watched count from there, so what it
    /// did before its first sample is not lost.
    pub fn at_process_start(&self) -> Option<Reading> {
        let started = self.process_started_ms()?;
        Some(Reading {
            at_ms: started,
            fields: std::array::from_fn(|at| {
                if is_counter(FIELDS[at].1) {
                    0.0
                } else {
                    self.fields[at]
                }
            }),
            commands: BTreeMap::new(),
            ..self.clone()
        })
    }

    /// Whether the node answered as a primary.
    pub fn is_primary(&self) -> bool {
        self.primary
    }
}

/// `name=value` out of an `INFO` value like `calls=3,usec=12,usec_per_call=4.00`.
fn stat(value: &str, name: &str) -> Option<f64> {
    value
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// One figure under its ElastiCache name and CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// The metric's name (`CacheHits`).
    pub metric: &'static str,
    /// Its CloudWatch unit (`Count`, `Percent`, `Bytes`, `Seconds`, `Microseconds`,
    /// `Milliseconds`, `None`).
    pub unit: &'static str,
    /// The value.
    pub value: f64,
}

/// What a counter grew by from `before` to `now`. A counter that went down was reset (the
/// process restarted): what it counts now all happened since.
fn growth(before: f64, now: f64) -> f64 {
    if now >= before {
        now - before
    } else {
        now
    }
}

/// The metrics of one node over the interval from `before` to `now` (see the module doc);
/// the per-command-type counts only once `types` are known. Nothing when the interval is
/// empty or runs backwards.
pub fn datapoints(before: &Reading, now: &Reading, types: Option<&CommandTypes>) -> Vec<Datapoint> {
    let seconds = (now.at_ms - before.at_ms) as f64 / 1000.0;
    if seconds <= 0.0 {
        return Vec::new();
    }
    let grew = |field: Field| growth(before.field(field), now.field(field));
    let mut out = Vec::with_capacity(48);
    let mut push = |metric: &'static str, unit: &'static str, value: f64| {
        if value.is_finite() {
            out.push(Datapoint {
                metric,
                unit,
                value,
            });
        }
    };
    let percent_of_interval = |cpu_seconds: f64| (cpu_seconds / seconds * 100.0).max(0.0);

    // Host level.
    push(
        "CPUUtilization",
        "Percent",
        percent_of_interval(grew(Field::UsedCpuSys) + grew(Field::UsedCpuUser)),
    );
    push("FreeableMemory", "Bytes", now.host.available_memory);
    push(
        "NetworkBytesIn",
        "Bytes",
        grew(Field::TotalNetInputBytes) + grew(Field::TotalNetReplInputBytes),
    );
    push(
        "NetworkBytesOut",
        "Bytes",
        grew(Field::TotalNetOutputBytes) + grew(Field::TotalNetReplOutputBytes),
    );
    push(
        "NetworkPacketsIn",
        "Count",
        growth(before.host.packets_in, now.host.packets_in),
    );
    push(
        "NetworkPacketsOut",
        "Count",
        growth(before.host.packets_out, now.host.packets_out),
    );
    push("SwapUsage", "Bytes", now.host.swap_used);

    // Engine.
    push("ActiveDefragHits", "Count", grew(Field::ActiveDefragHits));
    push(
        "AuthenticationFailures",
        "Count",
        grew(Field::AclAccessDeniedAuth),
    );
    push(
        "CommandAuthorizationFailures",
        "Count",
        grew(Field::AclAccessDeniedCmd),
    );
    push(
        "KeyAuthorizationFailures",
        "Count",
        grew(Field::AclAccessDeniedKey) + grew(Field::AclAccessDeniedChannel),
    );
    push("BytesUsedForCache", "Bytes", now.field(Field::UsedMemory));
    let (hits, misses) = (grew(Field::KeyspaceHits), grew(Field::KeyspaceMisses));
    push("CacheHits", "Count", hits);
    push("CacheMisses", "Count", misses);
    let lookups = hits + misses;
    push(
        "CacheHitRate",
        "Percent",
        if lookups > 0.0 {
            hits / lookups * 100.0
        } else {
            0.0
        },
    );
    push(
        "CurrConnections",
        "Count",
        now.field(Field::ConnectedClients),
    );
    push("CurrItems", "Count", now.keys);
    push("CurrVolatileItems", "Count", now.volatile_keys);
    let limit = match now.field(Field::Maxmemory) {
        m if m > 0.0 => m,
        _ => now.field(Field::TotalSystemMemory),
    };
    if limit > 0.0 {
        push(
            "DatabaseMemoryUsagePercentage",
            "Percent",
            now.field(Field::UsedMemory) / limit * 100.0,
        );
    }
    push(
        "DB0AverageTTL",
        "Milliseconds",
        now.db0_avg_ttl.unwrap_or(0.0),
    );
    push(
        "EngineCPUUtilization",
        "Percent",
        percent_of_interval(grew(Field::UsedCpuSysMainThread) + grew(Field::UsedCpuUserMainThread)),
    );
    push("Evictions", "Count", grew(Field::EvictedKeys));
    push("IsPrimary", "Count", if now.primary { 1.0 } else { 0.0 });
    if now.has(Field::MemFragmentationRatio) {
        push(
            "MemoryFragmentationRatio",
            "None",
            now.field(Field::MemFragmentationRatio),
        );
    }
    push(
        "NewConnections",
        "Count",
        grew(Field::TotalConnectionsReceived),
    );
    push("Reclaimed", "Count", grew(Field::ExpiredKeys));
    if now.primary {
        // What the primary produced for its replicas to apply in the interval.
        if now.field(Field::ConnectedSlaves) > 0.0 {
            push("ReplicationBytes", "Bytes", grew(Field::MasterReplOffset));
        } else {
            push("ReplicationBytes", "Bytes", 0.0);
        }
    } else if now.has(Field::MasterLastIoSecondsAgo) {
        // Redis reports -1 while the link is down; ElastiCache then has no datapoint.
        let lag = now.field(Field::MasterLastIoSecondsAgo);
        if lag >= 0.0 {
            push("ReplicationLag", "Seconds", lag);
        }
    }
    push(
        "SaveInProgress",
        "Count",
        now.field(Field::RdbBgsaveInProgress),
    );

    // Per command type: calls in the interval and their mean latency.
    let Some(types) = types else {
        return out;
    };
    let mut calls = [(0.0, 0.0); COMMAND_TYPES.len()];
    let mut non_key = (0.0, 0.0);
    let mut cluster = (0.0, 0.0);
    for (command, &(now_calls, now_usec)) in &now.commands {
        let (before_calls, before_usec) =
            before.commands.get(command).copied().unwrap_or((0.0, 0.0));
        let (c, u) = (
            growth(before_calls, now_calls),
            growth(before_usec, now_usec),
        );
        if c == 0.0 {
            continue;
        }
        let in_types = types.types_of(command);
        for (bit, entry) in calls.iter_mut().enumerate() {
            if in_types & (1 << bit) != 0 {
                entry.0 += c;
                entry.1 += u;
            }
        }
        if in_types & KEY_BASED == 0 {
            non_key.0 += c;
            non_key.1 += u;
        }
        if command == "cluster" || command.starts_with("cluster|") {
            cluster.0 += c;
            cluster.1 += u;
        }
    }
    let mut typed = |name: &'static str, latency: &'static str, (c, u): (f64, f64)| {
        push(name, "Count", c);
        if c > 0.0 {
            push(latency, "Microseconds", u / c);
        }
    };
    for ((metric, _), figures) in COMMAND_TYPES.iter().zip(calls) {
        typed(metric, latency_name(metric), figures);
    }
    typed("NonKeyTypeCmds", "NonKeyTypeCmdsLatency", non_key);
    typed("ClusterBasedCmds", "ClusterBasedCmdsLatency", cluster);
    out
}

/// The latency metric of a command-type count (`GetTypeCmds` → `GetTypeCmdsLatency`).
fn latency_name(metric: &str) -> &'static str {
    match metric {
        "EvalBasedCmds" => "EvalBasedCmdsLatency",
        "GeoSpatialBasedCmds" => "GeoSpatialBasedCmdsLatency",
        "GetTypeCmds" => "GetTypeCmdsLatency",
        "HashBasedCmds" => "HashBasedCmdsLatency",
        "HyperLogLogBasedCmds" => "HyperLogLogBasedCmdsLatency",
        "KeyBasedCmds" => "KeyBasedCmdsLatency",
        "ListBasedCmds" => "ListBasedCmdsLatency",
        "PubSubBasedCmds" => "PubSubBasedCmdsLatency",
        "SetBasedCmds" => "SetBasedCmdsLatency",
        "SetTypeCmds" => "SetTypeCmdsLatency",
        "SortedSetBasedCmds" => "SortedSetBasedCmdsLatency",
        "StringBasedCmds" => "StringBasedCmdsLatency",
        _ => "StreamBasedCmdsLatency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# Server\r\nprocess_id:42\r\n# Clients\r\nconnected_clients:3\r\n\
# Memory\r\nused_memory:1000\r\nmaxmemory:4000\r\nmem_fragmentation_ratio:1.50\r\n\
# Stats\r\ntotal_connections_received:10\r\nkeyspace_hits:100\r\nkeyspace_misses:50\r\n\
total_net_input_bytes:1000\r\ntotal_net_output_bytes:2000\r\nevicted_keys:0\r\nexpired_keys:1\r\n\
# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:500\r\n\
# CPU\r\nused_cpu_sys:1.0\r\nused_cpu_user:1.0\r\nused_cpu_sys_main_thread:0.5\r\nused_cpu_user_main_thread:0.5\r\n\
# Commandstats\r\ncmdstat_get:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_set:calls=5,usec=50,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
# Keyspace\r\ndb0:keys=7,expires=2,avg_ttl=3000\r\n";

    const NOW: &str = "# Clients\r\nconnected_clients:4\r\n\
# Memory\r\nused_memory:2000\r\nmaxmemory:4000\r\nmem_fragmentation_ratio:1.20\r\n\
# Stats\r\ntotal_connections_received:12\r\nkeyspace_hits:130\r\nkeyspace_misses:60\r\n\
total_net_input_bytes:1500\r\ntotal_net_output_bytes:2600\r\nevicted_keys:4\r\nexpired_keys:3\r\n\
# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:800\r\n\
# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:1.5\r\nused_cpu_sys_main_thread:0.7\r\nused_cpu_user_main_thread:0.7\r\n\
# Commandstats\r\ncmdstat_get:calls=40,usec=400,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_set:calls=15,usec=250,usec_per_call=16.67,rejected_calls=0,failed_calls=0\r\n\
cmdstat_ping:calls=2,usec=2,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
# Keyspace\r\ndb0:keys=9,expires=3,avg_ttl=2500\r\ndb1:keys=1,expires=0,avg_ttl=0\r\n";

    fn types() -> CommandTypes {
        let mut by_category = HashMap::new();
        for (category, commands) in [
            ("read", vec!["get"]),
            ("write", vec!["set"]),
            ("string", vec!["get", "set"]),
            ("keyspace", vec!["del"]),
        ] {
            by_category.insert(
                category.to_string(),
                commands.into_iter().map(String::from).collect(),
            );
        }
        CommandTypes::new(&by_category)
    }

    fn value(points: &[Datapoint], metric: &str) -> Option<f64> {
        points.iter().find(|p| p.metric == metric).map(|p| p.value)
    }

    #[test]
    fn two_readings_give_elasticache_figures_over_the_interval() {
        let host = HostFigures {
            available_memory: 9e9,
            packets_in: 10.0,
            packets_out: 20.0,
            swap_used: 0.0,
        };
        let before = Reading::parse(BEFORE, 0, host);
        let later = HostFigures {
            packets_in: 15.0,
            packets_out: 29.0,
            ..host
        };
        let now = Reading::parse(NOW, 2000, later);
        let p = datapoints(&before, &now, Some(&types()));
        // 1 CPU second of 2 wall seconds.
        assert_eq!(value(&p, "CPUUtilization"), Some(50.0));
        assert!((value(&p, "EngineCPUUtilization").unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(value(&p, "CacheHits"), Some(30.0));
        assert_eq!(value(&p, "CacheMisses"), Some(10.0));
        assert_eq!(value(&p, "CacheHitRate"), Some(75.0));
        assert_eq!(value(&p, "CurrConnections"), Some(4.0));
        assert_eq!(value(&p, "CurrItems"), Some(10.0));
        assert_eq!(value(&p, "CurrVolatileItems"), Some(3.0));
        assert_eq!(value(&p, "DB0AverageTTL"), Some(2500.0));
        assert_eq!(value(&p, "DatabaseMemoryUsagePercentage"), Some(50.0));
        assert_eq!(value(&p, "BytesUsedForCache"), Some(2000.0));
        assert_eq!(value(&p, "NetworkBytesIn"), Some(500.0));
        assert_eq!(value(&p, "NetworkBytesOut"), Some(600.0));
        assert_eq!(value(&p, "NetworkPacketsIn"), Some(5.0));
        assert_eq!(value(&p, "NetworkPacketsOut"), Some(9.0));
        assert_eq!(value(&p, "Evictions"), Some(4.0));
        assert_eq!(value(&p, "Reclaimed"), Some(2.0));
        assert_eq!(value(&p, "NewConnections"), Some(2.0));
        assert_eq!(value(&p, "IsPrimary"), Some(1.0));
        assert_eq!(value(&p, "ReplicationBytes"), Some(300.0));
        assert_eq!(value(&p, "ReplicationLag"), None);
        assert_eq!(value(&p, "MemoryFragmentationRatio"), Some(1.2));
        assert_eq!(value(&p, "GetTypeCmds"), Some(30.0));
        assert_eq!(value(&p, "GetTypeCmdsLatency"), Some(10.0));
        assert_eq!(value(&p, "SetTypeCmds"), Some(10.0));
        assert_eq!(value(&p, "SetTypeCmdsLatency"), Some(20.0));
        assert_eq!(value(&p, "StringBasedCmds"), Some(40.0));
        assert_eq!(value(&p, "KeyBasedCmds"), Some(0.0));
        assert_eq!(value(&p, "KeyBasedCmdsLatency"), None);
        // get, set and ping: none of them in @keyspace here.
        assert_eq!(value(&p, "NonKeyTypeCmds"), Some(42.0));
    }

    #[test]
    fn a_replica_reports_its_lag_and_a_restart_resets_counters() {
        let replica_before = "role:slave\r\nkeyspace_hits:500\r\nmaster_last_io_seconds_ago:0\r\n";
        let replica_now = "role:slave\r\nkeyspace_hits:20\r\nmaster_last_io_seconds_ago:3\r\n";
        let host = HostFigures::default();
        let p = datapoints(
            &Reading::parse(replica_before, 0, host),
            &Reading::parse(replica_now, 1000, host),
            Some(&CommandTypes::default()),
        );
        assert_eq!(value(&p, "ReplicationLag"), Some(3.0));
        assert_eq!(value(&p, "IsPrimary"), Some(0.0));
        assert_eq!(value(&p, "ReplicationBytes"), None);
        // The counter went down: the node restarted and served 20 hits since.
        assert_eq!(value(&p, "CacheHits"), Some(20.0));
    }

    #[test]
    fn a_node_started_while_watched_counts_from_its_start() {
        let info =
            "uptime_in_seconds:3\r\nkeyspace_hits:50\r\nconnected_clients:2\r\nrole:master\r\n";
        let now = Reading::parse(info, 10_000, HostFigures::default());
        let start = now.at_process_start().unwrap();
        assert_eq!(start.at_ms, 7_000);
        let p = datapoints(&start, &now, None);
        assert_eq!(value(&p, "CacheHits"), Some(50.0));
        assert_eq!(value(&p, "CurrConnections"), Some(2.0));
    }

    #[test]
    fn counters_are_the_fields_that_count_from_the_start() {
        assert!(is_counter(Field::MasterReplOffset) && is_counter(Field::UsedCpuSys));
        assert!(!is_counter(Field::UsedMemory) && !is_counter(Field::UptimeInSeconds));
        assert_eq!(
            COMMAND_TYPES[KEY_BASED.trailing_zeros() as usize].0,
            "KeyBasedCmds"
        );
    }

    #[test]
    fn an_empty_or_backward_interval_gives_nothing() {
        let r = Reading::parse(NOW, 1000, HostFigures::default());
        assert!(datapoints(&r, &r, Some(&types())).is_empty());
        let earlier = Reading::parse(BEFORE, 0, HostFigures::default());
        assert!(datapoints(&r, &earlier, Some(&types())).is_empty());
    }
}
