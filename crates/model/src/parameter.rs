//! Cache parameter groups of the `redis7` family: the parameter table, the built-in default
//! groups, the rules of `CreateCacheParameterGroup` / `ModifyCacheParameterGroup` /
//! `ResetCacheParameterGroup`, and how a group's values become `redis-server` settings.
//!
//! The table is data: `data/redis7-parameters.tsv` (the reference reconstruction of AWS's
//! `redis7` listing, 64 `Parameters` + 3 `CacheNodeTypeSpecificParameters`), embedded and parsed
//! once. A group stores only the values a user set ([`ParameterGroupSpec::values`]); every other
//! parameter reads its default, so a reset is a removal and `Source=user` lists exactly what was
//! set — what Terraform reads back.
//!
//! Applying a group to a node (see `control::reconcile::parameters`): [`engine_settings`] turns
//! the group's values into `redis.conf` directives. ElastiCache-only parameters are mapped
//! (`reserved-memory-percent` → `maxmemory`, the split `client-output-buffer-limit-*` → one
//! `client-output-buffer-limit` line) or, when Redis has no equivalent we honour yet
//! (`close-on-replica-write`, `rename-commands`, `replica-allow-chaining`), kept out of Redis.
//! A change of an `immediate` parameter is applied with `CONFIG SET`; a `requires-reboot` one
//! waits for the node's next start ([`ApplyStatus::PendingReboot`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::engine::{DEFAULT_PARAMETER_GROUP, DEFAULT_PARAMETER_GROUP_CLUSTER_ON, FAMILY_REDIS7};
use crate::node_type::{NodeType, NODE_TYPES};
use crate::{ids, tag::Tag, Fault, Timestamp};

/// The embedded table (tab-separated, one header line).
const REDIS7_TSV: &str = include_str!("../data/redis7-parameters.tsv");

/// Most `ParameterNameValues` one `ModifyCacheParameterGroup` may carry (AWS's limit).
pub const PARAMETERS_PER_MODIFY_MAX: usize = 20;
/// Longest `CacheParameterGroupName`.
pub const GROUP_NAME_LEN_MAX: usize = 255;
/// Longest `Description` of a parameter group.
pub const DESCRIPTION_LEN_MAX: usize = 255;

/// Every parameter group family AWS knows (`CacheParameterGroupFamily`); only
/// [`FAMILY_REDIS7`] is offered.
pub const FAMILIES: &[&str] = &[
    "valkey8",
    "valkey7",
    "memcached1.4",
    "memcached1.5",
    "memcached1.6",
    "redis2.6",
    "redis2.8",
    "redis3.2",
    "redis4.0",
    "redis5.0",
    "redis6.x",
    "redis7",
];

/// Parameters a *custom* group may change while the defaults show them read-only (AWS's
/// "conditionally modifiable" parameters of `redis7`; `activerehashing` is hidden in 7).
pub const CONDITIONALLY_MODIFIABLE: &[&str] = &["cluster-enabled", "databases"];

/// `Parameter.DataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `integer`
    Integer,
    /// `string` (AWS writes yes/no parameters as strings too)
    String,
}

impl DataType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Integer => "integer",
            DataType::String => "string",
        }
    }
}

/// `Parameter.ChangeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// `immediate`: applied to running nodes (`CONFIG SET`).
    Immediate,
    /// `requires-reboot`: applied when the node next starts.
    RequiresReboot,
}

impl ChangeType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Immediate => "immediate",
            ChangeType::RequiresReboot => "requires-reboot",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `ParameterName`.
    pub name: &'static str,
    /// `DataType`.
    pub data_type: DataType,
    /// `AllowedValues` as AWS writes it; `None` where AWS leaves the field out.
    pub allowed_values: Option<&'static str>,
    /// `IsModifiable` in the engine defaults.
    pub is_modifiable: bool,
    /// `ChangeType`.
    pub change_type: ChangeType,
    /// `MinimumEngineVersion`.
    pub minimum_engine_version: &'static str,
    /// `ParameterValue` in `default.redis7`; `None` where AWS leaves the value out
    /// (`notify-keyspace-events`). Unused for node-type-specific rows.
    pub default: Option<&'static str>,
    /// The value depends on the node type (`CacheNodeTypeSpecificParameters`).
    pub node_type_specific: bool,
}

impl Parameter {
    /// `IsModifiable` as shown in a group: custom groups also open the conditionally modifiable
    /// parameters.
    pub fn modifiable_in(&self, custom_group: bool) -> bool {
        self.is_modifiable || (custom_group && CONDITIONALLY_MODIFIABLE.contains(&self.name))
    }

    /// `Description`.
    pub fn description(&self) -> &'static str {
        description(self.name)
    }

    /// The value of a node-type-specific row for `node_type`: `maxmemory` is the node type's
    /// memory; the replica output-buffer limits are a tenth of it (the ratio AWS's published
    /// redis2.8 values show).
    pub fn node_type_value(&self, node_type: &NodeType) -> u64 {
        match self.name {
            "maxmemory" => node_type.memory_bytes,
            _ => node_type.memory_bytes / 10,
        }
    }
}

/// The `redis7` table, parsed once, in AWS's order.
///
/// # Panics
/// If the embedded table is malformed (a build-time fact, checked by the unit tests).
pub fn redis7() -> &'static [Parameter] {
    static TABLE: OnceLock<Vec<Parameter>> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(REDIS7_TSV).expect("embedded redis7 table parses"))
}

/// The row named `name` (exact, lower-case, as AWS spells it).
pub fn lookup(name: &str) -> Option<&'static Parameter> {
    redis7().iter().find(|p| p.name == name)
}

fn parse_table(text: &'static str) -> Result<Vec<Parameter>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&'static str> = line.split('\t').collect();
        let [name, data_type, allowed, modifiable, change, version, default, _source] = cells[..]
        else {
            return Err(format!("line {}: expected 8 cells", n + 1));
        };
        let data_type = match data_type {
            "integer" => DataType::Integer,
            "string" => DataType::String,
            other => return Err(format!("line {}: data type {other}", n + 1)),
        };
        let change_type = match change {
            "immediate" => ChangeType::Immediate,
            "requires-reboot" => ChangeType::RequiresReboot,
            other => return Err(format!("line {}: change type {other}", n + 1)),
        };
        let is_modifiable = match modifiable {
            "true" => true,
            "false" => false,
            other => return Err(format!("line {}: IsModifiable {other}", n + 1)),
        };
        let node_type_specific = default == "node-type-specific";
        // An empty default is `""` where the value is constrained (`rename-commands`), and no
        // value at all where AWS omits both value and allowed values (`notify-keyspace-events`).
        let default = match (default, allowed) {
            (_, _) if node_type_specific => None,
            ("", "") => None,
            (d, _) => Some(d),
        };
        rows.push(Parameter {
            name,
            data_type,
            allowed_values: (!allowed.is_empty()).then_some(allowed),
            is_modifiable,
            change_type,
            minimum_engine_version: version,
            default,
            node_type_specific,
        });
    }
    Ok(rows)
}

/// AWS's `Description` of each parameter (AWS's redis5.0 wording where it exists, the docs'
/// meaning for the 6.x and 7 additions).
fn description(name: &str) -> &'static str {
    match name {
        "acllog-max-len" => "The maximum number of entries in the ACL log.",
        "acl-pubsub-default" => "The default pubsub channel permissions for ACL users.",
        "activedefrag" => "Enabled active memory defragmentation",
        "active-defrag-cycle-max" => "Maximal effort for defrag in CPU percentage",
        "active-defrag-cycle-min" => "Minimal effort for defrag in CPU percentage",
        "active-defrag-ignore-bytes" => "Minimum amount of fragmentation waste to start active defrag",
        "active-defrag-max-scan-fields" => "Maximum number of set/hash/zset/list fields that will be processed from the main dictionary scan",
        "active-defrag-threshold-lower" => "Minimum percentage of fragmentation to start active defrag",
        "active-defrag-threshold-upper" => "Maximum percentage of fragmentation at which we use maximum effort",
        "active-expire-effort" => "The amount of effort that Redis uses to expire keys in the periodic job.",
        "appendfsync" => "fsync policy for AOF persistence",
        "appendonly" => "Enable Redis persistence.",
        "client-output-buffer-limit-normal-hard-limit" => "Normal client output buffer hard limit in bytes.",
        "client-output-buffer-limit-normal-soft-limit" => "Normal client output buffer soft limit in bytes.",
        "client-output-buffer-limit-normal-soft-seconds" => "Normal client output buffer soft limit in seconds.",
        "client-output-buffer-limit-pubsub-hard-limit" => "Pubsub client output buffer hard limit in bytes.",
        "client-output-buffer-limit-pubsub-soft-limit" => "Pubsub client output buffer soft limit in bytes.",
        "client-output-buffer-limit-pubsub-soft-seconds" => "Pubsub client output buffer soft limit in seconds.",
        "client-output-buffer-limit-replica-soft-seconds" => "Replica client output buffer soft limit in seconds.",
        "client-output-buffer-limit-replica-hard-limit" => "Replica client output buffer hard limit in bytes.",
        "client-output-buffer-limit-replica-soft-limit" => "Replica client output buffer soft limit in bytes.",
        "client-query-buffer-limit" => "Max size of a single client query buffer",
        "close-on-replica-write" => "If enabled, clients who attempt to write to a read-only replica will be disconnected.",
        "cluster-allow-pubsubshard-when-down" => "Allow the cluster to serve shard pubsub while it is down.",
        "cluster-allow-reads-when-down" => "Allow the cluster to serve read traffic while it is down.",
        "cluster-enabled" => "Enable cluster mode",
        "cluster-preferred-endpoint-type" => "The endpoint type for MOVED/ASK redirections and CLUSTER SLOTS/SHARDS replies.",
        "cluster-require-full-coverage" => "Whether the cluster becomes unavailable if one or more slots are not covered.",
        "databases" => "Set the number of databases.",
        "hash-max-listpack-entries" => "The maximum number of hash entries in order for the dataset to be compressed.",
        "hash-max-listpack-value" => "The threshold of biggest hash entries in order for the dataset to be compressed.",
        "hll-sparse-max-bytes" => "HyperLogLog sparse representation bytes limit",
        "latency-tracking" => "Enable per-command latency tracking (INFO latencystats).",
        "lazyfree-lazy-eviction" => "Perform an asynchronous delete on evictions",
        "lazyfree-lazy-expire" => "Perform an asynchronous delete on expired keys",
        "lazyfree-lazy-server-del" => "Perform an asynchronous delete on key updates",
        "lazyfree-lazy-user-del" => "Make DEL behave like UNLINK.",
        "lfu-decay-time" => "The amount of time in minutes to decrement the key counter for LFU eviction policy",
        "lfu-log-factor" => "The log factor for incrementing key counter for LFU eviction policy",
        "list-compress-depth" => "Number of quicklist ziplist nodes from each side of the list to exclude from compression. The head and tail of the list are always uncompressed for fast push/pop operations",
        "list-max-listpack-size" => "The number of entries or bytes allowed per internal list node.",
        "lua-time-limit" => "Max execution time of a Lua script in milliseconds. 0 for unlimited execution without warnings.",
        "maxclients" => "The maximum number of Redis clients.",
        "maxmemory" => "The maximum configured memory available for data, in bytes.",
        "maxmemory-policy" => "Max memory policy.",
        "maxmemory-samples" => "Max memory samples.",
        "min-replicas-max-lag" => "The maximum amount of replica lag in seconds beyond which the master would stop taking writes. A value of 0 means the master always takes writes.",
        "min-replicas-to-write" => "Number of replicas that must be connected in order for master to take writes.",
        "notify-keyspace-events" => "The keyspace events for Redis to notify Pub/Sub clients about. By default all notifications are disabled",
        "proto-max-bulk-len" => "Max size of a single element request",
        "rename-commands" => "Redis commands that can be dynamically renamed by the customer",
        "repl-backlog-size" => "The replication backlog size in bytes for PSYNC. This is the size of the buffer which accumulates slave data when slave is disconnected for some time, so that when slave reconnects again, only transfer the portion of data which the slave missed. Minimum value is 16K.",
        "repl-backlog-ttl" => "The amount of time in seconds after the master no longer have any slaves connected for the master to free the replication backlog. A value of 0 means to never release the backlog.",
        "replica-allow-chaining" => "Configures if chaining of replicas is allowed",
        "replica-ignore-maxmemory" => "Determines if replica ignores maxmemory setting by not evicting items independent from the master",
        "replica-lazy-flush" => "Perform an asynchronous flushDB during replica sync",
        "reserved-memory-percent" => "The percent of memory reserved for non-cache memory usage. You may want to increase this parameter for nodes with read replicas, AOF enabled, etc, to reduce swap usage.",
        "set-max-intset-entries" => "The limit in the size of the set in order for the dataset to be compressed.",
        "slowlog-log-slower-than" => "The execution time, in microseconds, to exceed in order for the command to get logged. Note that a negative number disables the slow log, while a value of zero forces the logging of every command.",
        "slowlog-max-len" => "The length of the slow log. There is no limit to this length. Just be aware that it will consume memory. You can reclaim memory used by the slow log with SLOWLOG RESET.",
        "stream-node-max-bytes" => "The maximum size of a single node in a stream in bytes.",
        "stream-node-max-entries" => "The maximum number of items a single node in a stream can contain.",
        "tcp-keepalive" => "If non-zero, send ACKs every given number of seconds.",
        "timeout" => "Close connection if client is idle for a given number of seconds, or never if 0.",
        "tracking-table-max-keys" => "The maximum number of keys in the client-side caching tracking table.",
        "zset-max-listpack-entries" => "The maximum number of sorted set entries in order for the dataset to be compressed.",
        "zset-max-listpack-value" => "The threshold of biggest sorted set entries in order for the dataset to be compressed.",
        _ => "",
    }
}

/// A cache parameter group's spec: what the API asked for. The two default groups are not
/// stored; [`default_group`] builds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterGroupSpec {
    /// `CacheParameterGroupName`, lower-case.
    pub name: String,
    /// Region from the request's SigV4 scope.
    pub region: String,
    /// `CacheParameterGroupFamily` (`redis7`).
    pub family: String,
    /// `Description`.
    pub description: String,
    /// The values a user set, by parameter name; every other parameter has its default.
    pub values: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// When the group was created.
    pub created_at: Timestamp,
    /// Bumped by every change of `values`; a node records the generation it has applied, so
    /// the control plane knows which nodes still need the change.
    pub generation: u64,
}

impl ParameterGroupSpec {
    /// The value of `parameter` in this group, `None` where the parameter has no value.
    pub fn value(&self, parameter: &Parameter) -> Option<String> {
        resolved(&self.values, parameter)
    }

    /// A built-in default group (read-only).
    pub fn is_default(&self) -> bool {
        is_default_name(&self.name)
    }
}

/// The value of `parameter` given a group's user `values`.
pub fn resolved(values: &BTreeMap<String, String>, parameter: &Parameter) -> Option<String> {
    values
        .get(parameter.name)
        .cloned()
        .or_else(|| parameter.default.map(str::to_string))
}

/// Whether `name` is one of the built-in default groups.
pub fn is_default_name(name: &str) -> bool {
    name == DEFAULT_PARAMETER_GROUP || name == DEFAULT_PARAMETER_GROUP_CLUSTER_ON
}

/// The default group `name` of `region`, if `name` is one (`default.redis7`:
/// `Default parameter group for redis7`; `default.redis7.cluster.on`: the same values with
/// `cluster-enabled=yes`).
pub fn default_group(name: &str, region: &str) -> Option<ParameterGroupSpec> {
    let (description, values) = match name {
        DEFAULT_PARAMETER_GROUP => (
            format!("Default parameter group for {FAMILY_REDIS7}"),
            BTreeMap::new(),
        ),
        DEFAULT_PARAMETER_GROUP_CLUSTER_ON => (
            format!("Customized default parameter group for {FAMILY_REDIS7} with cluster mode on"),
            BTreeMap::from([("cluster-enabled".to_string(), "yes".to_string())]),
        ),
        _ => return None,
    };
    Some(ParameterGroupSpec {
        name: name.to_string(),
        region: region.to_string(),
        family: FAMILY_REDIS7.to_string(),
        description,
        values,
        tags: Vec::new(),
        created_at: chrono::DateTime::UNIX_EPOCH,
        generation: 0,
    })
}

/// Whether the group's values turn cluster mode on (such a group cannot serve a
/// cluster-mode-disabled replication group or a standalone cluster).
pub fn cluster_mode_enabled(spec: &ParameterGroupSpec) -> bool {
    spec.values.get("cluster-enabled").map(String::as_str) == Some("yes")
}

/// Validates `CacheParameterGroupFamily`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`]: AWS's message for an unknown family; a refusal naming
/// the family for the families AWS has and Ferrocache does not run.
pub fn family(value: &str) -> Result<String, Fault> {
    let lower = value.to_ascii_lowercase();
    if lower == FAMILY_REDIS7 {
        return Ok(lower);
    }
    if FAMILIES.contains(&lower.as_str()) {
        return Err(Fault::value(format!(
            "CacheParameterGroupFamily {value} is not supported by this Ferrocache release yet: it runs Redis 7.0 (family {FAMILY_REDIS7})."
        )));
    }
    Err(Fault::value(format!(
        "CacheParameterGroupFamily {value} is not a valid parameter group family."
    )))
}

/// `CreateCacheParameterGroup` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateParameterGroupRequest {
    /// `CacheParameterGroupName`
    pub name: Option<String>,
    /// `CacheParameterGroupFamily`
    pub family: Option<String>,
    /// `Description`
    pub description: Option<String>,
    /// `Tags`
    pub tags: Vec<Tag>,
}

/// Validates `CreateCacheParameterGroup` into the new group's spec (a copy of the family's
/// defaults: no values set).
///
/// # Errors
/// [`Fault::MissingParameter`], [`Fault::InvalidParameterValue`] (name, family, description),
/// tag faults.
pub fn plan_create(
    req: &CreateParameterGroupRequest,
    region: &str,
    now: Timestamp,
) -> Result<ParameterGroupSpec, Fault> {
    let name = req
        .name
        .as_deref()
        .ok_or_else(|| Fault::MissingParameter("CacheParameterGroupName".into()))?;
    let name = ids::identifier("CacheParameterGroupName", name, GROUP_NAME_LEN_MAX)?;
    let family = family(
        req.family
            .as_deref()
            .ok_or_else(|| Fault::MissingParameter("CacheParameterGroupFamily".into()))?,
    )?;
    let description = req
        .description
        .clone()
        .ok_or_else(|| Fault::MissingParameter("Description".into()))?;
    if description.chars().count() > DESCRIPTION_LEN_MAX {
        return Err(Fault::value(format!(
            "The parameter Description must be at most {DESCRIPTION_LEN_MAX} characters long."
        )));
    }
    let mut tags = Vec::new();
    crate::tag::merge(&mut tags, &req.tags)?;
    Ok(ParameterGroupSpec {
        name,
        region: region.to_string(),
        family,
        description,
        values: BTreeMap::new(),
        tags,
        created_at: now,
        generation: 1,
    })
}

/// One `ParameterNameValue` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterNameValue {
    /// `ParameterName`
    pub name: Option<String>,
    /// `ParameterValue`
    pub value: Option<String>,
}

/// The refusal for changing a built-in default group.
pub fn default_group_fault(name: &str) -> Fault {
    Fault::value(format!(
        "The parameter group {name} is a default group and cannot be modified."
    ))
}

/// Checks a `ModifyCacheParameterGroup` against `group` and returns the group's values after
/// it. All or nothing: the first bad entry refuses the whole request.
///
/// Wording: "Cannot modify more than 20 parameters in a single request" is AWS's (seen in
/// Terraform's issues); the default-group text is the one emulators verified against AWS.
/// AWS has not published its texts for an unknown or read-only parameter or a bad value, so
/// those are ours, in AWS's style, and always name the parameter and the value.
///
/// `in_use` says whether a cache cluster uses the group: `cluster-enabled` cannot change then.
///
/// # Errors
/// [`Fault::InvalidParameterCombination`] past [`PARAMETERS_PER_MODIFY_MAX`];
/// [`Fault::InvalidParameterValue`] for a default group, no entries, an unknown or read-only
/// parameter, or a value outside the parameter's allowed values;
/// [`Fault::InvalidCacheParameterGroupState`] for `cluster-enabled` on a group in use.
pub fn plan_modify(
    group: &ParameterGroupSpec,
    changes: &[ParameterNameValue],
    in_use: bool,
) -> Result<BTreeMap<String, String>, Fault> {
    if group.is_default() {
        return Err(default_group_fault(&group.name));
    }
    if changes.len() > PARAMETERS_PER_MODIFY_MAX {
        return Err(Fault::combination(format!(
            "Cannot modify more than {PARAMETERS_PER_MODIFY_MAX} parameters in a single request"
        )));
    }
    if changes.is_empty() {
        return Err(Fault::value(
            "The parameter ParameterNameValues must contain at least one parameter.",
        ));
    }
    let mut values = group.values.clone();
    for change in changes {
        let name = change
            .name
            .as_deref()
            .ok_or_else(|| Fault::MissingParameter("ParameterName".into()))?;
        let parameter = modifiable(name, in_use)?;
        let value = change.value.as_deref().ok_or_else(|| {
            Fault::value(format!(
                "The parameter value for parameter {name} must be provided."
            ))
        })?;
        check_value(parameter, value)?;
        values.insert(parameter.name.to_string(), value.to_string());
    }
    Ok(values)
}

/// Checks a `ResetCacheParameterGroup` and returns the group's values after it.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for a default group, an unknown or read-only parameter;
/// [`Fault::InvalidParameterCombination`] for both or neither of `ResetAllParameters=true` and
/// a list.
pub fn plan_reset(
    group: &ParameterGroupSpec,
    reset_all: bool,
    names: &[ParameterNameValue],
    in_use: bool,
) -> Result<BTreeMap<String, String>, Fault> {
    if group.is_default() {
        return Err(default_group_fault(&group.name));
    }
    match (reset_all, names.is_empty()) {
        (true, true) => Ok(BTreeMap::new()),
        (true, false) => Err(Fault::combination(
            "Cannot specify ParameterNameValues when ResetAllParameters is true.",
        )),
        (false, true) => Err(Fault::combination(
            "Either ResetAllParameters must be true or ParameterNameValues must be provided.",
        )),
        (false, false) => {
            if names.len() > PARAMETERS_PER_MODIFY_MAX {
                return Err(Fault::combination(format!(
                    "Cannot reset more than {PARAMETERS_PER_MODIFY_MAX} parameters in a single request"
                )));
            }
            let mut values = group.values.clone();
            for entry in names {
                let name = entry
                    .name
                    .as_deref()
                    .ok_or_else(|| Fault::MissingParameter("ParameterName".into()))?;
                let parameter = modifiable(name, in_use)?;
                values.remove(parameter.name);
            }
            Ok(values)
        }
    }
}

/// The parameter `name` if a custom group may change it now.
fn modifiable(name: &str, in_use: bool) -> Result<&'static Parameter, Fault> {
    let parameter = lookup(name).ok_or_else(|| {
        Fault::value(format!(
            "Parameter {name} does not exist in parameter group family {FAMILY_REDIS7}."
        ))
    })?;
    if !parameter.modifiable_in(true) {
        return Err(Fault::value(format!(
            "The parameter {name} cannot be modified."
        )));
    }
    if in_use && parameter.name == "cluster-enabled" {
        return Err(Fault::InvalidCacheParameterGroupState(
            "The parameter cluster-enabled cannot be modified while the parameter group is in use by a cache cluster.".into(),
        ));
    }
    Ok(parameter)
}

/// Redis 7.0's keyspace event classes (`notify-keyspace-events`).
const KEYSPACE_EVENT_FLAGS: &str = "KEg$lshzxetmdnA";

/// Checks `value` against the parameter's type and allowed values.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] naming the parameter, the value and what is allowed.
pub fn check_value(parameter: &Parameter, value: &str) -> Result<(), Fault> {
    let name = parameter.name;
    let invalid = || match parameter.allowed_values {
        Some(allowed) => Fault::value(format!(
            "Invalid value {value} for parameter {name}. Allowed values: {allowed}"
        )),
        None => Fault::value(format!("Invalid value {value} for parameter {name}.")),
    };
    match parameter.data_type {
        DataType::Integer => {
            let n: i64 = value.parse().map_err(|_| {
                Fault::value(format!(
                    "Invalid value {value} for parameter {name}: the value must be an integer."
                ))
            })?;
            match parameter.allowed_values {
                Some(allowed) if !integer_allowed(allowed, n) => Err(invalid()),
                _ => Ok(()),
            }
        }
        DataType::String => match (name, parameter.allowed_values) {
            ("notify-keyspace-events", _) => {
                if value.chars().all(|c| KEYSPACE_EVENT_FLAGS.contains(c)) {
                    Ok(())
                } else {
                    Err(Fault::value(format!(
                        "Invalid value {value} for parameter {name}. Allowed characters: {KEYSPACE_EVENT_FLAGS}"
                    )))
                }
            }
            ("rename-commands", Some(allowed)) => check_renames(value, allowed),
            (_, Some(allowed)) if !allowed.split(',').any(|a| a == value) => Err(invalid()),
            _ => Ok(()),
        },
    }
}

/// Whether `n` is in AWS's integer `AllowedValues`: a comma list of exact values and ranges
/// (`a-b`, `a-` without upper bound), or `-` for any integer.
fn integer_allowed(allowed: &str, n: i64) -> bool {
    allowed.split(',').any(|token| {
        if token == "-" {
            return true;
        }
        if let Ok(exact) = token.parse::<i64>() {
            return exact == n;
        }
        // A range: the separator is the first '-' after the first character, so a negative
        // lower bound (`-5-`) still parses.
        let Some(at) = token[1..].find('-').map(|i| i + 1) else {
            return false;
        };
        let (low, high) = (&token[..at], &token[at + 1..]);
        let Ok(low) = low.parse::<i64>() else {
            return false;
        };
        match high {
            "" => n >= low,
            h => h.parse::<i64>().is_ok_and(|high| n >= low && n <= high),
        }
    })
}

/// `rename-commands`: space-separated `COMMAND new-name` pairs, each command from the allowed
/// list, each new name a plain token.
fn check_renames(value: &str, allowed: &str) -> Result<(), Fault> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.chunks_exact(2).remainder().is_empty() {
        return Err(Fault::value(format!(
            "Invalid value {value} for parameter rename-commands: give pairs of a command and its new name."
        )));
    }
    for pair in words.chunks_exact(2) {
        let command = pair[0].to_ascii_uppercase();
        if !allowed.split(',').any(|a| a == command) {
            return Err(Fault::value(format!(
                "Invalid value {value} for parameter rename-commands: command {} cannot be renamed.",
                pair[0]
            )));
        }
        if !pair[1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Fault::value(format!(
                "Invalid value {value} for parameter rename-commands: {} is not a valid command name.",
                pair[1]
            )));
        }
    }
    Ok(())
}

/// `Parameter.Source` and the `Source` filter of `DescribeCacheParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `user`: set in this group by a user.
    User,
    /// `system`: fixed by the service (read-only, or any parameter of a default group or of
    /// the engine defaults).
    System,
    /// `engine-default`: a modifiable parameter of a custom group left at its default.
    EngineDefault,
}

impl Source {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::User => "user",
            Source::System => "system",
            Source::EngineDefault => "engine-default",
        }
    }

    /// Parses the `Source` filter.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for anything but the three values.
    pub fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "user" => Ok(Source::User),
            "system" => Ok(Source::System),
            "engine-default" => Ok(Source::EngineDefault),
            other => Err(Fault::value(format!(
                "Invalid value {other} for Source. Valid values are user, system and engine-default."
            ))),
        }
    }
}

/// The `Source` of `parameter` in `group`.
pub fn source(group: &ParameterGroupSpec, parameter: &Parameter) -> Source {
    if group.is_default() || parameter.node_type_specific {
        Source::System
    } else if group.values.contains_key(parameter.name) {
        Source::User
    } else if parameter.modifiable_in(true) {
        Source::EngineDefault
    } else {
        Source::System
    }
}

/// `CacheParameterGroupStatus.ParameterApplyStatus` / `CacheNode.ParameterGroupStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyStatus {
    /// `in-sync`: the node runs with the group's values.
    InSync,
    /// `applying`: a change is being carried out.
    Applying,
    /// `pending-reboot`: a `requires-reboot` change waits for the node's next start.
    PendingReboot,
}

impl ApplyStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyStatus::InSync => "in-sync",
            ApplyStatus::Applying => "applying",
            ApplyStatus::PendingReboot => "pending-reboot",
        }
    }
}

/// The parameter values a node runs with, as the control plane last confirmed them
/// (`NodeObserved::parameters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedParameters {
    /// The group the values came from.
    pub group: String,
    /// The group's generation that was applied.
    pub generation: u64,
    /// The user values in effect in the process. For `requires-reboot` parameters these are
    /// the values the process started with, which can trail the group's.
    pub values: BTreeMap<String, String>,
    /// The node type `maxmemory` was last computed for (it depends on the node type and on
    /// `reserved-memory-percent`).
    #[serde(default)]
    pub node_type: Option<String>,
}

/// What a node should run with: its group's name, generation and user values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredParameters {
    /// Group name.
    pub group: String,
    /// Group generation.
    pub generation: u64,
    /// The group's user values.
    pub values: BTreeMap<String, String>,
}

impl DesiredParameters {
    /// The desired state of a node using `group`.
    pub fn of(group: &ParameterGroupSpec) -> Self {
        Self {
            group: group.name.clone(),
            generation: group.generation,
            values: group.values.clone(),
        }
    }
}

/// The apply status of a node that wants `desired` and has confirmed `applied`.
pub fn apply_status(
    desired: &DesiredParameters,
    applied: Option<&AppliedParameters>,
) -> ApplyStatus {
    match applied {
        Some(a) if a.group == desired.group && a.generation >= desired.generation => {
            if pending_reboot(&a.values, &desired.values) {
                ApplyStatus::PendingReboot
            } else {
                ApplyStatus::InSync
            }
        }
        _ => ApplyStatus::Applying,
    }
}

/// Whether a `requires-reboot` parameter differs between what runs and what is wanted.
pub fn pending_reboot(
    running: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> bool {
    redis7()
        .iter()
        .filter(|p| p.change_type == ChangeType::RequiresReboot)
        .any(|p| resolved(running, p) != resolved(wanted, p))
}

/// The values a running process has after applying `wanted` live: every `immediate` parameter
/// as wanted, every `requires-reboot` one as it was.
pub fn live_values(
    running: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = wanted.clone();
    for p in redis7()
        .iter()
        .filter(|p| p.change_type == ChangeType::RequiresReboot)
    {
        match running.get(p.name) {
            Some(v) => out.insert(p.name.to_string(), v.clone()),
            None => out.remove(p.name),
        };
    }
    out
}

/// The parameters whose value differs between `before` and `after`, with the value after
/// (AWS's "Updated parameter X to Y" events).
pub fn changed(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<(&'static str, String)> {
    redis7()
        .iter()
        .filter(|p| !p.node_type_specific)
        .filter_map(|p| {
            let now = resolved(after, p);
            (resolved(before, p) != now).then(|| (p.name, now.unwrap_or_default()))
        })
        .collect()
}

/// One `redis.conf` directive derived from a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Redis's name.
    pub name: String,
    /// One argument (Redis splits multi-argument values such as `client-output-buffer-limit`
    /// itself).
    pub value: String,
    /// Settable on a running node with `CONFIG SET` (the parameter is `immediate`).
    pub live: bool,
}

/// The Redis settings a node of `node_type` gets from a group's user `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// `maxmemory`: the node type's memory less `reserved-memory-percent`.
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: String,
    /// Every other directive, in table order.
    pub directives: Vec<Directive>,
}

/// Parameters that are not passed to Redis: ElastiCache-only behaviour Ferrocache does not
/// emulate yet (`close-on-replica-write`, `rename-commands`, `replica-allow-chaining`), cluster
/// mode (`cluster-enabled`; `cluster-preferred-endpoint-type`'s `tls-dynamic` is not a Redis
/// value), persistence (the node configuration owns `appendonly`/`appendfsync`), the replica
/// output-buffer limits (node-type-specific, read-only) and the two mapped into
/// [`EngineSettings`] fields (`maxmemory`, `maxmemory-policy`, `reserved-memory-percent`).
const NOT_DIRECTIVES: &[&str] = &[
    "appendfsync",
    "appendonly",
    "close-on-replica-write",
    "cluster-enabled",
    "cluster-preferred-endpoint-type",
    "maxmemory",
    "maxmemory-policy",
    "rename-commands",
    "replica-allow-chaining",
    "reserved-memory-percent",
];

/// The client classes whose output-buffer limits ElastiCache splits into three parameters.
const OUTPUT_BUFFER_CLASSES: &[&str] = &["normal", "pubsub"];

/// Turns a group's user `values` into the Redis settings of a node of `node_type`.
pub fn engine_settings(values: &BTreeMap<String, String>, node_type: &NodeType) -> EngineSettings {
    let value = |name: &str| {
        lookup(name)
            .and_then(|p| resolved(values, p))
            .unwrap_or_default()
    };
    let reserved: u64 = value("reserved-memory-percent")
        .parse()
        .unwrap_or(crate::node_type::RESERVED_MEMORY_PERCENT_DEFAULT);
    let mut directives = Vec::new();
    for p in redis7() {
        if p.node_type_specific || NOT_DIRECTIVES.contains(&p.name) {
            continue;
        }
        if p.name.starts_with("client-output-buffer-limit-") {
            continue;
        }
        let Some(v) = resolved(values, p) else {
            continue;
        };
        directives.push(Directive {
            name: p.name.to_string(),
            value: v,
            live: p.change_type == ChangeType::Immediate,
        });
    }
    for class in OUTPUT_BUFFER_CLASSES {
        let part = |suffix: &str| value(&format!("client-output-buffer-limit-{class}-{suffix}"));
        directives.push(Directive {
            name: "client-output-buffer-limit".into(),
            value: format!(
                "{class} {} {} {}",
                part("hard-limit"),
                part("soft-limit"),
                part("soft-seconds")
            ),
            live: true,
        });
    }
    EngineSettings {
        maxmemory_bytes: node_type.maxmemory_bytes(reserved),
        maxmemory_policy: value("maxmemory-policy"),
        directives,
    }
}

/// The `CONFIG SET`s that take a running node from `running` to `wanted` (only `immediate`
/// parameters; `maxmemory` and `maxmemory-policy` included when they change).
pub fn live_changes(
    running: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
    node_type: &NodeType,
) -> Vec<(String, String)> {
    let before = engine_settings(running, node_type);
    let after = engine_settings(wanted, node_type);
    let mut out = Vec::new();
    if before.maxmemory_bytes != after.maxmemory_bytes {
        out.push(("maxmemory".to_string(), after.maxmemory_bytes.to_string()));
    }
    if before.maxmemory_policy != after.maxmemory_policy {
        out.push(("maxmemory-policy".to_string(), after.maxmemory_policy));
    }
    for d in after.directives.iter().filter(|d| d.live) {
        if !before.directives.contains(d) {
            out.push((d.name.clone(), d.value.clone()));
        }
    }
    out
}

/// Every live setting of `values` (used when what a running node has is not known).
pub fn all_live_settings(
    values: &BTreeMap<String, String>,
    node_type: &NodeType,
) -> Vec<(String, String)> {
    let s = engine_settings(values, node_type);
    let mut out = vec![
        ("maxmemory".to_string(), s.maxmemory_bytes.to_string()),
        ("maxmemory-policy".to_string(), s.maxmemory_policy),
    ];
    out.extend(
        s.directives
            .into_iter()
            .filter(|d| d.live)
            .map(|d| (d.name, d.value)),
    );
    out
}

/// Node types for `CacheNodeTypeSpecificValues`, in AWS's order.
pub fn node_types() -> &'static [NodeType] {
    NODE_TYPES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_type;

    #[test]
    fn table_parses_with_expected_counts() {
        // Goal: the embedded table is the reference's 67 rows (64 + 3 node-type-specific), in
        // AWS's order. Method: count and spot-check rows.
        let table = redis7();
        assert_eq!(table.len(), 67);
        assert_eq!(table.iter().filter(|p| p.node_type_specific).count(), 3);
        assert_eq!(table[0].name, "acllog-max-len");
        assert_eq!(table[2].name, "activedefrag");
        let policy = lookup("maxmemory-policy").unwrap();
        assert_eq!(policy.default, Some("volatile-lru"));
        assert_eq!(policy.change_type, ChangeType::Immediate);
        assert_eq!(
            lookup("databases").unwrap().change_type,
            ChangeType::RequiresReboot
        );
        assert_eq!(lookup("notify-keyspace-events").unwrap().default, None);
        assert_eq!(
            lookup("notify-keyspace-events").unwrap().allowed_values,
            None
        );
        assert_eq!(lookup("rename-commands").unwrap().default, Some(""));
        assert!(
            table.iter().all(|p| !p.description().is_empty()),
            "every row has a description"
        );
        assert!(lookup("activerehashing").is_none());
    }

    #[test]
    fn integer_ranges() {
        // Goal: AWS's AllowedValues syntax reads as AWS means it. Method: probe each form.
        assert!(integer_allowed("0,20-", 0));
        assert!(!integer_allowed("0,20-", 5));
        assert!(integer_allowed("0,20-", 300));
        assert!(integer_allowed("-", -7));
        assert!(integer_allowed("-5,-4,-3,-2,-1,1-", -3));
        assert!(!integer_allowed("-5,-4,-3,-2,-1,1-", 0));
        assert!(integer_allowed("1-75", 75));
        assert!(!integer_allowed("1-75", 76));
        assert!(integer_allowed("5000", 5000));
    }

    fn custom() -> ParameterGroupSpec {
        plan_create(
            &CreateParameterGroupRequest {
                name: Some("My-Params".into()),
                family: Some("redis7".into()),
                description: Some("d".into()),
                tags: vec![],
            },
            "us-east-1",
            chrono::Utc::now(),
        )
        .unwrap()
    }

    fn nv(name: &str, value: &str) -> ParameterNameValue {
        ParameterNameValue {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn create_rules() {
        // Goal: names, families and descriptions follow AWS's rules and messages. Method: one
        // bad field at a time.
        assert_eq!(custom().name, "my-params");
        let req = CreateParameterGroupRequest {
            name: Some("a".into()),
            family: Some("redis9".into()),
            description: Some("d".into()),
            tags: vec![],
        };
        assert_eq!(
            plan_create(&req, "us-east-1", chrono::Utc::now())
                .unwrap_err()
                .to_string(),
            "CacheParameterGroupFamily redis9 is not a valid parameter group family."
        );
        let req = CreateParameterGroupRequest {
            family: Some("redis6.x".into()),
            ..req
        };
        assert!(plan_create(&req, "us-east-1", chrono::Utc::now())
            .unwrap_err()
            .to_string()
            .contains("not supported by this Ferrocache release"));
        let req = CreateParameterGroupRequest {
            name: Some("bad--name".into()),
            family: Some("redis7".into()),
            ..req
        };
        assert!(plan_create(&req, "us-east-1", chrono::Utc::now())
            .unwrap_err()
            .to_string()
            .starts_with("The parameter CacheParameterGroupName is not a valid identifier."));
    }

    #[test]
    fn modify_rules() {
        // Goal: every refusal of ModifyCacheParameterGroup names the culprit, and the request is
        // all or nothing. Method: apply good and bad lists.
        let g = custom();
        let v = plan_modify(
            &g,
            &[nv("maxmemory-policy", "allkeys-lru"), nv("timeout", "300")],
            true,
        )
        .unwrap();
        assert_eq!(v.get("timeout").unwrap(), "300");
        let err = |changes: &[ParameterNameValue]| plan_modify(&g, changes, true).unwrap_err();
        assert_eq!(
            err(&[nv("timeout", "10")]).to_string(),
            "Invalid value 10 for parameter timeout. Allowed values: 0,20-"
        );
        assert_eq!(
            err(&[nv("timeout", "300"), nv("nope", "1")]).to_string(),
            "Parameter nope does not exist in parameter group family redis7."
        );
        assert_eq!(
            err(&[nv("maxclients", "100")]).to_string(),
            "The parameter maxclients cannot be modified."
        );
        assert_eq!(
            err(&[nv("maxmemory-policy", "lru")]).to_string(),
            "Invalid value lru for parameter maxmemory-policy. Allowed values: volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction"
        );
        assert!(matches!(
            err(&[nv("timeout", "x")]),
            Fault::InvalidParameterValue(_)
        ));
        assert!(matches!(
            err(&[nv("cluster-enabled", "yes")]),
            Fault::InvalidCacheParameterGroupState(_)
        ));
        assert!(plan_modify(&g, &[nv("cluster-enabled", "yes")], false).is_ok());
        assert!(plan_modify(&g, &[nv("databases", "32")], true).is_ok());
        let many: Vec<_> = (0..21).map(|_| nv("timeout", "0")).collect();
        assert_eq!(
            err(&many).to_string(),
            "Cannot modify more than 20 parameters in a single request"
        );
        assert!(plan_modify(&g, &[nv("notify-keyspace-events", "KEA")], true).is_ok());
        assert!(err(&[nv("notify-keyspace-events", "Q")])
            .to_string()
            .contains("notify-keyspace-events"));
        assert!(plan_modify(&g, &[nv("rename-commands", "get myget")], true).is_ok());
        assert!(err(&[nv("rename-commands", "CONFIG x")])
            .to_string()
            .contains("CONFIG"));
        let default = default_group(DEFAULT_PARAMETER_GROUP, "us-east-1").unwrap();
        assert_eq!(
            plan_modify(&default, &[nv("timeout", "300")], false)
                .unwrap_err()
                .to_string(),
            "The parameter group default.redis7 is a default group and cannot be modified."
        );
    }

    #[test]
    fn reset_rules() {
        // Goal: reset removes user values, all or named. Method: reset after a modify.
        let mut g = custom();
        g.values = plan_modify(
            &g,
            &[nv("timeout", "300"), nv("activedefrag", "yes")],
            false,
        )
        .unwrap();
        let v = plan_reset(&g, false, &[nv("timeout", "")], false).unwrap();
        assert_eq!(v.keys().collect::<Vec<_>>(), ["activedefrag"]);
        assert!(plan_reset(&g, true, &[], false).unwrap().is_empty());
        assert!(plan_reset(&g, false, &[], false).is_err());
        assert!(plan_reset(&g, true, &[nv("timeout", "")], false).is_err());
    }

    #[test]
    fn sources_and_apply_status() {
        // Goal: Source says who set a value; a requires-reboot change is pending until the node
        // restarts. Method: walk a group through a modify.
        let mut g = custom();
        let timeout = lookup("timeout").unwrap();
        assert_eq!(source(&g, timeout), Source::EngineDefault);
        assert_eq!(source(&g, lookup("maxclients").unwrap()), Source::System);
        g.values.insert("timeout".into(), "300".into());
        g.values.insert("databases".into(), "32".into());
        g.generation = 2;
        assert_eq!(source(&g, timeout), Source::User);
        let desired = DesiredParameters::of(&g);
        let before = AppliedParameters {
            group: g.name.clone(),
            generation: 1,
            values: BTreeMap::new(),
            node_type: None,
        };
        assert_eq!(apply_status(&desired, Some(&before)), ApplyStatus::Applying);
        let live = live_values(&before.values, &desired.values);
        assert_eq!(live.get("timeout").unwrap(), "300");
        assert!(!live.contains_key("databases"));
        let after = AppliedParameters {
            generation: 2,
            values: live,
            ..before
        };
        assert_eq!(
            apply_status(&desired, Some(&after)),
            ApplyStatus::PendingReboot
        );
        let rebooted = AppliedParameters {
            values: desired.values.clone(),
            ..after
        };
        assert_eq!(apply_status(&desired, Some(&rebooted)), ApplyStatus::InSync);
        assert_eq!(
            changed(&BTreeMap::new(), &desired.values),
            [
                ("databases", "32".to_string()),
                ("timeout", "300".to_string())
            ]
        );
    }

    #[test]
    fn engine_settings_map_elasticache_parameters() {
        // Goal: ElastiCache-only parameters never reach Redis as such; mapped ones become
        // Redis's own settings. Method: render a group with some of each.
        let t3 = node_type::lookup("cache.t3.micro").unwrap();
        let defaults = engine_settings(&BTreeMap::new(), t3);
        assert_eq!(defaults.maxmemory_bytes, 402653184);
        assert_eq!(defaults.maxmemory_policy, "volatile-lru");
        let names: Vec<&str> = defaults
            .directives
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        for hidden in NOT_DIRECTIVES {
            assert!(!names.contains(hidden), "{hidden}");
        }
        assert!(names
            .iter()
            .all(|n| !n.starts_with("client-output-buffer-limit-")));
        assert!(!names.contains(&"notify-keyspace-events"));
        assert!(defaults
            .directives
            .iter()
            .any(|d| d.name == "client-output-buffer-limit"
                && d.value == "pubsub 33554432 8388608 60"));
        let values = BTreeMap::from([
            ("reserved-memory-percent".to_string(), "50".to_string()),
            ("maxmemory-policy".to_string(), "allkeys-lru".to_string()),
            ("timeout".to_string(), "300".to_string()),
            ("databases".to_string(), "32".to_string()),
            (
                "client-output-buffer-limit-normal-hard-limit".to_string(),
                "100".to_string(),
            ),
            ("close-on-replica-write".to_string(), "no".to_string()),
        ]);
        let set = live_changes(&BTreeMap::new(), &values, t3);
        assert_eq!(
            set,
            [
                ("maxmemory".to_string(), "268435456".to_string()),
                ("maxmemory-policy".to_string(), "allkeys-lru".to_string()),
                ("timeout".to_string(), "300".to_string()),
                (
                    "client-output-buffer-limit".to_string(),
                    "normal 100 0 0".to_string()
                ),
            ]
        );
        assert!(all_live_settings(&values, t3)
            .iter()
            .all(|(n, _)| n != "databases"));
    }
}
