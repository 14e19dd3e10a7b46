//! A connection kept to one node for sampling its figures every second, cheap enough to ask a
//! thousand nodes at once from a single task.
//!
//! Why not [`NodeClient`](crate::NodeClient): the `redis` crate's async connection runs a driver
//! task per connection, and each call crosses two channels and wakes two tasks. Nor a socket on
//! the async runtime: its reactor wakes a thread for every reply as it arrives, a thousand
//! wake-ups a second. At 1000 nodes sampled every second both were most of the sampler's CPU
//! (issue 14's benchmark, `bench/metrics.sh`). Here the sockets are plain non-blocking ones
//! that no reactor watches: [`exchange`] writes every request, then every few milliseconds
//! (a timer, [`PASS_EVERY`]) asks the kernel in one `poll` call which sockets have bytes and
//! reads those, until every reply is whole. A round costs a write and a read or two per node
//! and a handful of wake-ups in all, and each reply's moment is the node's own
//! (`server_time_usec`), so waiting for the next pass costs no precision.
//!
//! Commands are packed by `redis::Cmd` and composite replies decoded by
//! `redis::parse_redis_value`; only the framing — where one reply ends in the bytes read so far
//! ([`reply_len`]) — is ours, because the crate keeps its framing inside its driver task.
//!
//! A connection whose exchange failed or was abandoned may hold half a reply: drop it and open
//! another.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use redis::{FromRedisValue, Value};

use crate::client::{CommandNames, NodeAddress, SlowlogEntry, SlowlogRow};
use crate::error::EngineError;
use crate::identity::AdminIdentity;

/// Most bytes one reply may take (an `INFO` is a few KB, a slow log of 128 entries of the
/// engine's own truncated arguments well under a MB): a node that sends more is not a node we
/// understand, and its connection is dropped rather than growing without bound.
pub const REPLY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// How often an [`exchange`] looks for replies: a reply waits at most this long to be read.
pub const PASS_EVERY: Duration = Duration::from_millis(5);
/// The buffer a connection starts with: one `INFO default commandstats` fits.
const BUFFER_START: usize = 8 * 1024;

/// A socket to one node, for `INFO` and `SLOWLOG` every few seconds.
pub struct SamplingConnection {
    socket: Socket,
    addr: NodeAddress,
    /// The request not yet written.
    unsent: Vec<u8>,
    /// Bytes read and not yet taken are `buffer[..filled]`; the rest is room to read into,
    /// kept (and never zeroed again) from one request to the next.
    buffer: Vec<u8>,
    filled: usize,
    /// Replies the current request still waits for.
    replies_due: usize,
    /// Where in `buffer` the whole replies read so far end.
    whole_end: usize,
    /// The command names this node knows (renamed commands).
    names: CommandNames,
}

enum Socket {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(bytes),
            Socket::Unix(s) => s.write(bytes),
        }
    }

    fn read(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(into),
            Socket::Unix(s) => s.read(into),
        }
    }
}

impl std::fmt::Debug for SamplingConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplingConnection")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SamplingConnection {
    /// Connects to the node at `addr` within `timeout`, logging in as `identity`'s internal
    /// user when given (and then sending its renamed command names).
    ///
    /// # Errors
    /// [`EngineError::Connect`] when the address refuses or the login is refused,
    /// [`EngineError::Timeout`] when either takes longer than `timeout`.
    pub async fn open(
        addr: &NodeAddress,
        timeout: Duration,
        identity: Option<&AdminIdentity>,
    ) -> Result<Self, EngineError> {
        let started = Instant::now();
        let timed_out = || EngineError::Timeout {
            addr: addr.to_string(),
            command: "connect".to_string(),
            timeout,
        };
        let connect_error = |source: std::io::Error| EngineError::Connect {
            addr: addr.to_string(),
            source: source.into(),
        };
        // Connected on the runtime (a connect can take a while), then taken off its reactor:
        // `into_std` leaves the socket non-blocking.
        let connecting = async {
            Ok::<_, std::io::Error>(match addr {
                NodeAddress::Tcp(socket) => {
                    let stream = tokio::net::TcpStream::connect(socket).await?;
                    stream.set_nodelay(true)?;
                    Socket::Tcp(stream.into_std()?)
                }
                NodeAddress::Unix(path) => {
                    Socket::Unix(tokio::net::UnixStream::connect(path).await?.into_std()?)
                }
            })
        };
        let socket = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| timed_out())?
            .map_err(connect_error)?;
        let mut connection = SamplingConnection {
            socket,
            addr: addr.clone(),
            unsent: Vec::new(),
            buffer: vec![0; BUFFER_START],
            filled: 0,
            replies_due: 0,
            whole_end: 0,
            names: CommandNames::default(),
        };
        if let Some(identity) = identity {
            let mut auth = redis::cmd("AUTH");
            auth.arg(&identity.user).arg(&identity.password);
            connection.start(auth.get_packed_command(), 1);
            let left = timeout.saturating_sub(started.elapsed());
            let [exchanged] = exchange(&mut [&mut connection], left)
                .await
                .try_into()
                .unwrap_or_else(|_| unreachable!("one connection, one result"));
            match exchanged.and_then(|()| connection.take_value("AUTH")) {
                Ok(_) => {}
                Err(EngineError::Reply { message, .. }) => {
                    return Err(EngineError::Connect {
                        addr: addr.to_string(),
                        source: redis::RedisError::from((
                            redis::ErrorKind::AuthenticationFailed,
                            "AUTH refused",
                            message,
                        )),
                    })
                }
                Err(EngineError::Timeout { .. }) => return Err(timed_out()),
                Err(e) => return Err(e),
            }
            connection.names = identity.names.clone();
        }
        Ok(connection)
    }

    /// Starts `INFO default commandstats` (what metrics are made of); after a successful
    /// [`exchange`], [`SamplingConnection::take_text`] gives its text.
    pub fn start_info_for_metrics(&mut self) {
        let mut info = redis::cmd(&self.names.info);
        info.arg("default").arg("commandstats");
        self.start(info.get_packed_command(), 1);
    }

    /// Starts `INFO server` and `SLOWLOG GET <count>` in one write; after a successful
    /// [`exchange`], [`SamplingConnection::take_run_id_and_slowlog`] gives their answer.
    pub fn start_run_id_and_slowlog(&mut self, count: u32) {
        let mut info = redis::cmd(&self.names.info);
        info.arg("server");
        let mut slowlog = redis::cmd("SLOWLOG");
        slowlog.arg("GET").arg(count);
        let mut request = info.get_packed_command();
        slowlog.write_packed_command(&mut request);
        self.start(request, 2);
    }

    /// The node's `run_id` (slow log ids start again with each process) and the newest
    /// entries of its slow log, newest first, from the replies of
    /// [`SamplingConnection::start_run_id_and_slowlog`].
    ///
    /// # Errors
    /// [`EngineError::Reply`] when the node refused, [`EngineError::UnexpectedReply`] for
    /// replies of another shape.
    pub fn take_run_id_and_slowlog(&mut self) -> Result<(String, Vec<SlowlogEntry>), EngineError> {
        let info = self.take_text("INFO")?;
        let run_id = info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .map(|id| id.trim().to_string())
            .ok_or_else(|| self.unexpected("INFO", "no run_id".to_string()))?;
        let rows = self.take_value("SLOWLOG GET")?;
        let rows: Vec<SlowlogRow> = FromRedisValue::from_redis_value(rows)
            .map_err(|e| self.unexpected("SLOWLOG GET", e.to_string()))?;
        Ok((run_id, rows.into_iter().map(SlowlogEntry::from).collect()))
    }

    /// Queues `request` (packed commands) expecting `replies` replies, and writes what the
    /// socket takes now; replies of an earlier request not taken are dropped.
    fn start(&mut self, request: Vec<u8>, replies: usize) {
        self.filled = 0;
        self.whole_end = 0;
        self.unsent = request;
        self.replies_due = replies;
    }

    /// Writes what is unsent and reads what has come, as far as the socket allows without
    /// waiting; `Ok(true)` once every reply due is whole in the buffer.
    fn advance(&mut self) -> Result<bool, EngineError> {
        while !self.unsent.is_empty() {
            match self.socket.write(&self.unsent) {
                Ok(0) => {
                    return Err(self.broken(std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(e)),
            }
        }
        loop {
            // Replies already whole in the buffer count first.
            while self.replies_due > 0 {
                match reply_len(&self.buffer[self.whole_end..self.filled]) {
                    Ok(Some(len)) => {
                        self.whole_end += len;
                        self.replies_due -= 1;
                    }
                    Ok(None) => break,
                    Err(detail) => return Err(self.unexpected("reply", detail.to_string())),
                }
            }
            if self.replies_due == 0 {
                return Ok(true);
            }
            if self.filled == self.buffer.len() {
                if self.buffer.len() >= REPLY_BYTES_MAX {
                    let detail = format!("a reply longer than {REPLY_BYTES_MAX} bytes");
                    return Err(self.unexpected("reply", detail));
                }
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            match self.socket.read(&mut self.buffer[self.filled..]) {
                Ok(0) => return Err(self.broken(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(e)),
            }
        }
    }

    /// Whether the socket must be watched for room to write (else only for bytes to read).
    fn wants_write(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// The next whole reply, as text: a bulk or simple string. The common case — `INFO` — is
    /// taken straight from the buffer, without building a [`Value`].
    ///
    /// # Errors
    /// [`EngineError::Reply`] when the node refused, [`EngineError::UnexpectedReply`] for a
    /// reply that is not text, or none.
    pub fn take_text(&mut self, label: &str) -> Result<String, EngineError> {
        let len = self.next_reply_len(label)?;
        let text = match (self.buffer.first(), find_crlf(&self.buffer[..len], 0)) {
            // A bulk string's body lies between its header line and the closing CRLF; a nil
            // one (`$-1`) has neither and is decoded below as the unexpected reply it is.
            (Some(b'$'), Some(header)) if header + 2 <= len - 2 => {
                let body = &self.buffer[header + 2..len - 2];
                Some(match std::str::from_utf8(body) {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(body).into_owned(),
                })
            }
            _ => None,
        };
        match text {
            Some(text) => {
                self.consume(len);
                Ok(text)
            }
            None => match self.take_value(label)? {
                Value::SimpleString(s) => Ok(s),
                other => Err(self.unexpected(label, format!("{other:?}"))),
            },
        }
    }

    /// The next whole reply, decoded; an error reply is [`EngineError::Reply`].
    ///
    /// # Errors
    /// As [`SamplingConnection::take_text`].
    pub fn take_value(&mut self, label: &str) -> Result<Value, EngineError> {
        let len = self.next_reply_len(label)?;
        let decoded = redis::parse_redis_value(&self.buffer[..len]);
        self.consume(len);
        let value = decoded.map_err(|e| self.unexpected(label, e.to_string()))?;
        match value {
            Value::ServerError(error) => {
                if error.code() == "LOADING" {
                    return Err(EngineError::Loading {
                        addr: self.addr.to_string(),
                    });
                }
                let message = match error.details() {
                    Some(detail) => format!("{} {detail}", error.code()),
                    None => error.code().to_string(),
                };
                Err(EngineError::Reply {
                    addr: self.addr.to_string(),
                    command: label.to_string(),
                    message,
                })
            }
            value => Ok(value),
        }
    }

    /// The length of the whole reply at the start of the buffer.
    fn next_reply_len(&self, label: &str) -> Result<usize, EngineError> {
        match reply_len(&self.buffer[..self.whole_end]) {
            Ok(Some(len)) => Ok(len),
            _ => Err(self.unexpected(label, "no reply".to_string())),
        }
    }

    fn consume(&mut self, len: usize) {
        self.buffer.copy_within(len..self.filled, 0);
        self.filled -= len;
        self.whole_end -= len;
    }

    fn broken(&self, error: std::io::Error) -> EngineError {
        EngineError::Connection {
            addr: self.addr.to_string(),
            command: "sampling".to_string(),
            source: error.into(),
        }
    }

    fn unexpected(&self, label: &str, detail: String) -> EngineError {
        EngineError::UnexpectedReply {
            addr: self.addr.to_string(),
            command: label.to_string(),
            detail,
        }
    }
}

/// Carries out the request started on each of `connections` (see
/// [`SamplingConnection::start_info_for_metrics`]) all at once: writes them, then every
/// [`PASS_EVERY`] reads the replies that have come, until each is whole or `timeout` has
/// passed. One result per connection, in order: `Ok` when its replies are whole (take them
/// with the `take_*` methods), else why not ([`EngineError::Timeout`] for a node that did not
/// answer in time); a connection that failed should be dropped.
pub async fn exchange(
    connections: &mut [&mut SamplingConnection],
    timeout: Duration,
) -> Vec<Result<(), EngineError>> {
    let deadline = Instant::now() + timeout;
    let mut results: Vec<Option<Result<(), EngineError>>> = Vec::with_capacity(connections.len());
    let mut pending: Vec<usize> = Vec::with_capacity(connections.len());
    for (at, connection) in connections.iter_mut().enumerate() {
        match connection.advance() {
            Ok(true) => results.push(Some(Ok(()))),
            Ok(false) => {
                results.push(None);
                pending.push(at);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let mut watched: Vec<libc::pollfd> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(PASS_EVERY.min(deadline - now)).await;
        watched.clear();
        watched.extend(pending.iter().map(|&at| libc::pollfd {
            fd: connections[at].socket.fd(),
            events: if connections[at].wants_write() {
                libc::POLLIN | libc::POLLOUT
            } else {
                libc::POLLIN
            },
            revents: 0,
        }));
        // SAFETY: `watched` is a valid array of `watched.len()` pollfds, each naming a socket
        // owned by a connection borrowed for this whole call; a zero timeout never blocks.
        let ready = unsafe { libc::poll(watched.as_mut_ptr(), watched.len() as libc::nfds_t, 0) };
        if ready <= 0 {
            continue;
        }
        let mut still = 0;
        for i in 0..pending.len() {
            let at = pending[i];
            if watched[i].revents == 0 {
                pending[still] = at;
                still += 1;
                continue;
            }
            match connections[at].advance() {
                Ok(true) => results[at] = Some(Ok(())),
                Ok(false) => {
                    pending[still] = at;
                    still += 1;
                }
                Err(e) => results[at] = Some(Err(e)),
            }
        }
        pending.truncate(still);
    }
    results
        .into_iter()
        .zip(connections.iter())
        .map(|(result, connection)| {
            result.unwrap_or_else(|| {
                Err(EngineError::Timeout {
                    addr: connection.addr.to_string(),
                    command: "sampling".to_string(),
                    timeout,
                })
            })
        })
        .collect()
}

/// The position of the first `\r\n` at or after `from`.
fn find_crlf(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    rest.windows(2)
        .position(|w| w == b"\r\n")
        .map(|at| from + at)
}

/// How long the RESP2 reply at the start of `bytes` is: `Ok(None)` while it is not all there.
///
/// # Errors
/// A first byte that starts no RESP2 type, or a length that is not a number.
pub fn reply_len(bytes: &[u8]) -> Result<Option<usize>, &'static str> {
    reply_end(bytes, 0)
}

/// Where the reply that starts at `at` ends (one past its last byte).
fn reply_end(bytes: &[u8], at: usize) -> Result<Option<usize>, &'static str> {
    let Some(&kind) = bytes.get(at) else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(bytes, at + 1) else {
        return Ok(None);
    };
    let after_line = line_end + 2;
    let number = || -> Result<i64, &'static str> {
        std::str::from_utf8(&bytes[at + 1..line_end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a length that is not a number")
    };
    match kind {
        b'+' | b'-' | b':' => Ok(Some(after_line)),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some(after_line));
            }
            let end = after_line
                .checked_add(len as usize)
                .and_then(|e| e.checked_add(2))
                .ok_or("a length out of range")?;
            Ok((bytes.len() >= end).then_some(end))
        }
        b'*' => {
            let count = number()?;
            let mut end = after_line;
            for _ in 0..count.max(0) {
                match reply_end(bytes, end)? {
                    Some(next) => end = next,
                    None => return Ok(None),
                }
            }
            Ok(Some(end))
        }
        _ => Err("a reply that is not RESP2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_len_finds_the_end_of_each_resp2_type() {
        // Goal: one reply's end is found for every RESP2 type, and a partial one waits.
        // Method: whole replies with trailing bytes, and every strict prefix of them.
        let replies: [&[u8]; 7] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            b"$4\r\na\r\nb\r\n",
        ];
        for reply in replies {
            let mut with_more = reply.to_vec();
            with_more.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(reply_len(&with_more), Ok(Some(reply.len())), "{reply:?}");
            for cut in 0..reply.len() {
                assert_eq!(reply_len(&reply[..cut]), Ok(None), "{reply:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn reply_len_refuses_what_is_not_resp2() {
        // Goal: garbage is an error, not a wait for more bytes forever.
        assert!(reply_len(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(reply_len(b"$x\r\n").is_err());
        assert!(reply_len(b"*1x\r\n").is_err());
    }
}
