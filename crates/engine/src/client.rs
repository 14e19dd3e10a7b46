//! [`NodeClient`], the async admin client for one `redis-server`. It sends the few commands the
//! control plane needs, bounds every call with a timeout, and turns replies into typed values
//! ([`Info`], [`RoleReply`], [`ClusterInfo`], [`ClusterNode`]) and errors into [`EngineError`]
//! variants that separate "loading"
//! from "refused" from "unreachable". Command names come from [`CommandNames`], so renaming
//! `CONFIG`, `REPLICAOF` or `SHUTDOWN` for security later is a change in one place.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ErrorKind, FromRedisValue, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, ServerErrorKind, Value,
};

use crate::cluster::{ClusterInfo, ClusterNode};
use crate::error::EngineError;
use crate::identity::AdminIdentity;
use crate::info::Info;

/// Default bound for one ordinary admin command (`PING`, `INFO`, `CONFIG`, `REPLICAOF`, ...).
/// A healthy node answers these in well under a millisecond; 2 s leaves room for a busy one
/// without letting a hung node stall a reconcile loop.
pub const CALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Default bound for commands that block the server until an RDB is on disk (`SAVE`,
/// `SHUTDOWN SAVE`). Writing a multi-gigabyte dataset takes minutes, and `SHUTDOWN` may also
/// wait up to `shutdown-timeout` (10 s) for lagging replicas first.
pub const BLOCKING_CALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(600);

/// Where a node listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeAddress {
    /// A TCP address, as replicas and endpoints reach the node.
    Tcp(SocketAddr),
    /// A Unix socket path, for local admin traffic.
    Unix(PathBuf),
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeAddress::Tcp(addr) => write!(f, "{addr}"),
            NodeAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The names under which the node knows each admin command.
///
/// Defaults are Redis's real names. When nodes are started with `rename-command` (as
/// ElastiCache does for `CONFIG` and friends), set the renamed names here; every call site
/// goes through this struct, so nothing else changes. Subcommands (`CONFIG GET`, `REPLICAOF NO
/// ONE`) are not renamable in Redis and stay fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandNames {
    /// `PING`.
    pub ping: String,
    /// `INFO`.
    pub info: String,
    /// `REPLICAOF`.
    pub replicaof: String,
    /// `CONFIG` (for `CONFIG GET` / `CONFIG SET`).
    pub config: String,
    /// `SHUTDOWN`.
    pub shutdown: String,
    /// `SAVE`.
    pub save: String,
    /// `BGSAVE`.
    pub bgsave: String,
    /// `DBSIZE`.
    pub dbsize: String,
    /// `ROLE`.
    pub role: String,
    /// `PUBLISH`.
    pub publish: String,
    /// `DEBUG` (for `DEBUG DIGEST`); empty (the default) when the node cannot run it: Redis 7
    /// refuses it unless enabled, and nodes started before the control plane had a name for it
    /// have it disabled.
    pub debug: String,
    /// `MIGRATE` (moving a slot's keys to another shard); empty when the node cannot run it
    /// (started before the control plane had a name for it).
    pub migrate: String,
}

impl Default for CommandNames {
    fn default() -> Self {
        CommandNames {
            ping: "PING".to_string(),
            info: "INFO".to_string(),
            replicaof: "REPLICAOF".to_string(),
            config: "CONFIG".to_string(),
            shutdown: "SHUTDOWN".to_string(),
            save: "SAVE".to_string(),
            bgsave: "BGSAVE".to_string(),
            publish: "PUBLISH".to_string(),
            dbsize: "DBSIZE".to_string(),
            role: "ROLE".to_string(),
            // Redis 7 refuses DEBUG unless `enable-debug-command` allows it, which nodes get
            // only with a control-plane identity (and then under a secret name).
            debug: String::new(),
            migrate: "MIGRATE".to_string(),
        }
    }
}

/// What a node's dataset held when a background save forked
/// ([`NodeClient::bgsave_with_digest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveStart {
    /// Keys over all databases.
    pub keys: u64,
    /// `DEBUG DIGEST` of the dataset, when the node knows `DEBUG` under our name.
    pub digest: Option<String>,
}

/// One replica as a primary's `ROLE` reply lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLink {
    /// The replica's address as the primary sees it.
    pub ip: String,
    /// The replica's announced listening port.
    pub port: u16,
    /// The replication offset the replica last acknowledged.
    pub offset: i64,
}

/// The reply to `ROLE`, which, unlike `INFO`, is answered even while the node is loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleReply {
    /// The node is a primary.
    Master {
        /// Its replication offset.
        repl_offset: i64,
        /// The replicas connected to it.
        replicas: Vec<ReplicaLink>,
    },
    /// The node is a replica.
    Replica {
        /// The primary it follows.
        master_host: String,
        /// The primary's port.
        master_port: u16,
        /// Link state: `connect`, `connecting`, `sync`, `connected`, ...
        state: String,
        /// Replication offset received so far; -1 before the first sync.
        offset: i64,
    },
}

/// An entry of `SLOWLOG GET` as Redis answers it: id, unix time, microseconds, arguments,
/// client address, client name.
pub(crate) type SlowlogRow = (u64, i64, u64, Vec<Vec<u8>>, String, String);

/// One entry of the slow log (`SLOWLOG GET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowlogEntry {
    /// Its unique, increasing id (restarts at 0 with the process).
    pub id: u64,
    /// When the command ran, unix seconds.
    pub timestamp: i64,
    /// How long it ran, microseconds.
    pub duration_us: u64,
    /// The command and its arguments (Redis shortens long ones and elides past 32).
    pub args: Vec<String>,
    /// The client's `ip:port`.
    pub client_address: String,
    /// The client's name (`CLIENT SETNAME`), or empty.
    pub client_name: String,
}

impl From<SlowlogRow> for SlowlogEntry {
    fn from((id, timestamp, duration_us, args, client_address, client_name): SlowlogRow) -> Self {
        SlowlogEntry {
            id,
            timestamp,
            duration_us,
            args: args
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect(),
            client_address,
            client_name,
        }
    }
}

/// A step of moving a slot ([`NodeClient::cluster_setslot`]), naming nodes by cluster id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState<'a> {
    /// `IMPORTING <source>`, on the target: it accepts `ASKING` clients for the slot.
    Importing(&'a str),
    /// `MIGRATING <target>`, on the source: keys it no longer holds are redirected by `ASK`.
    Migrating(&'a str),
    /// `NODE <owner>`: the slot belongs to `owner` (clears the migrating/importing state).
    Node(&'a str),
    /// `STABLE`: clears the migrating/importing state, the owner unchanged.
    Stable,
}

/// How a replica takes over from its primary ([`NodeClient::cluster_failover`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterFailoverMode {
    /// `CLUSTER FAILOVER`: the replica asks its primary to stop writes, catches up to its
    /// offset, then wins an election among the primaries. Nothing acknowledged is lost, but
    /// the primary and a majority of primaries must be reachable.
    Coordinated,
    /// `CLUSTER FAILOVER FORCE`: no handshake with the primary (it may be down), but still an
    /// election, so a majority of primaries must be reachable. Writes the replica had not
    /// received are lost.
    Force,
    /// `CLUSTER FAILOVER TAKEOVER`: no handshake and no election; the replica gives itself a
    /// new config epoch and claims the slots. Works with most of the cluster unreachable, but
    /// two nodes taking over at once could both claim the slots, so only the control plane,
    /// which knows the old primary is gone, may order it.
    Takeover,
}

/// An async admin connection to one node.
///
/// It wraps the `redis` crate's multiplexed connection, which is the only async connection
/// type that crate (1.x) offers, and which suits us for two further reasons: a call abandoned
/// by our timeout (or by a `select!`) leaves the connection consistent, because replies are
/// matched to requests by the connection's own driver task rather than read by the caller;
/// and the handle is cheap to clone, so a prober and a reconciler can share one connection.
///
/// The client never retries and never reconnects: a broken connection surfaces as
/// [`EngineError::Connection`], and the caller decides whether to connect again.
///
/// # Cancel safety
///
/// Every method is cancel safe in the sense that dropping its future leaves the client usable;
/// the command may or may not have reached the server.
#[derive(Clone)]
pub struct NodeClient {
    /// The shared, multiplexed connection.
    conn: MultiplexedConnection,
    /// Where we connected, for error messages.
    addr: NodeAddress,
    /// Bound for ordinary commands.
    call_timeout: Duration,
    /// Bound for commands that block until an RDB is written.
    blocking_call_timeout: Duration,
    /// Names to send, in case commands are renamed on the node.
    names: CommandNames,
}

impl fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClient")
            .field("addr", &self.addr)
            .field("call_timeout", &self.call_timeout)
            .field("blocking_call_timeout", &self.blocking_call_timeout)
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// Connects to the node at `addr`, giving up after `timeout`.
    ///
    /// Calls then use [`CALL_TIMEOUT_DEFAULT`] and [`BLOCKING_CALL_TIMEOUT_DEFAULT`] and the
    /// default [`CommandNames`]; see the `with_*` methods to change them. No command is sent
    /// while connecting (the library's `CLIENT SETINFO` is turned off), so connecting succeeds
    /// even to a node that is loading.
    ///
    /// # Errors
    ///
    /// [`EngineError::Connect`] when the address refuses or fails, [`EngineError::Timeout`]
    /// when it does not answer in time.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing has been sent yet.
    pub async fn connect(addr: &NodeAddress, timeout: Duration) -> Result<Self, EngineError> {
        Self::connect_with(addr, timeout, None).await
    }

    /// Connects as the control plane: logs in as the internal ACL user of `identity` (the
    /// `AUTH` is the only command sent while connecting, and Redis answers it while loading)
    /// and sends the renamed command names. See [`crate::identity`].
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); a refused login is [`EngineError::Connect`].
    pub async fn connect_as(
        addr: &NodeAddress,
        timeout: Duration,
        identity: &AdminIdentity,
    ) -> Result<Self, EngineError> {
        Ok(Self::connect_with(addr, timeout, Some(identity))
            .await?
            .with_command_names(identity.names.clone()))
    }

    async fn connect_with(
        addr: &NodeAddress,
        timeout: Duration,
        identity: Option<&AdminIdentity>,
    ) -> Result<Self, EngineError> {
        let target = match addr {
            NodeAddress::Tcp(socket) => ConnectionAddr::Tcp(socket.ip().to_string(), socket.port()),
            NodeAddress::Unix(path) => ConnectionAddr::Unix(path.clone()),
        };
        let connect_error = |source| EngineError::Connect {
            addr: addr.to_string(),
            source,
        };
        let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(identity) = identity {
            settings = settings
                .set_username(&identity.user)
                .set_password(&identity.password);
        }
        let info = target
            .into_connection_info()
            .map_err(connect_error)?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(connect_error)?;
        // Per-call timeouts are ours (see `call`); the library's own response timeout would
        // otherwise cut `SAVE` off after its 500 ms default.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let connecting = client.get_multiplexed_async_connection_with_config(&config);
        let conn = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(source)) if source.is_timeout() => {
                return Err(EngineError::Timeout {
                    addr: addr.to_string(),
                    command: "connect".to_string(),
                    timeout,
                })
            }
            Ok(Err(source)) => return Err(connect_error(source)),
            Err(_) => {
                return Err(EngineError::Timeout {
                    addr: addr.to_string(),
                    command: "connect".to_string(),
                    timeout,
                })
            }
        };
        Ok(NodeClient {
            conn,
            addr: addr.clone(),
            call_timeout: CALL_TIMEOUT_DEFAULT,
            blocking_call_timeout: BLOCKING_CALL_TIMEOUT_DEFAULT,
            names: CommandNames::default(),
        })
    }

    /// Sets the bound for ordinary commands.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets the bound for `SAVE` and `SHUTDOWN`, which block until an RDB is written.
    pub fn with_blocking_call_timeout(mut self, timeout: Duration) -> Self {
        self.blocking_call_timeout = timeout;
        self
    }

    /// Sets the command names to send (for nodes started with `rename-command`).
    pub fn with_command_names(mut self, names: CommandNames) -> Self {
        self.names = names;
        self
    }

    /// The address this client is connected to.
    pub fn address(&self) -> &NodeAddress {
        &self.addr
    }

    /// `PING`; succeeds on `PONG`.
    ///
    /// # Errors
    ///
    /// [`EngineError::Loading`] while the dataset loads, otherwise as for any call.
    pub async fn ping(&self) -> Result<(), EngineError> {
        let reply: String = self
            .call("PING", redis::cmd(&self.names.ping), self.call_timeout)
            .await?;
        if reply != "PONG" {
            return Err(self.unexpected("PING", format!("expected PONG, got {reply:?}")));
        }
        Ok(())
    }

    /// `INFO` (the default sections), parsed. Answered even while loading.
    ///
    /// # Errors
    ///
    /// As for any call, or [`EngineError::InfoMalformed`].
    pub async fn info(&self) -> Result<Info, EngineError> {
        let text: String = self
            .call("INFO", redis::cmd(&self.names.info), self.call_timeout)
            .await?;
        Info::parse(&text)
    }

    /// `ACL CAT <category>`: the commands (and `command|subcommand`s) in an ACL category.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] for a category Redis does not know; otherwise as for any call.
    pub async fn acl_cat(&self, category: &str) -> Result<Vec<String>, EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("CAT").arg(category);
        self.call(&format!("ACL CAT {category}"), cmd, self.call_timeout)
            .await
    }

    /// `REPLICAOF <ip> <port>`: make the node a replica of `primary`. Redis answers at once
    /// and syncs in the background; watch [`Info::master_link_status_up`] for the result.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn replicaof(&self, primary: SocketAddr) -> Result<(), EngineError> {
        let mut cmd = redis::cmd(&self.names.replicaof);
        cmd.arg(primary.ip().to_string()).arg(primary.port());
        self.call::<()>("REPLICAOF", cmd, self.call_timeout).await
    }

    /// `REPLICAOF NO ONE`: make the node a primary, keeping its data.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn replicaof_no_one(&self) -> Result<(), EngineError> {
        let mut cmd = redis::cmd(&self.names.replicaof);
        cmd.arg("NO").arg("ONE");
        self.call::<()>("REPLICAOF NO ONE", cmd, self.call_timeout)
            .await
    }

    /// `PUBLISH <channel> <message>`. A primary propagates it to its replicas, so it moves the
    /// replication offset without touching the data set.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), EngineError> {
        let mut cmd = redis::cmd(&self.names.publish);
        cmd.arg(channel).arg(message);
        self.call::<i64>("PUBLISH", cmd, self.call_timeout)
            .await
            .map(|_| ())
    }

    /// `ACL SETUSER <name> <rules...>`. Clients already logged in as the user stay connected;
    /// only new logins see new passwords.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses a rule, otherwise as for any call.
    pub async fn acl_setuser(&self, name: &str, rules: &[String]) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(name).arg(rules);
        // The label leaves the rules out: they hold passwords.
        self.call::<()>(&format!("ACL SETUSER {name}"), cmd, self.call_timeout)
            .await
    }

    /// `ACL USERS`: the names of every ACL user.
    ///
    /// # Errors
    /// As for any call.
    pub async fn acl_users(&self) -> Result<Vec<String>, EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("USERS");
        self.call::<Vec<String>>("ACL USERS", cmd, self.call_timeout)
            .await
    }

    /// `ACL DELUSER <name>`; clients logged in as the user are disconnected by Redis.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn acl_deluser(&self, name: &str) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("DELUSER").arg(name);
        self.call::<i64>(&format!("ACL DELUSER {name}"), cmd, self.call_timeout)
            .await
            .map(|_| ())
    }

    /// `CONFIG SET <name> <value>`.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses the name or value, otherwise as for any call.
    pub async fn config_set(&self, name: &str, value: &str) -> Result<(), EngineError> {
        let mut cmd = redis::cmd(&self.names.config);
        cmd.arg("SET").arg(name).arg(value);
        // The label leaves the value out: it may be a secret such as `requirepass`.
        self.call::<()>(&format!("CONFIG SET {name}"), cmd, self.call_timeout)
            .await
    }

    /// `CONFIG GET <name>`: the value of exactly that parameter, or `None` if Redis does not
    /// know it. Glob characters are sent as is, but only an exact name match is returned.
    ///
    /// # Errors
    ///
    /// As for any call, or [`EngineError::UnexpectedReply`].
    pub async fn config_get(&self, name: &str) -> Result<Option<String>, EngineError> {
        let mut cmd = redis::cmd(&self.names.config);
        cmd.arg("GET").arg(name);
        let label = format!("CONFIG GET {name}");
        let value: Value = self.call(&label, cmd, self.call_timeout).await?;
        let pairs: Vec<(String, String)> = match value {
            // RESP2 (what we speak) replies with a flat array of name, value, name, value...
            Value::Array(items) => {
                let strings = Vec::<String>::from_redis_value(Value::Array(items))
                    .map_err(|e| self.unexpected(&label, e.to_string()))?;
                if strings.len() % 2 != 0 {
                    return Err(self.unexpected(&label, "odd number of elements".to_string()));
                }
                strings
                    .chunks_exact(2)
                    .map(|pair| (pair[0].clone(), pair[1].clone()))
                    .collect()
            }
            // ...and RESP3 with a map; accept both in case the protocol is switched later.
            Value::Map(entries) => entries
                .into_iter()
                .map(|(k, v)| Ok((String::from_redis_value(k)?, String::from_redis_value(v)?)))
                .collect::<Result<_, redis::ParsingError>>()
                .map_err(|e| self.unexpected(&label, e.to_string()))?,
            other => {
                return Err(self.unexpected(&label, format!("expected an array, got {other:?}")))
            }
        };
        Ok(pairs
            .into_iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value))
    }

    /// `SHUTDOWN SAVE` or `SHUTDOWN NOSAVE`. Redis closes the connection instead of replying
    /// when it shuts down, so a closed connection is success (a connection that was already
    /// broken reads the same way: confirm by watching the process exit, as the agent does). Bounded by the blocking-call
    /// timeout: with `save`, Redis writes the RDB before exiting, and it may first wait up to
    /// `shutdown-timeout` for lagging replicas.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses (for example because the RDB could not be
    /// written: it then keeps running), [`EngineError::Timeout`], or an error of the call.
    pub async fn shutdown(&self, save: bool) -> Result<(), EngineError> {
        let mut cmd = redis::cmd(&self.names.shutdown);
        cmd.arg(if save { "SAVE" } else { "NOSAVE" });
        let label = if save {
            "SHUTDOWN SAVE"
        } else {
            "SHUTDOWN NOSAVE"
        };
        match self
            .call::<Value>(label, cmd, self.blocking_call_timeout)
            .await
        {
            Err(EngineError::Connection { .. }) => Ok(()),
            Err(other) => Err(other),
            // Redis never replies to a successful SHUTDOWN, so a reply means it did not happen.
            Ok(reply) => Err(self.unexpected(label, format!("server kept running: {reply:?}"))),
        }
    }

    /// `SAVE`: write the RDB synchronously. The server serves nothing else meanwhile, so
    /// prefer [`bgsave`](Self::bgsave) on a node taking traffic.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when the save fails, otherwise as for any call.
    pub async fn save(&self) -> Result<(), EngineError> {
        let cmd = redis::cmd(&self.names.save);
        self.call::<()>("SAVE", cmd, self.blocking_call_timeout)
            .await
    }

    /// `BGSAVE`: start writing the RDB in a forked child. Completion shows in
    /// [`Info::rdb_bgsave_in_progress`] and [`Info::rdb_last_bgsave_ok`].
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when a save is already running or the fork fails.
    pub async fn bgsave(&self) -> Result<(), EngineError> {
        let cmd = redis::cmd(&self.names.bgsave);
        self.call::<()>("BGSAVE", cmd, self.call_timeout).await
    }

    /// `BGSAVE`, with the key count and (when `digest` is asked for and the node knows `DEBUG`
    /// under our name) the dataset digest of the data the save writes. `DEBUG DIGEST` blocks the
    /// node while it walks the whole dataset (about 4 µs a key), so callers ask for it only for
    /// small datasets.
    ///
    /// Redis only schedules a `BGSAVE` sent inside `MULTI`/`EXEC`, so the save cannot share a
    /// transaction with `DEBUG DIGEST`. Instead one pipeline sends `MULTI` `INFO` `DEBUG DIGEST`
    /// `EXEC` `BGSAVE` `INFO`; Redis runs one client's pipelined commands back to back, and the
    /// two `INFO`s prove it: when `rdb_changes_since_last_save` (which counts every write,
    /// replicated ones included) is the same in both, nothing was written between the digest
    /// and the fork, so the digest is the saved data's. Otherwise the digest is dropped.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when a save is already running or the fork fails (the message
    /// is Redis's), otherwise as for any call.
    pub async fn bgsave_with_digest(&self, digest: bool) -> Result<SaveStart, EngineError> {
        let with_digest = digest && !self.names.debug.is_empty();
        let mut pipe = redis::pipe();
        pipe.cmd("MULTI").ignore().cmd(&self.names.info).ignore();
        if with_digest {
            pipe.cmd(&self.names.debug).arg("DIGEST").ignore();
        }
        pipe.cmd("EXEC")
            .cmd(&self.names.bgsave)
            .ignore()
            .cmd(&self.names.info)
            .arg("persistence");
        let mut conn = self.conn.clone();
        let (exec, after): (Vec<Value>, String) =
            match tokio::time::timeout(self.call_timeout, pipe.query_async(&mut conn)).await {
                Ok(Ok(values)) => values,
                Ok(Err(error)) if error.code().is_none() => {
                    // Server errors in a pipeline come back as one error without a code.
                    return Err(EngineError::Reply {
                        addr: self.addr.to_string(),
                        command: "BGSAVE".to_string(),
                        message: error.to_string(),
                    });
                }
                Ok(Err(error)) => return Err(self.map_error("BGSAVE", error)),
                Err(_) => {
                    return Err(EngineError::Timeout {
                        addr: self.addr.to_string(),
                        command: "BGSAVE".to_string(),
                        timeout: self.call_timeout,
                    })
                }
            };
        let text = |v: Option<&Value>| -> Result<String, EngineError> {
            v.ok_or_else(|| self.unexpected("BGSAVE", "EXEC answered too few replies".into()))
                .and_then(|v| {
                    String::from_redis_value(v.clone())
                        .map_err(|e| self.unexpected("BGSAVE", e.to_string()))
                })
        };
        let before = Info::parse(&text(exec.first())?)?;
        let changes = |raw: &std::collections::BTreeMap<String, String>| {
            raw.get("rdb_changes_since_last_save").cloned()
        };
        let after_changes = after
            .lines()
            .find_map(|l| {
                l.trim_end_matches('\r')
                    .strip_prefix("rdb_changes_since_last_save:")
            })
            .map(str::to_string);
        let unchanged = changes(&before.raw).is_some() && changes(&before.raw) == after_changes;
        let digest = if with_digest && unchanged {
            Some(text(exec.get(1))?)
        } else {
            None
        };
        Ok(SaveStart {
            keys: before.keys_total,
            digest,
        })
    }

    /// `DEBUG DIGEST`: a digest of the whole dataset (40 hex digits, all zeros when empty), or
    /// `None` when the node has `DEBUG` disabled.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn digest(&self) -> Result<Option<String>, EngineError> {
        if self.names.debug.is_empty() {
            return Ok(None);
        }
        let mut cmd = redis::cmd(&self.names.debug);
        cmd.arg("DIGEST");
        self.call("DEBUG DIGEST", cmd, self.call_timeout)
            .await
            .map(Some)
    }

    /// `DBSIZE`: number of keys in the selected database (db 0).
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn dbsize(&self) -> Result<u64, EngineError> {
        let cmd = redis::cmd(&self.names.dbsize);
        self.call("DBSIZE", cmd, self.call_timeout).await
    }

    /// `ROLE`, parsed.
    ///
    /// # Errors
    ///
    /// As for any call, or [`EngineError::UnexpectedReply`] (also for a sentinel).
    pub async fn role(&self) -> Result<RoleReply, EngineError> {
        let cmd = redis::cmd(&self.names.role);
        let value: Value = self.call("ROLE", cmd, self.call_timeout).await?;
        parse_role(value).map_err(|detail| self.unexpected("ROLE", detail))
    }

    /// `CLUSTER MYID`: the node's cluster id (40 hex digits), which it keeps in its
    /// `nodes.conf` across restarts.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when the node is not in cluster mode, otherwise as for any call.
    pub async fn cluster_myid(&self) -> Result<String, EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("MYID");
        self.call("CLUSTER MYID", cmd, self.call_timeout).await
    }

    /// `CLUSTER MEET <ip> <port> <bus-port>`: start a handshake with the node announcing
    /// `ip:port` and listening for the bus on `ip:bus_port`. Redis answers at once; the other
    /// node shows in [`cluster_nodes`](Self::cluster_nodes) under a placeholder id with the
    /// `handshake` flag, then under its real id once it has answered, and the rest of the
    /// cluster learns of it by gossip.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses the address, otherwise as for any call.
    pub async fn cluster_meet(
        &self,
        ip: IpAddr,
        port: u16,
        bus_port: u16,
    ) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("MEET").arg(ip.to_string()).arg(port).arg(bus_port);
        self.call::<()>(
            &format!("CLUSTER MEET {}", SocketAddr::new(ip, port)),
            cmd,
            self.call_timeout,
        )
        .await
    }

    /// `CLUSTER ADDSLOTSRANGE <start> <end> ...`: assign the inclusive slot ranges to this
    /// node. All or nothing: Redis refuses the whole command if any slot already has an owner
    /// (in this node's view) or a range is listed twice.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses (also for an empty `ranges`), otherwise as
    /// for any call.
    pub async fn cluster_add_slots_range(&self, ranges: &[(u16, u16)]) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("ADDSLOTSRANGE");
        for (start, end) in ranges {
            cmd.arg(start).arg(end);
        }
        self.call::<()>("CLUSTER ADDSLOTSRANGE", cmd, self.call_timeout)
            .await
    }

    /// `CLUSTER REPLICATE <node-id>`: make this node a replica of the primary `node_id`.
    /// Redis answers once the role has changed and syncs in the background.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when this node does not know `node_id` yet (wait for the
    /// handshake), when `node_id` is a replica or this node itself, or when this node is a
    /// primary that owns slots or holds keys; otherwise as for any call.
    pub async fn cluster_replicate(&self, node_id: &str) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("REPLICATE").arg(node_id);
        self.call::<()>(
            &format!("CLUSTER REPLICATE {node_id}"),
            cmd,
            self.call_timeout,
        )
        .await
    }

    /// `CLUSTER FORGET <node-id>`: drop `node_id` from this node's view, and keep it from being
    /// re-added by gossip for 60 seconds (so every node of the cluster must forget it within
    /// that time).
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when `node_id` is unknown, this node itself, or this node's
    /// primary; otherwise as for any call.
    pub async fn cluster_forget(&self, node_id: &str) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FORGET").arg(node_id);
        self.call::<()>(&format!("CLUSTER FORGET {node_id}"), cmd, self.call_timeout)
            .await
    }

    /// `CLUSTER SETSLOT <slot> …`: one step of moving a slot between primaries (see
    /// [`SlotState`]).
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when Redis refuses the step (an unknown node id, a slot this
    /// node does not own for `MIGRATING`, one it owns for `IMPORTING`, a `NODE` step on the
    /// source while it still holds keys of the slot); otherwise as for any call.
    pub async fn cluster_setslot(
        &self,
        slot: u16,
        state: SlotState<'_>,
    ) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SETSLOT").arg(slot);
        match state {
            SlotState::Importing(from) => cmd.arg("IMPORTING").arg(from),
            SlotState::Migrating(to) => cmd.arg("MIGRATING").arg(to),
            SlotState::Node(owner) => cmd.arg("NODE").arg(owner),
            SlotState::Stable => cmd.arg("STABLE"),
        };
        self.call::<()>(&format!("CLUSTER SETSLOT {slot}"), cmd, self.call_timeout)
            .await
    }

    /// `CLUSTER BUMPEPOCH`: gives this node a config epoch above every other it knows, unless
    /// it has the greatest already, so its slot claims win over older ones.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn cluster_bump_epoch(&self) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("BUMPEPOCH");
        // The reply is a status (`BUMPED <epoch>` or `STILL <epoch>`), either is success.
        self.call::<String>("CLUSTER BUMPEPOCH", cmd, self.call_timeout)
            .await
            .map(drop)
    }

    /// `CLUSTER GETKEYSINSLOT <slot> <count>`: up to `count` keys of `slot` held here.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn cluster_keys_in_slot(
        &self,
        slot: u16,
        count: u32,
    ) -> Result<Vec<Vec<u8>>, EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("GETKEYSINSLOT").arg(slot).arg(count);
        self.call(
            &format!("CLUSTER GETKEYSINSLOT {slot}"),
            cmd,
            self.call_timeout,
        )
        .await
    }

    /// `CLUSTER COUNTKEYSINSLOT <slot>`.
    ///
    /// # Errors
    ///
    /// As for any call.
    pub async fn cluster_count_keys_in_slot(&self, slot: u16) -> Result<u64, EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("COUNTKEYSINSLOT").arg(slot);
        self.call(
            &format!("CLUSTER COUNTKEYSINSLOT {slot}"),
            cmd,
            self.call_timeout,
        )
        .await
    }

    /// `MIGRATE <target> "" 0 <timeout> REPLACE [AUTH2 user password] KEYS …`: this node
    /// sends `keys` to the node at `target` (which restores them) and deletes them here, key by
    /// key atomically. `REPLACE` because the source's copy is the one that counts while its
    /// slot migrates (a copy already on the target is an earlier, interrupted move). Keys that
    /// no longer exist here are skipped (Redis answers `NOKEY`, taken as success).
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when the target refuses or cannot be reached (`IOERR`), or when
    /// this node cannot run `MIGRATE` (it has no name for it); otherwise as for any call.
    pub async fn migrate_keys(
        &self,
        target: SocketAddr,
        keys: &[Vec<u8>],
        timeout: Duration,
        auth: Option<(&str, &str)>,
    ) -> Result<(), EngineError> {
        if self.names.migrate.is_empty() {
            return Err(EngineError::Reply {
                addr: self.addr.to_string(),
                command: "MIGRATE".to_string(),
                message: "this node was started without a name for MIGRATE; restart it".into(),
            });
        }
        let mut cmd = redis::cmd(&self.names.migrate);
        cmd.arg(target.ip().to_string())
            .arg(target.port())
            .arg("")
            .arg(0)
            .arg(timeout.as_millis() as u64)
            .arg("REPLACE");
        if let Some((user, password)) = auth {
            cmd.arg("AUTH2").arg(user).arg(password);
        }
        cmd.arg("KEYS");
        for key in keys {
            cmd.arg(key.as_slice());
        }
        let label = format!("MIGRATE {} keys to {target}", keys.len());
        match self
            .call::<redis::Value>(&label, cmd, timeout + self.call_timeout)
            .await
        {
            Ok(_) => Ok(()),
            Err(EngineError::Reply { message, .. }) if message.contains("NOKEY") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]`, sent to a replica: promote it in place of its
    /// primary (see [`ClusterFailoverMode`]). Redis answers once the failover has started;
    /// it is done when [`cluster_nodes`](Self::cluster_nodes) shows this node as a primary.
    ///
    /// # Errors
    ///
    /// [`EngineError::Reply`] when the node is a primary, otherwise as for any call.
    pub async fn cluster_failover(&self, mode: ClusterFailoverMode) -> Result<(), EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FAILOVER");
        let label = match mode {
            ClusterFailoverMode::Coordinated => "CLUSTER FAILOVER",
            ClusterFailoverMode::Force => {
                cmd.arg("FORCE");
                "CLUSTER FAILOVER FORCE"
            }
            ClusterFailoverMode::Takeover => {
                cmd.arg("TAKEOVER");
                "CLUSTER FAILOVER TAKEOVER"
            }
        };
        self.call::<()>(label, cmd, self.call_timeout).await
    }

    /// `CLUSTER INFO`, parsed.
    ///
    /// # Errors
    ///
    /// As for any call, or [`EngineError::ClusterMalformed`].
    pub async fn cluster_info(&self) -> Result<ClusterInfo, EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("INFO");
        let text: String = self.call("CLUSTER INFO", cmd, self.call_timeout).await?;
        ClusterInfo::parse(&text)
    }

    /// `CLUSTER NODES`, parsed: every node this one knows, itself included (flag `myself`),
    /// in Redis's order.
    ///
    /// # Errors
    ///
    /// As for any call, or [`EngineError::ClusterMalformed`].
    pub async fn cluster_nodes(&self) -> Result<Vec<ClusterNode>, EngineError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("NODES");
        let text: String = self.call("CLUSTER NODES", cmd, self.call_timeout).await?;
        ClusterNode::parse_all(&text)
    }

    /// Runs one command with a timeout and maps errors to [`EngineError`].
    async fn call<T: FromRedisValue>(
        &self,
        label: &str,
        cmd: redis::Cmd,
        timeout: Duration,
    ) -> Result<T, EngineError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.map_error(label, error)),
            Err(_) => Err(EngineError::Timeout {
                addr: self.addr.to_string(),
                command: label.to_string(),
                timeout,
            }),
        }
    }

    fn map_error(&self, label: &str, error: RedisError) -> EngineError {
        let addr = self.addr.to_string();
        if error.kind() == ErrorKind::Server(ServerErrorKind::BusyLoading) {
            return EngineError::Loading { addr };
        }
        if let Some(code) = error.code() {
            let message = match error.detail() {
                Some(detail) => format!("{code} {detail}"),
                None => code.to_string(),
            };
            return EngineError::Reply {
                addr,
                command: label.to_string(),
                message,
            };
        }
        if matches!(
            error.kind(),
            ErrorKind::UnexpectedReturnType | ErrorKind::Parse
        ) {
            return EngineError::UnexpectedReply {
                addr,
                command: label.to_string(),
                detail: error.to_string(),
            };
        }
        EngineError::Connection {
            addr,
            command: label.to_string(),
            source: error,
        }
    }

    fn unexpected(&self, label: &str, detail: String) -> EngineError {
        EngineError::UnexpectedReply {
            addr: self.addr.to_string(),
            command: label.to_string(),
            detail,
        }
    }
}

/// Reads an integer that Redis may send as an integer or as a numeric string (`ROLE` on a
/// primary lists replica ports and offsets as strings).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(text) => text.parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

/// Parses a `ROLE` reply; hand-written rather than using the library's `Role` because that
/// one rejects the offset -1 a replica reports before its first sync.
fn parse_role(value: Value) -> Result<RoleReply, String> {
    let Value::Array(items) = value else {
        return Err(format!("expected an array, got {value:?}"));
    };
    let kind = items.first().and_then(text).unwrap_or_default();
    match (kind.as_str(), items.as_slice()) {
        ("master", [_, offset, Value::Array(replicas)]) => {
            let repl_offset = integer(offset).ok_or("bad master offset")?;
            let replicas = replicas
                .iter()
                .map(|replica| match replica {
                    Value::Array(fields) if fields.len() == 3 => Ok(ReplicaLink {
                        ip: text(&fields[0]).ok_or("bad replica ip")?,
                        port: integer(&fields[1])
                            .and_then(|p| u16::try_from(p).ok())
                            .ok_or("bad replica port")?,
                        offset: integer(&fields[2]).ok_or("bad replica offset")?,
                    }),
                    _ => Err("bad replica entry"),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RoleReply::Master {
                repl_offset,
                replicas,
            })
        }
        ("slave", [_, host, port, state, offset]) => Ok(RoleReply::Replica {
            master_host: text(host).ok_or("bad master host")?,
            master_port: integer(port)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or("bad master port")?,
            state: text(state).ok_or("bad replication state")?,
            offset: integer(offset).ok_or("bad replica offset")?,
        }),
        _ => Err(format!("unrecognised ROLE reply: {items:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn parses_role_replies() {
        // Goal: both ROLE shapes of Redis 7.0 are understood, including a replica before sync.
        // Method: build the RESP2 values Redis sends and parse them.
        let master = Value::Array(vec![
            bulk("master"),
            Value::Int(3129659),
            Value::Array(vec![Value::Array(vec![
                bulk("127.0.0.1"),
                bulk("9001"),
                bulk("3129242"),
            ])]),
        ]);
        assert_eq!(
            parse_role(master).unwrap(),
            RoleReply::Master {
                repl_offset: 3129659,
                replicas: vec![ReplicaLink {
                    ip: "127.0.0.1".into(),
                    port: 9001,
                    offset: 3129242,
                }],
            }
        );
        let replica = Value::Array(vec![
            bulk("slave"),
            bulk("127.0.0.1"),
            Value::Int(9000),
            bulk("connecting"),
            Value::Int(-1),
        ]);
        assert_eq!(
            parse_role(replica).unwrap(),
            RoleReply::Replica {
                master_host: "127.0.0.1".into(),
                master_port: 9000,
                state: "connecting".into(),
                offset: -1,
            }
        );
    }

    #[test]
    fn rejects_other_role_replies() {
        // Goal: sentinels and malformed replies are errors, never a guessed role.
        // Method: parse a sentinel reply and broken shapes.
        let sentinel = Value::Array(vec![bulk("sentinel"), Value::Array(vec![])]);
        assert!(parse_role(sentinel).is_err());
        assert!(parse_role(Value::Nil).is_err());
        assert!(parse_role(Value::Array(vec![])).is_err());
        let bad_port = Value::Array(vec![
            bulk("slave"),
            bulk("h"),
            Value::Int(70000),
            bulk("connected"),
            Value::Int(1),
        ]);
        assert!(parse_role(bad_port).is_err());
    }

    #[test]
    fn command_names_default_to_real_names() {
        // Goal: out of the box we send Redis's own command names.
        // Method: check the defaults.
        let names = CommandNames::default();
        assert_eq!(names.config, "CONFIG");
        assert_eq!(names.replicaof, "REPLICAOF");
        assert_eq!(names.shutdown, "SHUTDOWN");
    }

    #[test]
    fn displays_addresses() {
        // Goal: addresses read naturally in error messages.
        // Method: format both kinds.
        assert_eq!(
            NodeAddress::Tcp("127.0.0.1:6379".parse().unwrap()).to_string(),
            "127.0.0.1:6379"
        );
        assert_eq!(
            NodeAddress::Unix("/tmp/n.sock".into()).to_string(),
            "unix:/tmp/n.sock"
        );
    }
}
