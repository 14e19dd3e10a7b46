//! The agent protocol's messages (JSON), shared by [`crate::server`] and [`crate::client`].

use std::net::SocketAddr;

use ferrocache_agent::{Liveness, NodeEvent};
use serde::{Deserialize, Serialize};

/// Header carrying the hosts' shared token (`Bearer <token>`).
pub const AUTHORIZATION: &str = "authorization";
/// The DNS name every agent's TLS certificate names (under the hosts' CA's own suffix, the
/// only names it may certify); callers check it whatever address they dial.
pub fn agent_server_name() -> String {
    format!("agent.{}", ferrocache_pki::DNS_SUFFIX)
}

/// Header naming the node a [`path::SEED`] is for.
pub const SEED_NODE: &str = "x-ferrocache-node";
/// Header carrying the SHA-256 a [`path::SEED`]'s file must have.
pub const SEED_SHA256: &str = "x-ferrocache-sha256";
/// How often the event stream says it is alive when nothing happens.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The paths of the protocol.
pub mod path {
    /// Start (or adopt) a node: [`ferrocache_engine::NodeConfig`] → [`super::Process`].
    pub const ENSURE_RUNNING: &str = "/agent/v1/ensure-running";
    /// Adopt a running node: [`ferrocache_engine::NodeConfig`] → `Option<Process>`.
    pub const ADOPT: &str = "/agent/v1/adopt";
    /// Stop a node: [`super::Stop`] → `()`.
    pub const STOP: &str = "/agent/v1/stop";
    /// Stop a node and delete its directory: [`super::Stop`] → `()`.
    pub const REMOVE: &str = "/agent/v1/remove";
    /// Set a node's data file aside: [`super::NodeRef`] → `Option<String>` (where it went).
    pub const SET_ASIDE: &str = "/agent/v1/set-aside";
    /// Whether a node's data file is its last clean stop's: [`super::NodeRef`] → `bool`.
    pub const STOPPED_CLEANLY: &str = "/agent/v1/stopped-cleanly";
    /// The host's process events: lines of [`super::StreamItem`], a snapshot first.
    pub const EVENTS: &str = "/agent/v1/events";
    /// The leader heard a beat of the event stream: [`super::Heard`] → `()`.
    pub const HEARD: &str = "/agent/v1/heard";
    /// A node's data file (its last save): [`super::NodeRef`] → the file's bytes, streamed,
    /// with its `content-length`.
    pub const DATA_FILE: &str = "/agent/v1/data-file";
    /// Seed a stopped node's data file: the file's bytes as the body (streamed), the node in
    /// [`super::SEED_NODE`] and the file's SHA-256 in [`super::SEED_SHA256`] → `()`.
    pub const SEED: &str = "/agent/v1/seed";
    /// A file of a snapshot this host holds: [`super::SnapshotFileRef`] → the file's bytes,
    /// streamed, with its `content-length`.
    pub const SNAPSHOT_FILE: &str = "/agent/v1/snapshot-file";
    /// Issue a node's own TLS certificate there: [`super::IssueTls`] → [`super::IssuedTls`].
    pub const ISSUE_TLS: &str = "/agent/v1/issue-tls";
}

/// Issue a node's own TLS certificate, naming these addresses and DNS names (the key is made
/// on the node's host and stays there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueTls {
    /// The node's id.
    pub node_id: String,
    /// The IP addresses the certificate names.
    pub ips: Vec<std::net::IpAddr>,
    /// The DNS names it names.
    pub dns: Vec<String>,
}

/// Where a node's TLS files were written on its host ([`ferrocache_agent::NodeTlsFiles`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedTls {
    /// The certificate chain.
    pub cert_file: std::path::PathBuf,
    /// Its private key.
    pub key_file: std::path::PathBuf,
    /// The CA's certificate.
    pub ca_file: std::path::PathBuf,
    /// When the certificate stops being valid (seconds since the epoch).
    pub not_after: i64,
}

impl From<ferrocache_agent::NodeTlsFiles> for IssuedTls {
    fn from(f: ferrocache_agent::NodeTlsFiles) -> Self {
        IssuedTls {
            cert_file: f.cert_file,
            key_file: f.key_file,
            ca_file: f.ca_file,
            not_after: f.not_after,
        }
    }
}

impl From<IssuedTls> for ferrocache_agent::NodeTlsFiles {
    fn from(f: IssuedTls) -> Self {
        ferrocache_agent::NodeTlsFiles {
            cert_file: f.cert_file,
            key_file: f.key_file,
            ca_file: f.ca_file,
            not_after: f.not_after,
        }
    }
}

/// Which beat of its event stream the leader heard last (the host then knows the leader
/// heard from it no earlier than when it sent that beat).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Heard {
    /// The beat's number.
    pub beat: u64,
}

/// A node's process as the agent reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Process {
    /// Its PID on its host.
    pub pid: u32,
    /// Adopted rather than started.
    pub adopted: bool,
}

/// One file of a snapshot: `<data-dir>/snapshots/<region>/<name>/<file>` on its host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotFileRef {
    /// The snapshot's region.
    pub region: String,
    /// The snapshot's name.
    pub name: String,
    /// The file's name (its manifest's, or the manifest itself).
    pub file: String,
}

/// Which node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRef {
    /// The node's id.
    pub node_id: String,
}

/// Stop (or remove) a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stop {
    /// The node's id.
    pub node_id: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Save its data first (`SHUTDOWN SAVE`).
    #[serde(default)]
    pub save: bool,
}

/// Why a call failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// `exited-during-start` (the reconcilers count those), else `agent`.
    pub kind: String,
    /// The agent's message.
    pub message: String,
    /// For `exited-during-start`: how it exited.
    #[serde(default)]
    pub status: String,
    /// For `exited-during-start`: the last log lines.
    #[serde(default)]
    pub log_tail: String,
}

/// A node's liveness on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireLiveness {
    /// See [`Liveness::Gone`].
    Gone,
    /// See [`Liveness::Stopped`].
    Stopped(u32),
    /// See [`Liveness::Running`].
    Running(u32),
}

impl From<Liveness> for WireLiveness {
    fn from(l: Liveness) -> Self {
        match l {
            Liveness::Gone => WireLiveness::Gone,
            Liveness::Stopped(pid) => WireLiveness::Stopped(pid),
            Liveness::Running(pid) => WireLiveness::Running(pid),
        }
    }
}

impl From<WireLiveness> for Liveness {
    fn from(l: WireLiveness) -> Self {
        match l {
            WireLiveness::Gone => Liveness::Gone,
            WireLiveness::Stopped(pid) => Liveness::Stopped(pid),
            WireLiveness::Running(pid) => Liveness::Running(pid),
        }
    }
}

/// A process event on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    /// The node.
    pub node_id: String,
    /// Its process.
    pub pid: u32,
    /// `exited`, `stopped` or `continued`.
    pub event: String,
}

impl From<&NodeEvent> for WireEvent {
    fn from(e: &NodeEvent) -> Self {
        use ferrocache_agent::watch::ProcessEvent;
        WireEvent {
            node_id: e.node_id.clone(),
            pid: e.pid,
            event: match e.event {
                ProcessEvent::Exited => "exited",
                ProcessEvent::Stopped => "stopped",
                ProcessEvent::Continued => "continued",
            }
            .to_string(),
        }
    }
}

impl WireEvent {
    /// The event, when its kind is one this release knows.
    pub fn to_event(&self) -> Option<NodeEvent> {
        use ferrocache_agent::watch::ProcessEvent;
        let event = match self.event.as_str() {
            "exited" => ProcessEvent::Exited,
            "stopped" => ProcessEvent::Stopped,
            "continued" => ProcessEvent::Continued,
            _ => return None,
        };
        Some(NodeEvent {
            node_id: self.node_id.clone(),
            pid: self.pid,
            event,
        })
    }
}

/// One line of the event stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamItem {
    /// Every node the host keeps, and its liveness now (first line).
    Snapshot(Vec<(String, WireLiveness)>),
    /// A process event, with the node's liveness after it.
    Event(WireEvent, WireLiveness),
    /// Nothing happened; the host is alive. Numbered, so that the leader can say which one
    /// it heard ([`path::HEARD`]).
    Beat(u64),
}
