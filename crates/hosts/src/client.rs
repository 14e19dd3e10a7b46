//! The leading host's side of another host's agent: its calls, and the host's process
//! liveness kept current from its event stream.
//!
//! The stream is the host's pulse, and it is opened again every [`RECONNECT_EVERY`] when it
//! fails. When it is *ended* by the host (its process stopped or died: the host's kernel
//! closed the connection), the host is taken for lost at once — every node it ran is
//! reported gone, with an exit event, so the control plane fails its primaries over to live
//! hosts. When it merely falls *silent* (no line, not even a beat, for
//! [`HEARTBEAT_DEADLINE`]; or it cannot be opened), the host may be alive and cut off, its
//! endpoints still serving: it is taken for lost only [`SILENT_HOST_LOST_AFTER`] after the
//! last line heard, once it has surely fenced itself (see [`crate::fence`]). When it is back,
//! its first line (a snapshot) says again what runs there, and each node that runs again is
//! woken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrocache_agent::watch::ProcessEvent;
use ferrocache_agent::{AgentError, Liveness, NodeEvent, NodeProcess};
use ferrocache_engine::NodeConfig;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::fence::SILENT_HOST_LOST_AFTER;

use crate::wire::{
    self, path, Failure, Heard, IssueTls, IssuedTls, NodeRef, Process, SnapshotFileRef, Stop,
    StreamItem, WireLiveness,
};

/// Silence on a host's event stream after which the host is taken for lost (it beats every
/// [`wire::HEARTBEAT_EVERY`]).
pub const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(1000);
/// How often a lost host's stream is opened again.
pub const RECONNECT_EVERY: Duration = Duration::from_millis(200);
/// Bound on one call (a node's start waits for it to load its data).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on opening the event stream.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest line the stream may send (a snapshot of every node of a host).
const LINE_MAX: usize = 8 << 20;

/// Another host's agent.
pub struct RemoteHost {
    name: String,
    agent: String,
    token: String,
    http: Client<AgentConnector, Full<Bytes>>,
    /// How uploads reach the agent (their bodies are streamed, not whole).
    connector: AgentConnector,
    /// Every node the host keeps, as its stream last said.
    liveness: RwLock<HashMap<String, Liveness>>,
    /// The stream is open and beating.
    connected: AtomicBool,
    /// Raised once the stream gave its first snapshot.
    ready: tokio::sync::Notify,
    /// When the stream last said anything.
    heard: Mutex<Instant>,
    /// When the host is to be taken for lost, unless its stream is back first.
    loss_due: Mutex<Option<Instant>>,
    /// Raised when `loss_due` is set.
    loss_armed: tokio::sync::Notify,
}

/// Why the event stream stopped.
struct StreamEnd {
    why: String,
    /// The host closed it: its process ended (a cut-off host says nothing at all).
    host_closed: bool,
}

impl StreamEnd {
    fn silent(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            host_closed: false,
        }
    }
}

impl std::fmt::Debug for RemoteHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteHost")
            .field("name", &self.name)
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl RemoteHost {
    /// The agent of host `name` at `agent` (`address:port`), called over TLS with `tls` (it
    /// trusts the hosts' CA) and with `token`.
    pub fn new(
        name: &str,
        agent: &str,
        token: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Arc<RemoteHost> {
        let connector = connector(tls);
        Arc::new(RemoteHost {
            name: name.to_string(),
            agent: agent.to_string(),
            token: token.to_string(),
            http: Client::builder(TokioExecutor::new()).build(connector.clone()),
            connector,
            liveness: RwLock::new(HashMap::new()),
            connected: AtomicBool::new(false),
            ready: tokio::sync::Notify::new(),
            heard: Mutex::new(Instant::now()),
            loss_due: Mutex::new(None),
            loss_armed: tokio::sync::Notify::new(),
        })
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its agent listens.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether its event stream is open and beating.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Waits (at most `bound`) until the stream is open; whether it is.
    pub async fn wait_connected(&self, bound: Duration) -> bool {
        let notified = self.ready.notified();
        if self.connected() {
            return true;
        }
        let _ = tokio::time::timeout(bound, notified).await;
        self.connected()
    }

    /// The node's liveness on this host; `None` when the host does not keep the node.
    pub fn liveness(&self, node_id: &str) -> Option<Liveness> {
        self.liveness.read().get(node_id).copied()
    }

    fn error(&self, node_id: &str, message: impl std::fmt::Display) -> AgentError {
        AgentError::Host {
            node_id: node_id.to_string(),
            host: self.name.clone(),
            message: message.to_string(),
        }
    }

    fn unreachable(&self, node_id: &str, message: impl std::fmt::Display) -> AgentError {
        AgentError::HostUnreachable {
            node_id: node_id.to_string(),
            host: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// A `POST` of `body` (JSON) to `path` of the agent, with the hosts' token.
    fn request<Req: Serialize>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        hyper::Request::post(format!("https://{}{path}", self.agent))
            .header(wire::AUTHORIZATION, format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| e.to_string())
    }

    /// The failure an agent answered with `status` and `body`.
    fn failure(&self, node_id: &str, status: hyper::StatusCode, body: &[u8]) -> AgentError {
        match serde_json::from_slice::<Failure>(body) {
            Ok(f) if f.kind == "exited-during-start" => AgentError::ExitedDuringStart {
                node_id: node_id.to_string(),
                status: f.status,
                log_tail: f.log_tail,
            },
            Ok(f) => self.error(node_id, f.message),
            Err(_) => self.error(
                node_id,
                format!("{status}: {}", String::from_utf8_lossy(body)),
            ),
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node_id: &str,
        path: &str,
        body: &Req,
    ) -> Result<Resp, AgentError> {
        let request = self
            .request(path, body)
            .map_err(|e| self.error(node_id, e))?;
        let answer = async {
            let response = self.http.request(request).await.map_err(|e| {
                self.unreachable(
                    node_id,
                    format!("agent {}: {}", self.agent, with_causes(&e)),
                )
            })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.unreachable(node_id, e))?
                .to_bytes();
            Ok::<_, AgentError>((status, body))
        };
        let (status, body) = tokio::time::timeout(CALL_TIMEOUT, answer)
            .await
            .map_err(|_| self.unreachable(node_id, format!("no answer in {CALL_TIMEOUT:?}")))??;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| self.error(node_id, e));
        }
        Err(self.failure(node_id, status, &body))
    }

    fn note_running(&self, node_id: &str, pid: u32) {
        self.liveness
            .write()
            .insert(node_id.to_string(), Liveness::Running(pid));
    }

    /// Starts the node there, or adopts its live process.
    ///
    /// # Errors
    /// The agent's, or [`AgentError::HostUnreachable`] when it cannot be reached.
    pub async fn ensure_running(&self, cfg: &NodeConfig) -> Result<NodeProcess, AgentError> {
        let p: Process = self.call(&cfg.node_id, path::ENSURE_RUNNING, cfg).await?;
        self.note_running(&cfg.node_id, p.pid);
        Ok(NodeProcess {
            pid: p.pid,
            adopted: p.adopted,
            info: None,
        })
    }

    /// Adopts the node's live process there, never starting one.
    ///
    /// # Errors
    /// As [`RemoteHost::ensure_running`].
    pub async fn adopt(&self, cfg: &NodeConfig) -> Result<Option<NodeProcess>, AgentError> {
        let p: Option<Process> = self.call(&cfg.node_id, path::ADOPT, cfg).await?;
        Ok(p.map(|p| {
            self.note_running(&cfg.node_id, p.pid);
            NodeProcess {
                pid: p.pid,
                adopted: p.adopted,
                info: None,
            }
        }))
    }

    /// Stops the node there.
    ///
    /// # Errors
    /// As [`RemoteHost::ensure_running`].
    pub async fn stop(
        &self,
        node_id: &str,
        address: std::net::SocketAddr,
        save: bool,
    ) -> Result<(), AgentError> {
        let stop = Stop {
            node_id: node_id.to_string(),
            address,
            save,
        };
        self.call(node_id, path::STOP, &stop).await
    }

    /// Stops the node there and deletes its directory.
    ///
    /// # Errors
    /// As [`RemoteHost::ensure_running`].
    pub async fn remove(
        &self,
        node_id: &str,
        address: std::net::SocketAddr,
    ) -> Result<(), AgentError> {
        let stop = Stop {
            node_id: node_id.to_string(),
            address,
            save: false,
        };
        self.call::<_, ()>(node_id, path::REMOVE, &stop).await?;
        self.liveness.write().remove(node_id);
        Ok(())
    }

    /// Sets the node's data file aside there; where it went.
    ///
    /// # Errors
    /// As [`RemoteHost::ensure_running`].
    pub async fn set_aside_data(
        &self,
        node_id: &str,
    ) -> Result<Option<std::path::PathBuf>, AgentError> {
        let node = NodeRef {
            node_id: node_id.to_string(),
        };
        let aside: Option<String> = self.call(node_id, path::SET_ASIDE, &node).await?;
        Ok(aside.map(std::path::PathBuf::from))
    }

    /// Issues the node's own TLS certificate there (see [`ferrocache_agent::tls`]).
    ///
    /// # Errors
    /// As [`RemoteHost::ensure_running`].
    pub async fn issue_node_tls(
        &self,
        node_id: &str,
        names: &ferrocache_pki::ServerNames,
    ) -> Result<ferrocache_agent::NodeTlsFiles, AgentError> {
        let issue = IssueTls {
            node_id: node_id.to_string(),
            ips: names.ips().to_vec(),
            dns: names.dns().to_vec(),
        };
        let issued: IssuedTls = self.call(node_id, path::ISSUE_TLS, &issue).await?;
        Ok(issued.into())
    }

    /// Copies the node's data file there (its last save) into the new file `target` here,
    /// synced; its size and SHA-256 (see [`RemoteHost::copy_file`]).
    ///
    /// # Errors
    /// The agent's (no data file there), [`AgentError::HostUnreachable`], or
    /// [`AgentError::Io`] when `target` cannot be written.
    pub async fn copy_data_file(
        &self,
        node_id: &str,
        target: &std::path::Path,
    ) -> Result<(u64, String), AgentError> {
        let node = NodeRef {
            node_id: node_id.to_string(),
        };
        self.copy_file(node_id, path::DATA_FILE, &node, target)
            .await
    }

    /// Seeds the stopped node there with `source` (a file here) as its data file, checked
    /// there against `sha256`. The file is streamed; the call is bounded by
    /// [`CALL_TIMEOUT`] plus a second per MiB.
    ///
    /// # Errors
    /// The agent's (a digest that does not match, a running node), [`AgentError::Io`] when
    /// `source` cannot be read, [`AgentError::HostUnreachable`].
    pub async fn seed_data(
        &self,
        node_id: &str,
        source: &std::path::Path,
        sha256: &str,
    ) -> Result<(), AgentError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncReadExt;
        let io = |source_error: std::io::Error| AgentError::Io {
            node_id: node_id.to_string(),
            action: "read",
            path: source.to_path_buf(),
            source: source_error,
        };
        let file = tokio::fs::File::open(source).await.map_err(io)?;
        let size = file.metadata().await.map_err(io)?.len();
        let chunks = futures_util::stream::unfold(file.take(size), |mut file| async move {
            let mut buffer = vec![0u8; UPLOAD_CHUNK_BYTES];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Bytes::from(buffer)), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        })
        .map(|chunk| chunk.map(hyper::body::Frame::data));
        let body = BodyExt::boxed(http_body_util::StreamBody::new(chunks));
        let request = hyper::Request::post(format!("https://{}{}", self.agent, path::SEED))
            .header(wire::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(wire::SEED_NODE, node_id)
            .header(wire::SEED_SHA256, sha256)
            .header(hyper::header::CONTENT_LENGTH, size)
            .body(body)
            .map_err(|e| self.error(node_id, e))?;
        let uploads: Client<AgentConnector, UploadBody> =
            Client::builder(TokioExecutor::new()).build(self.connector.clone());
        let bound = CALL_TIMEOUT + Duration::from_secs(size >> 20);
        let answer = async {
            let response = uploads.request(request).await.map_err(|e| {
                self.unreachable(
                    node_id,
                    format!("agent {}: {}", self.agent, with_causes(&e)),
                )
            })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.unreachable(node_id, e))?
                .to_bytes();
            Ok::<_, AgentError>((status, body))
        };
        let (status, body) = tokio::time::timeout(bound, answer)
            .await
            .map_err(|_| self.unreachable(node_id, format!("the seed took over {bound:?}")))??;
        match status.is_success() {
            true => Ok(()),
            false => Err(self.failure(node_id, status, &body)),
        }
    }

    /// Copies a file of a snapshot this host holds into the new file `target` here, synced;
    /// its size and SHA-256 (see [`RemoteHost::copy_file`]).
    ///
    /// # Errors
    /// As [`RemoteHost::copy_data_file`].
    pub async fn copy_snapshot_file(
        &self,
        file: &SnapshotFileRef,
        target: &std::path::Path,
    ) -> Result<(u64, String), AgentError> {
        self.copy_file(&file.name, path::SNAPSHOT_FILE, file, target)
            .await
    }

    /// Copies the file the agent streams for `body` at `path` into the new file `target` here,
    /// synced; its size and SHA-256. The file is streamed, never held whole in memory; a
    /// transfer that stalls for [`CALL_TIMEOUT`] or ends short of the size the host announced
    /// fails, and `target` is removed then. `about` names what the file belongs to in errors.
    async fn copy_file<Req: Serialize>(
        &self,
        about: &str,
        path: &str,
        body: &Req,
        target: &std::path::Path,
    ) -> Result<(u64, String), AgentError> {
        let copied = self.copy_file_once(about, path, body, target).await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(target).await;
        }
        copied
    }

    async fn copy_file_once<Req: Serialize>(
        &self,
        node_id: &str,
        path: &str,
        body: &Req,
        target: &std::path::Path,
    ) -> Result<(u64, String), AgentError> {
        use sha2::Digest;
        use tokio::io::AsyncWriteExt;
        let request = self
            .request(path, body)
            .map_err(|e| self.error(node_id, e))?;
        let stalled =
            |what: &str| self.unreachable(node_id, format!("{what}: nothing for {CALL_TIMEOUT:?}"));
        let response = tokio::time::timeout(CALL_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| stalled("no answer"))?
            .map_err(|e| {
                self.unreachable(
                    node_id,
                    format!("agent {}: {}", self.agent, with_causes(&e)),
                )
            })?;
        let status = response.status();
        let announced = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = tokio::time::timeout(CALL_TIMEOUT, body.collect())
                .await
                .map_err(|_| stalled("the failure"))?
                .map_err(|e| self.unreachable(node_id, e))?
                .to_bytes();
            return Err(self.failure(node_id, status, &bytes));
        }
        let io = |action: &'static str, source: std::io::Error| AgentError::Io {
            node_id: node_id.to_string(),
            action,
            path: target.to_path_buf(),
            source,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .await
            .map_err(|e| io("create", e))?;
        let mut hasher = sha2::Sha256::new();
        let mut size: u64 = 0;
        while let Some(frame) = tokio::time::timeout(CALL_TIMEOUT, body.frame())
            .await
            .map_err(|_| stalled("the data file"))?
        {
            let frame = frame.map_err(|e| self.unreachable(node_id, e))?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                file.write_all(&data).await.map_err(|e| io("write", e))?;
                size += data.len() as u64;
            }
        }
        if announced != Some(size) {
            return Err(self.unreachable(
                node_id,
                format!("the data file ended after {size} bytes of {announced:?}"),
            ));
        }
        file.sync_all().await.map_err(|e| io("sync", e))?;
        Ok((size, ferrocache_control::hex(&hasher.finalize())))
    }

    /// Whether the node's data file there is its last clean stop's (`false` when the host
    /// cannot say).
    pub async fn stopped_cleanly(&self, node_id: &str) -> bool {
        let node = NodeRef {
            node_id: node_id.to_string(),
        };
        self.call(node_id, path::STOPPED_CLEANLY, &node)
            .await
            .unwrap_or(false)
    }

    /// Follows the host's event stream until `stop` turns true, sending its events (and the
    /// exits of a lost host's nodes) to `events`.
    pub async fn follow(
        self: Arc<Self>,
        events: broadcast::Sender<NodeEvent>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let streaming = async {
            loop {
                if let Err(end) = self.stream_once(&events).await {
                    let was_connected = self.connected.swap(false, Ordering::AcqRel);
                    let due = if end.host_closed {
                        Instant::now()
                    } else {
                        *self.heard.lock() + SILENT_HOST_LOST_AFTER
                    };
                    if was_connected {
                        tracing::warn!(host = %self.name, agent = %self.agent, why = %end.why, lost_in = ?due.saturating_duration_since(Instant::now()), "host's event stream broke");
                    }
                    self.arm_loss(due);
                }
                tokio::time::sleep(RECONNECT_EVERY).await;
            }
        };
        tokio::select! {
            () = streaming => {}
            () = self.take_lost_when_due(&events) => {}
            _ = stop.changed() => {}
        }
    }

    /// Takes the host for lost at `due` unless its stream is back by then (an earlier time
    /// already set stands).
    fn arm_loss(&self, due: Instant) {
        let mut loss_due = self.loss_due.lock();
        if loss_due.is_none_or(|set| due < set) {
            *loss_due = Some(due);
            self.loss_armed.notify_one();
        }
    }

    /// Forever: each time a loss falls due with the stream still down, every node of the
    /// host is reported gone.
    async fn take_lost_when_due(&self, events: &broadcast::Sender<NodeEvent>) {
        loop {
            let due = *self.loss_due.lock();
            match due {
                None => self.loss_armed.notified().await,
                Some(at) => {
                    tokio::time::sleep_until(at).await;
                    let mut loss_due = self.loss_due.lock();
                    if loss_due.is_some_and(|set| set <= Instant::now()) {
                        *loss_due = None;
                        drop(loss_due);
                        tracing::error!(host = %self.name, agent = %self.agent, "host lost: its nodes are taken for gone");
                        self.lose(events);
                    }
                }
            }
        }
    }

    /// Every node of a lost host is gone: each that ran gets an exit event.
    fn lose(&self, events: &broadcast::Sender<NodeEvent>) {
        let mut liveness = self.liveness.write();
        for (node_id, l) in liveness.iter_mut() {
            if let Liveness::Running(pid) | Liveness::Stopped(pid) = *l {
                *l = Liveness::Gone;
                let _ = events.send(NodeEvent {
                    node_id: node_id.clone(),
                    pid,
                    event: ProcessEvent::Exited,
                });
            }
        }
    }

    /// Takes a snapshot in: nodes whose liveness changed are woken (an exit for one that no
    /// longer runs, a continuation for one that runs again).
    fn take_snapshot(
        &self,
        nodes: Vec<(String, WireLiveness)>,
        events: &broadcast::Sender<NodeEvent>,
    ) {
        let fresh: HashMap<String, Liveness> =
            nodes.into_iter().map(|(id, l)| (id, l.into())).collect();
        let mut liveness = self.liveness.write();
        for (node_id, before) in liveness.iter() {
            let now = fresh.get(node_id).copied().unwrap_or(Liveness::Gone);
            if let (Liveness::Running(pid) | Liveness::Stopped(pid), Liveness::Gone) =
                (*before, now)
            {
                let _ = events.send(NodeEvent {
                    node_id: node_id.clone(),
                    pid,
                    event: ProcessEvent::Exited,
                });
            }
        }
        for (node_id, now) in &fresh {
            let before = liveness.get(node_id).copied().unwrap_or(Liveness::Gone);
            if let (Liveness::Gone, Liveness::Running(pid)) = (before, *now) {
                let _ = events.send(NodeEvent {
                    node_id: node_id.clone(),
                    pid,
                    event: ProcessEvent::Continued,
                });
            }
        }
        *liveness = fresh;
    }

    /// Tells the host its beat `beat` was heard (it counts its contact with the leader from
    /// when it sent it: see [`crate::fence`]); an answer is not waited for.
    fn acknowledge(&self, beat: u64) {
        let Ok(request) = self.request(path::HEARD, &Heard { beat }) else {
            return;
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEARTBEAT_DEADLINE, http.request(request)).await;
        });
    }

    /// One life of the stream: `Err` says why it ended.
    async fn stream_once(&self, events: &broadcast::Sender<NodeEvent>) -> Result<(), StreamEnd> {
        let request = hyper::Request::get(format!("https://{}{}", self.agent, path::EVENTS))
            .header(wire::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Full::new(Bytes::new()))
            .map_err(|e| StreamEnd::silent(e.to_string()))?;
        // A refused connection is not taken as proof of death: a firewall's reject looks the
        // same as a closed port.
        let response = tokio::time::timeout(HEARTBEAT_DEADLINE, self.http.request(request))
            .await
            .map_err(|_| StreamEnd::silent(format!("no answer in {HEARTBEAT_DEADLINE:?}")))?
            .map_err(|e| StreamEnd::silent(with_causes(&e)))?;
        if !response.status().is_success() {
            return Err(StreamEnd::silent(format!(
                "the agent answered {}",
                response.status()
            )));
        }
        let mut body = response.into_body();
        let mut buffer = BytesMut::new();
        loop {
            let frame = tokio::time::timeout(HEARTBEAT_DEADLINE, body.frame())
                .await
                .map_err(|_| StreamEnd::silent(format!("silent for {HEARTBEAT_DEADLINE:?}")))?;
            let frame = match frame {
                Some(Ok(frame)) => frame,
                // The agent ended the stream, or the host's kernel closed the connection
                // mid-stream (FIN): either way the process serving it ended.
                None => {
                    return Err(StreamEnd {
                        why: "the host ended the stream".into(),
                        host_closed: true,
                    })
                }
                Some(Err(e)) => {
                    return Err(StreamEnd {
                        host_closed: e.is_incomplete_message(),
                        why: e.to_string(),
                    })
                }
            };
            *self.heard.lock() = Instant::now();
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(end + 1);
                let item: StreamItem = serde_json::from_slice(&line[..end]).map_err(|e| {
                    StreamEnd::silent(format!("a line of the stream does not parse: {e}"))
                })?;
                match item {
                    StreamItem::Snapshot(nodes) => {
                        self.loss_due.lock().take();
                        self.take_snapshot(nodes, events);
                        if !self.connected.swap(true, Ordering::AcqRel) {
                            tracing::info!(host = %self.name, agent = %self.agent, "host connected");
                        }
                        self.ready.notify_waiters();
                    }
                    StreamItem::Event(event, now) => {
                        self.liveness
                            .write()
                            .insert(event.node_id.clone(), now.into());
                        if let Some(event) = event.to_event() {
                            let _ = events.send(event);
                        }
                    }
                    StreamItem::Beat(beat) => self.acknowledge(beat),
                }
            }
            if buffer.len() > LINE_MAX {
                return Err(StreamEnd::silent("a line of the stream is too long"));
            }
        }
    }
}

/// A request body streamed from a file.
type UploadBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Size of the pieces a file is sent in.
const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;

/// How every call reaches an agent: TLS, trusting the hosts' CA.
type AgentConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// TLS with `tls` over TCP with no Nagle delay and a bounded connect.
fn connector(tls: Arc<rustls::ClientConfig>) -> AgentConnector {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.enforce_http(false);
    // Every agent's certificate names the agents' one DNS name (the hosts' CA issues names
    // under its own suffix only, never the hosts' addresses); the address is dialled.
    let name = rustls::pki_types::ServerName::try_from(wire::agent_server_name())
        .expect("the agents' name is a DNS name");
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_only()
        .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        .enable_http1()
        .wrap_connector(tcp)
}

/// `error` and its causes, outermost first (hyper's own text says only "client error
/// (Connect)").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
