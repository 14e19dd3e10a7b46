//! Integration tests: a real `Router` on 127.99.<n>.<m> addresses in front of real
//! `redis-server` processes on 127.0.0.1, driven by a RESP client. Each test uses its own
//! `<n>` so tests can run in parallel; every process is stopped by PID when its guard drops.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ferrocache_router::{
    Backend, EndpointKind, EndpointRoute, RouteTable, Router, RouterError, RouterLimits, Security,
};
use support::{eventually, free_port, listen_addr, Client, RedisProcess, Reply};

fn route(
    listen: SocketAddr,
    kind: EndpointKind,
    epoch: u64,
    backends: Vec<Backend>,
) -> EndpointRoute {
    EndpointRoute {
        listen,
        kind,
        backends,
        direct: Vec::new(),
        direct_tls: Vec::new(),
        epoch,
        label: format!("test {kind}"),
        security: Security::default(),
    }
}

fn table(endpoints: Vec<EndpointRoute>) -> RouteTable {
    RouteTable { endpoints }
}

fn tcp(server: &RedisProcess) -> Backend {
    Backend::Tcp(server.addr)
}

// Goal: plain traffic works through every endpoint kind. Method: one redis-server behind a
// Node, a Primary and a Reader endpoint; SET through one, GET through each, and the byte
// counters moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_get_through_node_primary_and_reader() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let (node, primary, reader) = (listen_addr(1, 1), listen_addr(1, 2), listen_addr(1, 3));
    let errors = router
        .apply(table(vec![
            route(node, EndpointKind::Node, 1, vec![tcp(&server)]),
            route(primary, EndpointKind::Primary, 1, vec![tcp(&server)]),
            route(reader, EndpointKind::Reader, 1, vec![tcp(&server)]),
        ]))
        .await;
    assert!(errors.is_empty(), "{errors:?}");

    let mut writer = Client::connect(primary).await.unwrap();
    assert_eq!(writer.cmd(&["SET", "k", "v1"]).await, Reply::simple("OK"));
    for endpoint in [node, primary, reader] {
        let mut client = Client::connect(endpoint).await.unwrap();
        assert_eq!(client.cmd(&["GET", "k"]).await, Reply::bulk("v1"));
    }

    let stats = router.stats();
    assert_eq!(stats.endpoints.len(), 3);
    let p = stats.endpoint(primary).unwrap();
    assert!(
        p.accepted >= 2 && p.bytes_in > 0 && p.bytes_out > 0,
        "{p:?}"
    );
    router.shutdown().await;
}

// Goal: Unix-socket backends carry traffic like TCP ones. Method: a Primary endpoint pointing
// at redis-server's unixsocket; SET then GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_backend() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let primary = listen_addr(2, 1);
    let backend = Backend::Unix(server.unix.clone());
    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            1,
            vec![backend]
        )]))
        .await
        .is_empty());
    let mut client = Client::connect(primary).await.unwrap();
    assert_eq!(client.cmd(&["SET", "k", "unix"]).await, Reply::simple("OK"));
    assert_eq!(client.cmd(&["GET", "k"]).await, Reply::bulk("unix"));
    router.shutdown().await;
}

// Goal: a reader endpoint spreads new connections round-robin. Method: two redis-servers that
// answer `GET whoami` with "a" and "b"; four sequential connections must alternate a, b, a, b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_round_robin_over_two_servers() {
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let router = Router::new(RouterLimits::default());
    let reader = listen_addr(3, 1);
    assert!(router
        .apply(table(vec![route(
            reader,
            EndpointKind::Reader,
            1,
            vec![tcp(&a), tcp(&b)]
        )]))
        .await
        .is_empty());

    let mut seen = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(reader).await.unwrap();
        seen.push(client.cmd(&["GET", "whoami"]).await);
        clients.push(client);
    }
    let (ra, rb) = (Reply::bulk("a"), Reply::bulk("b"));
    assert_eq!(seen, vec![ra.clone(), rb.clone(), ra, rb]);
    router.shutdown().await;
}

// Goal: reader connections to a replica that leaves the list are closed, the others stay.
// Method: reader over a and b, one connection to each; republish with only a; the b
// connection is closed by the router, the a connection still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_closes_connections_to_removed_backend() {
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let router = Router::new(RouterLimits::default());
    let reader = listen_addr(4, 1);
    let both = route(reader, EndpointKind::Reader, 1, vec![tcp(&a), tcp(&b)]);
    assert!(router.apply(table(vec![both])).await.is_empty());
    let mut on_a = Client::connect(reader).await.unwrap();
    assert_eq!(on_a.cmd(&["GET", "whoami"]).await, Reply::bulk("a"));
    let mut on_b = Client::connect(reader).await.unwrap();
    assert_eq!(on_b.cmd(&["GET", "whoami"]).await, Reply::bulk("b"));

    let only_a = route(reader, EndpointKind::Reader, 1, vec![tcp(&a)]);
    assert!(router.apply(table(vec![only_a])).await.is_empty());
    assert!(on_b.closed_by_peer().await);
    assert_eq!(on_a.cmd(&["GET", "whoami"]).await, Reply::bulk("a"));
    let mut fresh = Client::connect(reader).await.unwrap();
    assert_eq!(fresh.cmd(&["GET", "whoami"]).await, Reply::bulk("a"));
    assert_eq!(router.stats().endpoint(reader).unwrap().fenced, 1);
    router.shutdown().await;
}

// Goal: fencing — after a primary change, no connection made under the old epoch survives,
// and new connections reach the new primary. Method: Primary endpoint on server a at epoch 1,
// a client writes; apply epoch 2 pointing at server b; the old client is closed by the router
// (it sees end of stream) and a new client reads `whoami` = "b".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_closes_old_epoch_connections() {
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let router = Router::new(RouterLimits::default());
    let primary = listen_addr(5, 1);
    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            1,
            vec![tcp(&a)]
        )]))
        .await
        .is_empty());
    let mut old = Client::connect(primary).await.unwrap();
    assert_eq!(old.cmd(&["SET", "k", "epoch1"]).await, Reply::simple("OK"));

    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            2,
            vec![tcp(&b)]
        )]))
        .await
        .is_empty());
    assert!(old.closed_by_peer().await);
    let mut new = Client::connect(primary).await.unwrap();
    assert_eq!(new.cmd(&["GET", "whoami"]).await, Reply::bulk("b"));
    assert_eq!(router.stats().endpoint(primary).unwrap().fenced, 1);
    router.shutdown().await;
}

// Goal: an epoch bump alone (same backend, e.g. demoted and re-promoted) also fences, and a
// stale table (lower epoch) is refused without touching the running route. Method: node
// endpoint on a at epoch 3; apply epoch 4 same backend → old connection closed; apply epoch 2
// pointing at b → StaleEpoch error, new connections still reach a.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_bump_fences_and_stale_epoch_is_refused() {
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let router = Router::new(RouterLimits::default());
    let node = listen_addr(6, 1);
    assert!(router
        .apply(table(vec![route(
            node,
            EndpointKind::Node,
            3,
            vec![tcp(&a)]
        )]))
        .await
        .is_empty());
    let mut old = Client::connect(node).await.unwrap();
    assert_eq!(old.cmd(&["PING"]).await, Reply::simple("PONG"));
    assert!(router
        .apply(table(vec![route(
            node,
            EndpointKind::Node,
            4,
            vec![tcp(&a)]
        )]))
        .await
        .is_empty());
    assert!(old.closed_by_peer().await);

    let errors = router
        .apply(table(vec![route(
            node,
            EndpointKind::Node,
            2,
            vec![tcp(&b)],
        )]))
        .await;
    assert_eq!(errors.len(), 1);
    let inner = errors[0]
        .1
        .get_ref()
        .and_then(|e| e.downcast_ref::<RouterError>());
    assert!(
        matches!(
            inner,
            Some(RouterError::StaleEpoch {
                running: 4,
                offered: 2,
                ..
            })
        ),
        "{errors:?}"
    );
    let mut client = Client::connect(node).await.unwrap();
    assert_eq!(client.cmd(&["GET", "whoami"]).await, Reply::bulk("a"));
    router.shutdown().await;
}

// Goal: republishing an unchanged table is a no-op for live connections. Method: keep one
// connection open across many identical applies and a label-only change; it still answers and
// nothing was fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_apply_keeps_connections() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let primary = listen_addr(7, 1);
    let current = route(primary, EndpointKind::Primary, 1, vec![tcp(&server)]);
    assert!(router.apply(table(vec![current.clone()])).await.is_empty());
    let mut client = Client::connect(primary).await.unwrap();
    assert_eq!(client.cmd(&["PING"]).await, Reply::simple("PONG"));
    for _ in 0..100 {
        assert!(router.apply(table(vec![current.clone()])).await.is_empty());
    }
    let relabelled = EndpointRoute {
        label: "renamed".into(),
        ..current
    };
    assert!(router.apply(table(vec![relabelled])).await.is_empty());
    assert_eq!(client.cmd(&["PING"]).await, Reply::simple("PONG"));
    let stats = router.stats();
    let endpoint = stats.endpoint(primary).unwrap();
    assert_eq!((endpoint.fenced, endpoint.label.as_str()), (0, "renamed"));
    router.shutdown().await;
}

// Goal: a connection that arrives while the primary endpoint has no backend (failover
// switching) waits and is served once the new primary is published. Method: Primary with no
// backend; a client connects and sends PING; once the router counts it active, publish the
// backend; the PING is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_connection_served_when_backend_appears() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let primary = listen_addr(8, 1);
    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            1,
            vec![]
        )]))
        .await
        .is_empty());
    let mut client = Client::connect(primary).await.unwrap();
    client.send(&["PING"]).await.unwrap();
    eventually("the connection is accepted and waiting", || {
        router.stats().endpoint(primary).unwrap().active == 1
    })
    .await;

    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            2,
            vec![tcp(&server)]
        )]))
        .await
        .is_empty());
    assert_eq!(client.read_reply().await.unwrap(), Reply::simple("PONG"));
    router.shutdown().await;
}

// Goal: past the backend wait, a waiting connection is closed and counted. Method: a 50 ms
// backend wait and an endpoint that never gets a backend; the client sees end of stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_wait_expires() {
    let limits = RouterLimits {
        backend_wait: Duration::from_millis(50),
        ..RouterLimits::default()
    };
    let router = Router::new(limits);
    let primary = listen_addr(9, 1);
    assert!(router
        .apply(table(vec![route(
            primary,
            EndpointKind::Primary,
            1,
            vec![]
        )]))
        .await
        .is_empty());
    let mut client = Client::connect(primary).await.unwrap();
    assert!(client.closed_by_peer().await);
    let stats = router.stats();
    assert_eq!(stats.endpoint(primary).unwrap().backend_wait_expired, 1);
    router.shutdown().await;
}

// Goal: a backend that refuses connections closes the client and is counted. Method: a TCP
// backend on a port nothing listens on and a Unix path that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_connect_failure_closes_client() {
    let router = Router::new(RouterLimits::default());
    let (tcp_ep, unix_ep) = (listen_addr(10, 1), listen_addr(10, 2));
    let dead_tcp: SocketAddr = format!("127.0.0.1:{}", free_port(std::net::Ipv4Addr::LOCALHOST))
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dead_unix = support::dead_unix_path(dir.path());
    assert!(router
        .apply(table(vec![
            route(tcp_ep, EndpointKind::Node, 1, vec![Backend::Tcp(dead_tcp)]),
            route(
                unix_ep,
                EndpointKind::Node,
                1,
                vec![Backend::Unix(dead_unix)]
            ),
        ]))
        .await
        .is_empty());
    for endpoint in [tcp_ep, unix_ep] {
        let mut client = Client::connect(endpoint).await.unwrap();
        assert!(client.closed_by_peer().await);
        assert_eq!(router.stats().endpoint(endpoint).unwrap().connect_failed, 1);
    }
    router.shutdown().await;
}

// Goal: the per-endpoint connection limit holds and answers like Redis's maxclients. Method:
// limit 1; the first connection works, the second gets Redis's error and is closed; after the
// first closes, a new connection is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_extra_connections() {
    let server = RedisProcess::start("a").await;
    let limits = RouterLimits {
        max_connections_per_endpoint: 1,
        ..RouterLimits::default()
    };
    let router = Router::new(limits);
    let node = listen_addr(11, 1);
    assert!(router
        .apply(table(vec![route(
            node,
            EndpointKind::Node,
            1,
            vec![tcp(&server)]
        )]))
        .await
        .is_empty());
    let mut first = Client::connect(node).await.unwrap();
    assert_eq!(first.cmd(&["PING"]).await, Reply::simple("PONG"));
    let mut second = Client::connect(node).await.unwrap();
    assert_eq!(
        second.read_reply().await.unwrap(),
        Reply::Error("ERR max number of clients reached".into())
    );
    assert!(second.closed_by_peer().await);
    assert_eq!(router.stats().endpoint(node).unwrap().refused, 1);

    drop(first);
    eventually("the first connection is released", || {
        router.stats().endpoint(node).unwrap().active == 0
    })
    .await;
    let mut third = Client::connect(node).await.unwrap();
    assert_eq!(third.cmd(&["PING"]).await, Reply::simple("PONG"));
    router.shutdown().await;
}

// Goal: removing an endpoint stops its listener and closes its connections, while a bind
// failure on one endpoint does not stop the others. Method: apply two endpoints, one on an
// address already taken → one error, the other serves; then apply an empty table → connect is
// refused and the live connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_endpoint_stops_listening_and_bind_errors_are_per_endpoint() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let taken = listen_addr(12, 1);
    let _occupant = std::net::TcpListener::bind(taken).unwrap();
    let node = listen_addr(12, 2);
    let errors = router
        .apply(table(vec![
            route(taken, EndpointKind::Node, 1, vec![tcp(&server)]),
            route(node, EndpointKind::Node, 1, vec![tcp(&server)]),
        ]))
        .await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, taken);
    assert_eq!(errors[0].1.kind(), std::io::ErrorKind::AddrInUse);

    let mut live = Client::connect(node).await.unwrap();
    assert_eq!(live.cmd(&["PING"]).await, Reply::simple("PONG"));
    assert!(router.apply(RouteTable::default()).await.is_empty());
    assert!(router.stats().endpoints.is_empty());
    let refused = tokio::net::TcpStream::connect(node).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(live.closed_by_peer().await);
    router.shutdown().await;
}

// Goal: shutdown closes everything and later applies are refused. Method: one endpoint with a
// live connection; shutdown; the connection is closed, the port refuses, apply reports
// ShutDown for the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_everything() {
    let server = RedisProcess::start("a").await;
    let router = Router::new(RouterLimits::default());
    let node = listen_addr(13, 1);
    let endpoint = route(node, EndpointKind::Node, 1, vec![tcp(&server)]);
    assert!(router.apply(table(vec![endpoint.clone()])).await.is_empty());
    let mut live = Client::connect(node).await.unwrap();
    assert_eq!(live.cmd(&["PING"]).await, Reply::simple("PONG"));

    router.shutdown().await;
    assert!(live.closed_by_peer().await);
    assert!(tokio::net::TcpStream::connect(node).await.is_err());
    let errors = router.apply(table(vec![endpoint])).await;
    let inner = errors[0]
        .1
        .get_ref()
        .and_then(|e| e.downcast_ref::<RouterError>());
    assert_eq!(inner, Some(&RouterError::ShutDown(node)));
}

// Goal: a table listing one address twice applies the first entry and reports the second.
// Method: two routes on the same listen address pointing at different servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_listen_is_reported() {
    let (a, b) = (
        RedisProcess::start("a").await,
        RedisProcess::start("b").await,
    );
    let router = Router::new(RouterLimits::default());
    let node = listen_addr(14, 1);
    let errors = router
        .apply(table(vec![
            route(node, EndpointKind::Node, 1, vec![tcp(&a)]),
            route(node, EndpointKind::Node, 1, vec![tcp(&b)]),
        ]))
        .await;
    assert_eq!(errors.len(), 1);
    let inner = errors[0]
        .1
        .get_ref()
        .and_then(|e| e.downcast_ref::<RouterError>());
    assert_eq!(inner, Some(&RouterError::DuplicateListen(node)));
    let mut client = Client::connect(node).await.unwrap();
    assert_eq!(client.cmd(&["GET", "whoami"]).await, Reply::bulk("a"));
    router.shutdown().await;
}

// Goal: a large value crosses the router intact in both directions (many buffer fills).
// Method: SET a 1 MiB value through a router with the smallest buffer, GET it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_value_round_trip() {
    let server = RedisProcess::start("a").await;
    let limits = RouterLimits {
        buffer_size: ferrocache_router::limits::BUFFER_SIZE_MIN,
        ..RouterLimits::default()
    };
    let router = Router::new(limits);
    let node = listen_addr(15, 1);
    assert!(router
        .apply(table(vec![route(
            node,
            EndpointKind::Node,
            1,
            vec![tcp(&server)]
        )]))
        .await
        .is_empty());
    let value: String = (0..1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut client = Client::connect(node).await.unwrap();
    assert_eq!(
        client.cmd(&["SET", "big", &value]).await,
        Reply::simple("OK")
    );
    assert_eq!(client.cmd(&["GET", "big"]).await, Reply::bulk(&value));
    router.shutdown().await;
}
