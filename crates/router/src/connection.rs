//! One client connection, from accept to close: on a TLS endpoint, tell TLS from plaintext by
//! the first byte and handshake (or refuse plaintext); wait for a backend if the endpoint has none,
//! connect to it (TCP with `TCP_NODELAY`, or a Unix socket), register where it is spliced so
//! fencing can find it, then copy bytes until either side is done.
//!
//! Every way out of here closes the client: dropping the socket is the whole protocol, the
//! client's own reconnect logic does the rest (as with a Redis restart or a failover on
//! ElastiCache).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

use crate::endpoint::{Shared, Spliced, Transport};
use crate::route::{Backend, Tls, TlsMode};
use crate::splice::splice;
use crate::stats::Counters;

/// Undoes a connection's footprint on its endpoint when the connection ends, however it ends
/// (return, error, abort by fencing, or dropped before it ever ran).
pub(crate) struct Guard {
    shared: Arc<Shared>,
    id: u64,
}

impl Guard {
    /// Takes responsibility for connection `id`, already counted in `active`.
    pub(crate) fn new(shared: Arc<Shared>, id: u64) -> Self {
        Self { shared, id }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.unregister(self.id);
        self.shared.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The first byte of a TLS connection: a handshake record (`ContentType::handshake`). No
/// RESP command starts with it (RESP starts with `*` or a letter of an inline command).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serves one accepted client connection until it closes.
///
/// `registered` fires once the accept loop has put this task in the endpoint's registry.
pub(crate) async fn serve(guard: Guard, client: TcpStream, registered: oneshot::Receiver<()>) {
    if registered.await.is_err() {
        return;
    }
    // Redis replies are small and latency-bound: never let Nagle hold one back.
    if let Err(e) = client.set_nodelay(true) {
        tracing::debug!(listen = %guard.shared.listen, error = %e, "client TCP_NODELAY");
    }
    let tls = guard.shared.snapshot().route.security.tls.clone();
    match tls {
        None => forward(guard, client, Transport::Plain).await,
        Some(tls) => serve_secured(guard, client, tls).await,
    }
}

/// An endpoint with TLS: tell TLS from plaintext by the first byte, then handshake, refuse, or
/// forward as plaintext according to the mode.
async fn serve_secured(guard: Guard, client: TcpStream, tls: Tls) {
    let shared = Arc::clone(&guard.shared);
    // No bound on this wait: a pooled client may open a connection long before its first
    // command, exactly as it could against Redis directly.
    let mut first = [0u8; 1];
    match client.peek(&mut first).await {
        Ok(0) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(listen = %shared.listen, error = %e, "client read failed before its first byte");
            return;
        }
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        match tls.mode {
            TlsMode::Preferred => return forward(guard, client, Transport::Plain).await,
            TlsMode::Required
                if client
                    .peer_addr()
                    .is_ok_and(|peer| tls.plaintext_peers.admits(peer.ip())) =>
            {
                return forward(guard, client, Transport::PeerPlain).await;
            }
            TlsMode::Required => {
                Counters::bump(&shared.counters.plaintext_refused);
                tracing::debug!(listen = %shared.listen,
                    "plaintext connection to an endpoint that requires TLS; closing");
                refuse_plaintext(client).await;
                return;
            }
        }
    }
    let timeout = shared.limits.tls_handshake_timeout;
    match tokio::time::timeout(timeout, tls.acceptor().accept(client)).await {
        Ok(Ok(stream)) => {
            Counters::bump(&shared.counters.tls_handshakes);
            forward(guard, stream, Transport::Tls).await;
        }
        Ok(Err(e)) => {
            Counters::bump(&shared.counters.tls_failed);
            tracing::debug!(listen = %shared.listen, error = %e, "TLS handshake failed; closing");
        }
        Err(_) => {
            Counters::bump(&shared.counters.tls_failed);
            tracing::debug!(listen = %shared.listen, ?timeout, "TLS handshake timed out; closing");
        }
    }
}

/// What a plaintext client of a TLS-only endpoint reads before the connection closes: one RESP
/// error, so the client reports why (the text the connectivity runbook quotes) instead of a bare
/// reset. Written without reading the request: the router never parses commands.
pub(crate) const PLAINTEXT_REFUSED_REPLY: &[u8] = b"-ERR SSL/TLS connection required\r\n";

/// Bound on writing [`PLAINTEXT_REFUSED_REPLY`] to a client that does not read.
const REFUSAL_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Answers a plaintext client of a TLS-only endpoint with [`PLAINTEXT_REFUSED_REPLY`], then
/// closes (dropping the socket).
async fn refuse_plaintext(mut client: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        client.write_all(PLAINTEXT_REFUSED_REPLY).await?;
        client.shutdown().await
    })
    .await;
}

/// Waits for a backend, connects to it and splices `client` (a plain TCP stream or a TLS
/// stream over one) to it until either side is done.
async fn forward<C>(guard: Guard, client: C, transport: Transport)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Arc::clone(&guard.shared);
    let Some(spliced) = shared.wait_for_backend().await else {
        Counters::bump(&shared.counters.backend_wait_expired);
        tracing::debug!(listen = %shared.listen, "no backend within the backend wait; closing");
        return;
    };
    let connect_timeout = shared.limits.connect_timeout;
    match spliced.backend() {
        Backend::Tcp(addr) => {
            match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(backend)) => {
                    if let Err(e) = backend.set_nodelay(true) {
                        tracing::debug!(listen = %shared.listen, error = %e, "backend TCP_NODELAY");
                    }
                    run(guard, &spliced, client, backend, transport).await;
                }
                outcome => connect_failed(&shared, &spliced, outcome.ok().and_then(Result::err)),
            }
        }
        Backend::Unix(path) => {
            match tokio::time::timeout(connect_timeout, UnixStream::connect(path)).await {
                Ok(Ok(backend)) => run(guard, &spliced, client, backend, transport).await,
                outcome => connect_failed(&shared, &spliced, outcome.ok().and_then(Result::err)),
            }
        }
    }
}

fn connect_failed(shared: &Shared, spliced: &Spliced, error: Option<std::io::Error>) {
    Counters::bump(&shared.counters.connect_failed);
    let backend = spliced.backend();
    match error {
        Some(e) => tracing::debug!(listen = %shared.listen, %backend, error = %e,
            "backend connect failed; closing client"),
        None => tracing::debug!(listen = %shared.listen, %backend,
            "backend connect timed out; closing client"),
    }
}

/// Registers the splice, then copies until done, unless a fence came first.
async fn run<C, B>(
    guard: Guard,
    spliced: &Spliced,
    mut client: C,
    mut backend: B,
    transport: Transport,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &guard.shared;
    if !shared.register(guard.id, spliced, transport) {
        return;
    }
    let buffer_size = shared.limits.buffer_size;
    if let Err(e) = splice(&mut client, &mut backend, buffer_size, &shared.counters).await {
        tracing::debug!(listen = %shared.listen, backend = %spliced.backend(), error = %e,
            "connection ended with an error");
    }
}
