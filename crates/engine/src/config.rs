//! The `redis.conf` Ferrocache writes for every node. [`NodeConfig`] holds the handful of
//! settings that differ between nodes (address, directory, memory, replication source) plus
//! `extra` directives from parameter groups; [`render`] turns it into the file text with the
//! fixed settings we run every node with (no periodic RDB, disk-based full syncs, no protected
//! mode). Every value is quoted the way Redis's own config tokenizer
//! (`sdssplitargs`) reads it back, and control characters are refused, so a value containing
//! spaces or quotes can never add a directive of its own.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::client::NodeAddress;
use crate::error::EngineError;
use crate::identity::{AdminIdentity, DEFAULT_USER_RULES};

/// File name of the node's config inside its directory.
pub const CONFIG_FILE_NAME: &str = "redis.conf";
/// File name of the node's RDB snapshot inside its directory (`dbfilename`).
pub const RDB_FILE_NAME: &str = "dump.rdb";
/// File name of the pidfile Redis writes at start and removes on clean shutdown.
pub const PID_FILE_NAME: &str = "redis.pid";
/// File name of Redis's own log (`logfile`).
pub const LOG_FILE_NAME: &str = "redis.log";
/// File name of the cluster state file Redis keeps itself (`cluster-config-file`): the node's
/// cluster id, its view of the other nodes and of the slots, and the epochs.
pub const CLUSTER_CONFIG_FILE_NAME: &str = "nodes.conf";

/// Longest node id accepted; ids become directory names and log labels.
pub const NODE_ID_LEN_MAX: usize = 128;
/// Longest `extra` directive name accepted (the longest real Redis 7.0 name is 35 bytes).
pub const DIRECTIVE_NAME_LEN_MAX: usize = 64;
/// Longest value accepted for any directive; Redis's own config line limit is far larger, but
/// no real parameter comes close, so a longer value is a bug upstream.
pub const DIRECTIVE_VALUE_LEN_MAX: usize = 4096;
/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
pub const UNIX_SOCKET_PATH_LEN_MAX: usize = 107;

/// The eviction policy ElastiCache's default parameter group uses.
pub const MAXMEMORY_POLICY_DEFAULT: &str = "volatile-lru";

/// How a node in cluster mode listens for and announces itself on the cluster bus.
///
/// Ferrocache points `announce_ip` at the node's endpoint address, which its router forwards to
/// the node, so what clients read in `CLUSTER SLOTS`/`MOVED` and what peers dial is the
/// endpoint, never the address Redis happens to bind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterConfig {
    /// The address the node announces to clients and peers (`cluster-announce-ip`), for its
    /// client port and its bus port alike.
    pub announce_ip: IpAddr,
    /// The client port the node announces, with `announce_ip` (`cluster-announce-port`).
    pub announce_port: u16,
    /// The port the node listens on for the cluster bus, on `bind:bus_port` (`cluster-port`).
    pub bus_port: u16,
    /// The bus port the node announces, with `announce_ip` (`cluster-announce-bus-port`).
    pub announce_bus_port: u16,
}

/// What differs between the `redis.conf` files of two nodes.
/// Serializable for the agent protocol between hosts, which carries it without `admin`: each
/// host's agent fills in the identity it shares with the others.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeConfig {
    /// Ferrocache's id for the node; written into the file header so a human can tell files
    /// apart. Letters, digits, `.`, `_` and `-` only (see [`check_node_id`]).
    pub node_id: String,
    /// Absolute path of the node's directory: RDB, pidfile, log and config live here.
    pub dir: PathBuf,
    /// Address Redis listens on for TCP clients and replicas.
    pub bind: IpAddr,
    /// TCP port; 0 disables TCP, which is only allowed together with `unix_socket`.
    pub port: u16,
    /// Optional Unix socket (absolute path, mode 700) for local admin traffic.
    pub unix_socket: Option<PathBuf>,
    /// `maxmemory` in bytes; 0 means no limit.
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy`, e.g. `volatile-lru`; checked by Redis itself at start.
    pub maxmemory_policy: String,
    /// When set, the node starts as a replica of this primary (`replicaof`).
    pub replica_of: Option<SocketAddr>,
    /// More directives, written after ours in order so they override them (parameter groups).
    /// Each value is one argument; Redis 7 splits it on spaces for multi-argument directives
    /// such as `save "3600 1"` or `client-output-buffer-limit`, as `CONFIG SET` does.
    pub extra: Vec<(String, String)>,
    /// The control plane's identity: when set, the restricted commands are renamed, the
    /// internal ACL user is created and replication links log in as it (see
    /// [`crate::identity`]).
    #[serde(skip)]
    pub admin: Option<AdminIdentity>,
    /// Client-facing ACL users, each a name and its own rules (an access string plus
    /// passwords, without `reset`); the restrictions are appended when rendered. With an
    /// `admin` and no `default` entry, `default` gets [`DEFAULT_USER_RULES`].
    pub acl_users: Vec<(String, Vec<String>)>,
    /// Encryption at rest: the key id the agent seals this node's data files with. Such a node
    /// replicates diskless on both ends (`repl-diskless-sync yes`, `repl-diskless-load swapdb`),
    /// so a full sync never writes a plaintext RDB to disk.
    pub at_rest_key_id: Option<String>,
    /// When set, the node runs in cluster mode (`cluster-enabled yes`) with this bus and these
    /// announced addresses; its cluster state lives in [`NodeConfig::cluster_config_path`].
    /// Cannot be combined with `replica_of`: a cluster node refuses `replicaof` and follows a
    /// primary through `CLUSTER REPLICATE` instead.
    pub cluster: Option<ClusterConfig>,
    /// When set, the node also serves TLS itself, on its own port (`tls-port`), with these
    /// files; clients present no certificate. Replication goes over TLS only when
    /// [`EngineTls::replication`] says so.
    pub tls: Option<EngineTls>,
    /// The host whose agent runs the node, when several hosts share the control plane's
    /// store (`None`: this one). Not rendered: it says where the configuration goes.
    #[serde(default)]
    pub host: Option<String>,
}

/// The engine's own TLS: where it listens and the PEM files it serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineTls {
    /// `tls-port`, on the node's bind address.
    pub port: u16,
    /// `tls-cert-file`: the server certificate chain.
    pub cert_file: PathBuf,
    /// `tls-key-file`: its private key.
    pub key_file: PathBuf,
    /// `tls-ca-cert-file`: the CA that issued it.
    pub ca_file: PathBuf,
    /// `tls-replication`: as a replica, the node connects to its primary's TLS port over TLS
    /// (checking the primary's certificate against `ca_file`), and as a primary it is followed
    /// there. For nodes on different hosts, whose replication crosses the network.
    #[serde(default)]
    pub replication: bool,
}

impl EngineTls {
    /// The `CONFIG SET` pairs that make a running node serve this TLS (or, for `None`, stop
    /// serving TLS), in an order that never listens before the files are set.
    pub fn settings(tls: Option<&EngineTls>) -> Vec<(&'static str, String)> {
        match tls {
            None => vec![
                ("tls-replication", "no".to_string()),
                ("tls-port", "0".to_string()),
            ],
            Some(t) => vec![
                ("tls-cert-file", t.cert_file.display().to_string()),
                ("tls-key-file", t.key_file.display().to_string()),
                ("tls-ca-cert-file", t.ca_file.display().to_string()),
                ("tls-auth-clients", "no".to_string()),
                ("tls-protocols", "TLSv1.2 TLSv1.3".to_string()),
                (
                    "tls-replication",
                    if t.replication { "yes" } else { "no" }.to_string(),
                ),
                ("tls-port", t.port.to_string()),
            ],
        }
    }
}

impl NodeConfig {
    /// A config with no memory limit, the default eviction policy, no Unix socket, no
    /// replication source and no extra directives.
    pub fn new(
        node_id: impl Into<String>,
        dir: impl Into<PathBuf>,
        bind: IpAddr,
        port: u16,
    ) -> Self {
        NodeConfig {
            node_id: node_id.into(),
            dir: dir.into(),
            bind,
            port,
            unix_socket: None,
            maxmemory_bytes: 0,
            maxmemory_policy: MAXMEMORY_POLICY_DEFAULT.to_string(),
            replica_of: None,
            extra: Vec::new(),
            admin: None,
            acl_users: Vec::new(),
            at_rest_key_id: None,
            cluster: None,
            tls: None,
            host: None,
        }
    }

    /// Path of the config file, `<dir>/redis.conf`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE_NAME)
    }

    /// Path of the pidfile, `<dir>/redis.pid`.
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join(PID_FILE_NAME)
    }

    /// Path of Redis's log, `<dir>/redis.log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE_NAME)
    }

    /// Path of the RDB snapshot, `<dir>/dump.rdb`.
    pub fn rdb_path(&self) -> PathBuf {
        self.dir.join(RDB_FILE_NAME)
    }

    /// Path of the cluster state file, `<dir>/nodes.conf`. Redis writes it (it is not ours to
    /// edit); it only exists for a node in cluster mode, and it is what keeps the node's
    /// cluster id across restarts, so it must stay with the node's data.
    pub fn cluster_config_path(&self) -> PathBuf {
        self.dir.join(CLUSTER_CONFIG_FILE_NAME)
    }

    /// The address an admin client should use: the Unix socket when there is one (local-only,
    /// and it keeps admin traffic off the data port), otherwise TCP on `bind:port`, with an
    /// unspecified bind address (`0.0.0.0`, `::`) replaced by loopback.
    pub fn address(&self) -> NodeAddress {
        if let Some(path) = &self.unix_socket {
            return NodeAddress::Unix(path.clone());
        }
        let ip = match self.bind {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        NodeAddress::Tcp(SocketAddr::new(ip, self.port))
    }
}

/// Checks that `node_id` is usable as a directory name and log label: 1 to
/// [`NODE_ID_LEN_MAX`] bytes of ASCII letters, digits, `.`, `_`, `-`, and not `.` or `..`.
///
/// # Errors
///
/// [`EngineError::InvalidConfig`] naming the rule that was broken.
pub fn check_node_id(node_id: &str) -> Result<(), EngineError> {
    let fail = |reason: &str| {
        Err(EngineError::InvalidConfig {
            field: "node_id".to_string(),
            reason: format!("{node_id:?}: {reason}"),
        })
    };
    if node_id.is_empty() || node_id.len() > NODE_ID_LEN_MAX {
        return fail(&format!("must be 1 to {NODE_ID_LEN_MAX} bytes"));
    }
    if node_id == "." || node_id == ".." {
        return fail("must not be . or ..");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !node_id.chars().all(allowed) {
        return fail("may contain only ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// Renders the `redis.conf` text for `cfg`.
///
/// The fixed part mirrors ElastiCache's defaults where they matter to clients and favours fast,
/// predictable node management elsewhere: no periodic `save` (we save explicitly on clean
/// shutdown and for snapshots), no AOF, disk-based full syncs, and `protected-mode no` because
/// access control is done by our endpoints, not by Redis's loopback heuristic.
///
/// Why not diskless sync (the 7.0 default): after a diskless full sync Redis 7.0 streams
/// nothing to the new replica until the replica's first `REPLCONF ACK` — and an ACK that
/// arrives before the primary has reaped the sync's child process is dropped, so the stream
/// often starts only with the next periodic ACK, up to a second later. A primary lost in that
/// second loses what it acknowledged meanwhile, and a group's creation waits that second. A
/// disk-based sync puts the replica online as soon as the file is sent (measured: ~100 ms to a
/// streaming replica against ~1 s for diskless in 4 runs of 6).
///
/// # Errors
///
/// [`EngineError::InvalidConfig`] when a field cannot be written safely: a control character
/// (newline, NUL, ...) in any value, a relative `dir` or `unix_socket` (Redis resolves
/// relative paths against the directory it `chdir`s into, so they would silently move), a Unix
/// socket path longer than [`UNIX_SOCKET_PATH_LEN_MAX`], port 0 without a Unix socket, an
/// `extra` directive whose name is not a plain config name, or a `cluster` that cannot work
/// (see [`check_cluster`]).
///
/// # Cluster mode
///
/// With [`NodeConfig::cluster`], the cluster directives come after ours and before `extra`, so
/// a parameter group can still override `cluster-node-timeout` or
/// `cluster-require-full-coverage`. Two of them take decisions away from Redis because the
/// control plane makes them: `cluster-replica-no-failover yes` (a replica never promotes itself
/// on its own; the control plane orders `CLUSTER FAILOVER`) and
/// `cluster-allow-replica-migration no` (a replica never moves to an orphaned primary; the
/// control plane places replicas).
pub fn render(cfg: &NodeConfig) -> Result<String, EngineError> {
    check_node_id(&cfg.node_id)?;
    let dir = absolute_path("dir", &cfg.dir)?;
    let unix_socket = match &cfg.unix_socket {
        Some(path) => {
            let text = absolute_path("unix_socket", path)?;
            if text.len() > UNIX_SOCKET_PATH_LEN_MAX {
                return Err(invalid(
                    "unix_socket",
                    format!(
                        "path is {} bytes, the kernel allows at most {UNIX_SOCKET_PATH_LEN_MAX}",
                        text.len()
                    ),
                ));
            }
            Some(text)
        }
        None => None,
    };
    if cfg.port == 0 && unix_socket.is_none() {
        return Err(invalid(
            "port",
            "port 0 disables TCP and no unix_socket is set, so the node would be unreachable",
        ));
    }
    if cfg.maxmemory_policy.is_empty() {
        return Err(invalid("maxmemory_policy", "must not be empty"));
    }
    check_cluster(cfg)?;
    let pid_path = absolute_path("dir", &cfg.pid_path())?;
    let log_path = absolute_path("dir", &cfg.log_path())?;

    // Lines are collected as (directive, already-quoted arguments) so that quoting happens in
    // exactly one place.
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    let mut push = |name: &str, args: &[&str]| -> Result<(), EngineError> {
        let quoted = args
            .iter()
            .map(|arg| quote(name, arg))
            .collect::<Result<Vec<_>, _>>()?;
        lines.push((name.to_string(), quoted));
        Ok(())
    };

    push("bind", &[&cfg.bind.to_string()])?;
    push("port", &[&cfg.port.to_string()])?;
    if cfg.tls.is_some() {
        for (name, value) in EngineTls::settings(cfg.tls.as_ref()) {
            push(name, &[&value])?;
        }
    }
    if let Some(socket) = &unix_socket {
        push("unixsocket", &[socket])?;
        push("unixsocketperm", &["700"])?;
    }
    push("dir", &[&dir])?;
    push("dbfilename", &[RDB_FILE_NAME])?;
    push("pidfile", &[&pid_path])?;
    push("logfile", &[&log_path])?;
    push("daemonize", &["no"])?;
    push("save", &[""])?;
    push("appendonly", &["no"])?;
    // The only saves are the service's (snapshots, disk-based full syncs, the save at a clean
    // stop); one that fails, say on a full disk, fails that operation — it must not make the
    // primary refuse every write with `MISCONF` (Redis's default), as no ElastiCache backup does.
    push("stop-writes-on-bgsave-error", &["no"])?;
    push("maxmemory", &[&cfg.maxmemory_bytes.to_string()])?;
    push("maxmemory-policy", &[&cfg.maxmemory_policy])?;
    // Encrypted nodes accept diskless sync's slower start of streaming (see above) so that no
    // plaintext RDB is written for a sync; `swapdb` keeps the replica's data until the new
    // dataset has arrived whole.
    let encrypted = cfg.at_rest_key_id.is_some();
    push(
        "repl-diskless-sync",
        &[if encrypted { "yes" } else { "no" }],
    )?;
    push("repl-diskless-sync-delay", &["0"])?;
    push(
        "repl-diskless-load",
        &[if encrypted { "swapdb" } else { "disabled" }],
    )?;
    push("protected-mode", &["no"])?;
    if let Some(primary) = cfg.replica_of {
        push(
            "replicaof",
            &[&primary.ip().to_string(), &primary.port().to_string()],
        )?;
    }
    push("tcp-keepalive", &["300"])?;
    push("timeout", &["0"])?;
    if let Some(cluster) = &cfg.cluster {
        let nodes_conf = absolute_path("dir", &cfg.cluster_config_path())?;
        push("cluster-enabled", &["yes"])?;
        push("cluster-config-file", &[&nodes_conf])?;
        push("cluster-port", &[&cluster.bus_port.to_string()])?;
        push("cluster-announce-ip", &[&cluster.announce_ip.to_string()])?;
        push(
            "cluster-announce-port",
            &[&cluster.announce_port.to_string()],
        )?;
        push(
            "cluster-announce-bus-port",
            &[&cluster.announce_bus_port.to_string()],
        )?;
        push("cluster-replica-no-failover", &["yes"])?;
        push("cluster-allow-replica-migration", &["no"])?;
    }
    for (name, value) in &cfg.extra {
        check_directive_name(name)?;
        push(name, &[value])?;
    }
    if let Some(admin) = &cfg.admin {
        for (command, renamed) in admin.renames() {
            push("rename-command", &[command, &renamed])?;
        }
        // Redis 7 refuses DEBUG unless enabled; it is renamed to a name only the control plane
        // knows (for `DEBUG DIGEST`), so enabling it exposes nothing to clients.
        if !admin.names.debug.is_empty() {
            push("enable-debug-command", &["yes"])?;
        }
        let default_rules: Vec<String> = DEFAULT_USER_RULES.iter().map(|r| r.to_string()).collect();
        let mut users: Vec<(&str, Vec<String>)> = Vec::new();
        if !cfg.acl_users.iter().any(|(name, _)| name == "default") {
            users.push(("default", admin.client_user_rules(&default_rules)));
        }
        for (name, rules) in &cfg.acl_users {
            if name == &admin.user {
                return Err(invalid(
                    "acl_users",
                    "a client user may not take the control plane's name",
                ));
            }
            users.push((name, admin.client_user_rules(rules)));
        }
        for (name, rules) in users {
            let mut args: Vec<&str> = vec![name];
            args.extend(rules.iter().map(String::as_str));
            push("user", &args)?;
        }
        let mut args: Vec<&str> = vec![&admin.user];
        let rules = admin.user_rules();
        args.extend(rules.iter().map(String::as_str));
        push("user", &args)?;
        push("masteruser", &[&admin.user])?;
        push("masterauth", &[&admin.password])?;
    }

    let mut text = format!(
        "# Written by Ferrocache for node {}; rewritten on every start, edits are lost.\n",
        cfg.node_id
    );
    for (name, args) in lines {
        text.push_str(&name);
        for arg in args {
            // Writing to a String cannot fail.
            let _ = write!(text, " {arg}");
        }
        text.push('\n');
    }
    Ok(text)
}

/// Checks that a node in cluster mode can start and be reached: no `replica_of` (Redis refuses
/// `replicaof` in cluster mode and exits at start with it in the file), a TCP port (peers and
/// clients reach cluster nodes over TCP only), and non-zero ports that differ from the client
/// port (Redis reads 0 as "client port + 10000", which need not fit in a port number, and it
/// cannot listen twice on one port). A config without `cluster` passes.
///
/// # Errors
///
/// [`EngineError::InvalidConfig`] for the `cluster` field, naming the rule that was broken.
pub fn check_cluster(cfg: &NodeConfig) -> Result<(), EngineError> {
    let Some(cluster) = &cfg.cluster else {
        return Ok(());
    };
    if cfg.replica_of.is_some() {
        return Err(invalid(
            "cluster",
            "a cluster node cannot be started with replica_of (Redis refuses replicaof in \
             cluster mode); make it a replica with CLUSTER REPLICATE instead",
        ));
    }
    if cfg.port == 0 {
        return Err(invalid(
            "cluster",
            "a cluster node needs a TCP port: peers and clients reach it over TCP",
        ));
    }
    if cluster.bus_port == 0 || cluster.announce_port == 0 || cluster.announce_bus_port == 0 {
        return Err(invalid(
            "cluster",
            "bus_port, announce_port and announce_bus_port must not be 0",
        ));
    }
    if cluster.bus_port == cfg.port {
        return Err(invalid(
            "cluster",
            format!("bus_port {} is also the client port", cluster.bus_port),
        ));
    }
    Ok(())
}

fn invalid(field: &str, reason: impl Into<String>) -> EngineError {
    EngineError::InvalidConfig {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Returns the path as UTF-8 text, refusing relative and non-UTF-8 paths (Redis config files
/// are byte strings, but we only ever generate UTF-8 paths and want them readable in logs).
fn absolute_path(field: &str, path: &Path) -> Result<String, EngineError> {
    if !path.is_absolute() {
        return Err(invalid(
            field,
            format!("{} is not an absolute path", path.display()),
        ));
    }
    match path.to_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(invalid(
            field,
            format!("{} is not valid UTF-8", path.display()),
        )),
    }
}

/// Directive names are what `CONFIG SET` accepts: lowercase ASCII letters, digits and `-`,
/// starting with a letter. This also keeps a name from starting a comment (`#`) or smuggling a
/// second token.
fn check_directive_name(name: &str) -> Result<(), EngineError> {
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !starts_with_letter || name.len() > DIRECTIVE_NAME_LEN_MAX || !name.chars().all(allowed) {
        return Err(invalid(
            &format!("extra[{name:?}]"),
            format!(
                "directive names are 1 to {DIRECTIVE_NAME_LEN_MAX} lowercase letters, digits \
                 and '-', starting with a letter"
            ),
        ));
    }
    Ok(())
}

/// Quotes one argument so that `sdssplitargs` (Redis's config tokenizer) reads back exactly
/// `value` as a single argument.
///
/// Plain tokens made of a conservative set of characters are written bare for readability;
/// anything else goes in double quotes with `\` and `"` escaped. Control characters are
/// refused outright: `sdssplitargs` could carry them in `\xHH` form, but no Redis setting
/// legitimately contains one, so seeing one means the value came from somewhere it should not.
fn quote(directive: &str, value: &str) -> Result<String, EngineError> {
    if value.len() > DIRECTIVE_VALUE_LEN_MAX {
        return Err(invalid(
            directive,
            format!("value is longer than {DIRECTIVE_VALUE_LEN_MAX} bytes"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(
            directive,
            format!("value {value:?} contains the control character {c:?}"),
        ));
    }
    let bare_safe = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '@' | '+' | '=')
    };
    if !value.is_empty() && value.chars().all(bare_safe) {
        return Ok(value.to_string());
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Ok(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig::new(
            "cache-0001",
            "/var/lib/ferrocache/nodes/cache-0001",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            7001,
        )
    }

    /// A reader for rendered files that follows `sdssplitargs`'s rules for the subset of
    /// syntax `quote` produces (bare tokens, double quotes with `\"` and `\\`), so tests can
    /// check that what we write is what Redis reads.
    fn split_args(line: &str) -> Vec<String> {
        let mut args = Vec::new();
        let mut chars = line.chars().peekable();
        loop {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            let Some(&first) = chars.peek() else {
                return args;
            };
            let mut arg = String::new();
            if first == '"' {
                chars.next();
                loop {
                    match chars.next().expect("unterminated quote") {
                        '\\' => arg.push(chars.next().expect("dangling escape")),
                        '"' => break,
                        c => arg.push(c),
                    }
                }
                let next = chars.peek();
                assert!(
                    next.is_none() || next == Some(&' '),
                    "quote must end a token"
                );
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    assert!(c != '"' && c != '\'', "quote inside a bare token: {line}");
                    arg.push(c);
                    chars.next();
                }
            }
            args.push(arg);
        }
    }

    fn directives(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(split_args)
            .collect()
    }

    fn find<'a>(parsed: &'a [Vec<String>], name: &str) -> Vec<&'a [String]> {
        parsed
            .iter()
            .filter(|args| args[0] == name)
            .map(|args| &args[1..])
            .collect()
    }

    #[test]
    fn engine_tls_renders_its_port_and_files() {
        // Goal: a node with its own TLS gets the files before the port, no client
        // certificates, TLS 1.2 and 1.3 only, replication over TLS only when asked; one
        // without gets no tls-* line, and turning TLS off also turns TLS replication off.
        // Method: render and parse.
        let tls = EngineTls {
            port: 27001,
            cert_file: "/n/tls/server.crt".into(),
            key_file: "/n/tls/server.key".into(),
            ca_file: "/n/tls/ca.crt".into(),
            replication: false,
        };
        let cfg = NodeConfig {
            tls: Some(tls.clone()),
            ..sample()
        };
        let parsed = directives(&render(&cfg).unwrap());
        assert_eq!(find(&parsed, "tls-replication"), [["no"]]);
        let across_hosts = NodeConfig {
            tls: Some(EngineTls {
                replication: true,
                ..tls
            }),
            ..sample()
        };
        let replicating = directives(&render(&across_hosts).unwrap());
        assert_eq!(find(&replicating, "tls-replication"), [["yes"]]);
        assert_eq!(find(&parsed, "tls-port"), [["27001"]]);
        assert_eq!(find(&parsed, "tls-cert-file"), [["/n/tls/server.crt"]]);
        assert_eq!(find(&parsed, "tls-key-file"), [["/n/tls/server.key"]]);
        assert_eq!(find(&parsed, "tls-auth-clients"), [["no"]]);
        assert_eq!(find(&parsed, "tls-protocols"), [["TLSv1.2 TLSv1.3"]]);
        let names: Vec<&str> = parsed.iter().map(|d| d[0].as_str()).collect();
        let position = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(position("tls-key-file") < position("tls-port"));
        let plain = directives(&render(&sample()).unwrap());
        assert!(plain.iter().all(|d| !d[0].starts_with("tls-")));
        assert_eq!(
            EngineTls::settings(None),
            [
                ("tls-replication", "no".to_string()),
                ("tls-port", "0".to_string())
            ]
        );
    }

    #[test]
    fn encrypted_nodes_replicate_diskless() {
        // Goal: a node encrypted at rest syncs diskless on both ends, so no plaintext RDB is
        // written for replication. Method: render with an at-rest key id and parse.
        let cfg = NodeConfig {
            at_rest_key_id: Some("alias/aws/elasticache".into()),
            ..sample()
        };
        let parsed = directives(&render(&cfg).unwrap());
        assert_eq!(find(&parsed, "repl-diskless-sync"), [["yes"]]);
        assert_eq!(find(&parsed, "repl-diskless-load"), [["swapdb"]]);
    }

    #[test]
    fn renders_every_fixed_directive_in_order() {
        // Goal: the file carries exactly the fixed settings the brief lists, in a stable order.
        // Method: render a minimal config and compare the full text.
        let text = render(&sample()).unwrap();
        let expected = "\
# Written by Ferrocache for node cache-0001; rewritten on every start, edits are lost.
bind 127.0.0.1
port 7001
dir /var/lib/ferrocache/nodes/cache-0001
dbfilename dump.rdb
pidfile /var/lib/ferrocache/nodes/cache-0001/redis.pid
logfile /var/lib/ferrocache/nodes/cache-0001/redis.log
daemonize no
save \"\"
appendonly no
stop-writes-on-bgsave-error no
maxmemory 0
maxmemory-policy volatile-lru
repl-diskless-sync no
repl-diskless-sync-delay 0
repl-diskless-load disabled
protected-mode no
tcp-keepalive 300
timeout 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn renders_optional_directives() {
        // Goal: unix socket, replicaof, maxmemory and extra lines appear when set, extra last.
        // Method: set every optional field and look the directives up in the parsed output.
        let mut cfg = sample();
        cfg.unix_socket = Some("/run/ferrocache/n1.sock".into());
        cfg.maxmemory_bytes = 1 << 30;
        cfg.maxmemory_policy = "allkeys-lru".into();
        cfg.replica_of = Some("10.0.0.5:6380".parse().unwrap());
        cfg.extra = vec![
            ("maxmemory-policy".into(), "noeviction".into()),
            ("save".into(), "3600 1 300 100".into()),
        ];
        let parsed = directives(&render(&cfg).unwrap());
        assert_eq!(find(&parsed, "unixsocket"), [["/run/ferrocache/n1.sock"]]);
        assert_eq!(find(&parsed, "unixsocketperm"), [["700"]]);
        assert_eq!(find(&parsed, "maxmemory"), [["1073741824"]]);
        assert_eq!(find(&parsed, "replicaof"), [["10.0.0.5", "6380"]]);
        // Ours first, then the parameter-group override, which Redis applies last.
        assert_eq!(
            find(&parsed, "maxmemory-policy"),
            [["allkeys-lru"], ["noeviction"]]
        );
        assert_eq!(find(&parsed, "save"), [[""], ["3600 1 300 100"]]);
        assert_eq!(parsed.last().unwrap()[0], "save");
    }

    fn cluster_sample() -> NodeConfig {
        NodeConfig {
            cluster: Some(ClusterConfig {
                announce_ip: "10.0.0.7".parse().unwrap(),
                announce_port: 6379,
                bus_port: 17001,
                announce_bus_port: 16379,
            }),
            ..sample()
        }
    }

    #[test]
    fn renders_cluster_mode_before_extra() {
        // Goal: a cluster node gets every cluster directive, with the state file inside the
        // node's directory, announcing the endpoint's address, and a parameter group can still
        // override cluster settings. Method: render with `cluster` and an `extra` override,
        // and look the directives up in the parsed output.
        let mut cfg = cluster_sample();
        cfg.extra = vec![
            ("cluster-node-timeout".into(), "5000".into()),
            ("cluster-require-full-coverage".into(), "no".into()),
        ];
        let parsed = directives(&render(&cfg).unwrap());
        assert_eq!(find(&parsed, "cluster-enabled"), [["yes"]]);
        assert_eq!(
            find(&parsed, "cluster-config-file"),
            [["/var/lib/ferrocache/nodes/cache-0001/nodes.conf"]]
        );
        assert_eq!(
            cfg.cluster_config_path(),
            PathBuf::from("/var/lib/ferrocache/nodes/cache-0001/nodes.conf")
        );
        assert_eq!(find(&parsed, "cluster-port"), [["17001"]]);
        assert_eq!(find(&parsed, "cluster-announce-ip"), [["10.0.0.7"]]);
        assert_eq!(find(&parsed, "cluster-announce-port"), [["6379"]]);
        assert_eq!(find(&parsed, "cluster-announce-bus-port"), [["16379"]]);
        assert_eq!(find(&parsed, "cluster-replica-no-failover"), [["yes"]]);
        assert_eq!(find(&parsed, "cluster-allow-replica-migration"), [["no"]]);
        // The client port stays the one Redis binds; only the announced one is the endpoint's.
        assert_eq!(find(&parsed, "port"), [["7001"]]);
        let position = |name: &str| parsed.iter().position(|args| args[0] == name).unwrap();
        assert!(position("cluster-allow-replica-migration") < position("cluster-node-timeout"));
        assert!(position("cluster-enabled") < position("cluster-require-full-coverage"));

        // Without `cluster`, nothing of it is written.
        let parsed = directives(&render(&sample()).unwrap());
        assert!(parsed.iter().all(|args| !args[0].starts_with("cluster-")));
    }

    #[test]
    fn refuses_cluster_configs_that_cannot_work() {
        // Goal: a cluster node with replica_of (which Redis refuses at start), without TCP, or
        // with a bus port of 0 or equal to the client port is refused before anything is
        // written. Method: break one rule at a time and expect InvalidConfig for `cluster`.
        let is_cluster_error = |cfg: &NodeConfig| {
            matches!(
                render(cfg),
                Err(EngineError::InvalidConfig { ref field, .. }) if field == "cluster"
            )
        };
        assert!(render(&cluster_sample()).is_ok());

        let mut cfg = cluster_sample();
        cfg.replica_of = Some("10.0.0.5:6380".parse().unwrap());
        assert!(is_cluster_error(&cfg));
        // The same replica_of without cluster mode is fine.
        cfg.cluster = None;
        assert!(render(&cfg).is_ok());

        let mut cfg = cluster_sample();
        cfg.port = 0;
        cfg.unix_socket = Some("/tmp/n1.sock".into());
        assert!(is_cluster_error(&cfg));

        for zero in 0..3 {
            let mut cfg = cluster_sample();
            let cluster = cfg.cluster.as_mut().unwrap();
            match zero {
                0 => cluster.bus_port = 0,
                1 => cluster.announce_port = 0,
                _ => cluster.announce_bus_port = 0,
            }
            assert!(is_cluster_error(&cfg), "{zero}");
        }

        let mut cfg = cluster_sample();
        cfg.cluster.as_mut().unwrap().bus_port = cfg.port;
        assert!(is_cluster_error(&cfg));
    }

    #[test]
    fn renders_the_control_identity() {
        // Goal: with an identity, restricted commands are renamed (or disabled), `default`
        // keeps everything but the restrictions, client users cannot take the internal name,
        // and replicas log in as the internal user.
        let identity = AdminIdentity::generate();
        let mut cfg = sample();
        cfg.admin = Some(identity.clone());
        let parsed = directives(&render(&cfg).unwrap());
        let renames = find(&parsed, "rename-command");
        assert!(renames.contains(&&["CONFIG".to_string(), identity.names.config.clone()][..]));
        assert!(renames.contains(&&["DEBUG".to_string(), identity.names.debug.clone()][..]));
        assert!(renames.contains(&&["SLAVEOF".to_string(), String::new()][..]));
        assert_eq!(find(&parsed, "enable-debug-command"), [["yes"]]);
        let users = find(&parsed, "user");
        assert_eq!(users[0][0], "default");
        assert!(users[0].contains(&"nopass".to_string()));
        assert!(users[0].contains(&"-psync".to_string()));
        assert_eq!(users[1][0], identity.user);
        assert_eq!(find(&parsed, "masteruser")[0][0], identity.user);
        assert_eq!(find(&parsed, "masterauth")[0][0], identity.password);

        cfg.acl_users = vec![(identity.user.clone(), vec!["on".to_string()])];
        assert!(render(&cfg).is_err());
    }

    #[test]
    fn renders_ipv6_addresses() {
        // Goal: IPv6 bind and replicaof addresses are written without brackets, as Redis wants.
        // Method: render with ::1 and check the parsed arguments.
        let mut cfg = sample();
        cfg.bind = "::1".parse().unwrap();
        cfg.replica_of = Some("[::1]:7000".parse().unwrap());
        let parsed = directives(&render(&cfg).unwrap());
        assert_eq!(find(&parsed, "bind"), [["::1"]]);
        assert_eq!(find(&parsed, "replicaof"), [["::1", "7000"]]);
    }

    #[test]
    fn values_with_spaces_and_quotes_stay_one_argument() {
        // Goal: no value can add a directive or an argument of its own.
        // Method: feed hostile values through `extra` and paths, re-tokenize the file the way
        // Redis does, and check each directive has exactly the value we put in.
        let hostile = [
            "a b",
            "x\" \"y",
            "yes\" rename-command CONFIG \"",
            "back\\slash",
            "'single'",
            "trailing\\",
            "#hash",
            "",
        ];
        for value in hostile {
            let mut cfg = sample();
            cfg.dir = PathBuf::from(format!("/tmp/odd {value}"));
            cfg.extra = vec![("notify-keyspace-events".into(), value.to_string())];
            let text = render(&cfg).unwrap();
            let parsed = directives(&text);
            assert_eq!(parsed.len(), text.lines().count() - 1, "{text}");
            assert_eq!(find(&parsed, "notify-keyspace-events"), [[value]]);
            assert_eq!(find(&parsed, "dir"), [[format!("/tmp/odd {value}")]]);
            assert!(find(&parsed, "rename-command").is_empty());
        }
    }

    #[test]
    fn rejects_control_characters() {
        // Goal: a newline (or any control character) anywhere is refused, not written.
        // Method: put one in each free-text field and expect InvalidConfig.
        let mut cfg = sample();
        cfg.extra = vec![(
            "maxmemory-policy".into(),
            "noeviction\nrename-command x y".into(),
        )];
        assert!(matches!(
            render(&cfg),
            Err(EngineError::InvalidConfig { .. })
        ));

        let mut cfg = sample();
        cfg.maxmemory_policy = "volatile-lru\r".into();
        assert!(matches!(
            render(&cfg),
            Err(EngineError::InvalidConfig { .. })
        ));

        let mut cfg = sample();
        cfg.dir = PathBuf::from("/tmp/a\nb");
        assert!(matches!(
            render(&cfg),
            Err(EngineError::InvalidConfig { .. })
        ));

        let mut cfg = sample();
        cfg.extra = vec![("notify-keyspace-events".into(), "a\0b".into())];
        assert!(matches!(
            render(&cfg),
            Err(EngineError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn rejects_bad_directive_names() {
        // Goal: extra names cannot start a comment, carry spaces or be empty.
        // Method: try several malformed names.
        for name in ["", "#save", "save x", "Save", "-x", "a\nb", &"a".repeat(65)] {
            let mut cfg = sample();
            cfg.extra = vec![(name.to_string(), "1".into())];
            let err = render(&cfg).unwrap_err();
            assert!(matches!(err, EngineError::InvalidConfig { .. }), "{name:?}");
        }
    }

    #[test]
    fn rejects_unsafe_paths_and_ports() {
        // Goal: relative paths, over-long socket paths and unreachable nodes are refused.
        // Method: one bad field at a time.
        let mut cfg = sample();
        cfg.dir = "nodes/n1".into();
        assert!(render(&cfg).is_err());

        let mut cfg = sample();
        cfg.unix_socket = Some("n1.sock".into());
        assert!(render(&cfg).is_err());

        let mut cfg = sample();
        cfg.unix_socket = Some(PathBuf::from(format!("/{}", "s".repeat(107))));
        assert!(render(&cfg).is_err());
        cfg.unix_socket = Some(PathBuf::from(format!("/{}", "s".repeat(106))));
        assert!(render(&cfg).is_ok());

        let mut cfg = sample();
        cfg.port = 0;
        assert!(render(&cfg).is_err());
        cfg.unix_socket = Some("/tmp/n1.sock".into());
        assert!(render(&cfg).is_ok());

        let mut cfg = sample();
        cfg.maxmemory_policy = String::new();
        assert!(render(&cfg).is_err());
    }

    #[test]
    fn checks_node_ids() {
        // Goal: node ids are safe directory names.
        // Method: accept typical ids, reject traversal, separators and oversize ids.
        for ok in ["0001", "my-group-001", "a.b_c"] {
            assert!(check_node_id(ok).is_ok(), "{ok}");
        }
        let too_long = "a".repeat(NODE_ID_LEN_MAX + 1);
        for bad in ["", ".", "..", "a/b", "a b", "a\nb", too_long.as_str()] {
            assert!(check_node_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn address_prefers_unix_socket_and_maps_unspecified_bind() {
        // Goal: admin clients reach the node on a usable address.
        // Method: check the three cases.
        let mut cfg = sample();
        assert_eq!(
            cfg.address(),
            NodeAddress::Tcp("127.0.0.1:7001".parse().unwrap())
        );
        cfg.bind = "0.0.0.0".parse().unwrap();
        assert_eq!(
            cfg.address(),
            NodeAddress::Tcp("127.0.0.1:7001".parse().unwrap())
        );
        cfg.unix_socket = Some("/tmp/n.sock".into());
        assert_eq!(cfg.address(), NodeAddress::Unix("/tmp/n.sock".into()));
    }
}
