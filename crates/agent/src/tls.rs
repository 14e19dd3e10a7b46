//! A node's own TLS files: the certificate the engine serves on its TLS port, its private key
//! and the CA that issued it (which a replica also checks its primary's certificate against).
//!
//! They are issued here, on the node's host, from the CA the agent was given
//! ([`Agent::with_certificates`]): with several hosts the leader asks the node's host for them,
//! so a node's private key is made where it is used and never crosses the network.
//!
//! | file | in `<node dir>/tls/` | mode |
//! |---|---|---|
//! | certificate chain | `server.crt` | 0644 |
//! | private key (PKCS#8) | `server.key` | 0600 |
//! | the CA's certificate | `ca.crt` | 0644 |
//!
//! Each file is written whole (a temporary file, synced, renamed over the old one), so an engine
//! reading them — at its start, or told with `CONFIG SET` — sees the old set or the new one,
//! never a part; the key goes last but one and the certificate last, so a crash in between
//! leaves a key whose certificate is re-issued by the next call.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ferrocache_pki::ServerNames;

use crate::error::AgentError;
use crate::node::{invalid, io_error, Agent};

/// The directory of a node's TLS files, inside its node directory.
pub const TLS_DIR: &str = "tls";

/// Where a node's TLS files are on its host, and until when its certificate is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTlsFiles {
    /// The certificate chain (`tls-cert-file`).
    pub cert_file: PathBuf,
    /// Its private key (`tls-key-file`).
    pub key_file: PathBuf,
    /// The issuing CA's certificate (`tls-ca-cert-file`).
    pub ca_file: PathBuf,
    /// When the certificate stops being valid (seconds since the epoch); 0 for paths not
    /// issued by this call (see [`paths_in`]).
    pub not_after: i64,
}

/// Where the TLS files of the node whose directory is `node_dir` are kept.
pub fn paths_in(node_dir: &Path) -> NodeTlsFiles {
    let dir = node_dir.join(TLS_DIR);
    NodeTlsFiles {
        cert_file: dir.join("server.crt"),
        key_file: dir.join("server.key"),
        ca_file: dir.join("ca.crt"),
        not_after: 0,
    }
}

impl Agent {
    /// Where the TLS files of `node_id` are kept on this host (whether or not they exist).
    pub fn node_tls_paths(&self, node_id: &str) -> NodeTlsFiles {
        paths_in(&self.node_dir(node_id))
    }

    /// Issues a certificate naming `names` for `node_id` and writes it, its key and the CA into
    /// the node's TLS directory, replacing what was there.
    ///
    /// # Errors
    /// [`AgentError::Certificate`] without a CA or when the CA refuses; [`AgentError::Io`] when
    /// a file cannot be written; [`AgentError::InvalidConfig`] for a bad node id.
    pub fn issue_node_tls(
        &self,
        node_id: &str,
        names: &ServerNames,
    ) -> Result<NodeTlsFiles, AgentError> {
        ferrocache_engine::check_node_id(node_id).map_err(|source| invalid(node_id, source))?;
        let refused = |message: String| AgentError::Certificate {
            node_id: node_id.to_string(),
            message,
        };
        let Some(certificates) = &self.certificates else {
            return Err(refused(
                "this host's agent has no certificate authority".into(),
            ));
        };
        let authority = certificates.authority();
        let cert = authority.issue(names).map_err(|e| refused(e.to_string()))?;
        let mut files = self.node_tls_paths(node_id);
        let dir = self.node_dir(node_id).join(TLS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(node_id, "create", &dir, e))?;
        write_whole(
            node_id,
            &files.ca_file,
            authority.cert_pem().as_bytes(),
            0o644,
        )?;
        write_whole(node_id, &files.key_file, cert.key_pem.as_bytes(), 0o600)?;
        write_whole(node_id, &files.cert_file, cert.chain_pem.as_bytes(), 0o644)?;
        files.not_after = cert.not_after.unix_timestamp();
        tracing::info!(node = node_id, ips = ?names.ips(), "issued the node's own TLS certificate");
        Ok(files)
    }
}

/// Writes `contents` to `path` whole: a temporary file with `mode`, synced, then renamed over
/// `path`, so that a process reading `path` sees the old or the new file, never a part.
fn write_whole(node_id: &str, path: &Path, contents: &[u8], mode: u32) -> Result<(), AgentError> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(|e| io_error(node_id, "create", &temporary, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(node_id, "write", &temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| io_error(node_id, "rename", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    #[test]
    fn issued_files_name_the_addresses_asked_for_and_keep_the_key_private() {
        // Goal: the agent writes the three files into the node's TLS directory, the key
        // readable by its owner only, the certificate naming the addresses asked for and the
        // CA the one it was given; without a CA it refuses. Method: issue twice (the second
        // replaces the first) and read the files back.
        let dir = tempfile::tempdir().unwrap();
        let bare = Agent::new(dir.path().join("nodes"), "redis-server".into());
        let names = ServerNames::new([IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))], []);
        assert!(matches!(
            bare.issue_node_tls("n1", &names),
            Err(AgentError::Certificate { .. })
        ));
        let authority = ferrocache_pki::Authority::load_or_create(&dir.path().join("pki")).unwrap();
        let ca_pem = authority.cert_pem().to_string();
        let agent = Agent::new(dir.path().join("nodes"), "redis-server".into())
            .with_certificates(Arc::new(ferrocache_pki::Certificates::new(authority)));
        let first = agent.issue_node_tls("n1", &names).unwrap();
        let second = agent.issue_node_tls("n1", &names).unwrap();
        assert_eq!(first.cert_file, second.cert_file);
        assert_eq!(second.cert_file, dir.path().join("nodes/n1/tls/server.crt"));
        assert!(second.not_after > 0);
        assert_eq!(std::fs::read_to_string(&second.ca_file).unwrap(), ca_pem);
        let key_mode = std::fs::metadata(&second.key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let pem = std::fs::read(&second.cert_file).unwrap();
        let (_, der) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = der.parse_x509().unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(san.value.general_names.iter().any(|n| matches!(
            n,
            x509_parser::extensions::GeneralName::IPAddress(ip) if *ip == [10, 0, 0, 7]
        )));
        assert!(agent.issue_node_tls("../n1", &names).is_err());
    }
}
