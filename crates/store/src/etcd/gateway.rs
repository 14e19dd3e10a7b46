//! A client of etcd's v3 API through its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/watch`), the part of etcd's API the [`EtcdStore`](super::EtcdStore) needs.
//!
//! Why our own and not the `etcd-client` crate: every version of that crate (and of the other
//! gRPC clients) compiles etcd's protobuf files in its build script and so needs `protoc` on the
//! machine that builds Ferrocache, which a fresh Debian machine with only the Rust toolchain does
//! not have. etcd serves the same API as JSON over HTTP (its documented gRPC gateway), so a
//! blocking HTTP client (`ureq`) and a few serde types are all this takes. Numbers of type int64
//! travel as JSON strings and bytes as base64, as the gateway's protobuf JSON mapping does.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long one unary call may take. etcd answers a request it cannot commit (no quorum) with
/// "request timed out" after about 7 s; this is longer, so that answer is the one reported.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to one member may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read from a unary call (a page of a listing).
const ANSWER_LIMIT: u64 = 256 << 20;
/// How long a call keeps trying the members round while none can take it (down, cut off, or
/// electing a leader: etcd elects one in about a second).
const RETRY_WINDOW: Duration = Duration::from_secs(3);
/// The pause between two rounds of the members.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// gRPC's status code "unavailable", etcd's answer when it cannot take a request now.
pub const UNAVAILABLE: i64 = 14;

/// What a call to etcd ended with, when not with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No member could be reached (the last one's error).
    Unreachable(String),
    /// etcd refused the request: its gRPC status code and message.
    Refused {
        /// gRPC status code (e.g. 8: resource exhausted, 11: out of range, 14: unavailable).
        code: i64,
        /// etcd's message, e.g. `etcdserver: mvcc: database space exceeded`.
        message: String,
    },
    /// The answer could not be read.
    Garbled(String),
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatewayError::Unreachable(e) => write!(f, "etcd unreachable: {e}"),
            GatewayError::Refused { message, .. } => write!(f, "{message}"),
            GatewayError::Garbled(e) => write!(f, "unreadable answer from etcd: {e}"),
        }
    }
}

/// The header every answer carries.
#[derive(Debug, Default, Deserialize)]
pub struct Header {
    /// The store's revision when the answer was made.
    #[serde(default, deserialize_with = "int64")]
    pub revision: i64,
}

/// One key and its value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KeyValue {
    /// The key.
    #[serde(default, deserialize_with = "bytes")]
    pub key: Vec<u8>,
    /// The value.
    #[serde(default, deserialize_with = "bytes")]
    pub value: Vec<u8>,
    /// The revision of the key's last change.
    #[serde(default, deserialize_with = "int64")]
    pub mod_revision: i64,
    /// The revision that created the key.
    #[serde(default, deserialize_with = "int64")]
    pub create_revision: i64,
    /// The lease the key lives by (0: none).
    #[serde(default, deserialize_with = "int64")]
    pub lease: i64,
}

/// The answer to a range.
#[derive(Debug, Default, Deserialize)]
pub struct RangeAnswer {
    /// Its header.
    #[serde(default)]
    pub header: Header,
    /// The keys found.
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    /// Whether more keys are in the range than the limit let through.
    #[serde(default)]
    pub more: bool,
}

/// The answer to a transaction.
#[derive(Debug, Default, Deserialize)]
pub struct TxnAnswer {
    /// Its header (the revision the transaction made, when it wrote).
    #[serde(default)]
    pub header: Header,
    /// Whether every comparison held (and the success branch ran).
    #[serde(default)]
    pub succeeded: bool,
}

/// The answer to a lease grant or keep-alive.
#[derive(Debug, Default, Deserialize)]
pub struct LeaseAnswer {
    /// The lease's id.
    #[serde(default, rename = "ID", deserialize_with = "int64")]
    pub id: i64,
    /// Seconds the lease has left (0 or less: it has expired or was revoked).
    #[serde(default, rename = "TTL", deserialize_with = "int64")]
    pub ttl: i64,
}

#[derive(Deserialize)]
struct KeepAliveEnvelope {
    #[serde(default)]
    result: Option<LeaseAnswer>,
}

/// One change a watch reports.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// `DELETE`, or absent for a put (the protobuf default).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The key after the change (for a delete: the key, with the delete's revision).
    #[serde(default)]
    pub kv: KeyValue,
}

impl Event {
    /// Whether the event deletes its key.
    pub fn is_delete(&self) -> bool {
        self.kind == "DELETE"
    }
}

/// One message of a watch stream.
#[derive(Debug, Default, Deserialize)]
pub struct WatchAnswer {
    /// Its header.
    #[serde(default)]
    pub header: Header,
    /// The watch was cancelled by etcd (see `compact_revision` and `cancel_reason`).
    #[serde(default)]
    pub canceled: bool,
    /// Set when the revision asked for has been compacted away: the watcher must list again.
    #[serde(default, deserialize_with = "int64")]
    pub compact_revision: i64,
    /// Why etcd cancelled the watch.
    #[serde(default)]
    pub cancel_reason: String,
    /// The changes, in revision order.
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
struct WatchEnvelope {
    #[serde(default)]
    result: Option<WatchAnswer>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error: String,
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

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(de::Error::custom),
        Value::Number(n) => n.as_i64().ok_or_else(|| de::Error::custom("not an int64")),
        Value::Null => Ok(0),
        other => Err(de::Error::custom(format!("not an int64: {other}"))),
    }
}

fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = Option::<String>::deserialize(d)?.unwrap_or_default();
    BASE64.decode(s).map_err(de::Error::custom)
}

/// A client of one etcd cluster, reached through any of its members.
#[derive(Debug)]
pub struct Gateway {
    /// The members' client URLs (`http://host:port`).
    members: Vec<String>,
    /// The member tried first (the last one that answered).
    current: AtomicUsize,
    /// For unary calls (bounded in time).
    agent: ureq::Agent,
    /// For watch streams (no bound on the whole answer: a watch lasts as long as it may).
    streams: ureq::Agent,
}

impl Gateway {
    /// A client of the cluster whose members are at `members` (`host:port` or URLs).
    pub fn new(members: &[String]) -> Self {
        let members = members
            .iter()
            .map(|m| {
                if m.contains("://") {
                    m.trim_end_matches('/').to_string()
                } else {
                    format!("http://{m}")
                }
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        let streams = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        Self {
            members,
            current: AtomicUsize::new(0),
            agent,
            streams,
        }
    }

    /// The members' URLs.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Sends `body` to `path` on the first member that takes it, starting with the last one
    /// that did, going round the members again for up to [`RETRY_WINDOW`] while none can (down,
    /// cut off, or without a leader); returns the answer's body when etcd accepted the
    /// request. A request may thus reach etcd twice (its first answer lost): callers make
    /// their writes recognisable (see the store's commit key).
    fn send(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &Value,
    ) -> Result<ureq::Body, GatewayError> {
        let deadline = std::time::Instant::now() + RETRY_WINDOW;
        let mut last = String::from("no etcd member given");
        loop {
            let start = self.current.load(Ordering::Relaxed);
            for i in 0..self.members.len() {
                let at = (start + i) % self.members.len();
                let url = format!("{}{path}", self.members[at]);
                let answer = match agent.post(&url).send_json(body) {
                    Ok(answer) => answer,
                    Err(e) => {
                        last = format!("{url}: {e}");
                        continue;
                    }
                };
                self.current.store(at, Ordering::Relaxed);
                let status = answer.status();
                let mut body = answer.into_body();
                if status.is_success() {
                    return Ok(body);
                }
                let text = body
                    .with_config()
                    .limit(1 << 20)
                    .read_to_string()
                    .unwrap_or_default();
                let refused = serde_json::from_str::<ErrorAnswer>(&text).map_err(|_| {
                    GatewayError::Garbled(format!("HTTP {status} from {url}: {text}"))
                })?;
                let message = if refused.message.is_empty() {
                    refused.error
                } else {
                    refused.message
                };
                // gRPC "unavailable": no leader, no quorum, a leader change. Another member,
                // or the same one a moment later, may well take it.
                if refused.code == UNAVAILABLE {
                    last = format!("{url}: {message}");
                    continue;
                }
                return Err(GatewayError::Refused {
                    code: refused.code,
                    message,
                });
            }
            if std::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(GatewayError::Unreachable(last));
            }
            std::thread::sleep(RETRY_PAUSE);
        }
    }

    fn call<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, GatewayError> {
        let mut answer = self.send(&self.agent, path, body)?;
        answer
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_json()
            .map_err(|e| GatewayError::Garbled(e.to_string()))
    }

    /// At most `limit` keys (0: all) in `[key, range_end)` as of `revision` (0: the latest).
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        revision: i64,
        limit: i64,
    ) -> Result<RangeAnswer, GatewayError> {
        let mut body = json!({ "key": b64(key), "range_end": b64(range_end) });
        if revision > 0 {
            body["revision"] = json!(revision.to_string());
        }
        if limit > 0 {
            body["limit"] = json!(limit.to_string());
        }
        self.call("/v3/kv/range", &body)
    }

    /// The key `key` (exactly), as of the latest revision.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn get(&self, key: &[u8]) -> Result<RangeAnswer, GatewayError> {
        self.call("/v3/kv/range", &json!({ "key": b64(key) }))
    }

    /// Runs `ops` if every comparison holds, atomically.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn txn(&self, compare: &[Compare], ops: &[Op]) -> Result<TxnAnswer, GatewayError> {
        let compare: Vec<Value> = compare
            .iter()
            .map(|c| match c {
                Compare::ModRevision(key, revision) => json!({
                    "key": b64(key),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": revision.to_string(),
                }),
                Compare::CreateRevision(key, revision) => json!({
                    "key": b64(key),
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": revision.to_string(),
                }),
            })
            .collect();
        let success: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                Op::Put(k, v) => json!({ "request_put": { "key": b64(k), "value": b64(v) } }),
                Op::PutLeased(k, v, lease) => json!({
                    "request_put": { "key": b64(k), "value": b64(v), "lease": lease.to_string() }
                }),
                Op::Delete(k) => json!({ "request_delete_range": { "key": b64(k) } }),
            })
            .collect();
        self.call(
            "/v3/kv/txn",
            &json!({ "compare": compare, "success": success }),
        )
    }

    /// A new lease of `ttl` seconds.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn grant(&self, ttl: i64) -> Result<LeaseAnswer, GatewayError> {
        self.call("/v3/lease/grant", &json!({ "TTL": ttl.to_string() }))
    }

    /// Renews lease `id` for its whole time to live; the answer's `ttl` is 0 when the lease
    /// is gone.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn keep_alive(&self, id: i64) -> Result<LeaseAnswer, GatewayError> {
        let envelope: KeepAliveEnvelope =
            self.call("/v3/lease/keepalive", &json!({ "ID": id.to_string() }))?;
        Ok(envelope.result.unwrap_or_default())
    }

    /// Ends lease `id` now, deleting every key that lives by it.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn revoke(&self, id: i64) -> Result<(), GatewayError> {
        self.call::<Value>("/v3/lease/revoke", &json!({ "ID": id.to_string() }))
            .map(|_| ())
    }

    /// Watches every key starting with `prefix` from `start_revision` on.
    ///
    /// # Errors
    /// [`GatewayError`] when no member accepts the watch.
    pub fn watch(&self, prefix: &[u8], start_revision: i64) -> Result<WatchStream, GatewayError> {
        let body = json!({
            "create_request": {
                "key": b64(prefix),
                "range_end": b64(&prefix_end(prefix)),
                "start_revision": start_revision.to_string(),
            }
        });
        let answer = self.send(&self.streams, "/v3/watch", &body)?;
        let reader: Box<dyn Read + Send> =
            Box::new(answer.into_with_config().limit(u64::MAX).reader());
        Ok(WatchStream {
            messages: serde_json::Deserializer::from_reader(reader).into_iter(),
        })
    }
}

/// The messages of one watch, as etcd sends them (one JSON object each).
pub struct WatchStream {
    messages: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<Box<dyn Read + Send>>,
        WatchEnvelope,
    >,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchStream")
    }
}

impl WatchStream {
    /// The next message; `Err` when the stream broke or etcd ended it with an error.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn next_answer(&mut self) -> Result<WatchAnswer, GatewayError> {
        match self.messages.next() {
            None => Err(GatewayError::Unreachable("the watch stream ended".into())),
            Some(Err(e)) => Err(GatewayError::Unreachable(format!(
                "the watch stream broke: {e}"
            ))),
            Some(Ok(WatchEnvelope {
                result: Some(answer),
                ..
            })) => Ok(answer),
            Some(Ok(WatchEnvelope { error, .. })) => Err(GatewayError::Refused {
                code: 14,
                message: error.map(|e| e.to_string()).unwrap_or_default(),
            }),
        }
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

    #[test]
    fn answers_decode_as_the_gateway_writes_them() {
        let range: RangeAnswer = serde_json::from_str(
            r#"{"header":{"cluster_id":"1","revision":"7"},"kvs":[{"key":"L2ZjL2E=","create_revision":"2","mod_revision":"5","version":"1","value":"aGVsbG8="}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(range.header.revision, 7);
        assert_eq!(range.kvs[0].key, b"/fc/a");
        assert_eq!(range.kvs[0].value, b"hello");
        assert_eq!(range.kvs[0].mod_revision, 5);
        assert!(!range.more);
        let txn: TxnAnswer = serde_json::from_str(r#"{"header":{"revision":"3"}}"#).unwrap();
        assert!(!txn.succeeded, "a failed comparison leaves `succeeded` out");
        let watch: WatchEnvelope = serde_json::from_str(
            r#"{"result":{"header":{"revision":"9"},"events":[{"kv":{"key":"L2ZjL2E=","mod_revision":"9","value":"eA=="}},{"type":"DELETE","kv":{"key":"L2ZjL2I=","mod_revision":"9"}}]}}"#,
        )
        .unwrap();
        let events = watch.result.unwrap().events;
        assert!(!events[0].is_delete());
        assert!(events[1].is_delete());
        assert!(events[1].kv.value.is_empty());
    }
}
