//! The router's security on the data path: admission by source address and TLS termination
//! (preferred and required modes, garbage handshakes), against a real `redis-server`.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ferrocache_pki::{Authority, Certificates, ServerNames};
use ferrocache_router::rustls::pki_types::pem::PemObject as _;
use ferrocache_router::rustls::pki_types::{CertificateDer, ServerName};
use ferrocache_router::rustls::{ClientConfig, RootCertStore};
use ferrocache_router::{
    Admission, Backend, EndpointKind, EndpointRoute, RouteTable, Router, RouterLimits, Security,
    Tls, TlsMode,
};
use support::{eventually, listen_addr, RedisProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn route(listen: SocketAddr, server: &RedisProcess, security: Security) -> RouteTable {
    RouteTable {
        endpoints: vec![EndpointRoute {
            listen,
            kind: EndpointKind::Primary,
            backends: vec![Backend::Tcp(server.addr)],
            direct: Vec::new(),
            direct_tls: Vec::new(),
            epoch: 1,
            label: "secured".into(),
            security,
        }],
    }
}

fn sources(nets: &[&str]) -> Admission {
    Admission::Sources(nets.iter().map(|n| n.parse().unwrap()).collect())
}

async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Sends PING on `stream`; `Some(reply)` or `None` when the peer closed (or reset) instead.
async fn ping<S: AsyncReadExt + AsyncWriteExt + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    if stream.write_all(b"PING\r\n").await.is_err() {
        return None;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(buf[..n].to_vec()),
    }
}

// Goal: only admitted sources get in; a refused connection is closed at once and counted;
// a new table changes admission for new connections while an admitted connection lives on.
// Method: admit 127.0.0.5/32, connect from .5 and .6, then swap the rule to .6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_by_source_address() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let listen = listen_addr(40, 1);
    let (five, six) = (Ipv4Addr::new(127, 0, 0, 5), Ipv4Addr::new(127, 0, 0, 6));
    let only = |net: &str| Security {
        admission: sources(&[net]),
        tls: None,
    };
    assert!(router
        .apply(route(listen, &server, only("127.0.0.5/32")))
        .await
        .is_empty());
    let mut held = connect_from(five, listen).await;
    assert_eq!(ping(&mut held).await.unwrap(), b"+PONG\r\n");
    assert_eq!(ping(&mut connect_from(six, listen).await).await, None);
    assert_eq!(router.stats().endpoint(listen).unwrap().denied, 1);

    assert!(router
        .apply(route(listen, &server, only("127.0.0.6/32")))
        .await
        .is_empty());
    assert_eq!(ping(&mut connect_from(five, listen).await).await, None);
    assert_eq!(
        ping(&mut connect_from(six, listen).await).await.unwrap(),
        b"+PONG\r\n"
    );
    assert_eq!(ping(&mut held).await.unwrap(), b"+PONG\r\n");

    // An empty list admits nobody, as a security group without a matching rule.
    assert!(router
        .apply(route(
            listen,
            &server,
            Security {
                admission: sources(&[]),
                tls: None
            }
        ))
        .await
        .is_empty());
    assert_eq!(ping(&mut connect_from(six, listen).await).await, None);
    assert_eq!(router.stats().endpoint(listen).unwrap().denied, 3);
}

fn tls_client(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(ferrocache_router::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_ping(connector: &tokio_rustls::TlsConnector, listen: SocketAddr) -> Vec<u8> {
    let tcp = TcpStream::connect(listen).await.unwrap();
    let name = ServerName::IpAddress(listen.ip().into());
    let mut stream = connector.connect(name, tcp).await.unwrap();
    ping(&mut stream).await.unwrap()
}

// Goal: preferred mode serves TLS and plaintext on one port, told apart by the first byte;
// required mode closes plaintext at once (counted) and keeps serving TLS; a garbage handshake
// closes only its own connection. Method: a CA in a temp dir, one endpoint, its mode changed
// by a new table (which drops the plaintext connection); a live TLS connection checked after
// the garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_preferred_required_and_garbage() {
    let server = RedisProcess::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let certs = Certificates::new(Authority::load_or_create(dir.path()).unwrap());
    let listen = listen_addr(41, 1);
    let issued = certs
        .server_tls("t", &ServerNames::new([listen.ip()], []))
        .unwrap();
    let secured = |mode| Security {
        admission: Admission::Any,
        tls: Some(Tls::new(
            mode,
            issued.config.clone(),
            issued.fingerprint.clone(),
        )),
    };
    let router = Router::new(RouterLimits::default());
    let connector = tls_client(certs.authority().cert_pem());

    assert!(router
        .apply(route(listen, &server, secured(TlsMode::Preferred)))
        .await
        .is_empty());
    let mut plain = TcpStream::connect(listen).await.unwrap();
    assert_eq!(ping(&mut plain).await.unwrap(), b"+PONG\r\n");
    assert_eq!(tls_ping(&connector, listen).await, b"+PONG\r\n");

    assert!(router
        .apply(route(listen, &server, secured(TlsMode::Required)))
        .await
        .is_empty());
    // The plaintext connection of the preferred mode is dropped when TLS becomes required.
    assert_eq!(ping(&mut plain).await, None);
    // A new plaintext client reads why, then the connection closes.
    let mut refused = TcpStream::connect(listen).await.unwrap();
    assert_eq!(
        ping(&mut refused).await.unwrap(),
        b"-ERR SSL/TLS connection required\r\n"
    );
    assert_eq!(ping(&mut refused).await, None);
    assert_eq!(
        router.stats().endpoint(listen).unwrap().plaintext_refused,
        1
    );

    let tcp = TcpStream::connect(listen).await.unwrap();
    let name = ServerName::IpAddress(listen.ip().into());
    let mut live = connector.connect(name, tcp).await.unwrap();
    assert_eq!(ping(&mut live).await.unwrap(), b"+PONG\r\n");
    let mut garbage = TcpStream::connect(listen).await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x05not a client hello at all")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest).await;
    // At most a TLS alert record (content type 21), never a Redis reply.
    assert!(rest.is_empty() || rest[0] == 0x15, "{rest:?}");
    eventually("the failed handshake counted", || {
        router.stats().endpoint(listen).unwrap().tls_failed == 1
    })
    .await;
    assert_eq!(ping(&mut live).await.unwrap(), b"+PONG\r\n");
    assert_eq!(router.stats().endpoint(listen).unwrap().tls_handshakes, 2);
}
