//! A host's agent, served to the leading host over HTTP (see [`crate::wire`] for the calls).
//!
//! Every call carries the hosts' shared token; a call without it is refused with 401. The
//! leader renders each node's configuration; this side puts the node's directory and socket
//! in this host's data directory and lets its own agent (whose identity the hosts share) start
//! it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Json, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ferrocache_agent::{Agent, AgentError};
use ferrocache_engine::{NodeAddress, NodeConfig};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::wire::{
    self, path, Failure, Heard, IssueTls, IssuedTls, NodeRef, Process, SnapshotFileRef, Stop,
    StreamItem, WireEvent,
};

/// Beats remembered for the leader's acknowledgements (a few seconds' worth).
const BEATS_KEPT: usize = 64;

/// What the handlers share.
struct Shared {
    agent: Arc<Agent>,
    token: String,
    /// Where this host keeps the snapshots it wrote while it led.
    snapshots_dir: std::path::PathBuf,
    /// The beats sent lately, numbered, with when (every stream's: one numbering).
    beats: Mutex<(u64, VecDeque<(u64, Instant)>)>,
    /// When the latest beat the leader said it heard was sent.
    leader_heard: watch::Sender<Option<Instant>>,
}

impl Shared {
    /// The next beat's number, noted as sent now.
    fn beat(&self) -> u64 {
        let mut beats = self.beats.lock();
        let (next, sent) = &mut *beats;
        *next += 1;
        if sent.len() == BEATS_KEPT {
            sent.pop_front();
        }
        sent.push_back((*next, Instant::now()));
        *next
    }
}

/// The agent's HTTP routes, guarded by `token`; `leader_heard` holds when the latest beat
/// the leading host acknowledged was sent (see [`crate::fence`]); the snapshots this host
/// holds are under `snapshots_dir`.
pub fn router(
    agent: Arc<Agent>,
    token: String,
    leader_heard: watch::Sender<Option<Instant>>,
    snapshots_dir: std::path::PathBuf,
) -> Router {
    let shared = Arc::new(Shared {
        agent,
        token,
        snapshots_dir,
        beats: Mutex::new((0, VecDeque::with_capacity(BEATS_KEPT))),
        leader_heard,
    });
    Router::new()
        .route(path::ENSURE_RUNNING, post(ensure_running))
        .route(path::ADOPT, post(adopt))
        .route(path::STOP, post(stop))
        .route(path::REMOVE, post(remove))
        .route(path::SET_ASIDE, post(set_aside))
        .route(path::STOPPED_CLEANLY, post(stopped_cleanly))
        .route(path::EVENTS, get(events))
        .route(path::HEARD, post(heard))
        .route(path::ISSUE_TLS, post(issue_tls))
        .route(path::DATA_FILE, post(data_file))
        .route(path::SNAPSHOT_FILE, post(snapshot_file))
        .route(path::SEED, post(seed))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .with_state(shared)
}

/// Bound on a connection's TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves [`router`] over TLS (`tls`: a certificate of the hosts' CA naming this host's
/// address, so only the hosts' token crosses the network, and inside TLS, as do the nodes'
/// data files) on `listener` until `shutdown` resolves; then every connection is closed, as
/// when the process ends.
///
/// # Errors
/// None today: a failed accept is logged and the next one waited for.
pub async fn serve(
    listener: tokio::net::TcpListener,
    agent: Arc<Agent>,
    token: String,
    leader_heard: watch::Sender<Option<Instant>>,
    snapshots_dir: std::path::PathBuf,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(agent, token, leader_heard, snapshots_dir);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, most likely: wait a moment rather than spin.
                    tracing::warn!(error = %e, "the agent cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "agent connection refused: TLS handshake");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    Ok(())
}

async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(wire::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_none_or(|t| !same(t.as_bytes(), shared.token.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            "the hosts' token is missing or wrong",
        )
            .into_response();
    }
    next.run(request).await
}

/// Compares in time that does not depend on where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The leader's configuration with this host's directory, socket and TLS files for the node.
fn localize(agent: &Agent, mut cfg: NodeConfig) -> Result<NodeConfig, AgentError> {
    if cfg.at_rest_key_id.is_some() {
        return Err(AgentError::Host {
            node_id: cfg.node_id.clone(),
            host: "this".into(),
            message: "a node with encryption at rest runs on the leading host only".into(),
        });
    }
    cfg.dir = agent.node_dir(&cfg.node_id);
    if let Some(tls) = &mut cfg.tls {
        let files = agent.node_tls_paths(&cfg.node_id);
        tls.cert_file = files.cert_file;
        tls.key_file = files.key_file;
        tls.ca_file = files.ca_file;
    }
    // Its socket here, for this host's own calls (a clean stop goes through it).
    cfg.unix_socket =
        ferrocache_control::reconcile::node::socket_path(agent.nodes_dir(), &cfg.node_id);
    Ok(cfg)
}

fn failure(e: &AgentError) -> Response {
    let body = match e {
        AgentError::ExitedDuringStart {
            status, log_tail, ..
        } => Failure {
            kind: "exited-during-start".into(),
            message: e.to_string(),
            status: status.clone(),
            log_tail: log_tail.clone(),
        },
        other => Failure {
            kind: "agent".into(),
            message: other.to_string(),
            status: String::new(),
            log_tail: String::new(),
        },
    };
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// The address the agent stops a node through: its socket here when it has one.
fn local_address(agent: &Agent, node_id: &str, given: std::net::SocketAddr) -> NodeAddress {
    match ferrocache_control::reconcile::node::socket_path(agent.nodes_dir(), node_id) {
        Some(p) if p.exists() => NodeAddress::Unix(p),
        _ => NodeAddress::Tcp(given),
    }
}

async fn ensure_running(State(s): State<Arc<Shared>>, Json(cfg): Json<NodeConfig>) -> Response {
    let cfg = match localize(&s.agent, cfg) {
        Ok(c) => c,
        Err(e) => return failure(&e),
    };
    match s.agent.ensure_running(&cfg).await {
        Ok(p) => Json(Process {
            pid: p.pid,
            adopted: p.adopted,
        })
        .into_response(),
        Err(e) => failure(&e),
    }
}

async fn adopt(State(s): State<Arc<Shared>>, Json(cfg): Json<NodeConfig>) -> Response {
    let cfg = match localize(&s.agent, cfg) {
        Ok(c) => c,
        Err(e) => return failure(&e),
    };
    match s.agent.adopt(&cfg).await {
        Ok(p) => Json(p.map(|p| Process {
            pid: p.pid,
            adopted: p.adopted,
        }))
        .into_response(),
        Err(e) => failure(&e),
    }
}

async fn stop(State(s): State<Arc<Shared>>, Json(stop): Json<Stop>) -> Response {
    let address = local_address(&s.agent, &stop.node_id, stop.address);
    match s.agent.stop(&stop.node_id, &address, stop.save).await {
        Ok(()) => Json(()).into_response(),
        Err(e) => failure(&e),
    }
}

async fn remove(State(s): State<Arc<Shared>>, Json(stop): Json<Stop>) -> Response {
    let address = local_address(&s.agent, &stop.node_id, stop.address);
    match s.agent.remove(&stop.node_id, &address).await {
        Ok(()) => Json(()).into_response(),
        Err(e) => failure(&e),
    }
}

async fn set_aside(State(s): State<Arc<Shared>>, Json(node): Json<NodeRef>) -> Response {
    match s.agent.set_aside_data(&node.node_id).await {
        Ok(p) => Json(p.map(|p| p.display().to_string())).into_response(),
        Err(e) => failure(&e),
    }
}

/// Streams the node's data file: opened once (Redis replaces it by a rename, so what is sent
/// is one complete save whatever lands under the name meanwhile), its size announced.
async fn data_file(State(s): State<Arc<Shared>>, Json(node): Json<NodeRef>) -> Response {
    if let Err(source) = ferrocache_engine::check_node_id(&node.node_id) {
        return failure(&AgentError::InvalidConfig {
            node_id: node.node_id,
            source,
        });
    }
    let path = s
        .agent
        .node_dir(&node.node_id)
        .join(ferrocache_engine::RDB_FILE_NAME);
    stream_file(&node.node_id, path).await
}

/// Streams a file of a snapshot this host holds (its files are never rewritten once complete).
async fn snapshot_file(
    State(s): State<Arc<Shared>>,
    Json(file): Json<SnapshotFileRef>,
) -> Response {
    // Each part one plain name: nothing outside the snapshots directory can be asked for.
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && std::path::Path::new(part).file_name() == Some(std::ffi::OsStr::new(part))
    };
    if ![&file.region, &file.name, &file.file]
        .iter()
        .all(|p| plain(p))
    {
        return (StatusCode::BAD_REQUEST, "not a snapshot file").into_response();
    }
    let path = s
        .snapshots_dir
        .join(&file.region)
        .join(&file.name)
        .join(&file.file);
    stream_file(&file.name, path).await
}

/// Receives a stopped node's data file (streamed) into a staging file beside the nodes'
/// directories, then seeds the node with it as [`Agent::seed_data`] does (its SHA-256
/// checked); the staging file goes either way.
async fn seed(
    State(s): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (node_id, sha256) = (header(wire::SEED_NODE), header(wire::SEED_SHA256));
    if let Err(source) = ferrocache_engine::check_node_id(&node_id) {
        return failure(&AgentError::InvalidConfig { node_id, source });
    }
    let staged = s.agent.nodes_dir().join(format!(".incoming-{node_id}.rdb"));
    let io = |action: &'static str, source: std::io::Error| AgentError::Io {
        node_id: node_id.clone(),
        action,
        path: staged.clone(),
        source,
    };
    let received = async {
        let mut file = tokio::fs::File::create(&staged)
            .await
            .map_err(|e| io("create", e))?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| io("receive", std::io::Error::other(e)))?;
            file.write_all(&chunk).await.map_err(|e| io("write", e))?;
        }
        file.sync_all().await.map_err(|e| io("sync", e))?;
        s.agent.seed_data(&node_id, &staged, &sha256).await
    };
    let outcome = received.await;
    let _ = tokio::fs::remove_file(&staged).await;
    match outcome {
        Ok(()) => Json(()).into_response(),
        Err(e) => failure(&e),
    }
}

/// Size of the pieces a file is sent in.
const FILE_CHUNK_BYTES: usize = 256 * 1024;

/// Streams the file at `path`, opened once, with its size at opening as `content-length` (no
/// more than that is sent); `about` names what it belongs to in a failure.
async fn stream_file(about: &str, path: std::path::PathBuf) -> Response {
    use tokio::io::AsyncReadExt;
    let opened = async {
        let file = tokio::fs::File::open(&path).await?;
        let size = file.metadata().await?.len();
        Ok::<_, std::io::Error>((file, size))
    };
    let (file, size) = match opened.await {
        Ok(o) => o,
        Err(source) => {
            return failure(&AgentError::Io {
                node_id: about.to_string(),
                action: "open",
                path,
                source,
            })
        }
    };
    let chunks =
        futures_util::stream::unfold((file.take(size), false), |(mut file, done)| async move {
            if done {
                return None;
            }
            let mut buffer = vec![0u8; FILE_CHUNK_BYTES];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buffer)), (file, false)))
                }
                Err(e) => Some((Err(e), (file, true))),
            }
        });
    Response::builder()
        .header(axum::http::header::CONTENT_LENGTH, size)
        .header(axum::http::header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

async fn issue_tls(State(s): State<Arc<Shared>>, Json(issue): Json<IssueTls>) -> Response {
    let names = ferrocache_pki::ServerNames::new(issue.ips, issue.dns);
    match s.agent.issue_node_tls(&issue.node_id, &names) {
        Ok(files) => Json(IssuedTls::from(files)).into_response(),
        Err(e) => failure(&e),
    }
}

async fn stopped_cleanly(State(s): State<Arc<Shared>>, Json(node): Json<NodeRef>) -> Response {
    Json(s.agent.stopped_cleanly(&node.node_id)).into_response()
}

/// Every node this host keeps (a directory under its nodes directory) and its liveness.
fn snapshot(agent: &Agent) -> Vec<(String, wire::WireLiveness)> {
    let Ok(entries) = std::fs::read_dir(agent.nodes_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|id| {
            let liveness = agent.liveness(&id).into();
            (id, liveness)
        })
        .collect()
}

/// The leader heard beat `beat`: it heard from this host no earlier than that beat was sent.
async fn heard(State(s): State<Arc<Shared>>, Json(heard): Json<Heard>) -> StatusCode {
    let sent = s
        .beats
        .lock()
        .1
        .iter()
        .find(|(n, _)| *n == heard.beat)
        .map(|(_, at)| *at);
    if let Some(sent) = sent {
        s.leader_heard.send_if_modified(|last| match last {
            Some(last) if *last >= sent => false,
            _ => {
                *last = Some(sent);
                true
            }
        });
    }
    StatusCode::NO_CONTENT
}

fn line(item: &StreamItem) -> Bytes {
    let mut bytes = serde_json::to_vec(item).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The event stream: a snapshot, then each process event as it happens and a beat whenever
/// nothing did for [`wire::HEARTBEAT_EVERY`]. Events are subscribed to before the snapshot is
/// taken, so none falls between the two.
async fn events(State(s): State<Arc<Shared>>) -> Response {
    let mut events = s.agent.process_events();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let agent = s.agent.clone();
    let shared = s.clone();
    tokio::spawn(async move {
        if tx
            .send(Ok(line(&StreamItem::Snapshot(snapshot(&agent)))))
            .await
            .is_err()
        {
            return;
        }
        let mut beat = tokio::time::interval(wire::HEARTBEAT_EVERY);
        loop {
            let item = tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => StreamItem::Event(WireEvent::from(&e), agent.liveness(&e.node_id).into()),
                    // Fell behind: a fresh snapshot tells the leader everything again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        StreamItem::Snapshot(snapshot(&agent))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = beat.tick() => StreamItem::Beat(shared.beat()),
            };
            if tx.send(Ok(line(&item))).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
