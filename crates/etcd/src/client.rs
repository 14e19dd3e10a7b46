//! [`Client`]: the etcd v3 calls the store needs (range, transaction, watch, leases), over
//! gRPC, behind a blocking API.
//!
//! The store calls from synchronous code (its transactions run inside closures), often on a
//! tokio worker thread, where blocking on another future is not allowed; so the client owns a
//! small runtime of its own (one thread) and each call waits for its answer on a channel.
//!
//! Every call goes round the members, starting with the last one that answered, for up to
//! [`RETRY_WINDOW`] while none can take it (down, cut off, or without a leader): a request may
//! thus reach etcd twice (its first answer lost), and callers make their writes recognisable.
//! A member that does not answer within [`MEMBER_PATIENCE`] gets company rather than a
//! deadline: the same call goes to the next member too and the first answer wins, so a member
//! cut off without a word (its packets dropped, no connection reset), or one that forwarded the
//! request to a leader that just died (etcd drops it silently), costs half a second, while a cluster
//! without quorum is still heard saying so (etcd's "request timed out", after ~7 s).
//! A watch asks its member for a progress message every [`WATCH_PROGRESS_EVERY`] and counts
//! the member gone after [`WATCH_SILENCE`] without a message.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::proto;
pub use crate::proto::{Event, KeyValue};

/// How long one call may take on one member. etcd answers a request it cannot commit (no
/// quorum) with "request timed out" after about 7 s; this is longer, so that answer is seen.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for an answer before it asks the members again. etcd answers in
/// milliseconds when it can; a duplicate of a slow request is harmless (a write names itself
/// in the commit key and cannot commit twice). Measured with `bench/hosts.sh`: 500 ms took
/// host-loss RTO from ~2 s (1 s) to ~1.4 s when an etcd election is involved.
pub const MEMBER_PATIENCE: Duration = Duration::from_millis(500);
/// How often a watch asks its member for a progress message.
pub const WATCH_PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How long a watch may go without any message from its member before it counts the member
/// gone (several progress requests unanswered) and the stream broken.
pub const WATCH_SILENCE: Duration = Duration::from_secs(2);
/// How long connecting to one member may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call keeps going round the members while none can take it (etcd elects a new
/// leader in about a second).
pub const RETRY_WINDOW: Duration = Duration::from_secs(3);
/// The pause between two rounds of the members.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// gRPC's status code "unavailable": etcd's answer when it cannot take a request now (no
/// leader, no quorum, a leader change), and tonic's when it cannot reach the member.
pub const UNAVAILABLE: i64 = 14;
/// gRPC's status code "deadline exceeded".
pub const DEADLINE_EXCEEDED: i64 = 4;

/// What a call to etcd ended with, when not with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdError {
    /// No member could take the request (the last one's error).
    Unreachable(String),
    /// etcd refused the request: its gRPC status code and message.
    Refused {
        /// gRPC status code (e.g. 3: invalid argument, 8: resource exhausted, 11: out of range).
        code: i64,
        /// etcd's message, e.g. `etcdserver: mvcc: database space exceeded`.
        message: String,
    },
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EtcdError::Unreachable(e) => write!(f, "etcd unreachable: {e}"),
            EtcdError::Refused { message, .. } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for EtcdError {}

/// The header every answer carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    /// The store's revision when the answer was made.
    pub revision: i64,
}

/// The answer to a range.
#[derive(Debug, Default)]
pub struct RangeAnswer {
    /// Its header.
    pub header: Header,
    /// The keys found.
    pub kvs: Vec<KeyValue>,
    /// Whether more keys are in the range than the limit let through.
    pub more: bool,
}

/// The answer to a transaction.
#[derive(Debug, Default)]
pub struct TxnAnswer {
    /// Its header (the revision the transaction made, when it wrote).
    pub header: Header,
    /// Whether every comparison held (and the writes were made).
    pub succeeded: bool,
}

/// The answer to a lease grant or renewal.
#[derive(Debug, Default)]
pub struct LeaseAnswer {
    /// The lease's id.
    pub id: i64,
    /// Seconds the lease has left (0 or less: it has expired or was revoked).
    pub ttl: i64,
}

/// One message of a watch.
#[derive(Debug, Default)]
pub struct WatchAnswer {
    /// Its header.
    pub header: Header,
    /// The watch was cancelled by etcd (see `compact_revision` and `cancel_reason`).
    pub canceled: bool,
    /// Set when the revision asked for has been compacted away: the watcher must list again.
    pub compact_revision: i64,
    /// Why etcd cancelled the watch.
    pub cancel_reason: String,
    /// The changes, in revision order.
    pub events: Vec<Event>,
}

/// One comparison of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's last change was at this revision (0: the key does not exist).
    ModRevision(Vec<u8>, i64),
    /// The key was created at this revision (0: the key does not exist).
    CreateRevision(Vec<u8>, i64),
}

/// One write of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` to a value.
    Put(Vec<u8>, Vec<u8>),
    /// Set `key` to a value that lives as long as the lease (its id).
    PutLeased(Vec<u8>, Vec<u8>, i64),
    /// Remove `key`.
    Delete(Vec<u8>),
}

/// The end of the range of every key starting with `prefix` (etcd's "prefix end").
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: the range runs to the end of the key space.
    vec![0]
}

fn header(h: Option<proto::ResponseHeader>) -> Header {
    Header {
        revision: h.map_or(0, |h| h.revision),
    }
}

/// A call's failure, as the status it ended with says (tonic's `Status` itself is large and
/// carries more than is read).
struct Failed {
    code: tonic::Code,
    message: String,
}

impl From<tonic::Status> for Failed {
    fn from(status: tonic::Status) -> Self {
        Self {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

impl Failed {
    fn closed() -> Self {
        Self {
            code: tonic::Code::Unavailable,
            message: "the etcd client is closed".into(),
        }
    }

    /// Whether another member (or the same one a moment later) may take what this one could
    /// not. `Unknown` is what tonic reports for a connection that broke mid-call (a member
    /// killed); etcd's own refusals carry specific codes.
    fn worth_retrying(&self) -> bool {
        matches!(
            self.code,
            tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Cancelled
                | tonic::Code::Unknown
        )
    }
}

/// A client of one etcd cluster, reached through any of its members.
#[derive(Debug)]
pub struct Client {
    /// The members' URLs (`http://host:port`).
    members: Vec<String>,
    /// One channel per member (connected on first use, again after it breaks).
    channels: Vec<Channel>,
    /// The member tried first (the last one that answered).
    current: AtomicUsize,
    /// Where the calls run (see the module documentation); `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // Allowed from inside another runtime, unlike dropping it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Client {
    /// A client of the cluster whose members are at `members` (`host:port` or URLs).
    ///
    /// # Errors
    /// [`EtcdError::Unreachable`] when a member's address is not a URL, or no thread can be
    /// started for the client's runtime.
    pub fn new(members: &[String]) -> Result<Self, EtcdError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd-client")
            .enable_all()
            .build()
            .map_err(|e| EtcdError::Unreachable(format!("cannot start the etcd client: {e}")))?;
        let members: Vec<String> = members
            .iter()
            .map(|m| {
                if m.contains("://") {
                    m.trim_end_matches('/').to_string()
                } else {
                    format!("http://{m}")
                }
            })
            .collect();
        let channels = {
            // Lazy channels spawn their connection task on the current runtime: this one.
            let _inside = runtime.enter();
            members
                .iter()
                .map(|url| {
                    Endpoint::from_shared(url.clone())
                        .map(|e| {
                            e.connect_timeout(CONNECT_TIMEOUT)
                                .timeout(CALL_TIMEOUT)
                                .tcp_nodelay(true)
                                .connect_lazy()
                        })
                        .map_err(|e| EtcdError::Unreachable(format!("{url}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self {
            members,
            channels,
            current: AtomicUsize::new(0),
            runtime: Some(runtime),
        })
    }

    /// The members' URLs.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Calls `path` with `request` on the first member that takes it (see the module
    /// documentation).
    fn unary<Q, A>(&self, path: &'static str, request: Q) -> Result<A, EtcdError>
    where
        Q: prost::Message + Clone + Send + 'static,
        A: prost::Message + Default + Send + 'static,
    {
        self.on_some_member(|channel| {
            let request = request.clone();
            async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let codec = tonic::codec::ProstCodec::<Q, A>::default();
                let answer = grpc
                    .unary(
                        requiring_leader(request),
                        PathAndQuery::from_static(path),
                        codec,
                    )
                    .await?;
                Ok(answer.into_inner())
            }
        })
    }

    /// `key`'s last modification revision (0: no such key) as a quorum confirms it: read
    /// linearizably (etcd's leader checks with a quorum that it still leads before answering)
    /// from every member at once, the first answer within `within` taken; `None` without one.
    /// Unlike the other calls, it neither retries nor waits longer: a late answer proves
    /// nothing about now.
    pub fn quorum_read(&self, key: &[u8], within: Duration) -> Option<i64> {
        let runtime = self.runtime.as_ref()?;
        let (done, answers) = mpsc::channel::<Option<i64>>();
        for channel in self.channels.iter().cloned() {
            let done = done.clone();
            let request = proto::RangeRequest {
                key: key.to_vec(),
                range_end: Vec::new(),
                limit: 1,
                revision: 0,
            };
            runtime.spawn(async move {
                let answered = tokio::time::timeout(within, async move {
                    let mut grpc = tonic::client::Grpc::new(channel);
                    grpc.ready().await.ok()?;
                    let codec = tonic::codec::ProstCodec::<
                            proto::RangeRequest,
                            proto::RangeResponse,
                        >::default();
                    grpc.unary(
                        requiring_leader(request),
                        PathAndQuery::from_static(proto::path::RANGE),
                        codec,
                    )
                    .await
                    .ok()
                })
                .await
                .ok()
                .flatten()
                .map(|answer| {
                    answer
                        .into_inner()
                        .kvs
                        .first()
                        .map_or(0, |kv| kv.mod_revision)
                });
                let _ = done.send(answered);
            });
        }
        drop(done);
        let deadline = Instant::now() + within;
        while let Ok(answered) =
            answers.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if answered.is_some() {
                return answered;
            }
        }
        None
    }

    /// Runs `call` against the members until one answers or refuses for good. The members are
    /// asked in turn, starting with the last one that answered: the next as soon as one refused
    /// for now (down, no leader), and every member again each time the calls in flight kept
    /// silent for [`MEMBER_PATIENCE`] — a silent call is not abandoned, whichever answers first
    /// is taken — for up to [`RETRY_WINDOW`]: a member whose leader just died drops a
    /// proposal without a word, and the same request asked again once the cluster has elected a
    /// new leader goes through. After the window the calls in flight are waited for (each ends
    /// within `CALL_TIMEOUT`), so a cluster without quorum is heard saying so.
    fn on_some_member<T, F>(&self, call: impl Fn(Channel) -> F) -> Result<T, EtcdError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, tonic::Status>> + Send + 'static,
    {
        self.on_some_member_until(call, None)
    }

    /// [`Client::on_some_member`], given up at `until` whatever is in flight: the caller
    /// cannot use a later answer. Without `until`, at the end of the retry window plus one
    /// call's time: every call in flight ends within [`CALL_TIMEOUT`] of being asked (see
    /// `ask`), so this is only the last guard that a call returns.
    fn on_some_member_until<T, F>(
        &self,
        call: impl Fn(Channel) -> F,
        until: Option<Instant>,
    ) -> Result<T, EtcdError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, tonic::Status>> + Send + 'static,
    {
        let closed = || EtcdError::Unreachable(Failed::closed().message);
        let Some(runtime) = &self.runtime else {
            return Err(closed());
        };
        let members = self.channels.len();
        if members == 0 {
            return Err(EtcdError::Unreachable("no etcd member given".into()));
        }
        let until =
            until.unwrap_or_else(|| Instant::now() + RETRY_WINDOW + CALL_TIMEOUT + RETRY_PAUSE);
        let deadline = until.min(Instant::now() + RETRY_WINDOW);
        let late = |last: &str| {
            EtcdError::Unreachable(format!(
                "no answer in time{}",
                match last {
                    "" => String::new(),
                    last => format!(" ({last})"),
                }
            ))
        };
        let start = self.current.load(Ordering::Relaxed);
        let (done, outcomes) = mpsc::channel::<(usize, Result<T, Failed>)>();
        // Calls in flight, and how many asks were made.
        let waiting = Cell::new(0usize);
        let asked = Cell::new(0usize);
        // Asks the next member in turn (from the last that answered, round after round).
        let ask = || {
            let at = (start + asked.get()) % members;
            asked.set(asked.get() + 1);
            waiting.set(waiting.get() + 1);
            let done = done.clone();
            let answer = call(self.channels[at].clone());
            runtime.spawn(async move {
                // Bounded as a whole: the channel's own timeout covers the request once sent,
                // not the wait for the channel to be ready, which a member cut off without a
                // word (or a channel full of such waits) can make endless.
                let answer = match tokio::time::timeout(CALL_TIMEOUT, answer).await {
                    Ok(answer) => answer.map_err(Failed::from),
                    Err(_) => Err(Failed::from(tonic::Status::deadline_exceeded(format!(
                        "no answer in {CALL_TIMEOUT:?}"
                    )))),
                };
                let _ = done.send((at, answer));
            });
        };
        ask();
        let mut last = String::new();
        loop {
            let now = Instant::now();
            let outcome = if now < deadline {
                match outcomes.recv_timeout(MEMBER_PATIENCE.min(deadline - now)) {
                    Ok(outcome) => Some(outcome),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Err(closed()),
                }
            } else if waiting.get() > 0 {
                match outcomes.recv_timeout(until.saturating_duration_since(now)) {
                    Ok(outcome) => Some(outcome),
                    Err(mpsc::RecvTimeoutError::Timeout) => return Err(late(&last)),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Err(closed()),
                }
            } else {
                return Err(EtcdError::Unreachable(last));
            };
            match outcome {
                // Silence: every member is asked again (any may answer now: one whose first
                // request went to a leader that died holds it until etcd's timeout, and takes
                // the same request at once from a new leader), while the window is open.
                None => {
                    if Instant::now() < deadline {
                        for _ in 0..members {
                            ask();
                        }
                    }
                }
                Some((at, Ok(answer))) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(answer);
                }
                Some((at, Err(failed))) if failed.worth_retrying() => {
                    waiting.set(waiting.get() - 1);
                    last = format!("{}: {}", self.members[at], failed.message);
                    // A whole round refused: a pause before the next, not a spin.
                    if asked.get().is_multiple_of(members) {
                        if Instant::now() + RETRY_PAUSE >= deadline {
                            continue;
                        }
                        std::thread::sleep(RETRY_PAUSE);
                    }
                    if Instant::now() < deadline {
                        ask();
                    }
                }
                Some((at, Err(failed))) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Err(EtcdError::Refused {
                        code: i64::from(failed.code as i32),
                        message: failed.message,
                    });
                }
            }
        }
    }

    /// At most `limit` keys (0: all) in `[key, range_end)` as of `revision` (0: the latest).
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        revision: i64,
        limit: i64,
    ) -> Result<RangeAnswer, EtcdError> {
        let answer: proto::RangeResponse = self.unary(
            proto::path::RANGE,
            proto::RangeRequest {
                key: key.to_vec(),
                range_end: range_end.to_vec(),
                limit,
                revision,
            },
        )?;
        Ok(RangeAnswer {
            header: header(answer.header),
            kvs: answer.kvs,
            more: answer.more,
        })
    }

    /// The key `key` (exactly), as of the latest revision.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn get(&self, key: &[u8]) -> Result<RangeAnswer, EtcdError> {
        self.range(key, &[], 0, 0)
    }

    /// Runs `ops` if every comparison holds, atomically.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn txn(&self, compare: &[Compare], ops: &[Op]) -> Result<TxnAnswer, EtcdError> {
        use proto::compare::TargetUnion;
        use proto::request_op::Request;
        let compare = compare
            .iter()
            .map(|c| match c {
                Compare::ModRevision(key, revision) => proto::Compare {
                    result: 0,
                    target: proto::TARGET_MOD,
                    key: key.clone(),
                    target_union: Some(TargetUnion::ModRevision(*revision)),
                },
                Compare::CreateRevision(key, revision) => proto::Compare {
                    result: 0,
                    target: proto::TARGET_CREATE,
                    key: key.clone(),
                    target_union: Some(TargetUnion::CreateRevision(*revision)),
                },
            })
            .collect();
        let success = ops
            .iter()
            .map(|op| proto::RequestOp {
                request: Some(match op {
                    Op::Put(key, value) => Request::RequestPut(proto::PutRequest {
                        key: key.clone(),
                        value: value.clone(),
                        lease: 0,
                    }),
                    Op::PutLeased(key, value, lease) => Request::RequestPut(proto::PutRequest {
                        key: key.clone(),
                        value: value.clone(),
                        lease: *lease,
                    }),
                    Op::Delete(key) => {
                        Request::RequestDeleteRange(proto::DeleteRangeRequest { key: key.clone() })
                    }
                }),
            })
            .collect();
        let answer: proto::TxnResponse =
            self.unary(proto::path::TXN, proto::TxnRequest { compare, success })?;
        Ok(TxnAnswer {
            header: header(answer.header),
            succeeded: answer.succeeded,
        })
    }

    /// A new lease of `ttl` seconds.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn grant(&self, ttl: i64) -> Result<LeaseAnswer, EtcdError> {
        let answer: proto::LeaseGrantResponse =
            self.unary(proto::path::LEASE_GRANT, proto::LeaseGrantRequest { ttl })?;
        if !answer.error.is_empty() {
            return Err(EtcdError::Refused {
                code: 0,
                message: answer.error,
            });
        }
        Ok(LeaseAnswer {
            id: answer.id,
            ttl: answer.ttl,
        })
    }

    /// Ends lease `id` now, deleting every key that lives by it.
    ///
    /// # Errors
    /// [`EtcdError`] (etcd's `lease not found` when it is gone already).
    pub fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        let _: proto::LeaseRevokeResponse =
            self.unary(proto::path::LEASE_REVOKE, proto::LeaseRevokeRequest { id })?;
        Ok(())
    }

    /// Renews lease `id` for its whole time to live; the answer's `ttl` is 0 or less when the
    /// lease is gone.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn keep_alive(&self, id: i64) -> Result<LeaseAnswer, EtcdError> {
        self.keep_alive_until(id, None)
    }

    /// [`Client::keep_alive`], given up at `until` (when given): a renewal answered later
    /// than its holder may rely on proves nothing.
    ///
    /// # Errors
    /// [`EtcdError`]; [`EtcdError::Unreachable`] when no answer came by `until`.
    pub fn keep_alive_until(
        &self,
        id: i64,
        until: Option<Instant>,
    ) -> Result<LeaseAnswer, EtcdError> {
        let call = |channel: Channel| async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let codec = tonic::codec::ProstCodec::<
                proto::LeaseKeepAliveRequest,
                proto::LeaseKeepAliveResponse,
            >::default();
            // One renewal on a stream of its own; the stream stays open until the answer.
            let requests =
                futures_util::stream::once(async move { proto::LeaseKeepAliveRequest { id } })
                    .chain(futures_util::stream::pending());
            let mut answers = grpc
                .streaming(
                    requiring_leader(requests),
                    PathAndQuery::from_static(proto::path::LEASE_KEEP_ALIVE),
                    codec,
                )
                .await?
                .into_inner();
            answers
                .message()
                .await?
                .ok_or_else(|| tonic::Status::unavailable("the keep-alive stream ended"))
        };
        let answer: proto::LeaseKeepAliveResponse = self.on_some_member_until(call, until)?;
        Ok(LeaseAnswer {
            id: answer.id,
            ttl: answer.ttl,
        })
    }

    /// Watches every key starting with `prefix` from `start_revision` on.
    ///
    /// # Errors
    /// [`EtcdError`] when no member accepts the watch.
    pub fn watch(&self, prefix: &[u8], start_revision: i64) -> Result<WatchStream, EtcdError> {
        let create = proto::WatchRequest {
            request_union: Some(proto::watch_request::RequestUnion::CreateRequest(
                proto::WatchCreateRequest {
                    key: prefix.to_vec(),
                    range_end: prefix_end(prefix),
                    start_revision,
                },
            )),
        };
        let answers = self.on_some_member(|channel| {
            let create = create.clone();
            async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let codec =
                    tonic::codec::ProstCodec::<proto::WatchRequest, proto::WatchResponse>::default(
                    );
                // The request side stays open as long as the watch (etcd ends a watch whose
                // client stopped sending), and asks for progress: a member cut off sends
                // nothing, not even an error, and its silence is the only sign.
                let progress = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(WATCH_PROGRESS_EVERY).await;
                    let ask = proto::watch_request::RequestUnion::ProgressRequest(
                        proto::WatchProgressRequest {},
                    );
                    Some((
                        proto::WatchRequest {
                            request_union: Some(ask),
                        },
                        (),
                    ))
                });
                let requests = futures_util::stream::once(async move { create }).chain(progress);
                Ok(grpc
                    .streaming(
                        tonic::Request::new(requests),
                        PathAndQuery::from_static(proto::path::WATCH),
                        codec,
                    )
                    .await?
                    .into_inner())
            }
        })?;
        let Some(runtime) = &self.runtime else {
            return Err(EtcdError::Unreachable("the etcd client is closed".into()));
        };
        let (forward, messages) = mpsc::channel();
        let task = runtime.spawn(forward_watch(answers, forward));
        Ok(WatchStream {
            messages,
            task: task.abort_handle(),
        })
    }
}

/// A request that a member without a leader refuses at once ("etcdserver: no leader",
/// unavailable: the next member is asked) rather than holding it until it times out. Not for
/// the watch: a follower serves the events it has without a leader, and etcd refuses (and
/// ends) a watch with this mark while an election runs, leaving the copy without news.
fn requiring_leader<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    request
}

/// Hands each message of a watch to its [`WatchStream`], until the stream ends, breaks or goes
/// silent for [`WATCH_SILENCE`], or nobody reads any more.
async fn forward_watch(
    mut answers: tonic::Streaming<proto::WatchResponse>,
    forward: mpsc::Sender<Result<WatchAnswer, EtcdError>>,
) {
    loop {
        let Ok(message) = tokio::time::timeout(WATCH_SILENCE, answers.message()).await else {
            let _ = forward.send(Err(EtcdError::Unreachable(format!(
                "the watch's member sent nothing for {WATCH_SILENCE:?}"
            ))));
            return;
        };
        let next = match message {
            Ok(Some(answer)) => Ok(WatchAnswer {
                header: header(answer.header),
                canceled: answer.canceled,
                compact_revision: answer.compact_revision,
                cancel_reason: answer.cancel_reason,
                events: answer.events,
            }),
            Ok(None) => Err(EtcdError::Unreachable("the watch stream ended".into())),
            Err(status) => Err(EtcdError::Unreachable(format!(
                "the watch stream broke: {}",
                status.message()
            ))),
        };
        let ended = next.is_err();
        if forward.send(next).is_err() || ended {
            return;
        }
    }
}

/// The messages of one watch, as etcd sends them; the watch ends when this is dropped.
#[derive(Debug)]
pub struct WatchStream {
    messages: mpsc::Receiver<Result<WatchAnswer, EtcdError>>,
    task: tokio::task::AbortHandle,
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WatchStream {
    /// The next message; `Err` when the stream broke or ended.
    ///
    /// # Errors
    /// [`EtcdError::Unreachable`].
    pub fn next_answer(&mut self) -> Result<WatchAnswer, EtcdError> {
        self.messages
            .recv()
            .unwrap_or_else(|_| Err(EtcdError::Unreachable("the watch stream ended".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"/fc/"), b"/fc0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    /// Goal: the hand-written messages put each field under etcd's field number (checked
    /// against bytes encoded by hand from rpc.proto).
    #[test]
    fn messages_use_etcds_field_numbers() {
        use prost::Message;
        let put = proto::PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            lease: 7,
        };
        // field 1 (bytes) "k", field 2 (bytes) "v", field 3 (varint) 7
        assert_eq!(put.encode_to_vec(), [0x0a, 1, b'k', 0x12, 1, b'v', 0x18, 7]);
        let compare = proto::Compare {
            result: 0,
            target: proto::TARGET_MOD,
            key: b"c".to_vec(),
            target_union: Some(proto::compare::TargetUnion::ModRevision(5)),
        };
        // target (2) = 2, key (3) = "c", mod_revision (6) = 5
        assert_eq!(compare.encode_to_vec(), [0x10, 2, 0x1a, 1, b'c', 0x30, 5]);
        // mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6
        let kv = KeyValue::decode(
            &[
                0x0a, 1, b'k', 0x10, 2, 0x18, 3, 0x20, 1, 0x2a, 1, b'v', 0x30, 9,
            ][..],
        )
        .unwrap();
        assert_eq!((kv.create_revision, kv.mod_revision, kv.lease), (2, 3, 9));
        assert_eq!(
            (kv.key.as_slice(), kv.value.as_slice()),
            (&b"k"[..], &b"v"[..])
        );
        // WatchResponse: events are field 11
        let watch = proto::WatchResponse::decode(&[0x5a, 2, 0x08, 1][..]).unwrap();
        assert!(watch.events[0].is_delete());
    }
}
