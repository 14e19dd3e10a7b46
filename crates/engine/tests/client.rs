//! `NodeClient` against real `redis-server` 7.0 processes started from configs rendered by
//! `render`, on loopback ports picked by the OS, in temporary directories. Every process is
//! killed by its guard when the test ends, pass or fail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrocache_engine::{
    render, CommandNames, EngineError, NodeAddress, NodeClient, NodeConfig, Role, RoleReply,
};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound for anything the tests wait for (start, sync, exit); generous because CI
/// machines stall, and never a performance threshold.
const WAIT_MAX: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A `redis-server` child that is killed (SIGKILL) and reaped when dropped.
struct Server {
    child: Child,
    cfg: NodeConfig,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks the OS for a free loopback port (bind port 0, read it, close).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(root: &Path, node_id: &str, configure: impl FnOnce(&mut NodeConfig)) -> Server {
    let dir = root.join(node_id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = NodeConfig::new(node_id, &dir, IpAddr::V4(Ipv4Addr::LOCALHOST), free_port());
    configure(&mut cfg);
    std::fs::write(cfg.config_path(), render(&cfg).unwrap()).unwrap();
    let child = Command::new(REDIS_SERVER)
        .arg(cfg.config_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server { child, cfg }
}

async fn connect_when_ready(addr: &NodeAddress) -> NodeClient {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        if let Ok(client) = NodeClient::connect(addr, CONNECT_TIMEOUT).await {
            if client.ping().await.is_ok() {
                return client;
            }
        }
        assert!(Instant::now() < deadline, "{addr} never answered PING");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn tcp(server: &Server) -> NodeAddress {
    NodeAddress::Tcp(SocketAddr::new(server.cfg.bind, server.cfg.port))
}

#[tokio::test]
async fn admin_commands_on_a_primary() {
    // Goal: each admin command works against a real 7.0 server and reports what it should.
    // Method: start one node, run every command, check replies against the config we wrote.
    let root = tempfile::tempdir().unwrap();
    let server = start(root.path(), "n1", |cfg| cfg.maxmemory_bytes = 64 << 20);
    let client = connect_when_ready(&server.cfg.address()).await;

    let info = client.info().await.unwrap();
    assert_eq!(info.role, Role::Master);
    assert_eq!(info.process_id, server.child.id());
    assert_eq!(Path::new(&info.config_file), server.cfg.config_path());
    assert!(info.redis_version.starts_with("7."));
    assert_eq!(info.maxmemory, 64 << 20);
    assert!(!info.loading);

    assert_eq!(
        client
            .config_get("maxmemory-policy")
            .await
            .unwrap()
            .as_deref(),
        Some("volatile-lru")
    );
    client
        .config_set("maxmemory-policy", "allkeys-lru")
        .await
        .unwrap();
    assert_eq!(
        client
            .config_get("maxmemory-policy")
            .await
            .unwrap()
            .as_deref(),
        Some("allkeys-lru")
    );
    assert_eq!(client.config_get("no-such-parameter").await.unwrap(), None);
    assert_eq!(
        client.config_get("save").await.unwrap().as_deref(),
        Some("")
    );
    let refused = client.config_set("maxmemory-policy", "bogus").await;
    assert!(
        matches!(refused, Err(EngineError::Reply { .. })),
        "{refused:?}"
    );

    assert_eq!(client.dbsize().await.unwrap(), 0);
    assert!(matches!(
        client.role().await.unwrap(),
        RoleReply::Master { replicas, .. } if replicas.is_empty()
    ));

    client.bgsave().await.unwrap();
    let deadline = Instant::now() + WAIT_MAX;
    while client.info().await.unwrap().rdb_bgsave_in_progress {
        assert!(Instant::now() < deadline, "BGSAVE never finished");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert!(client.info().await.unwrap().rdb_last_bgsave_ok);
    client.save().await.unwrap();
    assert!(server.cfg.rdb_path().exists());
}

#[tokio::test]
async fn replication_and_promotion() {
    // Goal: REPLICAOF wires a replica whose link comes up, and REPLICAOF NO ONE promotes it.
    // Method: two nodes; point the second at the first, poll INFO until the link is up, check
    // ROLE on both sides, then promote.
    let root = tempfile::tempdir().unwrap();
    let primary = start(root.path(), "p", |_| {});
    let replica = start(root.path(), "r", |_| {});
    let primary_client = connect_when_ready(&tcp(&primary)).await;
    let replica_client = connect_when_ready(&tcp(&replica)).await;

    let primary_addr = SocketAddr::new(primary.cfg.bind, primary.cfg.port);
    replica_client.replicaof(primary_addr).await.unwrap();
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        let info = replica_client.info().await.unwrap();
        if info.master_link_status_up == Some(true) {
            assert_eq!(info.role, Role::Replica);
            assert_eq!(info.master_port, Some(primary.cfg.port));
            break;
        }
        assert!(Instant::now() < deadline, "replica link never came up");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    match replica_client.role().await.unwrap() {
        RoleReply::Replica {
            master_port, state, ..
        } => {
            assert_eq!(master_port, primary.cfg.port);
            assert_eq!(state, "connected");
        }
        other => panic!("expected a replica, got {other:?}"),
    }
    let info = primary_client.info().await.unwrap();
    assert_eq!(info.connected_slaves, 1);
    assert_eq!(info.replicas[0].port, replica.cfg.port);

    replica_client.replicaof_no_one().await.unwrap();
    let info = replica_client.info().await.unwrap();
    assert_eq!(info.role, Role::Master);
    assert_eq!(info.master_link_status_up, None);
}

#[tokio::test]
async fn shutdown_save_writes_rdb_and_counts_as_success() {
    // Goal: SHUTDOWN SAVE returns Ok although Redis closes the connection, and the RDB is on
    // disk afterwards. Also covers connecting over the Unix socket.
    // Method: start a node with a Unix socket, shut it down through it, wait for the process.
    let root = tempfile::tempdir().unwrap();
    let mut server = start(root.path(), "s", |cfg| {
        cfg.unix_socket = Some(cfg.dir.join("redis.sock"));
    });
    let address = server.cfg.address();
    assert!(matches!(address, NodeAddress::Unix(_)));
    let client = connect_when_ready(&address).await;
    client.shutdown(true).await.unwrap();
    let deadline = Instant::now() + WAIT_MAX;
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "server did not exit after SHUTDOWN"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
    assert!(server.cfg.rdb_path().exists());
    assert!(client.ping().await.is_err());
}

#[tokio::test]
async fn errors_are_typed() {
    // Goal: unreachable nodes, renamed commands and hung nodes give distinct errors.
    // Method: connect to a closed port; send a command under a name the server does not know;
    // SIGSTOP the server and call with a short timeout.
    let closed = NodeAddress::Tcp(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        free_port(),
    ));
    let err = NodeClient::connect(&closed, CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Connect { .. }), "{err}");

    let root = tempfile::tempdir().unwrap();
    let server = start(root.path(), "e", |_| {});
    let client = connect_when_ready(&tcp(&server)).await;
    let renamed = client.clone().with_command_names(CommandNames {
        config: "CONFIG-RENAMED".to_string(),
        ..CommandNames::default()
    });
    let err = renamed.config_get("maxmemory").await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Reply { message, .. } if message.contains("unknown command")),
        "{err}"
    );

    let stopped = Command::new("kill")
        .arg("-STOP")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    let hung = client.with_call_timeout(Duration::from_millis(200));
    let err = hung.ping().await.unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
    // SIGKILL (the guard) works on a stopped process.
}

#[tokio::test]
async fn bgsave_with_digest_describes_the_saved_data() {
    // Goal: the digest and key count taken with BGSAVE in one MULTI/EXEC are those of the data
    // the RDB holds: a node started from that RDB has the same digest, even though writes came
    // in after the save. Clients cannot run DEBUG (renamed), the control plane can. Method: a
    // node with an identity; write, save with digest, write more, load the RDB in a new node.
    let root = tempfile::tempdir().unwrap();
    let identity = ferrocache_engine::AdminIdentity::generate();
    let first = start(root.path(), "d1", |cfg| cfg.admin = Some(identity.clone()));
    let admin = loop {
        match NodeClient::connect_as(&first.cfg.address(), CONNECT_TIMEOUT, &identity).await {
            Ok(client) if client.ping().await.is_ok() => break client,
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    };
    let mut data = redis::Client::open(format!("redis://{}:{}/", first.cfg.bind, first.cfg.port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut data)
            .await
            .unwrap();
    }
    let refused: Result<String, _> = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query_async(&mut data)
        .await;
    assert!(refused.unwrap_err().to_string().contains("unknown command"));

    let saved = admin.bgsave_with_digest(true).await.unwrap();
    assert_eq!(saved.keys, 100);
    let digest = saved.digest.expect("a digest");
    assert_eq!(digest.len(), 40);
    let _: () = redis::cmd("SET")
        .arg("later")
        .arg(1)
        .query_async(&mut data)
        .await
        .unwrap();
    assert_ne!(
        admin.digest().await.unwrap().as_deref(),
        Some(digest.as_str())
    );
    let deadline = Instant::now() + WAIT_MAX;
    while admin.info().await.unwrap().rdb_bgsave_in_progress {
        assert!(Instant::now() < deadline, "BGSAVE never finished");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let info = admin.info().await.unwrap();
    assert!(info.rdb_last_bgsave_ok, "{info:?}");
    let second = start(root.path(), "d2", |cfg| cfg.admin = Some(identity.clone()));
    std::fs::copy(first.cfg.rdb_path(), second.cfg.rdb_path()).unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            std::fs::read_to_string(first.cfg.log_path()).unwrap_or_default()
        )
    });
    drop(second);
    let second = start(root.path(), "d2", |cfg| cfg.admin = Some(identity.clone()));
    let restored = loop {
        match NodeClient::connect_as(&second.cfg.address(), CONNECT_TIMEOUT, &identity).await {
            Ok(client) if client.ping().await.is_ok() => break client,
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    };
    assert_eq!(restored.digest().await.unwrap(), Some(digest));
}
