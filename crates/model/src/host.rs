//! Hosts: the machines (or network namespaces) Ferrocache runs on when several share one store.
//!
//! Each `ferrocache up --store etcd://…` registers its host for as long as it runs (a record
//! bound to a lease: it disappears within the lease's time to live when the process dies or
//! is cut off from etcd). The record says where the host is (its availability zone) and how
//! other hosts reach it (its advertised address).

use serde::{Deserialize, Serialize};

/// A host as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Its name (`--host-name`; unique among the hosts of a store).
    pub name: String,
    /// Its availability zone (`--zone`).
    pub zone: String,
    /// The address other hosts reach it at (`--advertise-address`).
    pub address: String,
    /// Its data directory.
    pub data_dir: String,
    /// When it registered (RFC 3339).
    pub registered: String,
    /// The Ferrocache version it runs.
    pub version: String,
    /// Where its agent takes calls from the leading host (`address:port`); `None` for a host
    /// that runs no agent for others (written by an older release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The memory it gives cache nodes, in bytes (`--host-memory`, by default the machine's
    /// total): the sum of its nodes' node-type memory stays within it. `None`: not limited
    /// (written by an older release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
}

impl HostRecord {
    /// How the store's leadership names this host's process when it leads: its name and data
    /// directory (a data directory is locked by one process at a time).
    pub fn leader_name(&self) -> String {
        format!("{}:{}", self.name, self.data_dir)
    }
}

/// What is asked of a host, kept apart from its registration (which lives and dies with the
/// host's process): written by `ferrocache hosts --drain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// Move the host's nodes off it: nothing new is placed there, its primaries hand over to
    /// replicas on other hosts, and its replicas start again on other hosts.
    pub draining: bool,
}

/// What every host of a store shares, created by the first host that runs on it: the control
/// plane's identity on the nodes (so whichever host leads reaches every node, and every host's
/// agent starts its nodes with it), and the token the leader's calls to the hosts' agents
/// carry. Readable by whoever can read the store: the store is the trust boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsSecrets {
    /// The identity's text (see `AdminIdentity::to_text` in the engine).
    pub identity: String,
    /// The agents' token.
    pub agent_token: String,
    /// The certificate authority every host issues its endpoints' certificates from (each
    /// host serves every endpoint); `None` in secrets written by an older release, until a
    /// host adds its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SharedCa>,
}

/// A certificate authority's certificate and key, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCa {
    /// The CA certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl HostsSecrets {
    /// The one key it is stored under.
    pub const KEY: &'static str = "shared";
}

/// Whether `name` can name a host: 1–63 letters, digits, `-`, `_` or `.`, not starting with a
/// `-` or `.` (it is a key in the store and a line in `ferrocache hosts`).
pub fn valid_host_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for good in ["h1", "cache-host-01.example", "ns_3"] {
            assert!(valid_host_name(good), "{good}");
        }
        for bad in ["", "-h", ".h", "a/b", "a b", &"x".repeat(64)] {
            assert!(!valid_host_name(bad), "{bad}");
        }
    }
}
