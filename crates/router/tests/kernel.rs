//! Integration tests of the kernel data path: a real `Router::with_kernel` (its BPF programs
//! attached to the cgroup v2 root) on 127.98.<n>.<m> addresses in front of real `redis-server`
//! processes, driven by real sockets. Each endpoint has the node's Unix socket as its router
//! backend and the node's TCP address as its direct one, as Ferrocache gives them.
//!
//! The kernel path needs root; without it every test says so and passes without checking
//! anything (the router path has its own tests, which run everywhere).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_router::{
    Admission, Backend, DataPath, EndpointKind, EndpointRoute, Redirector, RouteTable, Router,
    RouterLimits, Security,
};
use ipnet::IpNet;
use support::{eventually, free_port, Client, RedisProcess, Reply, TEST_WAIT_MAX};

/// A router with the kernel path, or `None` (and a note) where it cannot load.
fn kernel_router(test: &str) -> Option<Router> {
    let scratch = std::env::temp_dir().join(format!("kernel-test-{}-{test}", std::process::id()));
    match Redirector::load(&scratch) {
        Ok(redirector) => Some(Router::with_kernel(RouterLimits::default(), redirector)),
        Err(e) => {
            eprintln!("{test}: the kernel path cannot load here ({e}); nothing checked");
            None
        }
    }
}

/// A free listen address `127.98.<n>.<m>:<port>`; each test uses its own `n`.
fn listen_addr(n: u8, m: u8) -> SocketAddr {
    let ip = Ipv4Addr::new(127, 98, n, m);
    SocketAddr::V4(SocketAddrV4::new(ip, free_port(ip)))
}

fn route(
    listen: SocketAddr,
    kind: EndpointKind,
    epoch: u64,
    servers: &[&RedisProcess],
) -> EndpointRoute {
    EndpointRoute {
        listen,
        kind,
        backends: servers
            .iter()
            .map(|s| Backend::Unix(s.unix.clone()))
            .collect(),
        direct: servers.iter().map(|s| s.addr).collect(),
        direct_tls: Vec::new(),
        epoch,
        label: format!("kernel test {kind}"),
        security: Security::default(),
    }
}

/// The `addr=` of the one normal client `CLIENT LIST` shows on `server`, seen over its Unix
/// socket so the checking connection is not itself a TCP client.
async fn tcp_clients(server: &RedisProcess) -> Vec<String> {
    let mut admin = tokio::net::UnixStream::connect(&server.unix).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    admin.write_all(b"CLIENT LIST\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = admin.read(&mut chunk).await.unwrap();
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        // `$<len>\r\n<body>\r\n`: complete once the body's length is in.
        if let Some((len, rest)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
            if rest.len() >= len.parse::<usize>().unwrap() + 2 {
                break;
            }
        }
        assert!(n > 0, "CLIENT LIST cut short");
    }
    String::from_utf8_lossy(&reply)
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("addr=")))
        .filter(|a| !a.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// Whether `stream` was closed under its owner: a read gives EOF or an error.
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(TEST_WAIT_MAX))
        .expect("timeout");
    let _ = stream.write_all(b"PING\r\n");
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => true,
        Ok(_) => false,
    }
}

fn ping(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(TEST_WAIT_MAX))
        .expect("timeout");
    stream.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap();
    buf[..n].to_vec()
}

// Goal: a plaintext endpoint with a TCP-reachable node is served by the kernel: the node sees
// the client's own address, the client sees the endpoint as its peer, the router carries no
// byte and counts the connection as redirected. Method: a primary endpoint, one client
// socket; CLIENT LIST on the node, getpeername on the client, the router's stats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_connect_straight_to_the_node() {
    let Some(router) = kernel_router("straight") else {
        return;
    };
    let server = RedisProcess::start("a").await;
    let primary = listen_addr(1, 1);
    let errors = router
        .apply(RouteTable {
            endpoints: vec![route(primary, EndpointKind::Primary, 1, &[&server])],
        })
        .await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(router.data_path(primary), DataPath::Kernel);

    let mut client = TcpStream::connect(primary).unwrap();
    assert_eq!(ping(&mut client), b"+PONG\r\n");
    assert_eq!(
        client.peer_addr().unwrap(),
        primary,
        "getpeername shows the endpoint"
    );
    let own = client.local_addr().unwrap().to_string();
    assert_eq!(
        tcp_clients(&server).await,
        vec![own],
        "CLIENT LIST shows the client itself"
    );

    let stats = router.stats();
    let endpoint = stats.endpoint(primary).unwrap();
    assert_eq!(endpoint.data_path, DataPath::Kernel);
    assert_eq!((endpoint.redirected, endpoint.accepted), (1, 0));
    assert_eq!((endpoint.bytes_in, endpoint.bytes_out), (0, 0));
}

// Goal: a failover fences kernel connections as it fences spliced ones: once `apply` returns,
// the old primary's connection is closed (reset) and new connections reach the new primary;
// a node endpoint (epoch 0) keeps its connection. Method: primary endpoint on A, a held
// connection through it and one through A's node endpoint; the route moves to B at epoch 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_change_closes_the_old_connections() {
    let Some(router) = kernel_router("fence") else {
        return;
    };
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let (primary, node_a) = (listen_addr(2, 1), listen_addr(2, 2));
    let node_route = route(node_a, EndpointKind::Node, 0, &[&a]);
    router
        .apply(RouteTable {
            endpoints: vec![
                route(primary, EndpointKind::Primary, 1, &[&a]),
                node_route.clone(),
            ],
        })
        .await;
    let mut held = TcpStream::connect(primary).unwrap();
    assert_eq!(ping(&mut held), b"+PONG\r\n");
    let mut on_node = TcpStream::connect(node_a).unwrap();
    assert_eq!(ping(&mut on_node), b"+PONG\r\n");

    let errors = router
        .apply(RouteTable {
            endpoints: vec![route(primary, EndpointKind::Primary, 2, &[&b]), node_route],
        })
        .await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(closed(&mut held), "the old primary's connection is closed");
    let mut client = Client::connect(primary).await.unwrap();
    assert_eq!(client.cmd(&["GET", "whoami"]).await, Reply::bulk("b"));
    assert_eq!(
        ping(&mut on_node),
        b"+PONG\r\n",
        "the node endpoint kept its connection"
    );
    assert!(
        tcp_clients(&a).await.len() == 1,
        "only the node endpoint's client is left on A"
    );
}

// Goal: while a failover switches (no backend), the kernel leaves connections to the router,
// which holds them until the new primary is published. Method: a primary endpoint with no
// backend; a client connects and sends GET; the route gets B; the reply comes from B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_wait_in_the_router_during_a_switch() {
    let Some(router) = kernel_router("switch") else {
        return;
    };
    let b = RedisProcess::start("b").await;
    let primary = listen_addr(3, 1);
    router
        .apply(RouteTable {
            endpoints: vec![route(primary, EndpointKind::Primary, 2, &[])],
        })
        .await;
    let router = Arc::new(router);
    let waiting = tokio::spawn(async move {
        let mut client = Client::connect(primary).await.unwrap();
        client.cmd(&["GET", "whoami"]).await
    });
    let r = Arc::clone(&router);
    eventually("the router holds the connection", move || {
        r.stats().endpoint(primary).is_some_and(|e| e.active == 1)
    })
    .await;
    router
        .apply(RouteTable {
            endpoints: vec![route(primary, EndpointKind::Primary, 2, &[&b])],
        })
        .await;
    assert_eq!(waiting.await.unwrap(), Reply::bulk("b"));
}

// Goal: security group rules decide who is redirected: an admitted source reaches the node
// straight, another is refused by the router (and counted there). Method: an endpoint that
// admits 127.0.0.1/32 only; clients bound to 127.0.0.1 and to 127.0.0.2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_decides_who_is_redirected() {
    let Some(router) = kernel_router("admission") else {
        return;
    };
    let server = RedisProcess::start("a").await;
    let node = listen_addr(4, 1);
    let mut admitted_only = route(node, EndpointKind::Node, 0, &[&server]);
    admitted_only.security.admission =
        Admission::Sources(Arc::from(vec!["127.0.0.1/32".parse::<IpNet>().unwrap()]));
    router
        .apply(RouteTable {
            endpoints: vec![admitted_only],
        })
        .await;
    let bound = |source: &str| connect_from(source.parse().unwrap(), node);
    let mut admitted = bound("127.0.0.1");
    assert_eq!(ping(&mut admitted), b"+PONG\r\n");
    let mut refused = bound("127.0.0.2");
    assert!(closed(&mut refused), "a source no rule admits is refused");
    // An unbound socket gets 127.0.0.1 towards the node, which the rule admits.
    let mut unbound = TcpStream::connect(node).unwrap();
    assert_eq!(ping(&mut unbound), b"+PONG\r\n");
    let stats = router.stats();
    let endpoint = stats.endpoint(node).unwrap();
    assert_eq!((endpoint.redirected, endpoint.denied), (2, 1));
}

/// A blocking TCP connection from `source` (port chosen by the kernel) to `to`.
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    // std has no bind-before-connect; the libc calls are short enough to make here.
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket syscalls on a descriptor we own; every pointer is to a local.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let stream = TcpStream::from_raw_fd(fd);
        let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip.octets()),
            },
            sin_zero: [0; 8],
        };
        let local = sockaddr(source, 0);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len),
            0
        );
        let SocketAddr::V4(to) = to else {
            panic!("IPv4 only")
        };
        let remote = sockaddr(*to.ip(), to.port());
        assert_eq!(
            libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len),
            0
        );
        stream
    }
}

// Goal: a reader endpoint spreads kernel connections over its replicas, and a replica leaving
// the list closes only its own connections. Method: two servers behind a reader endpoint, four
// connections (two on each), then the route keeps A only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_spreads_and_lets_go_of_a_removed_replica() {
    let Some(router) = kernel_router("reader") else {
        return;
    };
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let reader = listen_addr(5, 1);
    router
        .apply(RouteTable {
            endpoints: vec![route(reader, EndpointKind::Reader, 1, &[&a, &b])],
        })
        .await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(reader).await.unwrap();
        let whoami = client.cmd(&["GET", "whoami"]).await;
        clients.push((whoami, client));
    }
    let on = |name: &str| {
        clients
            .iter()
            .filter(|(w, _)| *w == Reply::bulk(name))
            .count()
    };
    assert_eq!((on("a"), on("b")), (2, 2), "round-robin over both replicas");

    router
        .apply(RouteTable {
            endpoints: vec![route(reader, EndpointKind::Reader, 1, &[&a])],
        })
        .await;
    for (whoami, client) in &mut clients {
        let answer = client.try_cmd(&["PING"]).await;
        if *whoami == Reply::bulk("a") {
            assert_eq!(answer.unwrap(), Reply::simple("PONG"), "A's readers stay");
        } else {
            assert!(answer.is_err(), "B's readers are closed: {answer:?}");
        }
    }
}

// Goal: an endpoint the kernel cannot serve stays on the router: TLS (terminated by the
// router), or backends known only by a Unix socket; and removing a kernel endpoint closes its
// connections. Method: data_path() of such routes; a held connection through a removed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_kernel_cannot_serve_stays_on_the_router() {
    let Some(router) = kernel_router("fallback") else {
        return;
    };
    let server = RedisProcess::start("a").await;
    let (unix_only, removed) = (listen_addr(6, 1), listen_addr(6, 2));
    let mut unix_route = route(unix_only, EndpointKind::Node, 0, &[&server]);
    unix_route.direct.clear();
    router
        .apply(RouteTable {
            endpoints: vec![
                unix_route,
                route(removed, EndpointKind::Node, 0, &[&server]),
            ],
        })
        .await;
    assert_eq!(router.data_path(unix_only), DataPath::Router);
    assert_eq!(router.data_path(removed), DataPath::Kernel);
    let mut spliced = TcpStream::connect(unix_only).unwrap();
    assert_eq!(ping(&mut spliced), b"+PONG\r\n");
    let mut held = TcpStream::connect(removed).unwrap();
    assert_eq!(ping(&mut held), b"+PONG\r\n");

    router.apply_changes(Vec::new(), vec![removed]).await;
    assert!(
        closed(&mut held),
        "a removed endpoint's kernel connections are closed"
    );
    assert!(TcpStream::connect_timeout(&removed, Duration::from_secs(5)).is_err());
    assert_eq!(ping(&mut spliced), b"+PONG\r\n");
}

// Goal: an endpoint that requires TLS is served by the kernel only towards the nodes' own TLS
// ports (the engine terminates TLS), and one in `preferred` mode (plaintext and TLS on one
// port, told apart by the router) stays on the router. Method: the data path of routes with
// each mode, with and without TLS ports; a TLS handshake through the required one reaches a
// TLS server standing in for the node's TLS port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_goes_to_the_nodes_own_tls_port() {
    let Some(router) = kernel_router("tls") else {
        return;
    };
    let server = RedisProcess::start("a").await;
    let dir = tempfile::tempdir().unwrap();
    let certs = ferrocache_pki::Certificates::new(
        ferrocache_pki::Authority::load_or_create(dir.path()).unwrap(),
    );
    let (required, preferred, no_tls_port) =
        (listen_addr(7, 1), listen_addr(7, 2), listen_addr(7, 3));
    let issued = certs
        .server_tls("t", &ferrocache_pki::ServerNames::new([required.ip()], []))
        .unwrap();
    let secured = |mode| Security {
        admission: Admission::Any,
        tls: Some(ferrocache_router::Tls::new(
            mode,
            issued.config.clone(),
            issued.fingerprint.clone(),
        )),
    };
    // A stand-in for the node's TLS port: it only needs to accept.
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_address = tls_port.local_addr().unwrap();
    let with_tls = |listen, mode| EndpointRoute {
        direct_tls: vec![tls_address],
        security: secured(mode),
        ..route(listen, EndpointKind::Primary, 1, &[&server])
    };
    let mut without_port = with_tls(no_tls_port, ferrocache_router::TlsMode::Required);
    without_port.direct_tls.clear();
    router
        .apply(RouteTable {
            endpoints: vec![
                with_tls(required, ferrocache_router::TlsMode::Required),
                with_tls(preferred, ferrocache_router::TlsMode::Preferred),
                without_port,
            ],
        })
        .await;
    assert_eq!(router.data_path(required), DataPath::Kernel);
    assert_eq!(router.data_path(preferred), DataPath::Router);
    assert_eq!(router.data_path(no_tls_port), DataPath::Router);
    let client = TcpStream::connect(required).unwrap();
    let (accepted, from) = tls_port.accept().unwrap();
    assert_eq!(
        from,
        client.local_addr().unwrap(),
        "straight to the TLS port"
    );
    assert_eq!(client.peer_addr().unwrap(), required);
    drop(accepted);
}

// Goal: the programs see the connects of every network namespace on the host, but redirect
// only those made in Ferrocache's own: in another namespace an endpoint address means nothing
// (there, the node's address could be anyone's). Method: a thread moves into a new network
// namespace (loopback up, a listener on the node's port), connects to the endpoint: refused,
// not redirected to its own listener; from the host's namespace the same connect works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_network_namespaces_are_not_redirected() {
    let Some(router) = kernel_router("netns") else {
        return;
    };
    let server = RedisProcess::start("a").await;
    let node = listen_addr(8, 1);
    router
        .apply(RouteTable {
            endpoints: vec![route(node, EndpointKind::Node, 0, &[&server])],
        })
        .await;
    let node_port = server.addr.port();
    let outcome = std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread's network namespace; the ioctl gets a
        // zeroed ifreq naming "lo" on a socket of that namespace.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWNET), 0, "unshare");
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let mut request: libc::ifreq = std::mem::zeroed();
            for (i, b) in b"lo".iter().enumerate() {
                request.ifr_name[i] = *b as libc::c_char;
            }
            request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &request), 0, "lo up");
            libc::close(fd);
        }
        // Where a redirect would land in this namespace.
        let decoy = std::net::TcpListener::bind(("127.0.0.1", node_port)).expect("decoy");
        decoy.set_nonblocking(true).unwrap();
        let connected = TcpStream::connect_timeout(&node, Duration::from_secs(5));
        let decoy_got = decoy.accept().is_ok();
        (connected.is_ok(), decoy_got)
    })
    .join()
    .unwrap();
    assert_eq!(outcome, (false, false), "no redirect in another namespace");
    let mut client = TcpStream::connect(node).unwrap();
    assert_eq!(ping(&mut client), b"+PONG\r\n");
}
