//! Test support: real `redis-server` processes stopped by PID on drop, free loopback
//! addresses for router listeners, and a minimal RESP client that can tell a reply from a
//! closed connection.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Upper bound on any single wait in a test, so that a bug fails the test instead of hanging
/// it. Not a performance threshold: healthy runs finish each wait in milliseconds.
pub const TEST_WAIT_MAX: Duration = Duration::from_secs(30);

/// Pause between polls while waiting for a process or a counter.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Attempts to start a `redis-server` on a fresh port (another test may take the port we
/// picked between probing it and Redis binding it).
const REDIS_START_ATTEMPTS_MAX: usize = 5;

/// A `redis-server` child process, killed by PID and reaped on drop.
pub struct RedisProcess {
    child: Child,
    /// Its TCP address on 127.0.0.1.
    pub addr: SocketAddr,
    /// Its Unix socket.
    pub unix: PathBuf,
    /// Working directory (and socket directory), removed on drop.
    _dir: tempfile::TempDir,
}

impl RedisProcess {
    /// Starts `redis-server` on a free 127.0.0.1 port with a Unix socket in a temp dir, waits
    /// until it answers PING, and stores `whoami = name` in it so tests can tell servers apart.
    pub async fn start(name: &str) -> Self {
        for _ in 0..REDIS_START_ATTEMPTS_MAX {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port(Ipv4Addr::LOCALHOST);
            let unix = dir.path().join("redis.sock");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--unixsocket")
                .arg(&unix)
                .args([
                    "--unixsocketperm",
                    "700",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--daemonize", "no", "--logfile", ""])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH");
            let mut server = RedisProcess {
                child,
                addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
                unix,
                _dir: dir,
            };
            if server.wait_ready().await {
                let mut client = Client::connect(server.addr).await.expect("direct connect");
                assert_eq!(
                    client.cmd(&["SET", "whoami", name]).await,
                    Reply::simple("OK")
                );
                return server;
            }
            // Dropping `server` kills and reaps the failed attempt.
        }
        panic!("redis-server did not start in {REDIS_START_ATTEMPTS_MAX} attempts");
    }

    /// Polls PING until the server answers; `false` if the process exited first.
    async fn wait_ready(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + TEST_WAIT_MAX;
        while tokio::time::Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                return false;
            }
            if let Ok(mut client) = Client::connect(self.addr).await {
                if client.try_cmd(&["PING"]).await.ok() == Some(Reply::simple("PONG")) {
                    return true;
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        // `Child::kill` sends SIGKILL to this child's PID; `wait` reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free on `ip` a moment ago.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .expect("probe bind")
        .local_addr()
        .expect("probe addr")
        .port()
}

/// A free router listen address `127.99.<n>.<m>:<port>`; each test uses its own `n`.
pub fn listen_addr(n: u8, m: u8) -> SocketAddr {
    let ip = Ipv4Addr::new(127, 99, n, m);
    SocketAddr::V4(SocketAddrV4::new(ip, free_port(ip)))
}

/// A Unix socket path that nothing listens on.
pub fn dead_unix_path(dir: &Path) -> PathBuf {
    dir.join("nobody.sock")
}

/// A RESP reply, as much as the tests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Reply {
    pub fn simple(s: &str) -> Self {
        Reply::Simple(s.to_owned())
    }

    pub fn bulk(s: &str) -> Self {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }
}

/// A minimal RESP client over one TCP connection.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            stream: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    /// Sends a command and reads its reply; panics on I/O errors (use `try_cmd` to expect them).
    pub async fn cmd(&mut self, args: &[&str]) -> Reply {
        self.try_cmd(args).await.expect("command round trip")
    }

    /// Sends a command and reads its reply, bounded by [`TEST_WAIT_MAX`].
    pub async fn try_cmd(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        tokio::time::timeout(TEST_WAIT_MAX, async {
            self.send(args).await?;
            self.read_reply().await
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"))?
    }

    /// Writes a command without reading its reply.
    pub async fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        self.stream.get_mut().write_all(&out).await
    }

    /// Reads one reply; `UnexpectedEof` when the server side closed.
    pub async fn read_reply(&mut self) -> std::io::Result<Reply> {
        let line = self.read_line().await?;
        let (kind, rest) = line.split_at(1);
        Ok(match kind {
            "+" => Reply::Simple(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(rest.parse().expect("integer")),
            "$" => {
                let len: i64 = rest.parse().expect("bulk length");
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut data = vec![0; len as usize + 2];
                    self.stream.read_exact(&mut data).await?;
                    data.truncate(len as usize);
                    Reply::Bulk(Some(data))
                }
            }
            "*" => {
                let len: i64 = rest.parse().expect("array length");
                let mut items = Vec::new();
                for _ in 0..len.max(0) {
                    items.push(Box::pin(self.read_reply()).await?);
                }
                Reply::Array(items)
            }
            other => panic!("unexpected RESP type {other:?}"),
        })
    }

    async fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    /// Waits (bounded by [`TEST_WAIT_MAX`]) until the server side closes the connection;
    /// `true` if it did. Any bytes still arriving are discarded.
    pub async fn closed_by_peer(&mut self) -> bool {
        let wait = async {
            let mut scratch = [0u8; 512];
            loop {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(TEST_WAIT_MAX, wait).await.is_ok()
    }
}

/// Polls `check` until it holds, bounded by [`TEST_WAIT_MAX`]; panics with `what` otherwise.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TEST_WAIT_MAX;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
