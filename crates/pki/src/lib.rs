//! Ferrocache's certificates: a local certificate authority, created on first start under the
//! data directory, and the server certificates it issues for the endpoints of each group.
//!
//! ElastiCache's endpoints present certificates from a public CA, so clients verify them with
//! their system trust store. Ferrocache cannot get a public certificate for a loopback address,
//! so it runs its own CA: `ferrocache ca trust` puts the CA certificate into the system trust
//! store once, and from then on `redis-cli --tls`, `ssl_cert_reqs='required'` and `tls: {}`
//! verify our endpoints exactly as they verify ElastiCache's.
//!
//! Because a CA in the system store is trusted for everything, ours is restricted by X.509 name
//! constraints to what it is for: IP addresses in `127.0.0.0/8` (and `::1`) and DNS names under
//! [`DNS_SUFFIX`]. A leaked key could not be used to impersonate any other host.
//!
//! # Layout
//! - [`Authority`]: the CA (load or create its files, issue server certificates).
//! - [`ServerNames`]: the IP and DNS subject alternative names of one certificate.
//! - [`Certificates`]: the issued certificates per owner (a group), re-issued when the owner's
//!   names change or the certificate nears its end, with their rustls [`ServerConfig`]s.
//! - [`server_config`]: the rustls configuration every endpoint uses (TLS 1.2 and 1.3 only).
//! - `tests`: the unit tests (CA creation and refused keys, certificate shape, client
//!   verification by IP and DNS name, re-issue on name change).
//!
//! # Dependency rules
//! Knows no groups and no store (callers pass names): it depends on no Ferrocache crate.
//! Synchronous: `tokio`, `axum` and `hyper` never appear in its dependency tree (the router
//! runs the handshakes with the [`ServerConfig`]s it issues).

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate (PEM) inside the PKI directory; readable by everyone.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key (PEM) inside the PKI directory; mode 0600.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The PKI directory's name inside the data directory.
pub const PKI_DIR: &str = "tls";
/// DNS names the CA may certify end in this suffix (name constraint).
pub const DNS_SUFFIX: &str = "ferrocache.internal";
/// How long the CA certificate is valid.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a server certificate is valid: 397 days, the longest that browsers and other strict
/// clients accept for a server certificate.
pub const SERVER_VALIDITY: Duration = Duration::days(397);
/// A server certificate this close to its end is re-issued at the next request.
pub const SERVER_RENEW_BEFORE: Duration = Duration::days(30);
/// Start of validity is set this far in the past, so a client whose clock is slightly behind
/// does not see a certificate "not yet valid".
pub const CLOCK_SKEW: Duration = Duration::hours(1);
/// Mode of the CA key file.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of the CA certificate file.
pub const CERT_FILE_MODE: u32 = 0o644;

/// Why the PKI could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading or writing a file of the PKI directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Generating, parsing or signing a certificate or key failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA key file is readable by others than its owner.
    #[error("{0}: the CA key must be readable by its owner only (chmod 600)")]
    KeyExposed(PathBuf),
    /// One of the two CA files exists without the other.
    #[error(
        "{0}: found without its pair; remove it (a new CA is then created) or restore the pair"
    )]
    HalfPair(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The subject alternative names of one server certificate, kept sorted and without repeats
/// so that two equal sets compare equal whatever order they were gathered in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServerNames {
    ips: Vec<IpAddr>,
    dns: Vec<String>,
}

impl ServerNames {
    /// Names from IP addresses and DNS names (any order, repeats allowed).
    pub fn new(
        ips: impl IntoIterator<Item = IpAddr>,
        dns: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut ips: Vec<IpAddr> = ips.into_iter().collect();
        ips.sort();
        ips.dedup();
        let mut dns: Vec<String> = dns.into_iter().map(|d| d.to_ascii_lowercase()).collect();
        dns.sort();
        dns.dedup();
        Self { ips, dns }
    }

    /// The IP addresses.
    pub fn ips(&self) -> &[IpAddr] {
        &self.ips
    }

    /// The DNS names.
    pub fn dns(&self) -> &[String] {
        &self.dns
    }
}

/// An issued server certificate and its private key.
#[derive(Debug)]
pub struct ServerCert {
    /// The certificate chain sent to clients (the leaf; clients hold the CA).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// When the certificate stops being valid.
    pub not_after: OffsetDateTime,
    /// The chain in PEM, for servers that read files (`redis-server`'s `tls-cert-file`).
    pub chain_pem: String,
    /// The key in PEM (PKCS#8), for `tls-key-file`.
    pub key_pem: String,
}

impl ServerCert {
    /// SHA-256 of the leaf certificate, in hex: identifies this certificate.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::digest(self.chain[0].as_ref()))
    }
}

/// The Ferrocache certificate authority of one data directory.
pub struct Authority {
    dir: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("dir", &self.dir).finish()
    }
}

impl Authority {
    /// Loads the CA of `dir` (usually `<data-dir>/tls`), creating the directory, a key (mode
    /// 0600) and a self-signed CA certificate on first use.
    ///
    /// # Errors
    /// File errors; [`PkiError::KeyExposed`] when the key file is readable by group or others;
    /// [`PkiError::HalfPair`] when only one of the two files exists; a corrupt file.
    pub fn load_or_create(dir: &Path) -> Result<Self, PkiError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(dir, &cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path),
            (true, false) => Err(PkiError::HalfPair(cert_path)),
            (false, true) => Err(PkiError::HalfPair(key_path)),
        }
    }

    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let mode = fs::metadata(key_path)
            .map_err(io(key_path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(PkiError::KeyExposed(key_path.to_path_buf()));
        }
        let key_pem = fs::read_to_string(key_path).map_err(io(key_path))?;
        let cert_pem = fs::read_to_string(cert_path).map_err(io(cert_path))?;
        let key = KeyPair::from_pem(&key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cert_pem,
            issuer,
        })
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let params = ca_params(&key, OffsetDateTime::now_utc());
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        // Key first: a crash between the two writes leaves a key without a certificate, which
        // `load_or_create` reports rather than silently replacing a CA clients already trust.
        write_new(key_path, key.serialize_pem().as_bytes(), KEY_FILE_MODE)?;
        write_new(cert_path, cert_pem.as_bytes(), CERT_FILE_MODE)?;
        tracing::info!(path = %cert_path.display(), "created the Ferrocache CA");
        Ok(Self {
            dir: dir.to_path_buf(),
            cert_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's key, PEM (to share the CA with the other hosts of a store).
    ///
    /// # Errors
    /// When the key file cannot be read.
    pub fn key_pem(&self) -> Result<String, PkiError> {
        let key_path = self.dir.join(CA_KEY_FILE);
        fs::read_to_string(&key_path).map_err(io(&key_path))
    }

    /// Makes `cert_pem` and `key_pem` the CA of `dir`, replacing the one there (each file
    /// written beside and renamed over the old one), and loads it: the hosts of one store
    /// issue their endpoints' certificates from one CA, so clients trust one certificate.
    ///
    /// # Errors
    /// File errors; a pair that does not parse.
    pub fn adopt(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let issuer = Issuer::from_ca_cert_pem(cert_pem, KeyPair::from_pem(key_pem)?)?;
        fs::create_dir_all(dir).map_err(io(dir))?;
        for (name, contents, mode) in [
            (CA_KEY_FILE, key_pem, KEY_FILE_MODE),
            (CA_CERT_FILE, cert_pem, CERT_FILE_MODE),
        ] {
            let path = dir.join(name);
            let beside = dir.join(format!("{name}.new"));
            let _ = fs::remove_file(&beside);
            write_new(&beside, contents.as_bytes(), mode)?;
            fs::rename(&beside, &path).map_err(io(&path))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            cert_pem: cert_pem.to_string(),
            issuer,
        })
    }

    /// A short identifier of this CA (from its certificate), e.g. for the file name it gets in
    /// a system trust store, so CAs of different data directories do not overwrite each other.
    pub fn id(&self) -> String {
        hex(&Sha256::digest(self.cert_pem.as_bytes()))[..12].to_string()
    }

    /// Path of the CA certificate file (what clients trust).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The rustls configuration of a client that trusts this CA alone (a host calling another
    /// host's agent): TLS 1.3 and 1.2, the *ring* provider, no client certificate.
    ///
    /// # Errors
    /// The CA certificate cannot be read back, or rustls refuses it.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        use rustls::pki_types::pem::PemObject;
        let ca = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| PkiError::Tls(rustls::Error::General(e.to_string())))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// Issues a server certificate for `names`, with a fresh key, valid from now (less
    /// [`CLOCK_SKEW`]) for [`SERVER_VALIDITY`].
    ///
    /// # Errors
    /// A DNS name that is not a valid IA5 string; signing failures.
    pub fn issue(&self, names: &ServerNames) -> Result<ServerCert, PkiError> {
        let key = KeyPair::generate()?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Ferrocache");
        if let Some(first) = names.dns.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .ips
            .iter()
            .map(|ip| Ok(SanType::IpAddress(*ip)))
            .chain(
                names
                    .dns
                    .iter()
                    .map(|d| Ok(SanType::DnsName(d.as_str().try_into()?))),
            )
            .collect::<Result<_, rcgen::Error>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + SERVER_VALIDITY;
        params.serial_number = Some(serial(key.public_key_raw(), now));
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ServerCert {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_after: params.not_after,
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The CA's parameters: CN names the key (so CAs of different data directories are told apart
/// in a trust store), path length 0, name constraints to loopback and [`DNS_SUFFIX`].
fn ca_params(key: &KeyPair, now: OffsetDateTime) -> CertificateParams {
    let id = hex(&Sha256::digest(key.public_key_raw()));
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Ferrocache");
    dn.push(DnType::CommonName, format!("Ferrocache CA {}", &id[..12]));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix(
                Ipv4Addr::new(127, 0, 0, 0).octets(),
                8,
            )),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
                Ipv6Addr::LOCALHOST.octets(),
                128,
            )),
            GeneralSubtree::DnsName(DNS_SUFFIX.to_string()),
        ],
        excluded_subtrees: Vec::new(),
    });
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + CA_VALIDITY;
    params.serial_number = Some(serial(key.public_key_raw(), now));
    params
}

/// A positive 16-byte serial number, unique per key and moment.
fn serial(public_key: &[u8], now: OffsetDateTime) -> rcgen::SerialNumber {
    let mut digest = Sha256::new();
    digest.update(public_key);
    digest.update(now.unix_timestamp_nanos().to_be_bytes());
    let mut bytes: Vec<u8> = digest.finalize()[..16].to_vec();
    bytes[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// Writes a new file with `mode` from its creation on (never briefly world-readable), then
/// syncs it.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    // The umask may have narrowed the mode; the certificate must stay readable to all.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io(path))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The rustls configuration of an endpoint serving `cert`: TLS 1.3 and 1.2 only (a TLS 1.0 or
/// 1.1 client fails the handshake, as on ElastiCache), no client certificates, the *ring*
/// provider's default cipher suites.
///
/// # Errors
/// rustls refuses the certificate or key.
pub fn server_config(cert: &ServerCert) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())?;
    Ok(Arc::new(config))
}

/// A server certificate in use: its rustls configuration and its fingerprint (what route
/// tables compare to notice a re-issue).
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The endpoint's rustls configuration.
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, hex.
    pub fingerprint: String,
}

struct Issued {
    names: ServerNames,
    not_after: OffsetDateTime,
    tls: ServerTls,
}

/// The server certificates in use, one per owner (a replication group or a standalone cache
/// cluster), issued by one [`Authority`].
///
/// Certificates live in memory only: clients trust the CA, not a leaf, so issuing new ones
/// after a restart changes nothing for them.
pub struct Certificates {
    authority: Authority,
    issued: Mutex<HashMap<String, Issued>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("authority", &self.authority)
            .finish()
    }
}

impl Certificates {
    /// Issues through `authority`.
    pub fn new(authority: Authority) -> Self {
        Self {
            authority,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// The CA.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The certificate of `owner` for `names`: the one already issued if it covers exactly
    /// these names and is not within [`SERVER_RENEW_BEFORE`] of its end, else a new one (so a
    /// group whose endpoints change gets a certificate with the new addresses).
    ///
    /// # Errors
    /// Issuing failed (see [`Authority::issue`]).
    pub fn server_tls(&self, owner: &str, names: &ServerNames) -> Result<ServerTls, PkiError> {
        let now = OffsetDateTime::now_utc();
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = issued.get(owner) {
            if &current.names == names && current.not_after - SERVER_RENEW_BEFORE > now {
                return Ok(current.tls.clone());
            }
        }
        let cert = self.authority.issue(names)?;
        let tls = ServerTls {
            config: server_config(&cert)?,
            fingerprint: cert.fingerprint(),
        };
        tracing::info!(%owner, ips = ?names.ips, dns = ?names.dns, "issued a server certificate");
        issued.insert(
            owner.to_string(),
            Issued {
                names: names.clone(),
                not_after: cert.not_after,
                tls: tls.clone(),
            },
        );
        Ok(tls)
    }

    /// Forgets the certificates of owners not in `keep` (groups that were deleted).
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|owner, _| keep(owner));
    }
}

#[cfg(test)]
mod tests;
