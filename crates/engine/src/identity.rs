//! [`AdminIdentity`]: how the control plane, and nobody else, runs the commands ElastiCache
//! keeps from its clients.
//!
//! Every node is started with `rename-command` for the whole commands the control plane owns
//! (`CONFIG`, `REPLICAOF`, `SHUTDOWN`, `SAVE`, `BGSAVE`) to secret names, and with the ones it
//! never sends (`SLAVEOF`, `BGREWRITEAOF`) renamed to nothing; `DEBUG` and `MIGRATE`, which it
//! sends rarely, get secret names too, so a client
//! gets Redis's own `ERR unknown command` for all of them. Subcommands (`ACL SETUSER`,
//! `CLUSTER MEET`, ...) cannot be renamed, and `SYNC`/`PSYNC` must keep their names because a
//! replica sends them to its primary by name; those are taken away from every client-facing
//! ACL user instead ([`RESTRICTED_ACL_RULES`]) and left to an internal ACL user, which the
//! control plane logs in as and replicas use for their link (`masteruser`/`masterauth`). The
//! internal user's password and the secret names are random per data directory and stored in
//! one file (mode 0600), so nodes adopted after a restart still answer to them, and no
//! client-facing change (auth tokens, the `default` user) can lock the control plane or
//! replication out.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

use rand::RngCore;

use crate::client::CommandNames;

/// File name of the identity inside the data directory.
pub const IDENTITY_FILE_NAME: &str = "control-identity";

/// Whole commands renamed to nothing: neither clients nor the control plane send them.
/// (`DEBUG` is renamed to a secret name instead, for `DEBUG DIGEST`, and `MIGRATE`, for moving
/// slots between shards; nodes of an identity written before either had a name keep it
/// disabled until they restart.)
pub const DISABLED_COMMANDS: &[&str] = &["SLAVEOF", "BGREWRITEAOF"];

/// ACL rules appended to every client-facing user, after its own access string, so they win:
/// the restricted subcommands (which `rename-command` cannot reach) and `SYNC`/`PSYNC` (which
/// replicas send by name, so they cannot be renamed without breaking replication).
pub const RESTRICTED_ACL_RULES: &[&str] = &[
    "-sync",
    "-psync",
    "-acl|setuser",
    "-acl|deluser",
    "-acl|load",
    "-acl|save",
    "-cluster|addslots",
    "-cluster|addslotsrange",
    "-cluster|bumpepoch",
    "-cluster|delslots",
    "-cluster|delslotsrange",
    "-cluster|failover",
    "-cluster|flushslots",
    "-cluster|forget",
    "-cluster|links",
    "-cluster|meet",
    "-cluster|setslot",
    // Not in ElastiCache's published list, but each would take a node out of the topology the
    // control plane keeps (a replica re-pointed, a node forgetting its cluster).
    "-cluster|replicate",
    "-cluster|reset",
    "-cluster|saveconfig",
];

/// The access rules of the built-in `default` user when nothing else is configured: everything,
/// no password (ElastiCache's `on ~* +@all` plus all pub/sub channels, as Redis 6 had).
pub const DEFAULT_USER_RULES: &[&str] = &["on", "nopass", "~*", "&*", "+@all"];

/// The control plane's identity on every node.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// The internal ACL user.
    pub user: String,
    /// Its password (also `masterauth` for replication links).
    pub password: String,
    /// The secret names of the renamed commands.
    pub names: CommandNames,
}

impl std::fmt::Debug for AdminIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_struct("AdminIdentity")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// `n` random bytes as lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    let mut text = String::with_capacity(n * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text
}

impl AdminIdentity {
    /// A fresh identity: a random user suffix, a 256-bit password and a 128-bit suffix per
    /// renamed command.
    pub fn generate() -> AdminIdentity {
        let renamed = |name: &str| format!("{name}-{}", random_hex(16));
        AdminIdentity {
            user: format!("ferrocache-control-{}", random_hex(4)),
            password: random_hex(32),
            names: CommandNames {
                config: renamed("CONFIG"),
                replicaof: renamed("REPLICAOF"),
                shutdown: renamed("SHUTDOWN"),
                save: renamed("SAVE"),
                bgsave: renamed("BGSAVE"),
                debug: renamed("DEBUG"),
                migrate: renamed("MIGRATE"),
                ..CommandNames::default()
            },
        }
    }

    /// Reads the identity stored at `path`, or generates one and stores it there (mode 0600,
    /// written to a temporary file and renamed, so a crash never leaves half a file).
    ///
    /// # Errors
    ///
    /// Any I/O error, or [`io::ErrorKind::InvalidData`] when the file exists but is not an
    /// identity (it is never overwritten: nodes may be running with it).
    pub fn load_or_create(path: &Path) -> io::Result<AdminIdentity> {
        let identity = match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut identity = Self::parse(&text)?;
                if !identity.names.migrate.is_empty() {
                    return Ok(identity);
                }
                // Written before `MIGRATE` had a name: give it one (every other secret stays,
                // so running nodes still answer to them).
                identity.names.migrate = Self::generate().names.migrate;
                identity
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => Self::generate(),
        };
        identity.write_to(path)?;
        Ok(identity)
    }

    /// Stores the identity at `path` (mode 0600, written to a temporary file and renamed, so a
    /// crash never leaves half a file).
    ///
    /// # Errors
    /// Any I/O error.
    pub fn write_to(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(self.to_text().as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// The file text: one `key value` line per secret (what [`AdminIdentity::parse`] reads).
    pub fn to_text(&self) -> String {
        let n = &self.names;
        format!(
            "# Ferrocache control-plane identity: secret, never edit while nodes run.\n\
             user {}\npassword {}\nconfig {}\nreplicaof {}\nshutdown {}\nsave {}\nbgsave {}\n{}{}",
            self.user,
            self.password,
            n.config,
            n.replicaof,
            n.shutdown,
            n.save,
            n.bgsave,
            if n.debug.is_empty() {
                String::new()
            } else {
                format!("debug {}\n", n.debug)
            },
            if n.migrate.is_empty() {
                String::new()
            } else {
                format!("migrate {}\n", n.migrate)
            }
        )
    }

    /// Reads the text [`AdminIdentity::to_text`] writes.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidData`] when it is not an identity.
    pub fn parse(text: &str) -> io::Result<AdminIdentity> {
        let mut identity = AdminIdentity {
            user: String::new(),
            password: String::new(),
            // A file written before `DEBUG` or `MIGRATE` had a name keeps it disabled.
            names: CommandNames {
                migrate: String::new(),
                ..CommandNames::default()
            },
        };
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let slot = match key {
                "user" => &mut identity.user,
                "password" => &mut identity.password,
                "config" => &mut identity.names.config,
                "replicaof" => &mut identity.names.replicaof,
                "shutdown" => &mut identity.names.shutdown,
                "save" => &mut identity.names.save,
                "bgsave" => &mut identity.names.bgsave,
                "debug" => &mut identity.names.debug,
                "migrate" => &mut identity.names.migrate,
                _ => continue,
            };
            *slot = value.to_string();
        }
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        if identity.user.is_empty() || identity.password.is_empty() {
            return Err(bad("identity file has no user or password"));
        }
        let all_safe = [
            &identity.user,
            &identity.password,
            &identity.names.config,
            &identity.names.replicaof,
            &identity.names.shutdown,
            &identity.names.save,
            &identity.names.bgsave,
        ]
        .iter()
        .all(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !all_safe {
            return Err(bad("identity file holds a malformed value"));
        }
        let optional_safe = [&identity.names.debug, &identity.names.migrate]
            .iter()
            .all(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !optional_safe {
            return Err(bad("identity file holds a malformed value"));
        }
        Ok(identity)
    }

    /// The `rename-command` pairs for a node's config: the control plane's secret names, then
    /// the disabled commands (renamed to the empty string).
    pub fn renames(&self) -> Vec<(&'static str, String)> {
        let n = &self.names;
        let mut renames = vec![
            ("CONFIG", n.config.clone()),
            ("REPLICAOF", n.replicaof.clone()),
            ("SHUTDOWN", n.shutdown.clone()),
            ("SAVE", n.save.clone()),
            ("BGSAVE", n.bgsave.clone()),
            // Empty (disabled) for an identity written before `DEBUG` had a name.
            ("DEBUG", n.debug.clone()),
            // Empty (disabled) for an identity written before `MIGRATE` had a name.
            ("MIGRATE", n.migrate.clone()),
        ];
        renames.extend(DISABLED_COMMANDS.iter().map(|c| (*c, String::new())));
        renames
    }

    /// The internal user's ACL rules: everything, with its password.
    pub fn user_rules(&self) -> Vec<String> {
        vec![
            "on".to_string(),
            format!(">{}", self.password),
            "~*".to_string(),
            "&*".to_string(),
            "+@all".to_string(),
        ]
    }
}

impl AdminIdentity {
    /// A client-facing user's full rules: `reset`, its own rules, then
    /// [`RESTRICTED_ACL_RULES`] and the renamed commands (ACL rules name a renamed command by
    /// its original name), so even a client that learnt a secret name cannot run it.
    /// Starting from `reset` makes the result independent of what the user had before, so the same rules serve the config file and a later `ACL SETUSER`.
    pub fn client_user_rules(&self, rules: &[String]) -> Vec<String> {
        std::iter::once("reset".to_string())
            .chain(rules.iter().cloned())
            .chain(RESTRICTED_ACL_RULES.iter().map(|r| r.to_string()))
            .chain(
                self.renames()
                    .into_iter()
                    .map(|(name, _)| format!("-{}", name.to_ascii_lowercase())),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_identity_is_stable_and_private() {
        // Goal: the second load returns the first identity (adopted nodes keep answering), the
        // file is 0600, and every renamed name differs from Redis's.
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDENTITY_FILE_NAME);
        let first = AdminIdentity::load_or_create(&path).unwrap();
        let second = AdminIdentity::load_or_create(&path).unwrap();
        assert_eq!(first, second);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_ne!(first.names.config, "CONFIG");
        assert_ne!(first.names.bgsave, "BGSAVE");
        assert_ne!(first, AdminIdentity::generate());
    }

    #[test]
    fn malformed_identity_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDENTITY_FILE_NAME);
        std::fs::write(&path, "user x\npassword a b\n").unwrap();
        let err = AdminIdentity::load_or_create(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "user x\npassword a b\n"
        );
    }

    #[test]
    fn client_rules_end_with_the_restrictions() {
        let identity = AdminIdentity::generate();
        let rules = identity.client_user_rules(&["on".to_string(), "+@all".to_string()]);
        assert_eq!(rules[0], "reset");
        assert!(RESTRICTED_ACL_RULES
            .iter()
            .all(|r| rules.contains(&r.to_string())));
        // Renamed commands are denied by their original names, after the user's own rules.
        let plus_all = rules.iter().position(|r| r == "+@all").unwrap();
        let config = rules.iter().position(|r| r == "-config").unwrap();
        assert!(config > plus_all);
        assert!(rules.contains(&"-bgsave".to_string()));
    }
}
