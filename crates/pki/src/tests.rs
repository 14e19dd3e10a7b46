use super::*;
use std::io::Read as _;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};

fn names(ips: &[&str], dns: &[&str]) -> ServerNames {
    ServerNames::new(
        ips.iter().map(|i| i.parse().unwrap()),
        dns.iter().map(|d| d.to_string()),
    )
}

fn client_config(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let der = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .unwrap()
        .1
        .contents;
    roots.add(CertificateDer::from(der)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs a TLS handshake in memory between a client verifying `name` and `server`, then sends
/// one message through. Returns the client's error, if any.
fn handshake(
    client: Arc<ClientConfig>,
    name: &str,
    server: Arc<ServerConfig>,
) -> Result<(), rustls::Error> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut c = ClientConnection::new(client, name).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).unwrap();
            // A server-side refusal shows up as the client's error below.
            let _ = s.process_new_packets();
        }
        let mut back = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            c.read_tls(&mut &back[..]).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            c.writer().write_all(b"PING\r\n").unwrap();
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            let mut got = [0u8; 6];
            s.reader().read_exact(&mut got).unwrap();
            assert_eq!(&got, b"PING\r\n");
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

// Goal: the CA is created once with a private key file only its owner can read, and loaded
// unchanged afterwards. Method: create in a temp dir, check modes, load again, compare.
#[test]
fn ca_created_once_with_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join(PKI_DIR);
    let first = Authority::load_or_create(&pki).unwrap();
    let key_mode = fs::metadata(pki.join(CA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, KEY_FILE_MODE);
    let cert_mode = fs::metadata(pki.join(CA_CERT_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(cert_mode & 0o777, CERT_FILE_MODE);
    assert_eq!(first.cert_path(), pki.join(CA_CERT_FILE));
    let again = Authority::load_or_create(&pki).unwrap();
    assert_eq!(first.cert_pem(), again.cert_pem());
    // A certificate issued by the reloaded CA verifies against the original CA certificate.
    let cert = again.issue(&names(&["127.77.0.1"], &[])).unwrap();
    let tls = server_config(&cert).unwrap();
    let client = client_config(first.cert_pem(), &[&rustls::version::TLS13]);
    handshake(client, "127.77.0.1", tls).unwrap();
}

// Goal: a key readable by others, or half a pair, is refused rather than used or replaced.
// Method: chmod the key, then remove the certificate.
#[test]
fn exposed_key_and_half_pair_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    Authority::load_or_create(dir.path()).unwrap();
    let key = dir.path().join(CA_KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Authority::load_or_create(dir.path()),
        Err(PkiError::KeyExposed(_))
    ));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
    assert!(matches!(
        Authority::load_or_create(dir.path()),
        Err(PkiError::HalfPair(_))
    ));
}

// Goal: a server certificate names every endpoint address and DNS name, is a non-CA server
// certificate issued by our CA, and the CA is name-constrained to loopback and our suffix.
// Method: parse both with x509-parser and verify the signature with the CA's key.
#[test]
fn server_certificate_shape() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let wanted = names(
        &["127.77.0.3", "127.77.0.1", "127.77.0.2", "127.77.0.1"],
        &[
            "master.rg1.us-east-1.ferrocache.internal",
            "REPLICA.rg1.us-east-1.ferrocache.internal",
        ],
    );
    let cert = ca.issue(&wanted).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(cert.chain[0].as_ref()).unwrap();
    let ca_der = x509_parser::pem::parse_x509_pem(ca.cert_pem().as_bytes())
        .unwrap()
        .1
        .contents;
    let (_, root) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    leaf.verify_signature(Some(root.public_key())).unwrap();
    assert_eq!(leaf.issuer(), root.subject());
    let sans = leaf.subject_alternative_name().unwrap().unwrap().value;
    let rendered: Vec<String> = sans.general_names.iter().map(|g| g.to_string()).collect();
    assert_eq!(
        rendered,
        [
            "IPAddress(7f:4d:00:01)",
            "IPAddress(7f:4d:00:02)",
            "IPAddress(7f:4d:00:03)",
            "DNSName(master.rg1.us-east-1.ferrocache.internal)",
            "DNSName(replica.rg1.us-east-1.ferrocache.internal)",
        ]
    );
    assert!(!leaf.is_ca());
    assert!(root.is_ca());
    assert!(root.name_constraints().unwrap().is_some());
}

// Goal: clients verify the certificate by IP address and DNS name; a name that is not in it
// fails, and TLS 1.2 works alongside 1.3. Method: in-memory rustls handshakes.
#[test]
fn clients_verify_names_and_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::load_or_create(dir.path()).unwrap();
    let cert = ca
        .issue(&names(
            &["127.77.0.1", "127.77.0.2"],
            &["rg1.us-east-1.ferrocache.internal"],
        ))
        .unwrap();
    let server = server_config(&cert).unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = client_config(ca.cert_pem(), &[version]);
        handshake(client.clone(), "127.77.0.2", server.clone()).unwrap();
        handshake(
            client.clone(),
            "rg1.us-east-1.ferrocache.internal",
            server.clone(),
        )
        .unwrap();
        let wrong = handshake(client, "127.77.0.9", server.clone()).unwrap_err();
        assert!(
            matches!(wrong, rustls::Error::InvalidCertificate(_)),
            "{wrong:?}"
        );
    }
    // Another data directory's CA is not trusted for our certificate.
    let other = tempfile::tempdir().unwrap();
    let stranger = Authority::load_or_create(other.path()).unwrap();
    let client = client_config(stranger.cert_pem(), &[&rustls::version::TLS13]);
    assert!(handshake(client, "127.77.0.1", server).is_err());
}

// Goal: a group keeps its certificate while its names stay the same and gets a new one when
// they change. Method: ask the cache three times and compare fingerprints.
#[test]
fn certificates_reissued_when_names_change() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certificates::new(Authority::load_or_create(dir.path()).unwrap());
    let a = certs
        .server_tls("rg1", &names(&["127.77.0.1"], &[]))
        .unwrap();
    let same = certs
        .server_tls("rg1", &names(&["127.77.0.1"], &[]))
        .unwrap();
    assert_eq!(a.fingerprint, same.fingerprint);
    assert!(Arc::ptr_eq(&a.config, &same.config));
    let grown = certs
        .server_tls("rg1", &names(&["127.77.0.1", "127.77.0.4"], &[]))
        .unwrap();
    assert_ne!(a.fingerprint, grown.fingerprint);
    let other = certs
        .server_tls("rg2", &names(&["127.77.0.1"], &[]))
        .unwrap();
    assert_ne!(a.fingerprint, other.fingerprint);
    certs.retain(&|owner| owner == "rg2");
    let again = certs
        .server_tls("rg1", &names(&["127.77.0.1", "127.77.0.4"], &[]))
        .unwrap();
    assert_ne!(again.fingerprint, grown.fingerprint);
}
